package review

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"runtime"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/refbot/refbot/internal/imgdiff"
	"github.com/refbot/refbot/s3cache"
)

// The size of a thumbnail in a reply: each picture this high, all of them
// at most this wide.
const (
	thumbHeight   = 120
	thumbMaxWidth = 480
)

// cacheVersion is in every cache key: a change in how results are drawn
// makes new keys, and the old files age out of the cache.
const cacheVersion = "v1"

// ImageDiff compares the two sides of a changed image file of rev,
// computing it once: the result is kept in the disk cache under the two
// blob ids.
func (r *Reviewer) ImageDiff(ctx context.Context, rev *Review, f File) (*ImageDiff, error) {
	if f.Kind != KindImage || f.Action != Changed {
		return nil, fmt.Errorf("%s: %w: only a changed image has a difference image", f.Path, ErrNoSuchSide)
	}
	return r.imageDiff(ctx, rev, f, nil)
}

// ImageDiffs is ImageDiff for several files (a page's), keyed by path. The
// old sides not cached yet are read from the data repo in one request.
// Files that are not changed images are left out; so are those whose
// difference could not be computed before ctx ended, or at all (logged).
func (r *Reviewer) ImageDiffs(ctx context.Context, rev *Review, files []File) map[string]*ImageDiff {
	var todo []File
	var ids []plumbing.Hash
	out := map[string]*ImageDiff{}
	for _, f := range files {
		if f.Kind != KindImage || f.Action != Changed {
			continue
		}
		if d, ok := r.cachedDiff(f); ok {
			out[f.Path] = d
			continue
		}
		todo = append(todo, f)
		ids = append(ids, plumbing.NewHash(f.Old))
	}
	if len(todo) == 0 {
		return out
	}
	old, err := r.o.Repo.Blobs(ctx, ids, r.o.MaxImageBytes, int64(len(ids))*r.o.MaxImageBytes)
	if err != nil {
		r.o.Logger.Warn("review: read the old images", zap.Error(err))
		old = nil // each is read on its own
	}
	results := make([]*ImageDiff, len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.GOMAXPROCS(0)))
	for i, f := range todo {
		g.Go(func() error {
			d, err := r.imageDiff(gctx, rev, f, old[plumbing.NewHash(f.Old)])
			if err != nil {
				r.o.Logger.Info("review: image difference", zap.String("file", f.Path), zap.Error(err))
				return nil
			}
			results[i] = d
			return nil
		})
	}
	_ = g.Wait()
	for i, d := range results {
		if d != nil {
			out[todo[i].Path] = d
		}
	}
	return out
}

// diffMeta is what the cache keeps of a difference beside its image.
type diffMeta struct {
	OldWidth, OldHeight, NewWidth, NewHeight int
	Changed, Total                           int
	Identical                                bool
}

func diffKey(f File) string { return "imgdiff " + cacheVersion + " " + f.Old + " " + f.NewID() }

func (r *Reviewer) cachedDiff(f File) (*ImageDiff, bool) {
	if r.o.Cache == nil {
		return nil, false
	}
	meta, ok := r.o.Cache.Get(diffKey(f) + " meta")
	if !ok {
		return nil, false
	}
	var m diffMeta
	if json.Unmarshal(meta, &m) != nil {
		return nil, false
	}
	d := m.diff()
	if !m.Identical {
		if d.PNG, ok = r.o.Cache.Get(diffKey(f) + " png"); !ok {
			return nil, false
		}
	}
	return d, true
}

func (m diffMeta) diff() *ImageDiff {
	d := &ImageDiff{OldWidth: m.OldWidth, OldHeight: m.OldHeight, NewWidth: m.NewWidth, NewHeight: m.NewHeight,
		Changed: m.Changed, Total: m.Total, Identical: m.Identical}
	if m.Total > 0 {
		d.Share = float64(m.Changed) / float64(m.Total)
	}
	return d
}

// imageDiff computes f's difference (old, when set, is its old side
// already read), once however many ask, and caches it.
func (r *Reviewer) imageDiff(ctx context.Context, rev *Review, f File, old []byte) (*ImageDiff, error) {
	if d, ok := r.cachedDiff(f); ok {
		return d, nil
	}
	var d *ImageDiff
	compute := func(ctx context.Context) ([]byte, error) {
		oldB, newB, release, err := r.readWeighed(ctx, func(ctx context.Context) ([]byte, []byte, error) {
			return r.bothSides(ctx, rev, f, old)
		})
		if err != nil {
			return nil, err
		}
		defer release()
		a, b, err := r.decodePair(f.Path, oldB, newB)
		if err != nil {
			return nil, err
		}
		res := imgdiff.Compare(a, b)
		d = &ImageDiff{OldWidth: res.OldWidth, OldHeight: res.OldHeight, NewWidth: res.NewWidth, NewHeight: res.NewHeight,
			Changed: res.Changed, Total: res.Total, Share: res.Share, Identical: res.Identical}
		if !res.Identical {
			if d.PNG, err = imgdiff.EncodePNG(res.Diff); err != nil {
				return nil, err
			}
			if r.o.Cache != nil {
				if err := r.o.Cache.Put(diffKey(f)+" png", d.PNG); err != nil {
					r.o.Logger.Warn("review: cache a difference image", zap.Error(err))
				}
			}
		}
		return json.Marshal(diffMeta{OldWidth: d.OldWidth, OldHeight: d.OldHeight, NewWidth: d.NewWidth,
			NewHeight: d.NewHeight, Changed: d.Changed, Total: d.Total, Identical: d.Identical})
	}
	if r.o.Cache == nil {
		if _, err := compute(ctx); err != nil {
			return nil, err
		}
		return d, nil
	}
	meta, err := r.o.Cache.GetOrCompute(ctx, diffKey(f)+" meta", compute)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return d, nil
	}
	// Another request computed it.
	if d, ok := r.cachedDiff(f); ok {
		return d, nil
	}
	var m diffMeta
	if err := json.Unmarshal(meta, &m); err != nil {
		return nil, err
	}
	return m.diff(), nil
}

// bothSides reads f's two sides (old, when set, is its old side already
// read).
func (r *Reviewer) bothSides(ctx context.Context, rev *Review, f File, old []byte) ([]byte, []byte, error) {
	var err error
	if old == nil {
		if old, err = r.ReadOld(ctx, f, r.o.MaxImageBytes); err != nil {
			return nil, nil, err
		}
	}
	nw, err := r.ReadNew(ctx, rev, f, r.o.MaxImageBytes)
	if err != nil {
		return nil, nil, err
	}
	return old, nw, nil
}

// readWeighed reads an image's two sides with read and takes what decoding
// and comparing them needs from the budget of pixels in flight
// (takePixels); release gives it back.
func (r *Reviewer) readWeighed(ctx context.Context, read func(ctx context.Context) (old, nw []byte, err error)) (old, nw []byte, release func(), err error) {
	if old, nw, err = read(ctx); err != nil {
		return nil, nil, nil, err
	}
	if release, err = r.takePixels(ctx, old, nw); err != nil {
		return nil, nil, nil, err
	}
	return old, nw, release, nil
}

// takePixels takes the pixels that decoding an image's sides (their
// bytes; nil for none) and drawing their difference need from the budget
// of pixels in flight, waiting until ctx ends; release gives them back.
// Anyone on the pages can ask for differences of any images, so without a
// bound a few large ones at once would take all of refbot's memory. A
// difference is drawn on the two sides' union (the larger width by the
// larger height), which may be far larger than either: one larger than
// MaxImagePixels is refused (imgdiff.ErrTooLarge). A side whose header
// does not parse weighs nothing: decoding it fails at once. A weight
// above the whole budget waits for all of it.
func (r *Reviewer) takePixels(ctx context.Context, old, nw []byte) (release func(), err error) {
	var n int64
	var sizes []image.Point
	for _, side := range [][]byte{old, nw} {
		if side == nil {
			continue
		}
		if size, err := imgdiff.Size(side, r.o.MaxImagePixels); err == nil {
			sizes = append(sizes, size)
			n += int64(size.X) * int64(size.Y)
		}
	}
	if len(sizes) == 2 {
		union := int64(max(sizes[0].X, sizes[1].X)) * int64(max(sizes[0].Y, sizes[1].Y))
		if union > r.o.MaxImagePixels {
			return nil, fmt.Errorf("sides of %v and %v: a difference of %d pixels, more than %d: %w",
				sizes[0], sizes[1], union, r.o.MaxImagePixels, imgdiff.ErrTooLarge)
		}
		n += union
	}
	n = min(n, r.o.MaxPixelsInFlight)
	if err := r.pixels.Acquire(ctx, n); err != nil {
		return nil, fmt.Errorf("waiting for other images to be compared: %w", err)
	}
	return func() { r.pixels.Release(n) }, nil
}

func (r *Reviewer) decodePair(p string, old, nw []byte) (image.Image, image.Image, error) {
	a, err := imgdiff.Decode(old, r.o.MaxImagePixels)
	if err != nil {
		return nil, nil, fmt.Errorf("%s, old side: %w", p, err)
	}
	b, err := imgdiff.Decode(nw, r.o.MaxImagePixels)
	if err != nil {
		return nil, nil, fmt.Errorf("%s, new side: %w", p, err)
	}
	return a, b, nil
}

// Thumbnail is a small PNG of f: old | new | difference for a changed
// image, the new image alone for an added one, the old alone for a removed
// one. Cached as ImageDiff is.
func (r *Reviewer) Thumbnail(ctx context.Context, rev *Review, f File) ([]byte, error) {
	if f.Kind != KindImage {
		return nil, fmt.Errorf("%s: %w: not an image", f.Path, ErrNoSuchSide)
	}
	return r.thumbnail(ctx, f.Old, f.NewID(), func(ctx context.Context) (old, nw []byte, err error) {
		if f.Old != "" {
			if old, err = r.ReadOld(ctx, f, r.o.MaxImageBytes); err != nil {
				return nil, nil, err
			}
		}
		if f.Action != Removed {
			if nw, err = r.ReadNew(ctx, rev, f, r.o.MaxImageBytes); err != nil {
				return nil, nil, err
			}
		}
		return old, nw, nil
	})
}

// ThumbnailByIDs is Thumbnail of two blobs of the data repo (either may be
// "": an added or removed file): for the files an UPDATE pushed, whose new
// sides are in the data repo.
func (r *Reviewer) ThumbnailByIDs(ctx context.Context, old, nw string) ([]byte, error) {
	if old == "" && nw == "" {
		return nil, ErrNoSuchSide
	}
	return r.thumbnail(ctx, old, nw, func(ctx context.Context) (a, b []byte, err error) {
		if old != "" {
			if a, err = r.blob(ctx, old, r.o.MaxImageBytes); err != nil {
				return nil, nil, err
			}
		}
		if nw != "" {
			if b, err = r.blob(ctx, nw, r.o.MaxImageBytes); err != nil {
				return nil, nil, err
			}
		}
		return a, b, nil
	})
}

func (r *Reviewer) thumbnail(ctx context.Context, oldID, newID string,
	read func(ctx context.Context) (old, nw []byte, err error)) ([]byte, error) {
	compute := func(ctx context.Context) ([]byte, error) {
		oldB, newB, release, err := r.readWeighed(ctx, read)
		if err != nil {
			return nil, err
		}
		defer release()
		var a, b, diff image.Image
		if oldB != nil {
			if a, err = imgdiff.Decode(oldB, r.o.MaxImagePixels); err != nil {
				return nil, fmt.Errorf("old side: %w", err)
			}
		}
		if newB != nil {
			if b, err = imgdiff.Decode(newB, r.o.MaxImagePixels); err != nil {
				return nil, fmt.Errorf("new side: %w", err)
			}
		}
		if a != nil && b != nil {
			if res := imgdiff.Compare(a, b); !res.Identical {
				diff = res.Diff
			}
		}
		return imgdiff.EncodePNG(imgdiff.Thumbnail(a, b, diff, thumbHeight, thumbMaxWidth))
	}
	if r.o.Cache == nil {
		return compute(ctx)
	}
	return r.o.Cache.GetOrCompute(ctx, "thumb "+cacheVersion+" "+oldID+" "+newID, compute)
}

// ThumbnailOf is Thumbnail of the file at p (its path under the data root,
// as a review lists it) of build id of pr, against the data repo's blob
// old ("" for an added file): for a PLAN's reply, whose build may no
// longer be the newest when its thumbnails are fetched. The build must be
// pr's (its SOURCE); which head it tested does not matter here.
//
// nw, when set, names the new side the reply was written for (its git
// blob id, or File.NewID): a build uploaded again since with another
// content there is ErrUploadedAgain. named says the answer is the one for
// nw, so cacheable for good; it is false without nw, or when the
// manifest has no git id to tell.
func (r *Reviewer) ThumbnailOf(ctx context.Context, pr int, id, p, old, nw string) (thumb []byte, named bool, err error) {
	if err := s3cache.ValidBuildID(id); err != nil {
		return nil, false, err
	}
	if err := s3cache.ValidPath(p); err != nil {
		return nil, false, err
	}
	b, err := r.o.Builds.Open(ctx, id, s3cache.Want{Source: s3cache.Source{PR: pr}})
	if err != nil {
		return nil, false, err
	}
	rev := &Review{PR: pr, Build: id, build: b}
	for _, v := range b.Variants {
		name := p
		if v != "" {
			var ok bool
			if name, ok = strings.CutPrefix(p, v+"/"); !ok {
				continue
			}
		}
		for _, mf := range b.Manifests[v].Files {
			if mf.Path == name {
				f := File{Path: p, Kind: kindOf(p), Action: Added, Old: old, New: mf.Git, NewSHA256: mf.SHA256, Variant: v, Name: name}
				if old != "" {
					f.Action = Changed
				}
				if f.Kind != KindImage {
					return nil, false, fmt.Errorf("%s: %w: not an image", p, ErrNoSuchSide)
				}
				switch {
				case nw == "":
				case nw == f.New || nw == f.NewID():
					named = true
				case f.New != "":
					return nil, false, fmt.Errorf("%s in build %s: %w", p, id, ErrUploadedAgain)
				}
				thumb, err := r.Thumbnail(ctx, rev, f)
				return thumb, named && err == nil, err
			}
		}
	}
	return nil, false, fmt.Errorf("%s is not in build %s: %w", p, id, ErrNoSuchSide)
}
