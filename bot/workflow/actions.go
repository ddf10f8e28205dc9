package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	// DocsWorkflow is the docs workflow's file name in .github/workflows
	// (website.workflow), dispatched for a docs build (see docs.go).
	DocsWorkflow string
}

// NewestBuild implements CI: the newest pull_request run of sha that is
// pr's. A run of this repository's branch lists the PRs it is for. A
// fork's run lists none (GitHub leaves pull_requests empty for them), and
// anyone can push the same commit to a fork of their own and open a PR of
// it: a fork's run counts only when its head repository and branch are
// pr's alone among the open PRs (docs/design.md, "GitHub Actions").
func (a ActionsCI) NewestBuild(ctx context.Context, pr int, sha string) (Build, error) {
	runs, err := a.runs(ctx, ghclient.RunFilter{HeadSHA: sha, Event: "pull_request"})
	if err != nil {
		return Build{}, err
	}
	owners := map[string]bool{} // "repo:branch" → the head is pr's alone
	for _, r := range runs {
		if len(r.PRs) > 0 {
			if slices.Contains(r.PRs, pr) {
				return a.build(ctx, r)
			}
			continue
		}
		key := r.HeadRepo + ":" + r.HeadBranch
		ours, seen := owners[key]
		if !seen {
			if ours, err = a.forkHeadIs(ctx, r, pr); err != nil {
				return Build{}, err
			}
			owners[key] = ours
		}
		if ours {
			return a.build(ctx, r)
		}
	}
	return Build{}, fmt.Errorf("commit %s of #%d: %w", short(sha), pr, ErrNoBuild)
}

// forkHeadIs says whether the fork's run r is pr's: the only open PR whose
// head is r's repository, branch and commit.
func (a ActionsCI) forkHeadIs(ctx context.Context, r ghclient.WorkflowRun, pr int) (bool, error) {
	owner, _, ok := strings.Cut(r.HeadRepo, "/")
	if !ok || r.HeadBranch == "" {
		return false, nil
	}
	prs, err := GitHubClient{a.Client}.PullRequestsByHead(ctx, owner, r.HeadBranch)
	if err != nil {
		return false, err
	}
	match := prsOfHead(prs, r.HeadRepo, r.HeadSHA)
	return len(match) == 1 && match[0].Number == pr, nil
}

// prsOfHead returns the open pull requests among prs whose head is sha of
// repo: what a fork's run is for, when it is exactly one (GitHub names no
// pull request in a fork's runs).
func prsOfHead(prs []PullRequest, repo, sha string) []PullRequest {
	var match []PullRequest
	for _, p := range prs {
		if p.Open && p.HeadSHA == sha && strings.EqualFold(p.HeadRepo, repo) {
			match = append(match, p)
		}
	}
	return match
}

// NewestBranchBuild implements CI: the newest push run of branch at sha.
func (a ActionsCI) NewestBranchBuild(ctx context.Context, branch, sha string) (Build, error) {
	runs, err := a.runs(ctx, ghclient.RunFilter{HeadSHA: sha, Event: "push", Branch: branch})
	if err != nil {
		return Build{}, err
	}
	for _, r := range runs {
		if r.HeadBranch == branch {
			return a.build(ctx, r)
		}
	}
	return Build{}, fmt.Errorf("commit %s of %s: %w", short(sha), branch, ErrNoBuild)
}

// runs returns the runs of the configured workflows that f selects and
// that tested f.HeadSHA, newest first.
func (a ActionsCI) runs(ctx context.Context, f ghclient.RunFilter) ([]ghclient.WorkflowRun, error) {
	var out []ghclient.WorkflowRun
	for _, wf := range a.Workflows {
		runs, err := a.Client.WorkflowRuns(ctx, wf, f)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if r.HeadSHA == f.HeadSHA {
				out = append(out, r)
			}
		}
	}
	slices.SortStableFunc(out, func(x, y ghclient.WorkflowRun) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	return out, nil
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
// GitHub refuses to re-run the failed jobs of a run none of whose jobs
// failed: such a run is re-run whole.
func (a ActionsCI) Restart(ctx context.Context, id string) error {
	n, err := runID(id)
	if err != nil {
		return err
	}
	err = a.Client.RerunWorkflow(ctx, n, a.FailedOnly)
	if a.FailedOnly && errors.Is(err, ghclient.ErrForbidden) {
		return a.Client.RerunWorkflow(ctx, n, false)
	}
	return err
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
