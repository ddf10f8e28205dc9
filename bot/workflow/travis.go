package workflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/refbot/refbot/travis"
)

// TravisCI is the CI interface on Travis CI.
type TravisCI struct {
	Client *travis.Client
	Repo   string // owner/name on Travis
	// WebURL is Travis's web address for build links; default
	// https://app.travis-ci.com.
	WebURL string
	// RequiredJobs, by name, are the jobs that must pass for a build to
	// count as passed; empty means every job not allowed to fail.
	RequiredJobs []string
	// DocsEnv are variables added to a docs build's env.global besides
	// refbot's REFBOT_WEBSITE_ ones (website.env; see docs.go).
	DocsEnv map[string]string
}

// NewestBuild implements CI.
func (t TravisCI) NewestBuild(ctx context.Context, pr int, sha string) (Build, error) {
	b, err := t.Client.NewestBuildForCommit(ctx, t.Repo, pr, sha)
	if errors.Is(err, travis.ErrNotFound) {
		return Build{}, fmt.Errorf("commit %s of #%d: %w", short(sha), pr, ErrNoBuild)
	}
	if err != nil {
		return Build{}, err
	}
	return t.convert(b), nil
}

// Build implements CI.
func (t TravisCI) Build(ctx context.Context, id string) (Build, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return Build{}, fmt.Errorf("travis build id %q: %w", id, err)
	}
	b, err := t.Client.Build(ctx, n)
	if err != nil {
		return Build{}, err
	}
	return t.convert(b), nil
}

// Restart implements CI.
func (t TravisCI) Restart(ctx context.Context, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("travis build id %q: %w", id, err)
	}
	return t.Client.Restart(ctx, n)
}

// Cancel implements CI.
func (t TravisCI) Cancel(ctx context.Context, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("travis build id %q: %w", id, err)
	}
	return t.Client.Cancel(ctx, n)
}

func (t TravisCI) convert(b travis.Build) Build {
	web := t.WebURL
	if web == "" {
		web = "https://app.travis-ci.com"
	}
	notRun := false
	for _, j := range b.Jobs {
		// A job of a finished build that never started was skipped (a
		// later stage after a failed one) or cancelled before it ran.
		if j.StartedAt.IsZero() && b.Finished() {
			notRun = true
		}
	}
	return Build{
		ID: strconv.FormatInt(b.ID, 10), Number: b.Number, State: b.State, Commit: b.CommitSHA,
		URL:      fmt.Sprintf("%s/github/%s/builds/%d", strings.TrimSuffix(web, "/"), t.Repo, b.ID),
		Started:  b.Finished() || b.State == travis.StateStarted || !b.StartedAt.IsZero(),
		Finished: b.Finished(), Passed: t.passed(b), StartedAt: b.StartedAt, FinishedAt: b.FinishedAt,
		JobsNotRun: notRun,
	}
}

// passed: the build finished and every required job passed (a required
// job missing from the build counts as not passed).
func (t TravisCI) passed(b travis.Build) bool {
	if len(t.RequiredJobs) == 0 || !b.Finished() {
		return b.Passed()
	}
	state := map[string]string{}
	for _, j := range b.Jobs {
		state[j.Name] = j.State
	}
	for _, name := range t.RequiredJobs {
		if state[name] != travis.StatePassed {
			return false
		}
	}
	return true
}

// NewestBranchBuild implements CI.
func (t TravisCI) NewestBranchBuild(ctx context.Context, branch, sha string) (Build, error) {
	b, err := t.Client.NewestPushBuild(ctx, t.Repo, branch, sha)
	if errors.Is(err, travis.ErrNotFound) {
		return Build{}, fmt.Errorf("commit %s of %s: %w", short(sha), branch, ErrNoBuild)
	}
	if err != nil {
		return Build{}, err
	}
	return t.convert(b), nil
}
