package workflow

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/travis"
)

// The CI side of WEBSITE (docs/design.md, "WEBSITE"): a docs build of a
// PR's head is not a build of the PR (a fork's head is no branch of the
// project). It runs on a branch of the project, whose CI configuration
// fetches refs/pull/N/head and checks out the head the maintainer saw; the
// request's marker, in the build's message or title, finds the build again
// after a crash.

// DocsRequest is a request for a docs build of a PR's head (WEBSITE).
type DocsRequest struct {
	PR     int
	SHA    string // the head the maintainer saw, full sha
	Branch string // the project's branch whose CI configuration runs the docs build
	Marker string // "refbot-website-<id>", unique per request
}

// DocsTrigger is what CI answered to a request.
type DocsTrigger struct {
	BuildID string // the build, when CI names it at once (Actions with return_run_details); "" otherwise (Travis)
	Request string // the CI's id of the request (Travis request id); "" for Actions
}

// DocsCI is what WEBSITE needs of the CI besides CI (Build, Cancel).
type DocsCI interface {
	// TriggerDocs asks CI for a docs build. An error wrapping
	// ErrDocsRefused is CI refusing it for good (the project's CI
	// configuration cannot run it); after another error CI may still have
	// taken the request (the call is never repeated): look with
	// FindDocsBuild and a zero trigger before asking again.
	TriggerDocs(ctx context.Context, r DocsRequest) (DocsTrigger, error)
	// FindDocsBuild finds the build a request made: through t.Request (Travis) or, after a crash left no trigger
	// recorded (zero t), by r.Marker among the docs builds of r.Branch created at or after since. An error wrapping
	// ErrNoBuild when there is none (yet: Travis makes builds from requests asynchronously); a *DocsPending when
	// CI holds the request and has made no build of it yet.
	FindDocsBuild(ctx context.Context, r DocsRequest, t DocsTrigger, since time.Time) (Build, error)
	// DocsBuild reads a docs build by id; Passed means every job of it passed (required_jobs are the tests', not
	// the docs build's), Finished/Started/State/URL as for CI.Build.
	DocsBuild(ctx context.Context, id string) (Build, error)
	// NightlyRunning returns a scheduled (cron) build of branch that has not finished (queued or running), ok false when none.
	NightlyRunning(ctx context.Context, branch string) (b Build, ok bool, err error)
	// Cancel cancels a docs build, as CI.Cancel does a build (STOP).
	Cancel(ctx context.Context, id string) error
}

var (
	_ DocsCI = TravisCI{}
	_ DocsCI = ActionsCI{}
)

// DocsPending is FindDocsBuild's error when CI accepted the request (its
// Trigger) and has made no build of it yet; it is an ErrNoBuild.
type DocsPending struct {
	Trigger DocsTrigger
}

func (p *DocsPending) Error() string {
	return fmt.Sprintf("travis request %s has made no build yet: %v", p.Trigger.Request, ErrNoBuild)
}

func (p *DocsPending) Is(target error) bool { return target == ErrNoBuild }

// ErrDocsRefused: CI refused the docs build for a reason that asking again
// does not change: the docs workflow has no workflow_dispatch trigger, the
// branch's .travis.yml rejects the request. The error says what to fix.
var ErrDocsRefused = errors.New("CI refused the docs build")

// Names of what a docs build is told: Travis variables, Actions inputs.
const (
	docsEnvPrefix = "REFBOT_WEBSITE_"
	docsInputPR   = "pr"
	docsInputSHA  = "sha"
	docsInputReq  = "request"
)

// docsClockSlack widens FindDocsBuild's since: it is refbot's clock, the
// builds' creation times are the CI's. The marker, not the time, tells a
// request's build from the others.
const docsClockSlack = 5 * time.Minute

var (
	docsMarker = regexp.MustCompile(`^refbot-website-[A-Za-z0-9_-]+$`)
	fullSHA    = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func (r DocsRequest) check() error {
	switch {
	case r.PR <= 0:
		return fmt.Errorf("docs build: PR %d: want a pull request number", r.PR)
	case !fullSHA.MatchString(r.SHA):
		return fmt.Errorf("docs build of #%d: head %q: want a full commit sha", r.PR, r.SHA)
	case r.Branch == "" || strings.ContainsAny(r.Branch, " \t\n"):
		return fmt.Errorf("docs build of #%d: branch %q: want the name of a branch", r.PR, r.Branch)
	case !docsMarker.MatchString(r.Marker):
		return fmt.Errorf("docs build of #%d: marker %q: want refbot-website-<id>", r.PR, r.Marker)
	}
	return nil
}

// message is the docs build's message on Travis; it carries the marker.
func (r DocsRequest) message() string {
	return fmt.Sprintf("refbot WEBSITE for #%d at %s (%s)", r.PR, short(r.SHA), r.Marker)
}

// hasMarker reports whether text holds marker as a whole word: the marker
// refbot-website-1 is not in "(refbot-website-12)".
func hasMarker(text, marker string) bool {
	markerByte := func(c byte) bool {
		return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	for i := 0; ; {
		j := strings.Index(text[i:], marker)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(marker)
		if (start == 0 || !markerByte(text[start-1])) && (end == len(text) || !markerByte(text[end])) {
			return true
		}
		i = start + 1
	}
}

// TriggerDocs implements DocsCI: a build request on r.Branch whose
// env.global holds REFBOT_WEBSITE_PR, _SHA and _REQUEST besides DocsEnv,
// and whose message carries the marker. Travis names no build yet.
func (t TravisCI) TriggerDocs(ctx context.Context, r DocsRequest) (DocsTrigger, error) {
	if err := r.check(); err != nil {
		return DocsTrigger{}, err
	}
	env := make(map[string]string, len(t.DocsEnv)+3)
	for k, v := range t.DocsEnv {
		if strings.HasPrefix(k, docsEnvPrefix) {
			return DocsTrigger{}, fmt.Errorf("docs build of #%d: website env %s: %s variables are refbot's own", r.PR, k, docsEnvPrefix)
		}
		env[k] = v
	}
	env[docsEnvPrefix+"PR"] = strconv.Itoa(r.PR)
	env[docsEnvPrefix+"SHA"] = r.SHA
	env[docsEnvPrefix+"REQUEST"] = r.Marker
	req, err := t.Client.Trigger(ctx, t.Repo, r.Branch, env, r.message())
	if err != nil {
		return DocsTrigger{}, fmt.Errorf("docs build of #%d at %s: %w", r.PR, short(r.SHA), err)
	}
	return DocsTrigger{Request: strconv.FormatInt(req.ID, 10)}, nil
}

// FindDocsBuild implements DocsCI: the newest build of the request; with
// no request id, of the newest api request on r.Branch whose message
// carries r.Marker.
func (t TravisCI) FindDocsBuild(ctx context.Context, r DocsRequest, tr DocsTrigger, since time.Time) (Build, error) {
	if tr.BuildID != "" {
		return t.DocsBuild(ctx, tr.BuildID)
	}
	if err := r.check(); err != nil {
		return Build{}, err
	}
	var req travis.Request
	if tr.Request != "" {
		id, err := strconv.ParseInt(tr.Request, 10, 64)
		if err != nil || id <= 0 {
			return Build{}, fmt.Errorf("docs build of #%d: travis request id %q: not an id", r.PR, tr.Request)
		}
		if req, err = t.Client.Request(ctx, t.Repo, id); err != nil {
			return Build{}, fmt.Errorf("docs build of #%d: %w", r.PR, err)
		}
		if !hasMarker(req.Message, r.Marker) || req.Branch != r.Branch {
			return Build{}, fmt.Errorf("docs build of #%d: travis request %d is another (%q on %s), not %s on %s",
				r.PR, id, req.Message, req.Branch, r.Marker, r.Branch)
		}
	} else {
		reqs, err := t.Client.Requests(ctx, t.Repo, since.Add(-docsClockSlack))
		if err != nil {
			return Build{}, fmt.Errorf("docs build of #%d: %w", r.PR, err)
		}
		i := 0
		for i < len(reqs) && !(hasMarker(reqs[i].Message, r.Marker) && reqs[i].Branch == r.Branch && reqs[i].EventType == travis.EventAPI) {
			i++
		}
		if i == len(reqs) {
			return Build{}, fmt.Errorf("docs build of #%d: no travis request %s on %s since %s: %w",
				r.PR, r.Marker, r.Branch, since.UTC().Format(time.RFC3339), ErrNoBuild)
		}
		req = reqs[i]
	}
	switch {
	case req.Result == travis.ResultRejected:
		return Build{}, fmt.Errorf("docs build of #%d: travis rejected request %d on %s (its reason is on %s/github/%s/requests; the branch's .travis.yml decides): %w",
			r.PR, req.ID, r.Branch, strings.TrimSuffix(t.web(), "/"), t.Repo, ErrDocsRefused)
	case len(req.BuildIDs) == 0:
		return Build{}, fmt.Errorf("docs build of #%d: %w", r.PR, &DocsPending{Trigger: DocsTrigger{Request: strconv.FormatInt(req.ID, 10)}})
	}
	return t.DocsBuild(ctx, strconv.FormatInt(req.BuildIDs[len(req.BuildIDs)-1], 10))
}

// DocsBuild implements DocsCI. Its Commit is the branch's commit the build
// ran on, not the PR's head, which the build checks out itself.
func (t TravisCI) DocsBuild(ctx context.Context, id string) (Build, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return Build{}, fmt.Errorf("travis build id %q: %w", id, err)
	}
	b, err := t.Client.Build(ctx, n)
	if err != nil {
		return Build{}, err
	}
	docs := t
	docs.RequiredJobs = nil // the tests' jobs, not the docs build's
	return docs.convert(b), nil
}

// NightlyRunning implements DocsCI: the newest unfinished cron build of
// branch.
func (t TravisCI) NightlyRunning(ctx context.Context, branch string) (Build, bool, error) {
	builds, err := t.Client.UnfinishedBuilds(ctx, t.Repo, branch, travis.EventCron)
	if err != nil || len(builds) == 0 {
		return Build{}, false, err
	}
	return t.convert(builds[0]), true, nil
}

func (t TravisCI) web() string {
	if t.WebURL == "" {
		return "https://app.travis-ci.com"
	}
	return t.WebURL
}

// TriggerDocs implements DocsCI: a workflow_dispatch of DocsWorkflow on
// r.Branch with the inputs pr, sha and request (the marker). GitHub names
// the run at once, but for a GitHub Enterprise Server that predates
// return_run_details: then BuildID is "" and FindDocsBuild finds it.
func (a ActionsCI) TriggerDocs(ctx context.Context, r DocsRequest) (DocsTrigger, error) {
	if err := r.check(); err != nil {
		return DocsTrigger{}, err
	}
	if a.DocsWorkflow == "" {
		return DocsTrigger{}, fmt.Errorf("docs build of #%d: no docs workflow configured (website.workflow): %w", r.PR, ErrDocsRefused)
	}
	id, err := a.Client.DispatchWorkflow(ctx, a.DocsWorkflow, r.Branch, map[string]string{
		docsInputPR: strconv.Itoa(r.PR), docsInputSHA: r.SHA, docsInputReq: r.Marker,
	})
	switch {
	case errors.Is(err, ghclient.ErrNotFound):
		return DocsTrigger{}, fmt.Errorf("docs build of #%d: GitHub knows no workflow %s in the repository; add .github/workflows/%s with a workflow_dispatch trigger taking the inputs pr, sha and request: %w: %w",
			r.PR, a.DocsWorkflow, a.DocsWorkflow, ErrDocsRefused, err)
	case errors.Is(err, ghclient.ErrInvalid):
		return DocsTrigger{}, fmt.Errorf("docs build of #%d: docs workflow %s cannot be dispatched on branch %s; its `on:` needs `workflow_dispatch:` with the inputs pr, sha and request (and no other required input), and %s must be a branch of the repository: %w: %w",
			r.PR, a.DocsWorkflow, r.Branch, r.Branch, ErrDocsRefused, err)
	case err != nil:
		return DocsTrigger{}, fmt.Errorf("docs build of #%d at %s: %w", r.PR, short(r.SHA), err)
	case id == 0:
		return DocsTrigger{}, nil
	}
	return DocsTrigger{BuildID: strconv.FormatInt(id, 10)}, nil
}

// FindDocsBuild implements DocsCI: the newest workflow_dispatch run of
// DocsWorkflow on r.Branch whose display title carries r.Marker, as the
// example docs workflow's run-name puts it there.
func (a ActionsCI) FindDocsBuild(ctx context.Context, r DocsRequest, tr DocsTrigger, since time.Time) (Build, error) {
	if tr.BuildID != "" {
		return a.DocsBuild(ctx, tr.BuildID)
	}
	if err := r.check(); err != nil {
		return Build{}, err
	}
	if a.DocsWorkflow == "" {
		return Build{}, fmt.Errorf("docs build of #%d: no docs workflow configured (website.workflow)", r.PR)
	}
	runs, err := a.Client.WorkflowRuns(ctx, a.DocsWorkflow, ghclient.RunFilter{
		Event: "workflow_dispatch", Branch: r.Branch, CreatedSince: since.Add(-docsClockSlack),
	})
	if err != nil {
		return Build{}, fmt.Errorf("docs build of #%d: %w", r.PR, err)
	}
	for _, run := range runs {
		if run.Event == "workflow_dispatch" && run.HeadBranch == r.Branch && hasMarker(run.DisplayTitle, r.Marker) {
			return a.docsBuild(ctx, run)
		}
	}
	return Build{}, fmt.Errorf("docs build of #%d: no run of %s on %s titled with %s since %s (the workflow's run-name must hold ${{ inputs.request }}): %w",
		r.PR, a.DocsWorkflow, r.Branch, r.Marker, since.UTC().Format(time.RFC3339), ErrNoBuild)
}

// DocsBuild implements DocsCI: the run in its current attempt, passed
// when it concluded success. Its Commit is the branch's commit the run
// ran on, not the PR's head, which the run checks out itself.
func (a ActionsCI) DocsBuild(ctx context.Context, id string) (Build, error) {
	n, err := runID(id)
	if err != nil {
		return Build{}, err
	}
	run, err := a.Client.WorkflowRun(ctx, n)
	if err != nil {
		return Build{}, err
	}
	return a.docsBuild(ctx, run)
}

func (a ActionsCI) docsBuild(ctx context.Context, run ghclient.WorkflowRun) (Build, error) {
	if path.Base(run.Path) != a.DocsWorkflow {
		return Build{}, fmt.Errorf("workflow run %d is a run of %s, not of the docs workflow %s", run.ID, run.Path, a.DocsWorkflow)
	}
	docs := a
	docs.RequiredJobs = nil // the tests' jobs, not the docs build's
	return docs.build(ctx, run)
}

// nightlyStatuses are the statuses of a run that has not completed, the
// likeliest first: GitHub's status filter takes one at a time.
var nightlyStatuses = []string{"in_progress", "queued", "waiting", "pending", "requested"}

// NightlyRunning implements DocsCI: a scheduled run of any workflow on
// branch that has not completed.
func (a ActionsCI) NightlyRunning(ctx context.Context, branch string) (Build, bool, error) {
	if branch == "" {
		return Build{}, false, errors.New("scheduled runs: empty branch name")
	}
	for _, status := range nightlyStatuses {
		runs, err := a.Client.RepositoryRuns(ctx, ghclient.RunFilter{Event: "schedule", Branch: branch, Status: status})
		if err != nil {
			return Build{}, false, fmt.Errorf("scheduled runs of %s: %w", branch, err)
		}
		for _, run := range runs {
			if run.Event == "schedule" && run.HeadBranch == branch && run.Status != "completed" {
				b, err := a.build(ctx, run)
				return b, err == nil, err
			}
		}
	}
	return Build{}, false, nil
}
