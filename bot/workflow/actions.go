package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/refbot/refbot/bot/ghclient"
)

// ActionsCI is the CI interface on GitHub Actions (docs/design.md, "GitHub
// Actions"): a build is a workflow run of one of the configured workflow
// files, its id the run id. A re-run keeps the id and counts up the run's
// attempt, which is how a new run is told from the old one's final state
// (GitHub carries a re-run out a little after it accepts it).
type ActionsCI struct {
	Client *ghclient.Client
	// Workflows are the workflow file names (in .github/workflows) whose
	// runs are the project's builds; the newest run of any is the build.
	Workflows []string
	// RequiredJobs, by name, must have succeeded for a run to count as
	// passed; empty means the run's own conclusion.
	RequiredJobs []string
	// FailedOnly re-runs only a run's failed jobs instead of all of them.
	FailedOnly bool
}

// NewestBuild implements CI: the newest pull_request run of sha. A fork's
// runs name no pull request (GitHub leaves pull_requests empty for them),
// so a run naming other PRs only is not pr's, and one naming none is taken
// as the head's.
func (a ActionsCI) NewestBuild(ctx context.Context, pr int, sha string) (Build, error) {
	run, err := a.newest(ctx, ghclient.RunFilter{HeadSHA: sha, Event: "pull_request"}, func(r ghclient.WorkflowRun) bool {
		return len(r.PRs) == 0 || slices.Contains(r.PRs, pr)
	})
	if errors.Is(err, ErrNoBuild) {
		return Build{}, fmt.Errorf("commit %s of #%d: %w", short(sha), pr, ErrNoBuild)
	}
	if err != nil {
		return Build{}, err
	}
	return a.build(ctx, run)
}

// NewestBranchBuild implements CI: the newest push run of branch at sha.
func (a ActionsCI) NewestBranchBuild(ctx context.Context, branch, sha string) (Build, error) {
	run, err := a.newest(ctx, ghclient.RunFilter{HeadSHA: sha, Event: "push", Branch: branch}, func(r ghclient.WorkflowRun) bool {
		return r.HeadBranch == branch
	})
	if errors.Is(err, ErrNoBuild) {
		return Build{}, fmt.Errorf("commit %s of %s: %w", short(sha), branch, ErrNoBuild)
	}
	if err != nil {
		return Build{}, err
	}
	return a.build(ctx, run)
}

// newest returns the newest run of the configured workflows that f selects.
func (a ActionsCI) newest(ctx context.Context, f ghclient.RunFilter, ok func(ghclient.WorkflowRun) bool) (ghclient.WorkflowRun, error) {
	var best ghclient.WorkflowRun
	found := false
	for _, wf := range a.Workflows {
		runs, err := a.Client.WorkflowRuns(ctx, wf, f)
		if err != nil {
			return best, err
		}
		for _, r := range runs {
			if r.HeadSHA != f.HeadSHA || !ok(r) {
				continue
			}
			if !found || r.CreatedAt.After(best.CreatedAt) || (r.CreatedAt.Equal(best.CreatedAt) && r.ID > best.ID) {
				best, found = r, true
			}
		}
	}
	if !found {
		return best, ErrNoBuild
	}
	return best, nil
}

// Build implements CI.
func (a ActionsCI) Build(ctx context.Context, id string) (Build, error) {
	n, err := runID(id)
	if err != nil {
		return Build{}, err
	}
	run, err := a.Client.WorkflowRun(ctx, n)
	if err != nil {
		return Build{}, err
	}
	return a.build(ctx, run)
}

// Restart implements CI: a re-run of the whole run, or of its failed jobs.
func (a ActionsCI) Restart(ctx context.Context, id string) error {
	n, err := runID(id)
	if err != nil {
		return err
	}
	return a.Client.RerunWorkflow(ctx, n, a.FailedOnly)
}

// Cancel implements CI.
func (a ActionsCI) Cancel(ctx context.Context, id string) error {
	n, err := runID(id)
	if err != nil {
		return err
	}
	return a.Client.CancelWorkflowRun(ctx, n)
}

func runID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("workflow run id %q: not a run id", id)
	}
	return n, nil
}

// build converts a run. The jobs of a finished run are read (one request,
// answered from the ETag cache when unchanged) for the required jobs and
// for the jobs that never ran.
func (a ActionsCI) build(ctx context.Context, r ghclient.WorkflowRun) (Build, error) {
	finished := r.Status == "completed"
	b := Build{
		ID: strconv.FormatInt(r.ID, 10), State: r.Status, Commit: r.HeadSHA, URL: r.URL,
		Started:  finished || r.Status == "in_progress",
		Finished: finished, StartedAt: r.StartedAt, Attempt: r.Attempt, HeadRepo: r.HeadRepo,
	}
	if !finished {
		return b, nil
	}
	b.State, b.FinishedAt = r.Conclusion, r.UpdatedAt
	b.Passed = r.Conclusion == "success"
	jobs, err := a.Client.WorkflowJobs(ctx, r.ID, r.Attempt)
	if err != nil {
		return Build{}, err
	}
	conclusion := map[string]string{}
	for _, j := range jobs {
		conclusion[j.Name] = j.Conclusion
		// A job skipped (a later one after a failed need) or cancelled
		// before it started left no outputs.
		if j.Conclusion == "skipped" || (j.Conclusion == "cancelled" && j.StartedAt.IsZero()) {
			b.JobsNotRun = true
		}
	}
	if len(a.RequiredJobs) > 0 {
		b.Passed = true
		for _, name := range a.RequiredJobs {
			if conclusion[name] != "success" {
				b.Passed = false
			}
		}
	}
	return b, nil
}
