// Package publish takes a CI build's artifacts from the S3 cache to a branch
// of the data repo: the core of UPDATE, of a forced rebuild from the CLI and
// of the benchmark. It downloads only what the data repo lacks: the
// manifest's git blob ids are compared with the trees refbot already has, so
// a 1% change downloads and pushes about 1% of the data, even with no local
// copy of the files.
package publish

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/refbot/refbot/internal/workfolder"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// Store is what publish needs of the S3 cache.
type Store interface {
	Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error)
	Download(ctx context.Context, m *s3cache.Manifest, dir string, o s3cache.DownloadOptions) (s3cache.DownloadStats, error)
}

// Repo is what publish needs of the data repo.
type Repo interface {
	KnownBlobs(ctx context.Context, branch string) (map[plumbing.Hash]bool, error)
	Update(ctx context.Context, req refdata.UpdateRequest) (*refdata.UpdateResult, error)
}

// Request says which build goes to which branch.
type Request struct {
	Build  string
	Want   s3cache.Want // the provenance the build must have
	Branch string       // e.g. PR12
	// Variants are the variants to publish; none means every variant of
	// the build. The branch's other variants are kept as they are.
	Variants []string
	// Against, for an update of the base branch itself, is the base commit
	// the build's outputs are compared with: the change from it to the
	// outputs is applied to the current base (see refdata.UpdateRequest).
	Against  plumbing.Hash
	WorkDir  string // where downloads and their state are kept between runs
	Subject  string
	Trailers refdata.Trailers
	DryRun   bool // download nothing that is not needed, push nothing
	// Opened, if set, is this build as an earlier Publish (a dry run) found
	// it, checked against the same Want: it is used instead of reading and
	// checking the build in S3 again.
	Opened *s3cache.Build
	// BeforePush, if set, runs after the downloads and before each push;
	// an error stops the publish there (UPDATE uses it to stop when the
	// PR's head moved while it ran).
	BeforePush func(ctx context.Context) error
	// Progress, if set, is told how the downloads and pushes advance.
	Progress func(Progress)
}

// Progress is a step of a publish: Stage "download" (Total known) or
// "push" (Total -1: the pack's size is known only at its end).
type Progress struct {
	Stage   string
	Variant string
	Done    int64 // bytes
	Total   int64
}

// Result says what was done: the downloads per variant, and the one
// update of the branch that holds them all.
type Result struct {
	Build    *s3cache.Build
	Variants []VariantResult
	Update   *refdata.UpdateResult
}

// VariantResult is one variant's download.
type VariantResult struct {
	Variant  string
	Download s3cache.DownloadStats
}

// Publish checks the build (complete, with the wanted provenance), fetches
// the files the data repo lacks, and updates the branch with one commit on
// the base holding every variant published, in one push. Errors keep the
// sentinels of s3cache and refdata (ErrIncomplete, ErrProvenance,
// ErrLeaseLost …) for the caller to branch on.
func Publish(ctx context.Context, store Store, repo Repo, req Request) (*Result, error) {
	b := req.Opened
	if b == nil || b.ID != req.Build {
		var err error
		if b, err = store.Open(ctx, req.Build, req.Want); err != nil {
			return nil, err
		}
	}
	variants := b.Variants
	if len(req.Variants) > 0 {
		for _, v := range req.Variants {
			if _, ok := b.Manifests[v]; !ok {
				return nil, fmt.Errorf("build %s has no variant %q (it has %v): %w", req.Build, v, b.Variants, s3cache.ErrNotFound)
			}
		}
		variants = slices.Clone(req.Variants)
	}
	sort.Strings(variants)
	known, err := repo.KnownBlobs(ctx, req.Branch)
	if err != nil {
		return nil, err
	}
	res := &Result{Build: b}
	var parts []refdata.Part
	for _, v := range variants {
		part, st, err := stage(ctx, store, req, b.Manifests[v], known)
		res.Variants = append(res.Variants, VariantResult{Variant: v, Download: st})
		if err != nil {
			return res, err
		}
		parts = append(parts, part)
	}
	if err := beforePush(ctx, req); err != nil {
		return res, err
	}
	var pushProgress func(int64)
	if req.Progress != nil {
		pushProgress = func(sent int64) { req.Progress(Progress{Stage: "push", Done: sent, Total: -1}) }
	}
	res.Update, err = repo.Update(ctx, refdata.UpdateRequest{
		Branch: req.Branch, Parts: parts, Against: req.Against,
		Subject: req.Subject, Trailers: req.Trailers, DryRun: req.DryRun, PushProgress: pushProgress,
	})
	return res, err
}

// stage downloads what the data repo lacks of one variant (nothing in a
// dry run) and returns the variant's part of the update.
func stage(ctx context.Context, store Store, req Request, m *s3cache.Manifest, known map[plumbing.Hash]bool) (refdata.Part, s3cache.DownloadStats, error) {
	name := m.Variant
	if name == "" {
		name = "_default"
	}
	dir := filepath.Join(req.WorkDir, "files", name)
	state := filepath.Join(req.WorkDir, "state", name+".sha256")

	// A manifest without git blob ids (written by an older uploader) is
	// downloaded whole and hashed locally.
	for _, f := range m.Files {
		if f.Git == "" {
			if err := makeWorkFolders(req.WorkDir, name); err != nil {
				return refdata.Part{}, s3cache.DownloadStats{}, err
			}
			st, err := store.Download(ctx, m, dir, s3cache.DownloadOptions{StatePath: state})
			return refdata.Part{Variant: m.Variant, Dir: dir, StatePath: filepath.Join(req.WorkDir, "state", name+".git")}, st, err
		}
	}
	needed := &s3cache.Manifest{}
	*needed = *m
	needed.Files = nil
	files := make([]refdata.File, len(m.Files))
	for i, f := range m.Files {
		blob := plumbing.NewHash(f.Git)
		files[i] = refdata.File{Path: f.Path, Blob: blob, Size: f.Size}
		if !known[blob] {
			needed.Files = append(needed.Files, f)
			files[i].Local = filepath.Join(dir, filepath.FromSlash(f.Path))
		}
	}
	part := refdata.Part{Variant: m.Variant, Files: files}
	if req.DryRun {
		return part, s3cache.DownloadStats{}, nil
	}
	// The folder only stages what the data repo lacks; files left from
	// earlier runs stay (removing thousands of them costs more than keeping
	// them) and are used only where they still match.
	if err := makeWorkFolders(req.WorkDir, name); err != nil {
		return part, s3cache.DownloadStats{}, err
	}
	opts := s3cache.DownloadOptions{StatePath: state, KeepUnlisted: true}
	if req.Progress != nil {
		total := needed.TotalSize()
		req.Progress(Progress{Stage: "download", Variant: m.Variant, Total: total})
		opts.Progress = func(_ int, bytes int64) {
			req.Progress(Progress{Stage: "download", Variant: m.Variant, Done: bytes, Total: total})
		}
	}
	st, err := store.Download(ctx, needed, dir, opts)
	return part, st, err
}

// makeWorkFolders makes workDir/files/name and workDir/state real folders
// before anything is downloaded there: workDir and all below it are
// refbot's, so a symlink planted at any of them is removed, never followed
// (internal/workfolder). workDir's parent is the operator's, taken as it is.
func makeWorkFolders(workDir, name string) error {
	workDir = filepath.Clean(workDir)
	parent, base := filepath.Dir(workDir), filepath.Base(workDir)
	if _, err := workfolder.Make(parent, 0o755, base, "files", name); err != nil {
		return err
	}
	_, err := workfolder.Make(parent, 0o755, base, "state")
	return err
}

func beforePush(ctx context.Context, req Request) error {
	if req.DryRun || req.BeforePush == nil {
		return nil
	}
	return req.BeforePush(ctx)
}
