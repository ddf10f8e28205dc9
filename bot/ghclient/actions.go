package ghclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"
)

var (
	// ErrGone: GitHub answered 410 Gone, as for an expired artifact.
	// Such an error also matches ErrNotFound: what is gone is not found.
	ErrGone = errors.New("gone from github")
	// ErrTooLarge: a download was larger than the caller allowed.
	ErrTooLarge = errors.New("larger than allowed")
)

// maxRuns bounds WorkflowRuns: the newest runs of one workflow for one
// filter. Enough for every attempt at a head; GitHub itself serves at most
// 1,000 results to a filtered listing.
const maxRuns = 500

// WorkflowRun is a GitHub Actions workflow run as refbot follows it.
type WorkflowRun struct {
	ID int64
	// Attempt is run_attempt: 1, and one more after each re-run. The run
	// keeps its id; Status, Conclusion and StartedAt are the attempt's.
	Attempt int
	Name    string
	Path    string // ".github/workflows/test.yaml"
	Event   string // pull_request, push, schedule, workflow_dispatch, ...
	// DisplayTitle is what GitHub shows for the run: the workflow's
	// run-name as the run made it, else the pull request's title or the
	// head commit's message.
	DisplayTitle string
	// Status is queued, in_progress, completed, waiting, requested or
	// pending; Conclusion is set once it is completed (success, failure,
	// cancelled, ...).
	Status     string
	Conclusion string
	HeadSHA    string
	HeadBranch string
	HeadRepo   string // "owner/name"; another repository for a fork's pull request
	// PRs are the numbers of the repository's pull requests whose head
	// the run ran on. GitHub leaves it EMPTY for a fork's pull request:
	// look the pull request up with OpenPullRequestsByHead.
	PRs       []int
	URL       string // html_url, for people
	CreatedAt time.Time
	StartedAt time.Time // run_started_at, of the current attempt
	UpdatedAt time.Time
}

// RunFilter narrows WorkflowRuns and RepositoryRuns; empty fields do not
// filter.
type RunFilter struct {
	HeadSHA string
	Event   string
	Branch  string
	// Status is one status (queued, in_progress, completed, ...) or
	// conclusion (success, failure, ...): GitHub's filter takes one.
	Status string
	// CreatedSince keeps the runs created at or after it. The client
	// applies it: GitHub lists runs newest first, so the pages stop at the
	// first that holds an older run.
	CreatedSince time.Time
}

// WorkflowRuns lists the runs of one workflow file (its base name in
// .github/workflows, e.g. "test.yaml"), newest first, at most the newest
// 500.
func (c *Client) WorkflowRuns(ctx context.Context, workflow string, f RunFilter) ([]WorkflowRun, error) {
	if err := checkWorkflowName(workflow); err != nil {
		return nil, err
	}
	return c.listRuns(ctx, f, "workflow "+workflow, func(opts *github.ListWorkflowRunsOptions) (*github.WorkflowRuns, *github.Response, error) {
		return c.rest.Actions.ListWorkflowRunsByFileName(ctx, c.owner, c.name, url.PathEscape(workflow), opts)
	})
}

// RepositoryRuns lists the runs of every workflow of the repository,
// newest first, at most the newest 500.
func (c *Client) RepositoryRuns(ctx context.Context, f RunFilter) ([]WorkflowRun, error) {
	return c.listRuns(ctx, f, "all workflows", func(opts *github.ListWorkflowRunsOptions) (*github.WorkflowRuns, *github.Response, error) {
		return c.rest.Actions.ListRepositoryWorkflowRuns(ctx, c.owner, c.name, opts)
	})
}

func checkWorkflowName(workflow string) error {
	if workflow == "" || strings.ContainsAny(workflow, "/\\") {
		return fmt.Errorf("workflow %q: want the base name of a file in .github/workflows", workflow)
	}
	return nil
}

// listRuns reads the pages list gives for f, newest first.
func (c *Client) listRuns(ctx context.Context, f RunFilter, what string, list func(*github.ListWorkflowRunsOptions) (*github.WorkflowRuns, *github.Response, error)) ([]WorkflowRun, error) {
	opts := &github.ListWorkflowRunsOptions{
		HeadSHA:     f.HeadSHA,
		Event:       f.Event,
		Branch:      f.Branch,
		Status:      f.Status,
		ListOptions: github.ListOptions{PerPage: 100},
	}
	var out []WorkflowRun
	seen := map[int64]bool{}
	for {
		page, resp, err := list(opts)
		if err != nil {
			return nil, fmt.Errorf("list runs of %s in %s: %w", what, c.repo(), classify(err))
		}
		older := false
		for _, r := range page.WorkflowRuns {
			run := c.workflowRun(r)
			if run.CreatedAt.Before(f.CreatedSince) {
				older = true
				continue
			}
			// A run started while paging shifts the pages: skip what an
			// earlier page had.
			if !seen[run.ID] {
				seen[run.ID] = true
				out = append(out, run)
			}
		}
		if resp.NextPage == 0 || len(out) >= maxRuns || older {
			break
		}
		opts.Page = resp.NextPage
	}
	slices.SortStableFunc(out, func(a, b WorkflowRun) int {
		if n := b.CreatedAt.Compare(a.CreatedAt); n != 0 {
			return n
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out[:min(len(out), maxRuns)], nil
}

// maxDispatchInputs is the most inputs GitHub takes in one dispatch.
const maxDispatchInputs = 25

// DispatchWorkflow starts workflow (its base name in .github/workflows) on
// ref, a branch, with inputs: a workflow_dispatch event. It asks GitHub
// for the run's id (return_run_details) and returns it; 0 when GitHub
// names none (a GitHub Enterprise Server that predates the parameter
// answers 204): look the run up among the workflow's runs.
//
// GitHub refuses (ErrInvalid, its reason in the message) a workflow
// without a workflow_dispatch trigger or disabled, a ref that is no branch
// or tag, an input the trigger does not declare and a required one
// missing; ErrNotFound is a workflow it does not know. The request is a
// POST and never retried: after ErrUnavailable or a broken connection the
// run may exist.
func (c *Client) DispatchWorkflow(ctx context.Context, workflow, ref string, inputs map[string]string) (int64, error) {
	if err := checkWorkflowName(workflow); err != nil {
		return 0, err
	}
	if ref == "" {
		return 0, fmt.Errorf("dispatch workflow %s: empty ref", workflow)
	}
	if len(inputs) > maxDispatchInputs {
		return 0, fmt.Errorf("dispatch workflow %s: %d inputs, GitHub takes at most %d", workflow, len(inputs), maxDispatchInputs)
	}
	body := github.CreateWorkflowDispatchEventRequest{Ref: ref, ReturnRunDetails: github.Ptr(true)}
	if len(inputs) > 0 {
		body.Inputs = map[string]any{}
		for k, v := range inputs {
			body.Inputs[k] = v
		}
	}
	details, _, err := c.rest.Actions.CreateWorkflowDispatchEventByFileName(ctx, c.owner, c.name, url.PathEscape(workflow), body)
	if err != nil {
		return 0, fmt.Errorf("dispatch workflow %s on %s in %s: %w", workflow, ref, c.repo(), classify(err))
	}
	return details.GetWorkflowRunID(), nil
}

// WorkflowRun reads one run, as it stands in its current attempt.
func (c *Client) WorkflowRun(ctx context.Context, id int64) (WorkflowRun, error) {
	r, _, err := c.rest.Actions.GetWorkflowRunByID(ctx, c.owner, c.name, id)
	if err != nil {
		return WorkflowRun{}, fmt.Errorf("get workflow run %d of %s: %w", id, c.repo(), classify(err))
	}
	return c.workflowRun(r), nil
}

func (c *Client) workflowRun(r *github.WorkflowRun) WorkflowRun {
	out := WorkflowRun{
		ID:           r.GetID(),
		Attempt:      r.GetRunAttempt(),
		Name:         r.GetName(),
		Path:         r.GetPath(),
		Event:        r.GetEvent(),
		DisplayTitle: r.GetDisplayTitle(),
		Status:       r.GetStatus(),
		Conclusion:   r.GetConclusion(),
		HeadSHA:      r.GetHeadSHA(),
		HeadBranch:   r.GetHeadBranch(),
		HeadRepo:     r.GetHeadRepository().GetFullName(),
		URL:          r.GetHTMLURL(),
		CreatedAt:    r.GetCreatedAt().Time,
		StartedAt:    r.GetRunStartedAt().Time,
		UpdatedAt:    r.GetUpdatedAt().Time,
	}
	for _, pr := range r.PullRequests {
		// GitHub also lists pull requests of other repositories whose
		// head is this run's branch (one opened from this repository
		// into a fork, say): keep this repository's own.
		if u := pr.GetBase().GetRepo().GetURL(); u != "" && !c.isRepoURL(u) {
			continue
		}
		out.PRs = append(out.PRs, pr.GetNumber())
	}
	return out
}

// isRepoURL reports whether an API URL is the repository's own
// (".../repos/OWNER/NAME").
func (c *Client) isRepoURL(u string) bool {
	return strings.HasSuffix(strings.ToLower(u), "/repos/"+strings.ToLower(c.repo()))
}

// WorkflowJob is one job of a run's attempt.
type WorkflowJob struct {
	ID          int64
	Name        string // as the checks show it; "build (3.12)" for a matrix job
	Status      string
	Conclusion  string
	StartedAt   time.Time
	CompletedAt time.Time
}

// WorkflowJobs lists the jobs of one attempt of a run (attempt ≥ 1), or of
// its latest attempt when attempt is 0.
func (c *Client) WorkflowJobs(ctx context.Context, runID int64, attempt int) ([]WorkflowJob, error) {
	if attempt < 0 {
		return nil, fmt.Errorf("jobs of workflow run %d: attempt %d: want 0 (latest) or more", runID, attempt)
	}
	lo := github.ListOptions{PerPage: 100}
	var out []WorkflowJob
	for {
		var jobs *github.Jobs
		var resp *github.Response
		var err error
		if attempt == 0 {
			jobs, resp, err = c.rest.Actions.ListWorkflowJobs(ctx, c.owner, c.name, runID, &github.ListWorkflowJobsOptions{Filter: "latest", ListOptions: lo})
		} else {
			jobs, resp, err = c.rest.Actions.ListWorkflowJobsAttempt(ctx, c.owner, c.name, runID, int64(attempt), &lo)
		}
		if err != nil {
			return nil, fmt.Errorf("list jobs of workflow run %d attempt %d in %s: %w", runID, attempt, c.repo(), classify(err))
		}
		for _, j := range jobs.Jobs {
			out = append(out, WorkflowJob{
				ID:          j.GetID(),
				Name:        j.GetName(),
				Status:      j.GetStatus(),
				Conclusion:  j.GetConclusion(),
				StartedAt:   j.GetStartedAt().Time,
				CompletedAt: j.GetCompletedAt().Time,
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		lo.Page = resp.NextPage
	}
}

// RerunWorkflow re-runs a completed run: all its jobs, or only the failed
// ones and those that depend on them. The run keeps its id; its attempt
// goes up once GitHub has taken the re-run in, which may be a moment after
// this returns: until then the run still reads as the old attempt. GitHub
// refuses (ErrForbidden) a run that has not completed, and a re-run of the
// failed jobs of a run none of whose jobs failed.
func (c *Client) RerunWorkflow(ctx context.Context, runID int64, failedOnly bool) error {
	var err error
	if failedOnly {
		_, err = c.rest.Actions.RerunFailedJobsByID(ctx, c.owner, c.name, runID)
	} else {
		_, err = c.rest.Actions.RerunWorkflowByID(ctx, c.owner, c.name, runID)
	}
	if err != nil {
		return fmt.Errorf("re-run workflow run %d of %s: %w", runID, c.repo(), classify(err))
	}
	return nil
}

// CancelWorkflowRun asks GitHub to cancel a run. A run that has already
// completed is not an error (GitHub answers 409 Conflict): there is
// nothing left to cancel.
func (c *Client) CancelWorkflowRun(ctx context.Context, runID int64) error {
	_, err := c.rest.Actions.CancelWorkflowRunByID(ctx, c.owner, c.name, runID)
	var accepted *github.AcceptedError
	var er *github.ErrorResponse
	switch {
	case err == nil, errors.As(err, &accepted): // 202: cancelling
		return nil
	case errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusConflict:
		return nil
	}
	return fmt.Errorf("cancel workflow run %d of %s: %w", runID, c.repo(), classify(err))
}

// Artifact is a file a workflow run uploaded (actions/upload-artifact).
type Artifact struct {
	ID        int64
	RunID     int64
	Name      string
	Size      int64 // of the zip
	Expired   bool  // its retention ended: it cannot be downloaded
	CreatedAt time.Time
	// Digest is "sha256:HEX" of the zip as uploaded by
	// actions/upload-artifact v4 or later; "" for older ones.
	Digest string
}

// RunArtifacts lists the artifacts of a run.
func (c *Client) RunArtifacts(ctx context.Context, runID int64) ([]Artifact, error) {
	opts := &github.ListOptions{PerPage: 100}
	var out []Artifact
	for {
		page, resp, err := c.rest.Actions.ListWorkflowRunArtifacts(ctx, c.owner, c.name, runID, opts)
		if err != nil {
			return nil, fmt.Errorf("list artifacts of workflow run %d of %s: %w", runID, c.repo(), classify(err))
		}
		for _, a := range page.Artifacts {
			run := a.GetWorkflowRun().GetID()
			if run == 0 {
				run = runID
			}
			out = append(out, Artifact{
				ID:        a.GetID(),
				RunID:     run,
				Name:      a.GetName(),
				Size:      a.GetSizeInBytes(),
				Expired:   a.GetExpired(),
				CreatedAt: a.GetCreatedAt().Time,
				Digest:    a.GetDigest(),
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// DownloadArtifact writes an artifact's zip to w and returns the bytes
// written. GitHub answers with a redirect to its artifact store; the store
// is asked with a client that holds no credentials, so the token never
// reaches it. Past maxBytes the download stops with an error wrapping
// ErrTooLarge. An expired artifact is an error wrapping ErrGone (and so
// ErrNotFound). On any error w may hold part of the zip: discard it.
func (c *Client) DownloadArtifact(ctx context.Context, id int64, w io.Writer, maxBytes int64) (int64, error) {
	if maxBytes <= 0 {
		return 0, fmt.Errorf("download artifact %d: maxBytes %d: want a positive limit", id, maxBytes)
	}
	loc, err := c.artifactLocation(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("download artifact %d of %s: %w", id, c.repo(), err)
	}
	n, err := c.fetchBlob(ctx, loc, w, maxBytes)
	if err != nil {
		return n, fmt.Errorf("download artifact %d of %s from %s: %w", id, c.repo(), loc.Host, err)
	}
	return n, nil
}

// artifactLocation asks GitHub where an artifact's zip is: the Location of
// its 302 answer, a short-lived signed URL. go-github's DownloadArtifact
// does the same but reports a 404 or 410 without its status, so the
// request is made here, through the client's own transport chain.
func (c *Client) artifactLocation(ctx context.Context, id int64) (*url.URL, error) {
	req, err := c.rest.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/actions/artifacts/%d/zip", c.owner, c.name, id), nil)
	if err != nil {
		return nil, err
	}
	noFollow := &http.Client{
		Transport:     c.rest.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusFound, http.StatusTemporaryRedirect, http.StatusSeeOther:
	case http.StatusGone:
		expired := fmt.Errorf("github answered %s: the artifact expired", resp.Status)
		return nil, &statusError{ErrGone, &statusError{ErrNotFound, expired}}
	default:
		if err := github.CheckResponse(resp); err != nil {
			return nil, classify(err)
		}
		return nil, fmt.Errorf("github answered %s, not a redirect", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil || (loc.Scheme != "https" && loc.Scheme != "http") || loc.Host == "" {
		return nil, fmt.Errorf("github redirected to an unusable location (%s)", resp.Status)
	}
	return loc, nil
}

// fetchBlob downloads a signed URL to w, at most maxBytes. Errors name
// the host only: the URL carries a credential (in its query on GitHub's
// store, in its path on the fake's).
func (c *Client) fetchBlob(ctx context.Context, loc *url.URL, w io.Writer, maxBytes int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return 0, errors.New("bad artifact location")
	}
	resp, err := c.blob.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = loc.Scheme + "://" + loc.Host + "/…"
		}
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return 0, &statusError{ErrUnavailable, fmt.Errorf("artifact store answered %s", resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("artifact store answered %s", resp.Status)
	case resp.ContentLength > maxBytes:
		return 0, &statusError{ErrTooLarge, fmt.Errorf("%d bytes, more than the %d allowed", resp.ContentLength, maxBytes)}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxBytes+1))
	if n > maxBytes {
		return n, &statusError{ErrTooLarge, fmt.Errorf("more than the %d bytes allowed", maxBytes)}
	}
	if err != nil {
		return n, err
	}
	return n, nil
}

// Workflow is a workflow file of the repository.
type Workflow struct {
	ID    int64
	Path  string // ".github/workflows/test.yaml"
	Name  string
	State string // active, disabled_manually, disabled_inactivity, ...
}

// Workflows lists the repository's workflows.
func (c *Client) Workflows(ctx context.Context) ([]Workflow, error) {
	opts := &github.ListOptions{PerPage: 100}
	var out []Workflow
	for {
		page, resp, err := c.rest.Actions.ListWorkflows(ctx, c.owner, c.name, opts)
		if err != nil {
			return nil, fmt.Errorf("list workflows of %s: %w", c.repo(), classify(err))
		}
		for _, wf := range page.Workflows {
			out = append(out, Workflow{ID: wf.GetID(), Path: wf.GetPath(), Name: wf.GetName(), State: wf.GetState()})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// OpenPullRequestsByHead lists the open pull requests whose head is
// headOwner's branch: how a fork's pull request is found from a run,
// whose pull request list GitHub leaves empty for forks. More than one
// means the run cannot be told apart: the caller should refuse.
func (c *Client) OpenPullRequestsByHead(ctx context.Context, headOwner, branch string) ([]PullRequest, error) {
	if headOwner == "" || strings.ContainsAny(headOwner, "/: ") || branch == "" {
		return nil, fmt.Errorf("pull requests with head %q:%q: want an owner and a branch", headOwner, branch)
	}
	opts := &github.PullRequestListOptions{State: "open", Head: headOwner + ":" + branch, ListOptions: github.ListOptions{PerPage: 100}}
	var out []PullRequest
	for {
		page, resp, err := c.rest.PullRequests.List(ctx, c.owner, c.name, opts)
		if err != nil {
			return nil, fmt.Errorf("list pull requests of %s with head %s:%s: %w", c.repo(), headOwner, branch, classify(err))
		}
		for _, pr := range page {
			out = append(out, *c.pullRequest(pr))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
