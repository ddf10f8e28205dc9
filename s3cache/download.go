package s3cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/refbot/refbot/internal/statcache"
)

// DownloadOptions tune Download.
type DownloadOptions struct {
	// StatePath, if set, is a file where Download remembers the sha256 of
	// the files it wrote, so the next Download into the same folder only
	// reads files whose size or times changed. Keep it outside the folder.
	StatePath string
	// Progress, if set, is called after each file fetched.
	Progress func(files int, bytes int64)
	// KeepUnlisted leaves files the manifest does not list in place instead
	// of removing them: for a staging folder that only has to hold some of
	// a build's files, where removing the rest would be wasted work.
	KeepUnlisted bool
}

// DownloadStats says what Download did.
type DownloadStats struct {
	Fetched      int
	FetchedBytes int64
	Kept         int // already present with the right content
	Removed      int // present but not in the manifest
}

// Download makes dir hold exactly the files of manifest m of build b: files
// already there with the right size and sha256 are kept, missing or different
// ones are fetched (concurrently, streamed to disk, each checked against its
// size and sha256 before it replaces anything), and files the manifest does
// not list are removed. All writes go through an os.Root on dir, so no path,
// however crafted, lands outside it. On error, files already in place are
// valid; nothing half-written is left under its final name.
func (s *Store) Download(ctx context.Context, m *Manifest, dir string, o DownloadOptions) (DownloadStats, error) {
	var st DownloadStats
	if err := m.Validate(s.limits); err != nil {
		return st, err
	}
	if err := s.checkKind(m); err != nil {
		return st, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("download folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, fmt.Errorf("download folder: %w", err)
	}
	defer root.Close()
	cache := statcache.Load(o.StatePath)

	want := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		want[f.Path] = f
	}
	// Remove what the manifest does not list; note what may be kept.
	var candidates []File
	var emptyDirs []string
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if d.IsDir() {
			emptyDirs = append(emptyDirs, p)
			return nil
		}
		if f, ok := want[p]; ok && d.Type().IsRegular() {
			candidates = append(candidates, f)
			return nil
		}
		// Temporary files of an interrupted download always go.
		if o.KeepUnlisted && d.Type().IsRegular() && !strings.HasPrefix(path.Base(p), tmpPrefix) {
			return nil
		}
		st.Removed++
		return root.Remove(p)
	})
	if err != nil {
		return st, fmt.Errorf("clean %s: %w", dir, err)
	}
	if !o.KeepUnlisted {
		cache.Retain(func(rel string) bool { _, ok := want[rel]; return ok })
	}
	// Folders left empty go too (deepest first), so that a folder never
	// stands where the manifest now wants a file.
	slices.Reverse(emptyDirs)
	for _, d := range emptyDirs {
		if entries, err := fs.ReadDir(root.FS(), d); err == nil && len(entries) == 0 {
			if err := root.Remove(d); err != nil {
				return st, fmt.Errorf("clean %s: %w", dir, err)
			}
		}
	}

	// Keep files whose content already matches (reading only those the stat
	// cache cannot vouch for), in parallel.
	var keptMu sync.Mutex
	kept := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, f := range candidates {
		g.Go(func() error {
			ok, err := s.alreadyThere(gctx, root, cache, f)
			if err != nil {
				return err
			}
			if ok {
				keptMu.Lock()
				kept[f.Path] = true
				keptMu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	st.Kept = len(kept)

	var fetched atomic.Int64
	var fetchedBytes atomic.Int64
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	for _, f := range m.Files {
		if kept[f.Path] {
			continue
		}
		g.Go(func() error {
			if err := s.fetchFile(gctx, root, cache, m, f); err != nil {
				return err
			}
			n := fetched.Add(1)
			b := fetchedBytes.Add(f.Size)
			if o.Progress != nil {
				o.Progress(int(n), b)
			}
			return nil
		})
	}
	err = g.Wait()
	st.Fetched, st.FetchedBytes = int(fetched.Load()), fetchedBytes.Load()
	if saveErr := cache.Save(); err == nil {
		err = saveErr
	}
	if err != nil {
		return st, err
	}
	return st, nil
}

func (s *Store) alreadyThere(ctx context.Context, root *os.Root, cache *statcache.Cache, f File) (bool, error) {
	fi, err := root.Lstat(f.Path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size {
		return false, nil
	}
	if sum, ok := cache.Lookup(f.Path, fi); ok {
		return sum == f.SHA256, nil
	}
	fh, err := root.Open(f.Path)
	if err != nil {
		return false, nil
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: fh}); err != nil {
		return false, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	cache.Put(f.Path, fi, sum)
	return sum == f.SHA256, nil
}

// fetchFile streams one object into a temporary file beside its final name,
// checks its size and sha256, and renames it into place.
func (s *Store) fetchFile(ctx context.Context, root *os.Root, cache *statcache.Cache, m *Manifest, f File) (err error) {
	key := s.dataKey(m.Build, m.Variant, f.Path)
	if d := path.Dir(f.Path); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("download %s: %w", f.Path, err)
		}
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("build %s: %w: %s was deleted", m.Build, ErrIncomplete, f.Path)
		}
		return fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
	}
	defer out.Body.Close()
	tmp := path.Join(path.Dir(f.Path), tmpPrefix+path.Base(f.Path)+"-"+hexRand())
	w, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	defer func() {
		if err != nil {
			w.Close()
			root.Remove(tmp)
		}
	}()
	h := newFileHasher(f.Size)
	// Read one byte past the listed size: a server sending more is caught
	// without writing more than the limit.
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(out.Body, f.Size+1))
	if err != nil {
		return fmt.Errorf("download s3://%s/%s: %w", s.bucket, key, err)
	}
	if n > f.Size {
		return fmt.Errorf("build %s: %w: %s in S3 is longer than the %d bytes the manifest lists; refbot read no further", m.Build, ErrChecksum, f.Path, f.Size)
	}
	if n != f.Size {
		return fmt.Errorf("build %s: %w: %s is %d bytes, manifest says %d", m.Build, ErrChecksum, f.Path, n, f.Size)
	}
	sum, git := h.sums()
	if sum != f.SHA256 {
		return fmt.Errorf("build %s: %w: %s has sha256 %s, manifest says %s", m.Build, ErrChecksum, f.Path, sum[:12], f.SHA256[:12])
	}
	if f.Git != "" && git != f.Git {
		return fmt.Errorf("build %s: %w: %s has git blob id %s, manifest says %s", m.Build, ErrChecksum, f.Path, git[:12], f.Git[:12])
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	if err := root.Rename(tmp, f.Path); err != nil {
		return fmt.Errorf("download %s: %w", f.Path, err)
	}
	if fi, err := root.Lstat(f.Path); err == nil {
		cache.Put(f.Path, fi, f.SHA256)
	}
	return nil
}

// tmpPrefix starts the names of files being downloaded.
const tmpPrefix = ".refbot-tmp-"

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
