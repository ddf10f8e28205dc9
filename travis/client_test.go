package travis_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/time/rate"

	"github.com/refbot/refbot/travis"
	"github.com/refbot/refbot/travis/travistest"
)

const slug = "octo/widgets"

// escaped is slug as one path segment, the way Travis wants it.
const escaped = "octo%2Fwidgets"

// sleeps records the waits the client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d
}

var clock = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// setup starts a fake Travis and a client of it that never really sleeps.
func setup(t *testing.T, opts ...travis.Option) (*travistest.Server, *travis.Client, *sleeps) {
	t.Helper()
	srv := travistest.NewServer(t)
	sl := &sleeps{}
	opts = append([]travis.Option{travis.WithSleep(sl.sleep), travis.WithClock(func() time.Time { return clock })}, opts...)
	c, err := travis.New(srv.URL, srv.Token, srv.Client(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv, c, sl
}

func ids(builds []travis.Build) []int64 {
	out := []int64{}
	for _, b := range builds {
		out = append(out, b.ID)
	}
	return out
}

// buildsQuery is the query of the first page of a builds search.
func buildsQuery(limit string, extra url.Values) url.Values {
	q := url.Values{
		"include": {"build.jobs,build.commit"},
		"sort_by": {"id:desc"},
		"limit":   {limit},
	}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

func withOffset(q url.Values, offset string) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	out.Set("offset", offset)
	return out
}

var equateEmpty = cmpopts.EquateEmpty()

func TestBuildsForPR(t *testing.T) {
	prQuery := buildsQuery("3", url.Values{"event_type": {"pull_request"}})
	tests := []struct {
		name         string
		prs          []int // pull request of each build, oldest first; 0 is a push build
		opts         []travis.Option
		pr           int
		want         []int64
		wantRequests []travistest.Request
	}{
		{
			name: "matches on two pages, newest first",
			// ids 1001..1007; PR builds newest first: 1007(8) 1006(7) 1005(8) | 1004(7) 1002(7) 1001(8)
			prs:  []int{8, 7, 0, 7, 8, 7, 8},
			opts: []travis.Option{travis.WithPaging(3, 10)},
			pr:   7,
			want: []int64{1006, 1004, 1002},
			wantRequests: []travistest.Request{
				{Method: "GET", Path: "/repo/" + escaped + "/builds", Query: prQuery},
				{Method: "GET", Path: "/repo/" + escaped + "/builds", Query: withOffset(prQuery, "3")},
			},
		},
		{
			name: "stops once it has max results",
			prs:  []int{7, 7, 7, 7, 7},
			opts: []travis.Option{travis.WithPaging(3, 10), travis.WithMaxResults(2)},
			pr:   7,
			want: []int64{1005, 1004},
			wantRequests: []travistest.Request{
				{Method: "GET", Path: "/repo/" + escaped + "/builds", Query: prQuery},
			},
		},
		{
			name: "stops after max pages",
			prs:  []int{7, 8, 8, 8, 8, 8, 8},
			opts: []travis.Option{travis.WithPaging(3, 2)},
			pr:   7,
			want: []int64{},
			wantRequests: []travistest.Request{
				{Method: "GET", Path: "/repo/" + escaped + "/builds", Query: prQuery},
				{Method: "GET", Path: "/repo/" + escaped + "/builds", Query: withOffset(prQuery, "3")},
			},
		},
		{
			name: "repository without builds",
			opts: []travis.Option{travis.WithPaging(3, 10)},
			pr:   7,
			want: []int64{},
			wantRequests: []travistest.Request{
				{Method: "GET", Path: "/repo/" + escaped + "/builds", Query: prQuery},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, tt.opts...)
			srv.AddRepo(slug)
			for _, pr := range tt.prs {
				srv.AddBuild(travistest.Build{Repo: slug, PullRequestNumber: pr, State: "passed"})
			}
			got, err := c.BuildsForPR(context.Background(), slug, tt.pr)
			if err != nil {
				t.Fatalf("BuildsForPR: %v", err)
			}
			if diff := cmp.Diff(tt.want, ids(got), equateEmpty); diff != "" {
				t.Errorf("build ids (-want +got):\n%s", diff)
			}
			for _, b := range got {
				if b.PullRequestNumber != tt.pr || b.EventType != travis.EventPullRequest {
					t.Errorf("build %d: PR %d event %q, want PR %d pull_request", b.ID, b.PullRequestNumber, b.EventType, tt.pr)
				}
			}
			if diff := cmp.Diff(tt.wantRequests, srv.Requests(), equateEmpty); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildsForBranch(t *testing.T) {
	srv, c, _ := setup(t)
	srv.AddBuild(travistest.Build{Repo: slug, Branch: "master"})                       // 1001
	srv.AddBuild(travistest.Build{Repo: slug, Branch: "release"})                      // 1002
	srv.AddBuild(travistest.Build{Repo: slug, Branch: "master", PullRequestNumber: 3}) // 1003, a PR into master
	srv.AddBuild(travistest.Build{Repo: slug, Branch: "master"})                       // 1004
	srv.AddBuild(travistest.Build{Repo: slug, Branch: "master", EventType: "api"})     // 1005

	got, err := c.BuildsForBranch(context.Background(), slug, "master")
	if err != nil {
		t.Fatalf("BuildsForBranch: %v", err)
	}
	if diff := cmp.Diff([]int64{1004, 1001}, ids(got)); diff != "" {
		t.Errorf("build ids (-want +got):\n%s", diff)
	}
	want := []travistest.Request{{
		Method: "GET",
		Path:   "/repo/" + escaped + "/builds",
		Query:  buildsQuery("50", url.Values{"event_type": {"push"}, "branch.name": {"master"}}),
	}}
	if diff := cmp.Diff(want, srv.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestNewestBuildForCommit(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name         string
		builds       []travistest.Build // Repo is filled in
		pr           int
		sha          string
		wantID       int64
		wantErr      error
		wantRequests int
	}{
		{
			name: "newest of several on the first page",
			builds: []travistest.Build{
				{PullRequestNumber: 7, CommitSHA: sha},     // 1001
				{PullRequestNumber: 7, CommitSHA: sha},     // 1002
				{PullRequestNumber: 7, CommitSHA: "other"}, // 1003
			},
			pr: 7, sha: sha, wantID: 1002, wantRequests: 1,
		},
		{
			name: "found on the second page",
			builds: []travistest.Build{
				{PullRequestNumber: 7, CommitSHA: sha}, // 1001, on page 2
				{PullRequestNumber: 8}, {PullRequestNumber: 8}, {PullRequestNumber: 8},
			},
			pr: 7, sha: sha, wantID: 1001, wantRequests: 2,
		},
		{
			name:   "sha compared case-insensitively",
			builds: []travistest.Build{{PullRequestNumber: 7, CommitSHA: sha}},
			pr:     7, sha: strings.ToUpper(sha), wantID: 1001, wantRequests: 1,
		},
		{
			name: "same commit in another PR does not count",
			builds: []travistest.Build{
				{PullRequestNumber: 8, CommitSHA: sha},
			},
			pr: 7, sha: sha, wantErr: travis.ErrNotFound, wantRequests: 1,
		},
		{
			name:   "no build of the commit",
			builds: []travistest.Build{{PullRequestNumber: 7}},
			pr:     7, sha: sha, wantErr: travis.ErrNotFound, wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t, travis.WithPaging(3, 5))
			srv.AddRepo(slug)
			for _, b := range tt.builds {
				b.Repo = slug
				srv.AddBuild(b)
			}
			got, err := c.NewestBuildForCommit(context.Background(), slug, tt.pr, tt.sha)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("NewestBuildForCommit error = %v, want %v", err, tt.wantErr)
			}
			if got.ID != tt.wantID {
				t.Errorf("build id = %d, want %d", got.ID, tt.wantID)
			}
			if n := len(srv.Requests()); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

// TestNewestPushBuild: the newest push build of the branch at the commit;
// a PR build of it, or a push of it to another branch, does not count.
func TestNewestPushBuild(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	srv, c, _ := setup(t)
	srv.AddRepo(slug)
	for _, b := range []travistest.Build{
		{Branch: "master", EventType: "push", CommitSHA: sha},                     // 1001
		{Branch: "master", CommitSHA: sha, PullRequestNumber: 4},                  // 1002, a PR build
		{Branch: "release", EventType: "push", CommitSHA: sha},                    // 1003, another branch
		{Branch: "master", EventType: "push", CommitSHA: strings.Repeat("f", 40)}, // 1004, another commit
	} {
		b.Repo = slug
		srv.AddBuild(b)
	}
	got, err := c.NewestPushBuild(context.Background(), slug, "master", sha)
	if err != nil || got.ID != 1001 {
		t.Errorf("master: build %d, %v; want 1001", got.ID, err)
	}
	if got, err := c.NewestPushBuild(context.Background(), slug, "release", sha); err != nil || got.ID != 1003 {
		t.Errorf("release: build %d, %v; want 1003", got.ID, err)
	}
	if _, err := c.NewestPushBuild(context.Background(), slug, "main", sha); !errors.Is(err, travis.ErrNotFound) {
		t.Errorf("a branch with no build: %v", err)
	}
}

func TestBuild(t *testing.T) {
	srv, c, _ := setup(t)
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	finished := started.Add(90 * time.Second)
	stored := srv.AddBuild(travistest.Build{
		Repo:              slug,
		State:             "passed",
		PullRequestNumber: 12,
		Branch:            "main",
		CommitSHA:         "feedfacefeedfacefeedfacefeedfacefeedface",
		StartedAt:         started,
		FinishedAt:        finished,
		Jobs: []travistest.Job{
			{State: "passed", Name: "linux", Config: map[string]any{"env": "VARIANT=linux"}, StartedAt: started, FinishedAt: finished},
			{State: "failed", AllowFailure: true, Config: map[string]any{"os": "osx"}, StartedAt: started, FinishedAt: finished},
		},
	})

	got, err := c.Build(context.Background(), stored.ID)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	want := travis.Build{
		ID:                1001,
		Number:            "1",
		State:             "passed",
		EventType:         "pull_request",
		PullRequestNumber: 12,
		Branch:            "main",
		CommitSHA:         "feedfacefeedfacefeedfacefeedfacefeedface",
		StartedAt:         started,
		FinishedAt:        finished,
		Jobs: []travis.Job{
			{
				ID: 5001, Number: "1.1", State: "passed", Name: "linux",
				Config:    map[string]any{"os": "linux", "language": "go", "env": "VARIANT=linux", "name": "linux"},
				StartedAt: started, FinishedAt: finished,
			},
			{
				ID: 5002, Number: "1.2", State: "failed", AllowFailure: true,
				Config:    map[string]any{"os": "osx", "language": "go"},
				StartedAt: started, FinishedAt: finished,
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Build (-want +got):\n%s", diff)
	}
	if !got.Finished() || !got.Passed() {
		t.Errorf("Finished() = %v, Passed() = %v, want both true: the failed job may fail", got.Finished(), got.Passed())
	}
	wantReq := []travistest.Request{{Method: "GET", Path: "/build/1001", Query: url.Values{"include": {"build.jobs,build.commit"}}}}
	if diff := cmp.Diff(wantReq, srv.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestBuildActions(t *testing.T) {
	tests := []struct {
		name         string
		call         func(*travis.Client, int64) error
		id           int64
		wantErr      error
		wantRestarts int
		wantCancels  int
		wantState    string
		wantPath     string
	}{
		{
			// Travis resets a restarted build after its 202: right after
			// Restart the build still shows its old state.
			name: "restart", call: func(c *travis.Client, id int64) error { return c.Restart(context.Background(), id) },
			id: 1001, wantRestarts: 1, wantState: "started", wantPath: "/build/1001/restart",
		},
		{
			name: "cancel", call: func(c *travis.Client, id int64) error { return c.Cancel(context.Background(), id) },
			id: 1001, wantCancels: 1, wantState: "canceled", wantPath: "/build/1001/cancel",
		},
		{
			name: "restart unknown build", call: func(c *travis.Client, id int64) error { return c.Restart(context.Background(), id) },
			id: 999, wantErr: travis.ErrNotFound, wantState: "started", wantPath: "/build/999/restart",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t)
			srv.AddBuild(travistest.Build{Repo: slug, State: "started"})
			err := tt.call(c, tt.id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got := srv.Restarts(1001); got != tt.wantRestarts {
				t.Errorf("restarts = %d, want %d", got, tt.wantRestarts)
			}
			if got := srv.Cancels(1001); got != tt.wantCancels {
				t.Errorf("cancels = %d, want %d", got, tt.wantCancels)
			}
			if b, _ := srv.Build(1001); b.State != tt.wantState {
				t.Errorf("build state = %q, want %q", b.State, tt.wantState)
			}
			want := []travistest.Request{{Method: "POST", Path: tt.wantPath, Query: url.Values{}}}
			if diff := cmp.Diff(want, srv.Requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrigger(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		message     string
		wantErr     bool
		wantTrigger travistest.Trigger
	}{
		{
			name:    "env merged into env.global",
			env:     map[string]string{"REFBOT_PR": "42", "TITLE": "it's a test", "EMPTY": ""},
			message: "refbot: website preview of PR 42",
			wantTrigger: travistest.Trigger{
				ID: 301, Repo: slug, Branch: "gh-pages", Message: "refbot: website preview of PR 42",
				MergeMode: "deep_merge_append",
				Config: map[string]any{"env": map[string]any{"global": []any{
					"EMPTY=", "REFBOT_PR=42", `TITLE='it'\''s a test'`,
				}}},
			},
		},
		{
			name: "no env, no config",
			wantTrigger: travistest.Trigger{
				ID: 301, Repo: slug, Branch: "gh-pages",
			},
		},
		{
			name:    "bad env name sends nothing",
			env:     map[string]string{"NOT OK": "1"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t)
			srv.AddRepo(slug)
			got, err := c.Trigger(context.Background(), slug, "gh-pages", tt.env, tt.message)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Trigger: no error")
				}
				if n := len(srv.Requests()); n != 0 {
					t.Errorf("%d requests sent, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Trigger: %v", err)
			}
			want := travis.Request{ID: 301, Branch: "gh-pages", Message: tt.message, RemainingRequests: travistest.DefaultRequestLimit - 1}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Request (-want +got):\n%s", diff)
			}
			// Travis has not made the build yet: the request is all there is.
			if diff := cmp.Diff([]travistest.Trigger{tt.wantTrigger}, srv.Triggers()); diff != "" {
				t.Errorf("triggers (-want +got):\n%s", diff)
			}
			wantReq := []travistest.Request{{Method: "POST", Path: "/repo/" + escaped + "/requests", Query: url.Values{}}}
			if diff := cmp.Diff(wantReq, srv.Requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailures drives each call through scripted server failures and
// checks the error, whether it is retryable, and what was sent and waited.
func TestFailures(t *testing.T) {
	getBuild := func(ctx context.Context, c *travis.Client) error {
		_, err := c.Build(ctx, 1001)
		return err
	}
	restart := func(ctx context.Context, c *travis.Client) error { return c.Restart(ctx, 1001) }
	listPR := func(ctx context.Context, c *travis.Client) error {
		_, err := c.BuildsForPR(ctx, slug, 7)
		return err
	}
	trigger := func(ctx context.Context, c *travis.Client) error {
		_, err := c.Trigger(ctx, slug, "master", nil, "")
		return err
	}
	const buildPath = "/build/1001"
	const restartPath = "/build/1001/restart"
	const listPath = "/repo/" + escaped + "/builds"
	const requestsPath = "/repo/" + escaped + "/requests"

	tests := []struct {
		name       string
		method     string
		path       string
		faults     []travistest.Fault
		call       func(context.Context, *travis.Client) error
		timeout    time.Duration // of the call's context
		wantErr    bool
		wantIs     error
		wantStatus int // of the *APIError, 0 for none
		wantType   string
		wantRetry  bool // travis.Retryable(err)
		wantInMsg  string
		wantSent   int
		wantSleeps []time.Duration
		wantAfter  time.Duration // APIError.RetryAfter
	}{
		{
			name: "GET 502 then success", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.ServerError(502)},
			call:   getBuild, wantSent: 2, wantSleeps: []time.Duration{time.Second},
		},
		{
			name: "GET 500 until attempts run out", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.ServerError(500), travistest.ServerError(500), travistest.ServerError(500), travistest.ServerError(500)},
			call:   getBuild, wantErr: true, wantStatus: 500, wantType: "server_error", wantRetry: true,
			wantInMsg: "travis GET /build/1001: 500", wantSent: 4,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name: "GET 501 is final", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.ServerError(501)},
			call:   getBuild, wantErr: true, wantStatus: 501, wantSent: 1,
		},
		{
			name: "429 with Retry-After seconds", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.RateLimited("7")},
			call:   getBuild, wantSent: 2, wantSleeps: []time.Duration{7 * time.Second},
		},
		{
			name: "429 with Retry-After date", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.RateLimited(clock.Add(30 * time.Second).Format(http.TimeFormat))},
			call:   getBuild, wantSent: 2, wantSleeps: []time.Duration{30 * time.Second},
		},
		{
			name: "429 without Retry-After backs off", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.RateLimited(""), travistest.RateLimited("")},
			call:   getBuild, wantSent: 3, wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name: "429 asking longer than max wait is not waited", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.RateLimited("3600")},
			call:   getBuild, wantErr: true, wantIs: travis.ErrRateLimited, wantStatus: 429, wantType: "request_limit_reached",
			wantRetry: true, wantSent: 1, wantAfter: time.Hour,
		},
		{
			name: "429 until attempts run out", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.RateLimited("1"), travistest.RateLimited("1"), travistest.RateLimited("1"), travistest.RateLimited("1")},
			call:   getBuild, wantErr: true, wantIs: travis.ErrRateLimited, wantStatus: 429, wantRetry: true,
			wantSent: 4, wantSleeps: []time.Duration{time.Second, time.Second, time.Second}, wantAfter: time.Second,
		},
		{
			name: "429 Retry-After past the caller's deadline is not waited", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.RateLimited("50")},
			call:   getBuild, timeout: 10 * time.Second,
			wantErr: true, wantIs: travis.ErrRateLimited, wantStatus: 429, wantRetry: true, wantSent: 1, wantAfter: 50 * time.Second,
		},
		{
			name: "503 with Retry-After on GET", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.Unavailable("3")},
			call:   getBuild, wantSent: 2, wantSleeps: []time.Duration{3 * time.Second},
		},
		{
			name: "POST restart 500 is not repeated", method: "POST", path: restartPath,
			faults: []travistest.Fault{travistest.ServerError(500)},
			call:   restart, wantErr: true, wantStatus: 500, wantRetry: true, wantInMsg: "restart build 1001", wantSent: 1,
		},
		{
			name: "POST restart 503 with Retry-After is not repeated", method: "POST", path: restartPath,
			faults: []travistest.Fault{travistest.Unavailable("2")},
			call:   restart, wantErr: true, wantStatus: 503, wantRetry: true, wantSent: 1, wantAfter: 2 * time.Second,
		},
		{
			name: "POST restart 429 is repeated: Travis did nothing", method: "POST", path: restartPath,
			faults: []travistest.Fault{travistest.RateLimited("2")},
			call:   restart, wantSent: 2, wantSleeps: []time.Duration{2 * time.Second},
		},
		{
			name: "POST request 429 is repeated with its body", method: "POST", path: requestsPath,
			faults: []travistest.Fault{travistest.RateLimited("1")},
			call:   trigger, wantSent: 2, wantSleeps: []time.Duration{time.Second},
		},
		{
			name: "malformed JSON names the endpoint", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.Malformed()},
			call:   getBuild, wantErr: true, wantIs: travis.ErrMalformedResponse,
			wantInMsg: "travis GET /build/1001: travis: malformed response", wantSent: 1,
		},
		{
			name: "malformed JSON on a builds page", method: "GET", path: listPath,
			faults: []travistest.Fault{travistest.Malformed()},
			call:   listPR, wantErr: true, wantIs: travis.ErrMalformedResponse,
			wantInMsg: "builds of octo/widgets PR 7: travis GET /repo/octo%2Fwidgets/builds", wantSent: 1,
		},
		{
			name: "404 error body", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.ErrorFault(404, "not_found", "build not found (or insufficient access)")},
			call:   getBuild, wantErr: true, wantIs: travis.ErrNotFound, wantStatus: 404, wantType: "not_found",
			wantInMsg: "build 1001: travis GET /build/1001: 404 not_found: build not found (or insufficient access)", wantSent: 1,
		},
		{
			name: "401 with an HTML body", method: "GET", path: buildPath,
			faults: []travistest.Fault{{Status: 401, Body: "<html>\n<h1>Unauthorized</h1>\n</html>"}},
			call:   getBuild, wantErr: true, wantIs: travis.ErrUnauthorized, wantStatus: 401,
			wantInMsg: "401: <html> <h1>Unauthorized</h1> </html>", wantSent: 1,
		},
		{
			name: "403 insufficient access", method: "POST", path: restartPath,
			faults: []travistest.Fault{travistest.ErrorFault(403, "insufficient_access", "operation requires restart access to build")},
			call:   restart, wantErr: true, wantIs: travis.ErrUnauthorized, wantStatus: 403, wantType: "insufficient_access", wantSent: 1,
		},
		{
			name: "hanging answer is cut by the context", method: "GET", path: buildPath,
			faults: []travistest.Fault{travistest.Hang()},
			call:   getBuild, timeout: 200 * time.Millisecond,
			wantErr: true, wantIs: context.DeadlineExceeded, wantRetry: true, wantSent: 1,
		},
		{
			name: "hanging POST is cut and not repeated", method: "POST", path: restartPath,
			faults: []travistest.Fault{travistest.Hang()},
			call:   restart, timeout: 200 * time.Millisecond,
			wantErr: true, wantIs: context.DeadlineExceeded, wantRetry: true, wantSent: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, sl := setup(t)
			srv.AddBuild(travistest.Build{Repo: slug, PullRequestNumber: 7, State: "passed"})
			srv.Inject(tt.method, tt.path, tt.faults...)

			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := tt.call(ctx, c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			apiErr, isAPI := errors.AsType[*travis.APIError](err)
			if isAPI != (tt.wantStatus != 0) {
				t.Errorf("error %v: *APIError %v, want %v", err, isAPI, tt.wantStatus != 0)
			}
			if isAPI {
				got := [3]any{apiErr.StatusCode, apiErr.RetryAfter, apiErr.Type}
				want := [3]any{tt.wantStatus, tt.wantAfter, tt.wantType}
				if tt.wantType == "" {
					want[2] = apiErr.Type
				}
				if got != want {
					t.Errorf("APIError status, retry after, type = %v, want %v", got, want)
				}
			}
			if got := travis.Retryable(err); got != tt.wantRetry {
				t.Errorf("Retryable(%v) = %v, want %v", err, got, tt.wantRetry)
			}
			if err != nil && tt.wantInMsg != "" && !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantInMsg)
			}
			if n := len(srv.Requests()); n != tt.wantSent {
				t.Errorf("%d requests sent, want %d: %v", n, tt.wantSent, srv.Requests())
			}
			if diff := cmp.Diff(tt.wantSleeps, sl.got(), equateEmpty); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPClientTimeoutCutsHangingAnswer(t *testing.T) {
	srv := travistest.NewServer(t)
	srv.AddBuild(travistest.Build{Repo: slug})
	srv.Inject("GET", "/build/1001", travistest.Hang())
	c, err := travis.New(srv.URL, srv.Token, &http.Client{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Build(context.Background(), 1001)
	if err == nil || !travis.Retryable(err) {
		t.Fatalf("error = %v, want a retryable timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s, want the 200ms timeout to cut it", elapsed)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: the timeout covers the whole call", n)
	}
}

func TestWaitIsCancelledWithContext(t *testing.T) {
	srv := travistest.NewServer(t)
	srv.AddBuild(travistest.Build{Repo: slug})
	srv.Inject("GET", "/build/1001", travistest.RateLimited("30"))
	c, err := travis.New(srv.URL, srv.Token, srv.Client()) // the real sleep
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Build(ctx, 1001)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if travis.Retryable(err) {
		t.Errorf("Retryable(%v) = true, want false for a cancelled call", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s: the 30 s wait was not cut by the context", elapsed)
	}
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		wantIs   error
		wantType string
	}{
		{name: "right token", token: travistest.DefaultToken},
		{name: "wrong token", token: "nope", wantIs: travis.ErrUnauthorized, wantType: "access_denied"},
		{name: "no token", token: "", wantIs: travis.ErrUnauthorized, wantType: "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := travistest.NewServer(t)
			srv.AddBuild(travistest.Build{Repo: slug})
			c, err := travis.New(srv.URL, tt.token, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Build(context.Background(), 1001)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("error = %v, want %v", err, tt.wantIs)
			}
			if apiErr, _ := errors.AsType[*travis.APIError](err); apiErr == nil || apiErr.Type != tt.wantType {
				t.Errorf("error = %#v, want type %q", apiErr, tt.wantType)
			}
			if travis.Retryable(err) {
				t.Errorf("Retryable(%v) = true, want false", err)
			}
		})
	}
}

// TestHeaders checks the exact headers on the wire with a bare recorder.
func TestHeaders(t *testing.T) {
	var mu sync.Mutex
	var got []http.Header
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case "GET":
			_, _ = w.Write([]byte(`{"@type": "build", "id": 5, "number": "1", "state": "passed"}`))
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"@type": "pending", "request": {"id": 9}}`))
		}
	}))
	defer rec.Close()

	c, err := travis.New(rec.URL, "s3cr3t", rec.Client(), travis.WithUserAgent("refbot-test/1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Build(context.Background(), 5); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, err := c.Trigger(context.Background(), slug, "master", map[string]string{"A": "1"}, ""); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	want := map[string]string{
		"Travis-Api-Version": "3",
		"Authorization":      "token s3cr3t",
		"User-Agent":         "refbot-test/1",
		"Accept":             "application/json",
	}
	for i, h := range got {
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, h.Get(k), v)
			}
		}
	}
	if ct := got[1].Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST Content-Type = %q, want application/json", ct)
	}
}

// TestTokenNeverInErrors provokes every kind of failure with a canary
// token and checks that no error text carries it.
func TestTokenNeverInErrors(t *testing.T) {
	const canary = "CANARY-7f3c9e1d-token"
	srv := travistest.NewServer(t)
	srv.Token = canary
	srv.AddBuild(travistest.Build{Repo: slug})
	srv.Inject("GET", "/build/1001",
		travistest.Fault{Status: 502, Body: "<html>upstream said: Authorization: token " + canary + "</html>"},
		travistest.Malformed(),
		travistest.Hang(),
	)
	srv.Inject("POST", "/build/1001/restart", travistest.ErrorFault(403, "access_denied", "token "+canary+" denied"))

	c, err := travis.New(srv.URL, canary, srv.Client(), travis.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := c.Build(ctx, 1001)
		cancel()
		errs = append(errs, err)
	}
	errs = append(errs, c.Restart(context.Background(), 1001))
	_, err = c.BuildsForPR(context.Background(), "not a slug", 1)
	errs = append(errs, err)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c2, err := travis.New(closed.URL, canary, nil, travis.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.Build(context.Background(), 1)
	errs = append(errs, err)
	for _, base := range []string{
		"http://user:" + canary + "@127.0.0.1",
		"http://user:" + canary + "@127.0.0.1:port",
		"ftp://user:" + canary + "@127.0.0.1",
		"http://127.0.0.1/?token=" + canary,
	} {
		_, err = travis.New(base, "t", nil)
		errs = append(errs, err)
	}
	_, err = travis.New(srv.URL, canary+" x", nil)
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d: no error", i)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("call %d: error carries the token: %v", i, err)
		}
	}
}

func TestRepoSlug(t *testing.T) {
	tests := []struct {
		name     string
		slug     string
		wantErr  bool
		wantPath string
	}{
		{name: "owner/name is one escaped segment", slug: "octo/widgets", wantPath: "/repo/octo%2Fwidgets/builds"},
		{name: "dots and dashes", slug: "my-org/my.repo", wantPath: "/repo/my-org%2Fmy.repo/builds"},
		{name: "no slash", slug: "widgets", wantErr: true},
		{name: "empty owner", slug: "/widgets", wantErr: true},
		{name: "two slashes", slug: "octo/widgets/x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := setup(t)
			srv.AddRepo(tt.slug)
			_, err := c.BuildsForBranch(context.Background(), tt.slug, "master")
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error: %v", err, tt.wantErr)
			}
			var paths []string
			for _, r := range srv.Requests() {
				paths = append(paths, r.Path)
			}
			var want []string
			if tt.wantPath != "" {
				want = []string{tt.wantPath}
			}
			if diff := cmp.Diff(want, paths); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNextPageStaysOnHost: a @pagination.next pointing elsewhere would
// carry the token there; the client refuses it.
func TestNextPageStaysOnHost(t *testing.T) {
	var calls int
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"@type": "builds", "@pagination": {"is_last": false,
			"next": {"@href": "http://attacker.invalid/repo/x/builds?offset=50", "offset": 50, "limit": 50}},
			"builds": []}`))
	}))
	defer rec.Close()
	c, err := travis.New(rec.URL, "tok", rec.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.BuildsForPR(context.Background(), slug, 1)
	if !errors.Is(err, travis.ErrMalformedResponse) {
		t.Fatalf("error = %v, want ErrMalformedResponse", err)
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
}

func TestLimiter(t *testing.T) {
	srv := travistest.NewServer(t)
	srv.AddBuild(travistest.Build{Repo: slug})
	// One token, the next in an hour: the second call cannot get one
	// before its deadline.
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	c, err := travis.New(srv.URL, srv.Token, srv.Client(), travis.WithLimiter(lim))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Build(context.Background(), 1001); err != nil {
		t.Fatalf("first call: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Build(ctx, 1001); err == nil {
		t.Fatal("second call got through the limiter")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests reached the server, want 1", n)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		baseURL string
		token   string
		opts    []travis.Option
		wantErr bool
	}{
		{name: "default base URL", baseURL: "", token: "t"},
		{name: "enterprise path", baseURL: "https://travis.example.com/api/", token: "t"},
		{name: "no token", baseURL: "https://api.travis-ci.com", token: ""},
		{name: "not http", baseURL: "ftp://api.travis-ci.com", token: "t", wantErr: true},
		{name: "no host", baseURL: "https://", token: "t", wantErr: true},
		{name: "credentials in URL", baseURL: "https://u:p@api.travis-ci.com", token: "t", wantErr: true},
		{name: "query in URL", baseURL: "https://api.travis-ci.com/?x=1", token: "t", wantErr: true},
		{name: "token with newline", baseURL: "", token: "t\nX-Evil: 1", wantErr: true},
		{name: "page size 0", token: "t", opts: []travis.Option{travis.WithPaging(0, 1)}, wantErr: true},
		{name: "page size 101", token: "t", opts: []travis.Option{travis.WithPaging(101, 1)}, wantErr: true},
		{name: "max pages 0", token: "t", opts: []travis.Option{travis.WithPaging(10, 0)}, wantErr: true},
		{name: "max results 0", token: "t", opts: []travis.Option{travis.WithMaxResults(0)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := travis.New(tt.baseURL, tt.token, nil, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Errorf("New error = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

// TestBasePath: an enterprise install under a path prefix keeps it.
func TestBasePath(t *testing.T) {
	var paths []string
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rec.Close()
	c, err := travis.New(rec.URL+"/api/", "t", rec.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(context.Background(), 3); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if diff := cmp.Diff([]string{"/api/build/3/cancel"}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}
