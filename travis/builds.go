package travis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Build and job states as Travis names them.
const (
	StateCreated  = "created"
	StateReceived = "received"
	StateQueued   = "queued"
	StateStarted  = "started"
	StatePassed   = "passed"
	StateFailed   = "failed"
	StateErrored  = "errored"
	StateCanceled = "canceled"
)

// Event types of a build.
const (
	EventPush        = "push"
	EventPullRequest = "pull_request"
	EventAPI         = "api"
	EventCron        = "cron"
)

// Build is one Travis build with its jobs.
type Build struct {
	ID                int64
	Number            string
	State             string
	EventType         string
	PullRequestNumber int    // 0 unless EventType is pull_request
	Branch            string // for a pull request build, the target branch
	// CommitSHA is the commit Travis built: for a pull request build, the
	// head commit of the pull request (Travis tests the merge ref, but
	// records the head).
	CommitSHA  string
	StartedAt  time.Time // zero until started
	FinishedAt time.Time // zero until finished
	Jobs       []Job     // nil when the API sent no job states
}

// Job is one job of a build matrix.
type Job struct {
	ID           int64
	Number       string // "<build number>.<n>"
	State        string
	AllowFailure bool
	// Name is the job's name from .travis.yml (jobs.include[].name), when
	// it has one.
	Name string
	// Config is the job's configuration as Travis reports it (os, language,
	// env, …; secure values obfuscated). Nil when the API did not send it.
	Config     map[string]any
	StartedAt  time.Time
	FinishedAt time.Time
}

// Finished reports whether the build reached a final state.
func (b Build) Finished() bool { return finalState(b.State) }

// Passed reports whether the build finished and every job that is not
// allowed to fail passed. A build whose jobs were not loaded falls back to
// its own state.
func (b Build) Passed() bool {
	if !b.Finished() {
		return false
	}
	if len(b.Jobs) == 0 {
		return b.State == StatePassed
	}
	for _, j := range b.Jobs {
		if !j.AllowFailure && j.State != StatePassed {
			return false
		}
	}
	return true
}

// Finished reports whether the job reached a final state.
func (j Job) Finished() bool { return finalState(j.State) }

func finalState(s string) bool {
	switch s {
	case StatePassed, StateFailed, StateErrored, StateCanceled:
		return true
	}
	return false
}

// includeJobsAndCommit makes Travis render each build's jobs in their
// standard representation (state, allow_failure, config) instead of bare
// ids, and the commit in full.
const includeJobsAndCommit = "build.jobs,build.commit"

// BuildsForPR returns the builds of pull request pr, newest first, at most
// WithMaxResults of them. Travis cannot filter builds by pull request, so
// the client reads the repository's pull request builds page by page (at
// most WithPaging pages) and keeps the matching ones; a pull request whose
// builds are all older than that window gets an empty list.
func (c *Client) BuildsForPR(ctx context.Context, slug string, pr int) ([]Build, error) {
	if pr <= 0 {
		return nil, fmt.Errorf("builds of %s PR %d: want a positive pull request number", slug, pr)
	}
	q := url.Values{"event_type": {EventPullRequest}}
	builds, err := c.scanBuilds(ctx, slug, q, func(b Build) bool { return b.PullRequestNumber == pr }, c.maxResults)
	if err != nil {
		return nil, fmt.Errorf("builds of %s PR %d: %w", slug, pr, err)
	}
	return builds, nil
}

// BuildsForBranch returns the push builds of branch, newest first, at most
// WithMaxResults of them.
func (c *Client) BuildsForBranch(ctx context.Context, slug, branch string) ([]Build, error) {
	if branch == "" {
		return nil, fmt.Errorf("builds of %s: empty branch name", slug)
	}
	q := url.Values{"event_type": {EventPush}, "branch.name": {branch}}
	builds, err := c.scanBuilds(ctx, slug, q, func(b Build) bool { return b.Branch == branch }, c.maxResults)
	if err != nil {
		return nil, fmt.Errorf("builds of %s branch %s: %w", slug, branch, err)
	}
	return builds, nil
}

// UnfinishedBuilds returns the builds of branch with event type eventType
// (EventCron for the scheduled ones) that have not reached a final state,
// newest first, at most WithMaxResults of them.
func (c *Client) UnfinishedBuilds(ctx context.Context, slug, branch, eventType string) ([]Build, error) {
	if branch == "" || eventType == "" {
		return nil, fmt.Errorf("unfinished builds of %s branch %q event %q: want a branch and an event type", slug, branch, eventType)
	}
	q := url.Values{
		"event_type":  {eventType},
		"branch.name": {branch},
		"state":       {strings.Join([]string{StateCreated, StateReceived, StateQueued, StateStarted}, ",")},
	}
	builds, err := c.scanBuilds(ctx, slug, q, func(b Build) bool {
		return b.Branch == branch && b.EventType == eventType && !b.Finished()
	}, c.maxResults)
	if err != nil {
		return nil, fmt.Errorf("unfinished %s builds of %s branch %s: %w", eventType, slug, branch, err)
	}
	return builds, nil
}

// NewestBuildForCommit returns the newest build of pull request pr that
// tested commit sha. It returns an error matching ErrNotFound when no such
// build is among the pages it reads.
func (c *Client) NewestBuildForCommit(ctx context.Context, slug string, pr int, sha string) (Build, error) {
	if pr <= 0 || sha == "" {
		return Build{}, fmt.Errorf("newest build of %s PR %d commit %q: want a PR number and a commit sha", slug, pr, sha)
	}
	return c.newestBuild(ctx, slug, url.Values{"event_type": {EventPullRequest}},
		func(b Build) bool { return b.PullRequestNumber == pr && strings.EqualFold(b.CommitSHA, sha) },
		fmt.Sprintf("newest build of %s PR %d commit %s", slug, pr, sha))
}

// NewestPushBuild returns the newest push build of branch that tested
// commit sha (a branch's post-merge build), with an error matching
// ErrNotFound when there is none among the pages it reads. A push of the
// same commit to another branch does not count.
func (c *Client) NewestPushBuild(ctx context.Context, slug, branch, sha string) (Build, error) {
	if branch == "" || sha == "" {
		return Build{}, fmt.Errorf("newest build of %s branch %q commit %q: want a branch and a commit sha", slug, branch, sha)
	}
	return c.newestBuild(ctx, slug, url.Values{"event_type": {EventPush}, "branch.name": {branch}},
		func(b Build) bool { return b.Branch == branch && strings.EqualFold(b.CommitSHA, sha) },
		fmt.Sprintf("newest build of %s branch %s commit %s", slug, branch, sha))
}

func (c *Client) newestBuild(ctx context.Context, slug string, q url.Values, match func(Build) bool, what string) (Build, error) {
	builds, err := c.scanBuilds(ctx, slug, q, match, 1)
	if err != nil {
		return Build{}, fmt.Errorf("%s: %w", what, err)
	}
	if len(builds) == 0 {
		return Build{}, fmt.Errorf("%s: none in the newest %d builds: %w", what, c.pageSize*c.maxPages, ErrNotFound)
	}
	return builds[0], nil
}

// scanBuilds reads /repo/{slug}/builds newest first with the filters in q,
// follows @pagination.next, and returns up to limit builds that match.
// It stops at the last page or after maxPages pages.
func (c *Client) scanBuilds(ctx context.Context, slug string, q url.Values, match func(Build) bool, limit int) ([]Build, error) {
	path, err := repoPath(slug)
	if err != nil {
		return nil, err
	}
	q.Set("include", includeJobsAndCommit)
	q.Set("sort_by", "id:desc")
	q.Set("limit", strconv.Itoa(c.pageSize))
	u := c.endpoint(path+"/builds", q)

	var found []Build
	for page := 1; ; page++ {
		var body wireBuilds
		if err := c.do(ctx, "GET", u, nil, &body); err != nil {
			return nil, err
		}
		if body.Type != "builds" {
			return nil, fmt.Errorf("travis GET %s: @type %q, want builds: %w", u.EscapedPath(), body.Type, ErrMalformedResponse)
		}
		for _, wb := range body.Builds {
			if b := wb.build(); match(b) {
				found = append(found, b)
			}
		}
		if len(found) >= limit || page >= c.maxPages || body.Pagination.Next == nil || body.Pagination.IsLast {
			break
		}
		next, err := c.nextPage(u, body.Pagination.Next.Href)
		if err != nil {
			return nil, err
		}
		u = next
	}
	// Travis already sorts by id:desc; sorting again keeps the promise
	// even if a server ignores sort_by.
	slices.SortStableFunc(found, func(a, b Build) int { return cmp.Compare(b.ID, a.ID) })
	if len(found) > limit {
		found = found[:limit]
	}
	return found, nil
}

// nextPage resolves a @pagination.next @href (a path with query) against
// the base URL. It must stay on the API's host, which gets the token.
func (c *Client) nextPage(cur *url.URL, href string) (*url.URL, error) {
	ref, err := url.Parse(href)
	if err != nil {
		return nil, fmt.Errorf("travis GET %s: next page %q: %w: %w", cur.EscapedPath(), href, ErrMalformedResponse, err)
	}
	next := c.base.ResolveReference(ref)
	if next.Scheme != c.base.Scheme || next.Host != c.base.Host {
		return nil, fmt.Errorf("travis GET %s: next page on another host %q: %w", cur.EscapedPath(), next.Host, ErrMalformedResponse)
	}
	if next.String() == cur.String() {
		return nil, fmt.Errorf("travis GET %s: next page is the same page: %w", cur.EscapedPath(), ErrMalformedResponse)
	}
	return next, nil
}

// Build returns build id with its jobs and their states.
func (c *Client) Build(ctx context.Context, id int64) (Build, error) {
	if id <= 0 {
		return Build{}, fmt.Errorf("build %d: want a positive id", id)
	}
	u := c.endpoint("/build/"+strconv.FormatInt(id, 10), url.Values{"include": {includeJobsAndCommit}})
	var wb wireBuild
	if err := c.do(ctx, "GET", u, nil, &wb); err != nil {
		return Build{}, fmt.Errorf("build %d: %w", id, err)
	}
	if wb.Type != "build" || wb.ID != id {
		return Build{}, fmt.Errorf("build %d: travis GET %s: got @type %q id %d: %w", id, u.EscapedPath(), wb.Type, wb.ID, ErrMalformedResponse)
	}
	return wb.build(), nil
}

// Restart restarts build id: Travis resets it and all its jobs to created
// and runs them again. Travis does so after its 202, so a Build read soon
// after may still show the build's previous, finished state: a caller
// waiting for the new run must not take that for its result. The call is
// never repeated after a 5xx or a broken connection, since Travis may have
// restarted the build already.
func (c *Client) Restart(ctx context.Context, id int64) error {
	if err := c.buildAction(ctx, id, "restart"); err != nil {
		return fmt.Errorf("restart build %d: %w", id, err)
	}
	return nil
}

// Cancel cancels the jobs of build id that have not finished.
func (c *Client) Cancel(ctx context.Context, id int64) error {
	if err := c.buildAction(ctx, id, "cancel"); err != nil {
		return fmt.Errorf("cancel build %d: %w", id, err)
	}
	return nil
}

// buildAction POSTs /build/{id}/{action}. Travis answers 202 with a
// {"@type": "pending"} document; its body is not decoded, because a 202
// means the action was taken and failing on its body would invite a
// second, unwanted restart.
func (c *Client) buildAction(ctx context.Context, id int64, action string) error {
	if id <= 0 {
		return errors.New("want a positive build id")
	}
	u := c.endpoint("/build/"+strconv.FormatInt(id, 10)+"/"+action, nil)
	return c.do(ctx, "POST", u, nil, nil)
}

// Wire shapes of the API v3 documents. Only the fields refbot reads.

type wireBuilds struct {
	Type       string         `json:"@type"`
	Pagination wirePagination `json:"@pagination"`
	Builds     []wireBuild    `json:"builds"`
}

type wirePagination struct {
	IsLast bool `json:"is_last"`
	Next   *struct {
		Href string `json:"@href"`
	} `json:"next"`
}

type wireBuild struct {
	Type              string    `json:"@type"`
	ID                int64     `json:"id"`
	Number            string    `json:"number"`
	State             string    `json:"state"`
	EventType         string    `json:"event_type"`
	PullRequestNumber int       `json:"pull_request_number"`
	StartedAt         time.Time `json:"started_at"`
	FinishedAt        time.Time `json:"finished_at"`
	Branch            *struct {
		Name string `json:"name"`
	} `json:"branch"`
	Commit *struct {
		SHA string `json:"sha"`
	} `json:"commit"`
	Jobs []wireJob `json:"jobs"`
}

type wireJob struct {
	Representation string         `json:"@representation"`
	ID             int64          `json:"id"`
	Number         string         `json:"number"`
	State          string         `json:"state"`
	AllowFailure   bool           `json:"allow_failure"`
	StartedAt      time.Time      `json:"started_at"`
	FinishedAt     time.Time      `json:"finished_at"`
	Config         map[string]any `json:"config"`
}

func (wb wireBuild) build() Build {
	b := Build{
		ID:                wb.ID,
		Number:            wb.Number,
		State:             wb.State,
		EventType:         wb.EventType,
		PullRequestNumber: wb.PullRequestNumber,
		StartedAt:         wb.StartedAt,
		FinishedAt:        wb.FinishedAt,
	}
	if wb.Branch != nil {
		b.Branch = wb.Branch.Name
	}
	if wb.Commit != nil {
		b.CommitSHA = wb.Commit.SHA
	}
	for _, wj := range wb.Jobs {
		if wj.Representation == "minimal" {
			// Bare {"id": …} references: the states were not sent, and a
			// job without a state must not make Passed say no.
			b.Jobs = nil
			break
		}
		j := Job{
			ID:           wj.ID,
			Number:       wj.Number,
			State:        wj.State,
			AllowFailure: wj.AllowFailure,
			Config:       wj.Config,
			StartedAt:    wj.StartedAt,
			FinishedAt:   wj.FinishedAt,
		}
		if name, ok := wj.Config["name"].(string); ok {
			j.Name = name
		}
		b.Jobs = append(b.Jobs, j)
	}
	return b
}
