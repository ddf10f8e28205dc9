package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/refbot/refbot/internal/diskcache"
	"github.com/refbot/refbot/internal/imgdiff"
	"github.com/refbot/refbot/s3cache"
)

// pngOf draws a w×h picture, grey with the pixels in red set red, as
// a PNG compressed at level.
func pngOf(t *testing.T, w, h int, red []image.Point, level png.CompressionLevel) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{200, 200, 200, 255})
		}
	}
	for _, p := range red {
		img.Set(p.X, p.Y, color.NRGBA{255, 0, 0, 255})
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestImageDiffs(t *testing.T) {
	ctx := context.Background()
	plain := pngOf(t, 40, 30, nil, png.DefaultCompression)
	f := newFixture(t, map[string]string{"data/changed.png": plain, "data/same-looking.png": plain, "data/gone.png": plain})
	cache, err := diskcache.New(filepath.Join(t.TempDir(), "cache"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.r.o.Cache = cache
	f.head[3] = headA
	f.upload(t, "30", 3, headA, "", map[string]string{
		"changed.png":      pngOf(t, 40, 30, []image.Point{{1, 1}, {2, 1}, {39, 29}}, png.DefaultCompression),
		"same-looking.png": pngOf(t, 40, 30, nil, png.NoCompression), // same pixels, other bytes
		"added.png":        plain,
	})
	rev, err := f.r.Review(ctx, 3, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Changed != 2 || rev.Added != 1 || rev.Removed != 1 {
		t.Fatalf("review: %+v", changes(rev))
	}
	diffs := f.r.ImageDiffs(ctx, rev, rev.Files)
	if len(diffs) != 2 {
		t.Fatalf("diffs of %d files, want the 2 changed images: %v", len(diffs), diffs)
	}
	d := diffs["changed.png"]
	if d.Changed != 3 || d.Total != 1200 || d.Identical || len(d.PNG) == 0 {
		t.Errorf("changed.png: %d of %d pixels, identical %v, %d bytes of image", d.Changed, d.Total, d.Identical, len(d.PNG))
	}
	if img, err := png.Decode(bytes.NewReader(d.PNG)); err != nil || img.Bounds().Dx() != 40 {
		t.Errorf("difference image: %v", err)
	}
	if s := diffs["same-looking.png"]; !s.Identical || s.Changed != 0 || s.PNG != nil {
		t.Errorf("same-looking.png: %+v", s)
	}
	// Cached: a second Reviewer on the same cache computes nothing, and
	// needs neither the data repo nor S3.
	again := New(Options{Cache: cache})
	if got := again.ImageDiffs(ctx, rev, rev.Files); got["changed.png"] == nil || got["changed.png"].Changed != 3 ||
		!bytes.Equal(got["changed.png"].PNG, d.PNG) || !got["same-looking.png"].Identical {
		t.Errorf("from the cache: %v", got)
	}

	// Thumbnails: old | new | difference, and the new alone when added.
	changed, _ := rev.File("changed.png")
	added, _ := rev.File("added.png")
	th, err := f.r.Thumbnail(ctx, rev, changed)
	if err != nil {
		t.Fatal(err)
	}
	three, err := png.Decode(bytes.NewReader(th))
	if err != nil {
		t.Fatal(err)
	}
	th, err = f.r.Thumbnail(ctx, rev, added)
	if err != nil {
		t.Fatal(err)
	}
	one, err := png.Decode(bytes.NewReader(th))
	if err != nil {
		t.Fatal(err)
	}
	if three.Bounds().Dx() < 2*one.Bounds().Dx() {
		t.Errorf("thumbnail of a change %v, of an addition %v", three.Bounds(), one.Bounds())
	}
	// A PLAN's thumbnail, by build and path, and one of pushed data by
	// blob ids, are the same picture.
	of, named, err := f.r.ThumbnailOf(ctx, 3, "30", "changed.png", changed.Old, changed.New)
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t, "30", 3, headA)
	if _, err := f.repo.Branch(ctx, "PR3"); err != nil {
		t.Fatal(err)
	}
	by, err := f.r.ThumbnailByIDs(ctx, changed.Old, changed.New)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(of, by) {
		t.Error("ThumbnailOf and ThumbnailByIDs differ for the same two sides")
	}
	// Not images, not this PR's build, a path with ..: refused.
	if !named {
		t.Error("a thumbnail asked for by both sides' ids is not said to be theirs")
	}
	if _, _, err := f.r.ThumbnailOf(ctx, 3, "30", "changed.png", changed.Old, changed.Old); !errors.Is(err, ErrUploadedAgain) {
		t.Errorf("a thumbnail for another new side: %v, want ErrUploadedAgain", err)
	}
	if _, _, err := f.r.ThumbnailOf(ctx, 4, "30", "changed.png", "", ""); err == nil {
		t.Error("another PR's build gave a thumbnail")
	}
	if _, _, err := f.r.ThumbnailOf(ctx, 3, "30", "../changed.png", "", ""); err == nil {
		t.Error("a path with .. gave a thumbnail")
	}
	if _, err := f.r.ThumbnailByIDs(ctx, "", "not-an-id"); err == nil {
		t.Error("a bad blob id gave a thumbnail")
	}
}

// TestPixelsInFlight: difference images and thumbnails asked for at once,
// by any number of requests, all complete within the budget of pixels in
// flight, one heavier than the whole budget too, and give all of it back;
// a request that cannot get its turn gives up when its context ends,
// leaving nothing cached, and succeeds later; a pair whose difference
// would be drawn larger than an image may be is refused.
func TestPixelsInFlight(t *testing.T) {
	ctx := context.Background()
	const images, side = 8, 100 // a pair and its difference are 30,000 pixels
	seed, build := map[string]string{}, map[string]string{}
	for i := range images {
		name := fmt.Sprintf("plot%d.png", i)
		seed["data/"+name] = pngOf(t, side, side, nil, png.DefaultCompression)
		build[name] = pngOf(t, side, side, []image.Point{{i, i}}, png.DefaultCompression)
	}
	seed["data/big.png"] = pngOf(t, 3*side, side, nil, png.DefaultCompression) // 90,000
	build["big.png"] = pngOf(t, 3*side, side, []image.Point{{1, 2}}, png.DefaultCompression)
	seed["data/turned.png"] = pngOf(t, 3*side, side, nil, png.DefaultCompression) // drawn on 300×300
	build["turned.png"] = pngOf(t, side, 3*side, nil, png.DefaultCompression)
	f := newFixture(t, seed)
	const budget = 40_000 // one small pair at a time, not two
	f.r = New(Options{Builds: f.store, Repo: f.repo, BaseBranch: "master", MaxPixelsInFlight: budget, MaxImagePixels: 60_000,
		Head: func(_ context.Context, pr int) (string, error) { return f.head[pr], nil }})
	cache, err := diskcache.New(filepath.Join(t.TempDir(), "cache"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.r.o.Cache = cache
	f.head[5] = headA
	f.upload(t, "50", 5, headA, "", build)
	rev, err := f.r.Review(ctx, 5, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Changed != images+2 {
		t.Fatalf("review: %+v", changes(rev))
	}

	// The budget held elsewhere: a difference and a thumbnail wait, then
	// give up. (Both sides are read first, so that the short deadline is
	// spent waiting for the budget alone.)
	plot0, _ := rev.File("plot0.png")
	if _, err := f.r.ReadOld(ctx, plot0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.ReadNew(ctx, rev, plot0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.r.pixels.Acquire(ctx, budget); err != nil {
		t.Fatal(err)
	}
	for what, ask := range map[string]func(context.Context) error{
		"ImageDiff": func(ctx context.Context) error { _, err := f.r.ImageDiff(ctx, rev, plot0); return err },
		"Thumbnail": func(ctx context.Context) error { _, err := f.r.Thumbnail(ctx, rev, plot0); return err },
	} {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := ask(short)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s with the budget taken: %v, want it to give up at its deadline", what, err)
		}
	}
	if _, ok := f.r.cachedDiff(plot0); ok || cache.Len() != 0 {
		t.Errorf("requests that gave up left %d entries in the cache", cache.Len())
	}
	f.r.pixels.Release(budget)

	// Everything at once: each image's difference twice, and its
	// thumbnail, from separate goroutines.
	var g errgroup.Group
	for _, file := range rev.Files {
		if file.Path == "turned.png" {
			continue
		}
		for range 2 {
			g.Go(func() error {
				d, err := f.r.ImageDiff(ctx, rev, file)
				if err == nil && d.Changed != 1 {
					err = fmt.Errorf("%s: %d pixels changed, want 1", file.Path, d.Changed)
				}
				return err
			})
		}
		g.Go(func() error { _, err := f.r.Thumbnail(ctx, rev, file); return err })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if !f.r.pixels.TryAcquire(budget) {
		t.Error("pixels still taken after every request ended")
	}
	f.r.pixels.Release(budget)

	// 300×100 against 100×300: each side fits, their difference (300×300)
	// does not.
	turned, _ := rev.File("turned.png")
	if _, err := f.r.ImageDiff(ctx, rev, turned); !errors.Is(err, imgdiff.ErrTooLarge) {
		t.Errorf("a difference larger than an image may be: %v, want ErrTooLarge", err)
	}
	if _, err := f.r.Thumbnail(ctx, rev, turned); !errors.Is(err, imgdiff.ErrTooLarge) {
		t.Errorf("its thumbnail: %v, want ErrTooLarge", err)
	}
	if !f.r.pixels.TryAcquire(budget) {
		t.Error("pixels still taken after the refusals")
	}
}

// noGitIDs is a build store whose manifests carry no git blob ids, as an
// older uploader wrote them.
type noGitIDs struct{ *s3cache.Store }

func (s noGitIDs) Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error) {
	b, err := s.Store.Open(ctx, id, want)
	if err != nil {
		return nil, err
	}
	for _, m := range b.Manifests {
		for i := range m.Files {
			m.Files[i].Git = ""
		}
	}
	return b, nil
}

// TestImagesWithoutGitIDs: without git ids in the manifest, differences and
// thumbnails are cached under the new side's sha256: a later build whose
// image changed gets its own difference, not the one cached for an
// earlier build's, and two added images do not share a thumbnail.
func TestImagesWithoutGitIDs(t *testing.T) {
	ctx := context.Background()
	plain := pngOf(t, 40, 30, nil, png.DefaultCompression)
	f := newFixture(t, map[string]string{"data/plot.png": plain})
	cache, err := diskcache.New(filepath.Join(t.TempDir(), "cache"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.r.o.Cache = cache
	f.r.o.Builds = noGitIDs{f.store}
	diff := func(build, head string, files map[string]string) (*Review, *ImageDiff) {
		t.Helper()
		f.head[3] = head
		f.upload(t, build, 3, head, "", files)
		f.r.listed.builds = nil
		rev, err := f.r.Review(ctx, 3, AgainstBranch)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := rev.File("plot.png")
		if !ok || p.New != "" || p.NewID() == "" {
			t.Fatalf("plot.png in build %s: %+v", build, p)
		}
		d, err := f.r.ImageDiff(ctx, rev, p)
		if err != nil {
			t.Fatal(err)
		}
		return rev, d
	}
	// The same pixels, other bytes: looks identical.
	if _, d := diff("31", headA, map[string]string{"plot.png": pngOf(t, 40, 30, nil, png.NoCompression)}); !d.Identical {
		t.Fatalf("a re-encoding: %+v", d)
	}
	red := []image.Point{{1, 1}, {2, 2}, {3, 3}}
	rev, d := diff("32", headB, map[string]string{"plot.png": pngOf(t, 40, 30, red, png.DefaultCompression),
		"a.png": pngOf(t, 10, 10, nil, png.DefaultCompression), "b.png": pngOf(t, 20, 10, red, png.DefaultCompression)})
	if d.Identical || d.Changed != 3 {
		t.Errorf("a later build with 3 pixels changed: %d changed, identical %v (another build's difference?)", d.Changed, d.Identical)
	}
	a, _ := rev.File("a.png")
	b, _ := rev.File("b.png")
	ta, err := f.r.Thumbnail(ctx, rev, a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := f.r.Thumbnail(ctx, rev, b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ta, tb) {
		t.Error("two added images without git ids got the same thumbnail")
	}
}
