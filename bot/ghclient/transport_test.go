package ghclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/refbot/refbot/internal/fakegithub"
)

const (
	prRoute      = "/repos/{owner}/{repo}/pulls/{pull_number}"
	commentRoute = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
)

func TestRateLimits(t *testing.T) {
	type result struct {
		Sleeps   []time.Duration
		Requests int
		Err      string // "" or "primary"/"secondary" for a *RateLimitError
		Reset    time.Time
		Waits    map[string]float64
	}
	tests := []struct {
		name    string
		maxWait time.Duration
		script  func(gh *fakegithub.Server)
		do      func(ctx context.Context, c *Client) error
		want    result
	}{
		{
			name:   "primary 403: wait until the reset",
			script: func(gh *fakegithub.Server) { gh.FailPrimary(1, 403, t0.Add(10*time.Minute)) },
			want:   result{Sleeps: []time.Duration{10*time.Minute + time.Second}, Requests: 2, Waits: map[string]float64{"primary": 1}},
		},
		{
			name:   "primary 429: wait until the reset",
			script: func(gh *fakegithub.Server) { gh.FailPrimary(1, 429, t0.Add(90*time.Second)) },
			want:   result{Sleeps: []time.Duration{91 * time.Second}, Requests: 2, Waits: map[string]float64{"primary": 1}},
		},
		{
			name:   "primary beyond the longest wait: RateLimitError",
			script: func(gh *fakegithub.Server) { gh.FailPrimary(1, 403, t0.Add(40*time.Minute)) },
			want:   result{Requests: 1, Err: "primary", Reset: t0.Add(40 * time.Minute), Waits: map[string]float64{}},
		},
		{
			name:    "primary within a longer configured wait",
			maxWait: time.Hour,
			script:  func(gh *fakegithub.Server) { gh.FailPrimary(1, 403, t0.Add(40*time.Minute)) },
			want:    result{Sleeps: []time.Duration{40*time.Minute + time.Second}, Requests: 2, Waits: map[string]float64{"primary": 1}},
		},
		{
			name:   "secondary with retry-after",
			script: func(gh *fakegithub.Server) { gh.FailSecondary(2, 403, 30*time.Second) },
			want:   result{Sleeps: []time.Duration{30 * time.Second, 30 * time.Second}, Requests: 3, Waits: map[string]float64{"secondary": 2}},
		},
		{
			name:   "secondary 403 without a time: a minute, then exponentially longer",
			script: func(gh *fakegithub.Server) { gh.FailSecondary(3, 403, 0) },
			want:   result{Sleeps: []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}, Requests: 4, Waits: map[string]float64{"secondary": 3}},
		},
		{
			name:   "secondary 429 without a time until the wait is too long",
			script: func(gh *fakegithub.Server) { gh.FailSecondary(10, 429, 0) },
			want: result{
				Sleeps:   []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute},
				Requests: 5, Err: "secondary", Reset: t0.Add(15*time.Minute + 16*time.Minute),
				Waits: map[string]float64{"secondary": 4},
			},
		},
		{
			name:   "secondary retry-after longer than the longest wait",
			script: func(gh *fakegithub.Server) { gh.FailSecondary(1, 403, time.Hour) },
			want:   result{Requests: 1, Err: "secondary", Reset: t0.Add(time.Hour), Waits: map[string]float64{}},
		},
		{
			name: "a rate-limited POST is sent again: GitHub did not act on it",
			script: func(gh *fakegithub.Server) {
				gh.Inject(fakegithub.Fault{Kind: fakegithub.SecondaryRateLimit, Status: 403, RetryAfter: 5 * time.Second, Method: "POST"})
			},
			do: func(ctx context.Context, c *Client) error {
				_, err := c.CreateComment(ctx, 1, "hi")
				return err
			},
			want: result{Sleeps: []time.Duration{5 * time.Second}, Requests: 2, Waits: map[string]float64{"secondary": 1}},
		},
		{
			name: "graphql primary limit",
			script: func(gh *fakegithub.Server) {
				gh.Inject(fakegithub.Fault{Kind: fakegithub.PrimaryRateLimit, Status: 403, Route: "graphql", Reset: t0.Add(time.Minute)})
			},
			do: func(ctx context.Context, c *Client) error {
				_, err := c.OpenPullRequests(ctx)
				return err
			},
			want: result{Sleeps: []time.Duration{61 * time.Second}, Requests: 2, Waits: map[string]float64{"primary": 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, func(o *Options) { o.MaxWait = tt.maxWait })
			e.gh.AddPR(fakegithub.PR{Number: 1})
			tt.script(e.gh)
			do := tt.do
			if do == nil {
				do = func(ctx context.Context, c *Client) error {
					_, err := c.PullRequest(ctx, 1)
					return err
				}
			}
			err := do(context.Background(), e.c)
			got := result{Sleeps: e.clk.Sleeps(), Requests: e.gh.RequestCount(), Waits: map[string]float64{}}
			var rle *RateLimitError
			if errors.As(err, &rle) {
				got.Err, got.Reset = rle.Kind, rle.Reset
				if !errors.Is(err, ErrRateLimited) {
					t.Errorf("errors.Is(%v, ErrRateLimited) = false", err)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			for _, kind := range []string{"primary", "secondary", "server_error", "pacing"} {
				if n := testutil.ToFloat64(e.c.metrics.waits.WithLabelValues(kind)); n > 0 {
					got.Waits[kind] = n
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrimaryLimitUsedUp(t *testing.T) {
	// The answer that uses the last request of the window says so
	// (x-ratelimit-remaining: 0): the next request waits for the reset
	// instead of being refused.
	e := setup(t, func(o *Options) { o.MaxWait = 2 * time.Hour })
	for n := 1; n <= 3; n++ {
		e.gh.AddPR(fakegithub.PR{Number: n})
	}
	e.gh.SetRateLimit(2)
	ctx := context.Background()
	for i := range 3 {
		// Different pull requests: a 304 would not use up the limit.
		if _, err := e.c.PullRequest(ctx, i+1); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if diff := cmp.Diff([]time.Duration{time.Hour + time.Second}, e.clk.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	var statuses []int
	for _, r := range e.gh.Requests() {
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff([]int{200, 200, 200}, statuses); diff != "" {
		t.Errorf("no request should be refused (-want +got):\n%s", diff)
	}
}

func TestRateLimitWaitBoundedByContext(t *testing.T) {
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 1})
	e.gh.FailSecondary(1, 403, 2*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := e.c.PullRequest(ctx, 1)
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if len(e.clk.Sleeps()) != 0 {
		t.Errorf("slept %v past the context's deadline", e.clk.Sleeps())
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		name     string
		script   func(gh *fakegithub.Server)
		do       func(ctx context.Context, c *Client) error
		wantErr  error
		sleeps   []time.Duration
		requests int
		comments int
	}{
		{
			name:     "GET retried with backoff",
			script:   func(gh *fakegithub.Server) { gh.FailServer(2, 502) },
			do:       getPR,
			sleeps:   []time.Duration{time.Second, 2 * time.Second},
			requests: 3,
		},
		{
			name:     "GET gives up after three retries",
			script:   func(gh *fakegithub.Server) { gh.FailServer(10, 503) },
			do:       getPR,
			wantErr:  ErrUnavailable,
			sleeps:   []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			requests: 4,
		},
		{
			name:     "POST not retried",
			script:   func(gh *fakegithub.Server) { gh.FailServer(1, 502) },
			do:       comment,
			wantErr:  ErrUnavailable,
			requests: 1,
		},
		{
			name: "POST that took effect before failing is not repeated",
			script: func(gh *fakegithub.Server) {
				gh.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 500, Method: "POST", Route: commentRoute, Applied: true})
			},
			do:       comment,
			wantErr:  ErrUnavailable,
			requests: 1,
			comments: 1,
		},
		{
			name:   "PATCH not retried",
			script: func(gh *fakegithub.Server) { gh.FailServer(1, 500) },
			do: func(ctx context.Context, c *Client) error {
				return c.EditComment(ctx, 1001, "x")
			},
			wantErr:  ErrUnavailable,
			requests: 1,
		},
		{
			name: "GraphQL query retried",
			script: func(gh *fakegithub.Server) {
				gh.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Route: "graphql"})
			},
			do:       func(ctx context.Context, c *Client) error { _, err := c.OpenPullRequests(ctx); return err },
			sleeps:   []time.Duration{time.Second},
			requests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, nil)
			e.gh.AddPR(fakegithub.PR{Number: 1})
			tt.script(e.gh)
			err := tt.do(context.Background(), e.c)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.sleeps, e.clk.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if n := e.gh.RequestCount(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if n := len(e.gh.Comments(1)); n != tt.comments {
				t.Errorf("%d comments, want %d", n, tt.comments)
			}
		})
	}
}

func getPR(ctx context.Context, c *Client) error {
	_, err := c.PullRequest(ctx, 1)
	return err
}

func comment(ctx context.Context, c *Client) error {
	_, err := c.CreateComment(ctx, 1, "hi")
	return err
}

func TestConditionalRequests(t *testing.T) {
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	ctx := context.Background()

	first, err := e.c.PullRequest(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.c.PullRequest(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("answer from the cache differs (-first +second):\n%s", diff)
	}
	e.gh.SetHead(1, sha('b'))
	third, err := e.c.PullRequest(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if third.HeadSHA != sha('b') {
		t.Errorf("after a push the head is %s, want %s: a stale answer was served", third.HeadSHA, sha('b'))
	}

	var statuses []int
	for _, r := range e.gh.Requests() {
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff([]int{200, 304, 200}, statuses); diff != "" {
		t.Errorf("statuses GitHub answered (-want +got):\n%s", diff)
	}
	m := e.c.metrics
	for _, tt := range []struct {
		name string
		got  float64
		want float64
	}{
		{"requests 200", testutil.ToFloat64(m.requests.WithLabelValues("GET", "200")), 2},
		{"requests 304", testutil.ToFloat64(m.requests.WithLabelValues("GET", "304")), 1},
		{"cache hits", testutil.ToFloat64(m.cacheHits), 1},
		// The 304 did not use up a request.
		{"remaining", testutil.ToFloat64(m.remaining.WithLabelValues("core")), 4998},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP refbot_github_requests_total HTTP requests sent to GitHub, by method and status code ("error" when no answer came).
# TYPE refbot_github_requests_total counter
refbot_github_requests_total{method="GET",status="200"} 2
refbot_github_requests_total{method="GET",status="304"} 1
`), "refbot_github_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestCacheIsPerIdentity(t *testing.T) {
	// Two clients with different tokens never share answers: each asks
	// GitHub, and GitHub's ETag depends on who asks.
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 1})
	e.gh.AddToken("second-token", "someone")
	other, err := New(context.Background(), Options{APIURL: e.gh.APIURL(), Repo: e.gh.Repo(), Token: "second-token"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []*Client{e.c, other, e.c, other} {
		if _, err := c.PullRequest(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range e.gh.Requests() {
		got = append(got, fmt.Sprintf("%s %d", r.Login, r.Status))
	}
	if diff := cmp.Diff([]string{"refbot 200", "someone 200", "refbot 304", "someone 304"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCacheBounds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := `"` + r.URL.Path + `"`
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", tag)
		io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer srv.Close()
	var hits int
	c := newETagCache(http.DefaultTransport, "id", 3, 1000, func() { hits++ })
	get := func(path string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) != 100 {
			t.Fatalf("GET %s: %d with %d bytes", path, resp.StatusCode, len(b))
		}
	}
	for _, p := range []string{"/a", "/b", "/c", "/a", "/d", "/b"} {
		get(p)
	}
	// /a was a hit; /d evicted /b (least recently used), so /b missed.
	if hits != 1 || c.len() != 3 {
		t.Errorf("hits %d, entries %d; want 1 and 3", hits, c.len())
	}
	big := newETagCache(http.DefaultTransport, "id", 10, 200, func() { hits++ })
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/big", nil)
	resp, err := big.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 100 || big.len() != 0 {
		t.Errorf("a body over a quarter of the cache: %d bytes read, %d entries; want 100 and 0", len(b), big.len())
	}
}

func TestCanaryTokenNeverInErrors(t *testing.T) {
	const canary = "ghp_CANARY0123456789abcdefCANARY"
	e := setup(t, func(o *Options) { o.Token = canary })
	e.gh.AddPR(fakegithub.PR{Number: 1})
	ctx := context.Background()
	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Errorf("no error")
			return
		}
		errs = append(errs, err)
	}

	// GitHub does not know the token.
	_, err := e.c.PullRequest(ctx, 1)
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown token: %v, want ErrUnauthorized", err)
	}
	collect(err)
	_, err = e.c.OpenPullRequests(ctx)
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown token over GraphQL: %v, want ErrUnauthorized", err)
	}
	collect(err)

	// GitHub knows it; things go wrong otherwise.
	e.gh.AddToken(canary, "refbot")
	_, err = e.c.PullRequest(ctx, 404)
	collect(err)
	e.gh.FailServer(1, 502)
	collect(comment(ctx, e.c))
	e.gh.FailPrimary(1, 403, t0.Add(time.Hour))
	collect(getPR(ctx, e.c))
	e.clk.Sleep(ctx, 2*time.Hour) // past that limit's reset
	e.gh.FailSecondary(1, 403, time.Hour)
	collect(e.c.SetStatus(ctx, sha('9'), Status{State: "success", Context: "x"}))
	collect(e.c.SetStatus(ctx, sha('9'), Status{State: "success", Context: "x"}))
	e.clk.Sleep(ctx, 2*time.Hour) // past that secondary limit, which holds every request
	e.gh.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 500, Route: "graphql", Count: 10})
	_, err = e.c.OpenPullRequests(ctx)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("GraphQL 500: %v, want ErrUnavailable", err)
	}
	collect(err)
	e.gh.Close()
	err = getPR(ctx, e.c)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("GitHub unreachable: %v, want ErrUnavailable", err)
	}
	collect(err)
	e.gh.TakeViolations() // the closed server cannot be asked more

	for _, err := range errs {
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, canary) || strings.Contains(s, "CANARY") {
				t.Errorf("error shows the token: %s", s)
			}
		}
	}
	if len(errs) != 9 {
		t.Errorf("%d errors checked, want 9", len(errs))
	}
}

func TestAppSecretsNeverInErrors(t *testing.T) {
	gh := fakegithub.New(t)
	gh.AddPR(fakegithub.PR{Number: 1})
	app, err := gh.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := New(ctx, Options{APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(),
		App: &App{ID: app.ID, InstallationID: app.InstallationID, PrivateKey: app.PrivateKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PullRequest(ctx, 1); err != nil {
		t.Fatal(err)
	}
	_, err = c.PullRequest(ctx, 2)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	keyLine := strings.Split(string(app.PrivateKey), "\n")[1]
	for _, secret := range []string{gh.IssuedTokens()[0].Token, keyLine} {
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%#v", err), secret) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

func TestPacing(t *testing.T) {
	e := setup(t, func(o *Options) { o.MutationInterval = time.Second })
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	ctx := context.Background()
	for range 3 {
		if err := e.c.SetStatus(ctx, sha('a'), Status{State: "pending", Context: "x"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.PullRequest(ctx, 1); err != nil { // reads are not paced
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]time.Duration{time.Second, time.Second}, e.clk.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(e.c.metrics.waits.WithLabelValues("pacing")); n != 2 {
		t.Errorf("pacing waits = %v, want 2", n)
	}
}

type recordingTransport struct{ auth []string }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.auth = append(r.auth, req.URL.Host+" "+req.Header.Get("Authorization"))
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}

func TestHostGuard(t *testing.T) {
	rec := &recordingTransport{}
	g := &hostGuard{
		hosts:     map[string]bool{"api.github.com": true},
		authed:    &tokenTransport{next: rec, token: "secret"},
		plain:     rec,
		userAgent: "refbot",
	}
	for _, u := range []string{"https://api.github.com/repos/a/b", "https://objects.example/artifact.zip"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := g.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"api.github.com Bearer secret", "objects.example "}, rec.auth); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestClassify(t *testing.T) {
	now := t0
	rt := &retryTransport{now: func() time.Time { return now }}
	reset := strconv.FormatInt(now.Add(5*time.Minute).Unix(), 10)
	for _, tt := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		kind   string
		wait   time.Duration
	}{
		{"ok", 200, nil, "", "", 0},
		{"permission 403", 403, map[string]string{"X-RateLimit-Remaining": "4999"}, `{"message":"Resource not accessible by integration"}`, "", 0},
		{"primary", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, "", "primary", 5*time.Minute + time.Second},
		{"retry-after wins", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset, "Retry-After": "7"}, "", "secondary", 7 * time.Second},
		{"secondary by message", 403, nil, `{"message":"You have exceeded a secondary rate limit."}`, "secondary", time.Minute},
		{"429 without headers", 429, nil, "", "secondary", time.Minute},
		{"server error", 502, nil, "", "server_error", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			resp := &http.Response{StatusCode: tt.status, Header: h, Body: io.NopCloser(strings.NewReader(tt.body))}
			kind, wait, _ := rt.classify(resp, time.Minute)
			if kind != tt.kind || wait != tt.wait {
				t.Errorf("classify = %q %v, want %q %v", kind, wait, tt.kind, tt.wait)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != tt.body {
				t.Errorf("body after classify = %q, want it intact", b)
			}
		})
	}
}
