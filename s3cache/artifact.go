package s3cache

// Artifacts are how a fork pull request's outputs reach refbot. A fork's
// workflow gets no secrets, so it cannot write to S3; instead it lays its
// outputs out with PrepareArtifact and uploads that folder as a workflow
// artifact (actions/upload-artifact). refbot downloads the zip through
// GitHub's API and IngestArtifact checks it as strictly as an S3 build
// before writing it into the S3 layout itself. The zip's top level mirrors
// one build folder without SOURCE:
//
//	MANIFEST.json             or MANIFEST.VARIANT.json: exactly one
//	data/PATH                 or data/VARIANT/PATH

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
)

// PrepareRequest says what PrepareArtifact lays out, and where.
type PrepareRequest struct {
	Dir     string // the folder of test outputs
	Out     string // the artifact folder to create; absent or empty
	Variant string // the matrix variant (optional)

	// The build's provenance, written into the manifest for whoever reads
	// the artifact. refbot ignores it on ingest and records what GitHub's
	// API says instead (see Provenance).
	Build    string // the run id (required: a manifest names its build)
	Commit   string // optional
	Repo     string // optional
	Provider string // optional
	PR       int    // optional
	Branch   string // optional
	Attempt  int    // optional

	Limits Limits // zero fields take DefaultLimits
}

// PrepareArtifact lays out the files under req.Dir as the artifact folder
// req.Out, for actions/upload-artifact to zip: Out/data/PATH (or
// Out/data/VARIANT/PATH) and, written last, Out/MANIFEST.json (or
// MANIFEST.VARIANT.json) with each file's size, sha256 and git blob id,
// computed as Upload computes them. It refuses what Upload refuses (unsafe
// paths, symlinks and special files, case collisions, the limits) before it
// creates anything. Files are hard-linked when Out is on Dir's file system,
// else copied; either way the manifest describes what Out holds, so an
// output rewritten after this call is caught on ingest. On error, Out is
// left empty, so that no half artifact is uploaded.
func PrepareArtifact(ctx context.Context, req PrepareRequest) (_ *Manifest, err error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	lim := req.Limits.orDefaults()
	files, err := scanUploadDir(req.Dir, lim)
	if err != nil {
		return nil, err
	}
	if err := makeArtifactDir(req.Out, req.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(filepath.Join(req.Out, dataDir))
			os.Remove(filepath.Join(req.Out, manifestName(req.Variant)))
		}
	}()
	base := filepath.Join(req.Out, dataDir, req.Variant)
	m := &Manifest{
		Version: ManifestVersion, Repo: req.Repo, PR: req.PR, Branch: req.Branch, Commit: req.Commit,
		Build: req.Build, Variant: req.Variant, Provider: req.Provider, Attempt: req.Attempt,
		Files: make([]File, len(files)),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, f := range files {
		g.Go(func() error {
			sum, git, err := placeFile(gctx, filepath.Join(req.Dir, filepath.FromSlash(f.Path)),
				filepath.Join(base, filepath.FromSlash(f.Path)), f.Size)
			if err != nil {
				return err
			}
			m.Files[i] = File{Path: f.Path, Size: f.Size, SHA256: sum, Git: git}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m.Created = time.Now().UTC().Truncate(time.Second)
	if err := m.Validate(lim); err != nil {
		return nil, fmt.Errorf("prepare artifact: %w", err)
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	// Written last: an artifact folder with a manifest is complete.
	name := filepath.Join(req.Out, manifestName(req.Variant))
	w, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prepare artifact: %w", err)
	}
	_, err = w.Write(append(body, '\n'))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("prepare artifact: write %s: %w", name, err)
	}
	return m, nil
}

func (req PrepareRequest) check() error {
	if err := ValidBuildID(req.Build); err != nil {
		return fmt.Errorf("prepare artifact: %w", err)
	}
	if err := ValidVariant(req.Variant); err != nil {
		return fmt.Errorf("prepare artifact: %w", err)
	}
	if req.Commit != "" && !commitPattern.MatchString(req.Commit) {
		return fmt.Errorf("prepare artifact: commit %q is not a full hex object id", req.Commit)
	}
	if req.PR < 0 || req.Attempt < 0 {
		return fmt.Errorf("prepare artifact: negative PR (%d) or attempt (%d)", req.PR, req.Attempt)
	}
	if req.Branch != "" {
		if src, err := ParseSource(req.Branch); err != nil || src.Branch != req.Branch {
			return fmt.Errorf("prepare artifact: %q is not a branch name", req.Branch)
		}
	}
	if req.Dir == "" || req.Out == "" {
		return errors.New("prepare artifact: both the outputs folder and the artifact folder are required")
	}
	return nil
}

// orDefaults fills l's zero fields from DefaultLimits, as New does for a
// Store.
func (l Limits) orDefaults() Limits {
	if l.MaxFileBytes == 0 {
		l.MaxFileBytes = DefaultLimits.MaxFileBytes
	}
	if l.MaxBuildBytes == 0 {
		l.MaxBuildBytes = DefaultLimits.MaxBuildBytes
	}
	if l.MaxFiles == 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return l
}

// makeArtifactDir creates out, or accepts it empty. Inside dir it would be
// part of the next run's outputs.
func makeArtifactDir(out, dir string) error {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("prepare artifact: %w", err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("prepare artifact: %w", err)
	}
	if rel, err := filepath.Rel(absDir, absOut); err == nil && (rel == "." || filepath.IsLocal(rel)) {
		return fmt.Errorf("prepare artifact: the artifact folder %s is inside the outputs folder %s", out, dir)
	}
	fi, err := os.Lstat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(out, 0o755); err != nil {
			return fmt.Errorf("prepare artifact: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("prepare artifact: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("prepare artifact: %s is not a folder", out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("prepare artifact: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("prepare artifact: the artifact folder %s is not empty", out)
	}
	return nil
}

// link is os.Link; tests replace it to take the copying path.
var link = os.Link

// placeFile puts src at dst, a hard link if it can, else a copy, and
// returns the checksums of what dst holds.
func placeFile(ctx context.Context, src, dst string, size int64) (sum, git string, err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", "", fmt.Errorf("prepare artifact: %w", err)
	}
	h := newFileHasher(size)
	var n int64
	if link(src, dst) == nil {
		n, err = hashFile(ctx, dst, h, size)
	} else {
		n, err = copyFile(ctx, src, dst, h, size)
	}
	if err != nil {
		return "", "", fmt.Errorf("prepare artifact: %w", err)
	}
	if n != size {
		return "", "", fmt.Errorf("prepare artifact: %s changed while being prepared (%d bytes, was %d)", src, n, size)
	}
	sum, git = h.sums()
	return sum, git, nil
}

// hashFile reads name into h, at most one byte past size.
func hashFile(ctx context.Context, name string, h io.Writer, size int64) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(h, io.LimitReader(&ctxReader{ctx: ctx, r: f}, size+1))
}

// copyFile copies src to a new file dst, hashing what it writes, at most
// one byte past size.
func copyFile(ctx context.Context, src, dst string, h io.Writer, size int64) (int64, error) {
	r, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(&ctxReader{ctx: ctx, r: r}, size+1))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return n, err
}
