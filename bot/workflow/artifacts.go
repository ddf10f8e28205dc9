package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/internal/workfolder"
	"github.com/refbot/refbot/s3cache"
)

// Outputs brings the outputs of a finished CI build into the S3 cache when
// CI kept them elsewhere (docs/design.md, "Fork pull requests"): a GitHub
// Actions run of a fork's pull request gets no secrets, so it cannot
// upload to S3, and uploads a workflow artifact instead.
type Outputs interface {
	// Fetch copies the outputs of build, which tested commit for src, into
	// the cache unless the cache holds this run's already. Finding nothing
	// of this run to copy, nor in the cache, is a *missingOutputs error
	// saying why (the cache may hold an earlier run's).
	Fetch(ctx context.Context, build Build, src s3cache.Source, commit string) error
}

// missingOutputs: CI kept no outputs of a build that refbot can take, and
// what to do about it, for a reply (reason) and a commit status (short).
type missingOutputs struct{ reason, short string }

func (e *missingOutputs) Error() string { return e.reason }

// expiredArtifact: the artifact name of the build is gone (GitHub keeps
// artifacts for a limited time).
func expiredArtifact(name string, build Build) *missingOutputs {
	return &missingOutputs{
		reason: fmt.Sprintf("the %s artifact of run %s has expired (GitHub keeps artifacts for a limited time); re-run the run to make a new one", code(name), buildName(build)),
		short:  "artifact expired; re-run it",
	}
}

// NoOutputs says whether err is Outputs.Fetch's "CI kept no outputs refbot
// can take", which asking again will not change.
func NoOutputs(err error) bool {
	var m *missingOutputs
	return errors.As(err, &m)
}

// ArtifactOutputs takes a GitHub Actions run's outputs from its workflow
// artifacts: the artifact named Name (a build without variants) or
// Name-VARIANT, of the run's current attempt. Each is downloaded through
// the API, checked as strictly as an upload to S3, and written into the S3
// layout with its provenance from the API (s3cache.IngestArtifact).
type ArtifactOutputs struct {
	GitHub *ghclient.Client
	Store  *s3cache.Store
	Repo   string // the project, owner/name: the provenance's repository
	Name   string // the artifact's name
	// Either: CI may have uploaded to S3 itself; its upload of this run
	// is used as it is, and only a build missing there is taken from an
	// artifact.
	Either  bool
	WorkDir string // downloads, removed after use
	// MaxZipBytes bounds one artifact's download; 0 is the largest zip a
	// build within the store's limits makes.
	MaxZipBytes int64
	Logger      *zap.Logger

	mu sync.Mutex
	// builds serialises the fetches of one build: the cache status, a CI
	// event, STATUS and UPDATE may ask at once, and the second then finds
	// the first's copy.
	builds map[string]*sync.Mutex
	// refused remembers the artifacts found unusable, so that each pass of
	// the reconciler does not download them again; an artifact is never
	// changed once uploaded.
	refused map[int64]error
}

// maxRefused bounds ArtifactOutputs.refused.
const maxRefused = 1000

// Fetch implements Outputs. It refuses a build that did not test commit:
// its outputs would be recorded as commit's.
func (o *ArtifactOutputs) Fetch(ctx context.Context, build Build, src s3cache.Source, commit string) error {
	if !build.Finished {
		return nil
	}
	if build.Commit != commit {
		return fmt.Errorf("%w: run %s tested %s, not %s", s3cache.ErrProvenance, build.ID, short(build.Commit), short(commit))
	}
	unlock := o.lock(build.ID)
	defer unlock()
	want := s3cache.Want{Source: src, Commit: commit}
	have, err := o.Store.Open(ctx, build.ID, want)
	switch {
	case err == nil:
	case errors.Is(err, s3cache.ErrNotFound):
		have = nil
	case s3cache.Unusable(err) && !errors.Is(err, s3cache.ErrIncomplete):
		// Another PR's, or tampered with: not overwritten. The caller's
		// own Open says what is wrong.
		return nil
	case s3cache.Unusable(err):
		have = nil // a copy that a crash cut short: done again
	default:
		return err
	}
	if have != nil && o.Either && fromThisRun(have, build) {
		return nil
	}
	run, err := runID(build.ID)
	if err != nil {
		return err
	}
	arts, err := o.GitHub.RunArtifacts(ctx, run)
	if err != nil {
		return outage("list the run's artifacts", err)
	}
	take, expired := o.pick(arts, build)
	if len(take) == 0 {
		if have != nil && fromThisRun(have, build) {
			return nil // CI uploaded this run's outputs to S3 itself
		}
		if expired {
			return expiredArtifact(o.Name, build)
		}
		return &missingOutputs{
			reason: fmt.Sprintf("run %s uploaded no %s artifact: the workflow must upload its outputs with the refbot action (`mode: artifact`) or `refbot upload --artifact` and actions/upload-artifact", buildName(build), code(o.Name)),
			short:  "no " + o.Name + " artifact; the workflow must upload one",
		}
	}
	// A symlink planted at the folder is removed, not followed.
	if _, err := workfolder.Make(filepath.Dir(filepath.Clean(o.WorkDir)), 0o700, filepath.Base(o.WorkDir)); err != nil {
		return err
	}
	for _, a := range take {
		if have != nil && variantFromThisRun(have, a.variant, build) {
			continue
		}
		if err := o.ingest(ctx, a, build, src, commit); err != nil {
			return err
		}
	}
	return nil
}

// lock takes the lock of build's fetches and returns its release.
func (o *ArtifactOutputs) lock(build string) func() {
	o.mu.Lock()
	if o.builds == nil {
		o.builds = map[string]*sync.Mutex{}
	}
	l, ok := o.builds[build]
	if !ok {
		l = &sync.Mutex{}
		o.builds[build] = l
	}
	o.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (o *ArtifactOutputs) wasRefused(id int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refused[id]
}

func (o *ArtifactOutputs) remember(id int64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refused == nil || len(o.refused) >= maxRefused {
		o.refused = map[int64]error{}
	}
	o.refused[id] = err
}

type namedArtifact struct {
	ghclient.Artifact
	variant string
}

// pick returns the artifacts of the run's current attempt, the newest of
// each name: a re-run uploads again under the same name, and an artifact
// older than the attempt's start is the previous attempt's. expired says
// that an artifact of the right name and attempt is gone.
func (o *ArtifactOutputs) pick(arts []ghclient.Artifact, build Build) (take []namedArtifact, expired bool) {
	newest := map[string]ghclient.Artifact{}
	for _, a := range arts {
		variant, ok := o.variantOf(a.Name)
		if !ok || (!build.StartedAt.IsZero() && a.CreatedAt.Before(build.StartedAt)) {
			continue
		}
		if a.Expired {
			expired = true
			continue
		}
		if old, seen := newest[variant]; !seen || a.CreatedAt.After(old.CreatedAt) || (a.CreatedAt.Equal(old.CreatedAt) && a.ID > old.ID) {
			newest[variant] = a
		}
	}
	for v, a := range newest {
		take = append(take, namedArtifact{Artifact: a, variant: v})
	}
	return take, expired
}

// variantOf returns the variant an artifact's name is for ("" for Name).
func (o *ArtifactOutputs) variantOf(name string) (string, bool) {
	if name == o.Name {
		return "", true
	}
	v, ok := strings.CutPrefix(name, o.Name+"-")
	return v, ok && s3cache.ValidVariant(v) == nil
}

// fromThisRun says whether every variant the cache holds of the build was
// written for the run's current attempt (by CI or by refbot), none by an
// earlier one.
func fromThisRun(have *s3cache.Build, build Build) bool {
	for v := range have.Manifests {
		if !variantFromThisRun(have, v, build) {
			return false
		}
	}
	return len(have.Manifests) > 0
}

// variantFromThisRun: by the attempt its manifest records where both count
// attempts (no clocks compared), else by when it was written (S3's clock)
// against the run's start (the CI's). A variant the build lacks is not.
func variantFromThisRun(have *s3cache.Build, v string, build Build) bool {
	if m := have.Manifests[v]; m != nil && build.Attempt > 0 && m.Attempt > 0 {
		return m.Attempt >= build.Attempt
	}
	at, ok := have.Uploaded[v]
	return ok && (build.StartedAt.IsZero() || !at.Before(build.StartedAt))
}

func (o *ArtifactOutputs) ingest(ctx context.Context, a namedArtifact, build Build, src s3cache.Source, commit string) error {
	if err := o.wasRefused(a.ID); err != nil {
		return err
	}
	limit := o.MaxZipBytes
	if limit <= 0 {
		limit = o.Store.MaxArtifactBytes()
	}
	if a.Size > 0 && limit > 0 && a.Size > limit {
		err := fmt.Errorf("artifact %s of run %s: %w: %d bytes, limit %d", text(a.Name), build.ID, s3cache.ErrTooLarge, a.Size, limit)
		o.remember(a.ID, err)
		return err
	}
	f, err := os.CreateTemp(o.WorkDir, "artifact-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = o.GitHub.DownloadArtifact(ctx, a.ID, f, limit)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, ghclient.ErrTooLarge):
		err = fmt.Errorf("artifact %s of run %s: %w: over %d bytes", text(a.Name), build.ID, s3cache.ErrTooLarge, limit)
		o.remember(a.ID, err)
		return err
	case errors.Is(err, ghclient.ErrGone):
		return expiredArtifact(a.Name, build) // between the listing and the download
	case err != nil:
		return outage("download the run's artifact", err)
	}
	m, err := o.Store.IngestArtifact(ctx, f.Name(), s3cache.Provenance{
		Repo: o.Repo, PR: src.PR, Branch: src.Branch, Commit: commit, Build: build.ID, Attempt: build.Attempt,
		Provider: "github-actions", Variant: a.variant,
	})
	if s3cache.Unusable(err) && !errors.Is(err, s3cache.ErrProvenance) {
		o.remember(a.ID, err) // the artifact's own fault, not S3's state
	}
	if err != nil {
		return err
	}
	if o.Logger != nil {
		o.Logger.Info("took a run's outputs from its artifact", zap.String("run", build.ID), zap.Int("attempt", build.Attempt),
			zap.String("artifact", a.Name), zap.Int("files", len(m.Files)))
	}
	return nil
}

// fetchOutputs brings a finished build's outputs into the cache where CI
// kept them elsewhere, and says, when the cache has none of them, why and
// what to do: reason for a reply, short for a commit status ("" when the
// cache has them, or when it lacks them for no reason refbot knows
// better than the cache's own error). A build's outputs that fail the
// checks are a user error, as from S3.
func (b *Bot) fetchOutputs(ctx context.Context, build Build, src s3cache.Source, commit string, fork bool) (reason, short string, err error) {
	var missing *missingOutputs
	if b.out != nil && build.Finished {
		err := b.out.Fetch(ctx, build, src, commit)
		if !errors.As(err, &missing) && err != nil {
			return "", "", err
		}
	}
	if missing != nil {
		// The cache lacks this run's outputs (it may hold an earlier
		// attempt's, which are not this run's result).
		return missing.reason, missing.short, nil
	}
	if !(fork && b.cfg.OutputsFromS3Only) {
		return "", "", nil
	}
	if _, err := b.cache.Open(ctx, build.ID, s3cache.Want{Source: src, Commit: commit}); !errors.Is(err, s3cache.ErrNotFound) {
		return "", "", nil // there, or wrong in a way Open's caller words
	}
	return fmt.Sprintf("build %s has no outputs in the cache: the pull request comes from a fork, and CI gives a fork's builds no secrets, so they cannot upload to S3. "+
			"On GitHub Actions, a maintainer can let refbot take them as a workflow artifact instead (`ci.outputs: either` and the refbot action's artifact mode); "+
			"otherwise the fork's commits must be pushed to a branch of this repository and built there", buildName(build)),
		"a fork's CI cannot upload to S3; see refbot's reply to STATUS", nil
}
