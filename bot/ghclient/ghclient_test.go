package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/fakegithub"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the clock and sleep of a test: a sleep is recorded and
// moves the clock, nothing waits for real.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

type env struct {
	gh  *fakegithub.Server
	c   *Client
	clk *fakeClock
	reg *prometheus.Registry
}

// setup starts a fake GitHub on a fake clock and a client for it; mod
// changes the client's options.
func setup(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	clk := &fakeClock{now: t0}
	gh := fakegithub.New(t, fakegithub.WithClock(clk.Now))
	reg := prometheus.NewRegistry()
	opts := Options{
		APIURL:           gh.APIURL(),
		GraphQLURL:       gh.GraphQLURL(),
		Repo:             gh.Repo(),
		Token:            gh.Token(),
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
		Registerer:       reg,
		Now:              clk.Now,
		Sleep:            clk.Sleep,
		MutationInterval: -1,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{gh: gh, c: c, clk: clk, reg: reg}
}

func sha(c byte) string { return strings.Repeat(string(c), 40) }

func TestPullRequest(t *testing.T) {
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 1, Author: "alice", HeadSHA: sha('a'), HeadRef: "fix", BaseRef: "main", Title: "Fix"})
	e.gh.AddPR(fakegithub.PR{Number: 2, Author: "mallory", HeadSHA: sha('b'), HeadRef: "master", HeadRepo: "mallory/project", Draft: true})
	e.gh.AddPR(fakegithub.PR{Number: 3, Author: "bob", HeadSHA: sha('c')})
	e.gh.AddPR(fakegithub.PR{Number: 4, Author: "bob", HeadSHA: sha('d')})
	e.clk.Sleep(context.Background(), time.Minute)
	merge := e.gh.Merge(3, "alice")
	e.clk.Sleep(context.Background(), time.Minute)
	e.gh.ClosePR(4)

	tests := []struct {
		name    string
		number  int
		want    *PullRequest
		wantErr error
	}{
		{"open", 1, &PullRequest{Number: 1, Title: "Fix", State: "open", HeadSHA: sha('a'), HeadRef: "fix", BaseRef: "main", Author: "alice", HeadRepo: e.gh.Repo()}, nil},
		{"fork, draft", 2, &PullRequest{Number: 2, Title: "Pull request 2", State: "open", Draft: true, HeadSHA: sha('b'), HeadRef: "master", BaseRef: "master", Author: "mallory", HeadRepo: "mallory/project", IsFork: true}, nil},
		{"merged", 3, &PullRequest{Number: 3, Title: "Pull request 3", State: "closed", Merged: true, HeadSHA: sha('c'), HeadRef: "feature-3", BaseRef: "master", Author: "bob", HeadRepo: e.gh.Repo(), MergeCommitSHA: merge, MergedBy: "alice", ClosedAt: t0.Add(time.Minute)}, nil},
		{"closed", 4, &PullRequest{Number: 4, Title: "Pull request 4", State: "closed", HeadSHA: sha('d'), HeadRef: "feature-4", BaseRef: "master", Author: "bob", HeadRepo: e.gh.Repo(), ClosedAt: t0.Add(2 * time.Minute)}, nil},
		{"missing", 99, nil, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.c.PullRequest(context.Background(), tt.number)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != nil {
				got.BaseSHA, got.UpdatedAt = "", time.Time{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPermissionAndTeams(t *testing.T) {
	e := setup(t, nil)
	owner, _, _ := strings.Cut(e.gh.Repo(), "/")
	for user, perm := range map[string]string{"ann": "admin", "max": "maintain", "wes": "write", "tri": "triage", "rea": "read"} {
		e.gh.SetPermission(user, perm)
	}
	e.gh.AddUser("outsider")
	e.gh.AddTeamMember(owner, "maintainers", "outsider")
	e.gh.SetTeamMembership(owner, "maintainers", "invitee", "member", "pending")

	for _, tt := range []struct{ user, want string }{
		{"ann", "admin"}, {"max", "maintain"}, {"wes", "write"}, {"tri", "triage"}, {"rea", "read"},
		{"outsider", "none"}, {"ghost-user", "none"},
	} {
		t.Run("permission "+tt.user, func(t *testing.T) {
			got, err := e.c.Permission(context.Background(), tt.user)
			if err != nil || got != tt.want {
				t.Errorf("Permission(%s) = %q, %v; want %q", tt.user, got, err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		user string
		want bool
	}{{"outsider", true}, {"invitee", false}, {"ann", false}} {
		t.Run("team "+tt.user, func(t *testing.T) {
			got, err := e.c.TeamMember(context.Background(), owner, "maintainers", tt.user)
			if err != nil || got != tt.want {
				t.Errorf("TeamMember(%s) = %v, %v; want %v", tt.user, got, err, tt.want)
			}
		})
	}
}

func TestStatuses(t *testing.T) {
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	ctx := context.Background()
	long := strings.Repeat("é", 200)
	for _, s := range []Status{
		{State: "pending", Context: "s3-reference-data-cache", Description: "CI is running", TargetURL: "https://refbot.example/pr/1"},
		{State: "failure", Context: "other", Description: long},
		{State: "success", Context: "s3-reference-data-cache", Description: "cached"},
	} {
		if err := e.c.SetStatus(ctx, sha('a'), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.c.SetStatus(ctx, sha('f'), Status{State: "success", Context: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("status on an unknown commit: %v, want ErrInvalid", err)
	}
	posted := e.gh.Statuses(sha('a'))
	if n := len([]rune(posted[1].Description)); n != 140 || !strings.HasSuffix(posted[1].Description, "…") {
		t.Errorf("long description posted with %d characters: %q", n, posted[1].Description)
	}

	got, err := e.c.CombinedStatus(ctx, sha('a'))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Statuses {
		got.Statuses[i].UpdatedAt = time.Time{}
	}
	want := &CombinedStatus{SHA: sha('a'), State: "failure", Statuses: []CommitStatus{
		{State: "success", Context: "s3-reference-data-cache", Description: "cached"},
		{State: "failure", Context: "other", Description: posted[1].Description},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CombinedStatus (-want +got):\n%s", diff)
	}

	// More contexts than a page holds.
	for i := range 130 {
		e.gh.AddStatus(sha('a'), fakegithub.Status{State: "success", Context: fmt.Sprintf("ctx-%03d", i)})
	}
	got, err = e.c.CombinedStatus(ctx, sha('a'))
	if err != nil || len(got.Statuses) != 132 {
		t.Errorf("CombinedStatus: %d statuses, %v; want 132", len(got.Statuses), err)
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 140, "short"},
		{strings.Repeat("a", 140), 140, strings.Repeat("a", 140)},
		{strings.Repeat("a", 141), 140, strings.Repeat("a", 139) + "…"},
		{"héllo wörld", 5, "héll…"},
	} {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestComments(t *testing.T) {
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 5})
	ctx := context.Background()
	e.gh.AddComment(5, "alice", "BUILDBOT: UPDATE")
	id, err := e.c.CreateComment(ctx, 5, "Updating…")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Sleep(ctx, time.Minute)
	if err := e.c.EditComment(ctx, id, "Updated."); err != nil {
		t.Fatal(err)
	}
	for i := range 150 {
		e.gh.AddComment(5, "bob", fmt.Sprintf("comment %d", i))
	}

	all, err := e.c.Comments(ctx, 5, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 152 {
		t.Fatalf("%d comments, want 152", len(all))
	}
	first := all[:2]
	for i := range first {
		first[i].CreatedAt, first[i].UpdatedAt, first[i].URL = time.Time{}, time.Time{}, ""
	}
	want := []Comment{
		{ID: first[0].ID, Author: "alice", AuthorType: "User", Body: "BUILDBOT: UPDATE"},
		{ID: id, Author: "refbot", AuthorType: "User", Body: "Updated."},
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("Comments (-want +got):\n%s", diff)
	}

	since, err := e.c.Comments(ctx, 5, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 151 || since[0].ID != id {
		t.Errorf("Comments since: %d, first %d; want 151 starting with the edited one", len(since), since[0].ID)
	}
	if _, err := e.c.CreateComment(ctx, 404, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("comment on a missing PR: %v", err)
	}
	if err := e.c.EditComment(ctx, 1, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("edit a missing comment: %v", err)
	}
}

func TestPushUpdatesPullRequest(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	for _, tt := range []struct {
		name string
		push func()
		sha  string
	}{
		{"plain push", func() { e.gh.SetHead(1, sha('b')) }, sha('b')},
		{"force-push", func() { e.gh.ForcePush(1, sha('c')) }, sha('c')},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.clk.Sleep(ctx, time.Hour)
			tt.push()
			pr, err := e.c.PullRequest(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			open, err := e.c.OpenPullRequests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{pr.HeadSHA, pr.UpdatedAt, open[0].HeadSHA, open[0].UpdatedAt}
			if diff := cmp.Diff([]any{tt.sha, e.clk.Now(), tt.sha, e.clk.Now()}, got); diff != "" {
				t.Errorf("REST head and UpdatedAt, GraphQL head and UpdatedAt (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEditedComment(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1})
	cm := e.gh.AddComment(1, "alice", "BUILDBOT: UPDATE")
	e.clk.Sleep(ctx, 5*time.Minute)
	e.gh.EditUserComment(cm.ID, "BUILDBOT: UPDATE, really")

	got, err := e.c.Comments(ctx, 1, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []Comment{{ID: cm.ID, Author: "alice", AuthorType: "User", Body: "BUILDBOT: UPDATE, really", CreatedAt: t0, UpdatedAt: t0.Add(5 * time.Minute)}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Comment{}, "URL")); diff != "" {
		t.Errorf("Comments since the edit (-want +got):\n%s", diff)
	}
}

// TestReplyLookupAsApp finds a reply an App posted by the marker in its
// body, as refbot does after a crash: listing the comments since a time,
// over more than one page, with the App's login as GitHub shows it.
func TestReplyLookupAsApp(t *testing.T) {
	// ghinstallation signs with the real clock, so the fake's clock is
	// the real one, set back an hour while the older comments are made.
	var mu sync.Mutex
	offset := -time.Hour
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	gh := fakegithub.New(t, fakegithub.WithClock(now))
	gh.AddPR(fakegithub.PR{Number: 7})
	app, err := gh.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		gh.AddComment(7, "alice", fmt.Sprintf("old %d <!-- refbot:reply:job-1 -->", i))
	}
	mu.Lock()
	offset = 0
	mu.Unlock()
	since := time.Now().Add(-time.Second).Truncate(time.Second)

	ctx := context.Background()
	c, err := New(ctx, Options{
		APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(),
		App:              &App{ID: app.ID, InstallationID: app.InstallationID, PrivateKey: app.PrivateKey},
		MutationInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		gh.AddComment(7, "bob", fmt.Sprintf("chatter %d", i))
	}
	const marker = "<!-- refbot:reply:job-1 -->"
	id, err := c.CreateComment(ctx, 7, "Updated the reference data.\n"+marker)
	if err != nil {
		t.Fatal(err)
	}
	gh.AddComment(7, "bob", "thanks")

	gh.ResetRequests()
	comments, err := c.Comments(ctx, 7, since)
	if err != nil {
		t.Fatal(err)
	}
	var found []Comment
	for _, cm := range comments {
		if strings.Contains(cm.Body, marker) {
			found = append(found, cm)
		}
	}
	if len(comments) != 122 || len(found) != 1 || found[0].ID != id {
		t.Fatalf("%d comments since %s, with the marker %+v; want 122 and only the reply %d", len(comments), since, found, id)
	}
	if got := []string{found[0].Author, found[0].AuthorType}; !cmp.Equal(got, []string{"refbot-app[bot]", "Bot"}) {
		t.Errorf("reply's author and type %q, want the App's bot login", got)
	}
	if n := gh.RequestCount(); n != 2 {
		t.Errorf("%d requests for 122 comments, want 2 pages of 100", n)
	}
}

func TestOpenPullRequests(t *testing.T) {
	e := setup(t, nil)
	var want []PRSummary
	for i := 1; i <= 230; i++ {
		pr := e.gh.AddPR(fakegithub.PR{Number: i, Author: fmt.Sprintf("user%d", i%7), CreatedAt: t0.Add(time.Duration(i) * time.Second), Draft: i%10 == 0})
		if i%3 == 0 {
			e.gh.ClosePR(i)
			continue
		}
		pr, _ = e.gh.PR(i)
		want = append(want, PRSummary{Number: i, Title: pr.Title, HeadSHA: pr.HeadSHA, HeadRef: pr.HeadRef, BaseRef: "master", UpdatedAt: pr.UpdatedAt, Author: pr.Author, Draft: pr.Draft})
	}
	e.gh.ResetRequests()
	got, err := e.c.OpenPullRequests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OpenPullRequests (-want +got):\n%s", diff)
	}
	if n := e.gh.RequestCount(); n != 2 {
		t.Errorf("%d GraphQL requests for %d open PRs, want 2", n, len(want))
	}
}

func TestRateLimit(t *testing.T) {
	e := setup(t, nil)
	r, err := e.c.RateLimit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Limit != 5000 || r.Remaining != 5000 || !r.Reset.Equal(t0.Add(time.Hour)) {
		t.Errorf("RateLimit = %+v", r)
	}
}

func TestAppTokens(t *testing.T) {
	// ghinstallation reads the real clock, so the fake does too here.
	gh := fakegithub.New(t)
	gh.AddPR(fakegithub.PR{Number: 1})
	app, err := gh.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), Options{
		APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(),
		App: &App{ID: app.ID, InstallationID: app.InstallationID, PrivateKey: app.PrivateKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func() {
		t.Helper()
		if _, err := c.PullRequest(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}

	// A token valid for an hour serves many requests.
	call()
	call()
	if _, err := c.OpenPullRequests(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(gh.IssuedTokens()); n != 1 {
		t.Fatalf("%d tokens issued for three requests, want 1", n)
	}
	id, err := c.CreateComment(ctx, 1, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if got := gh.Comments(1); len(got) != 1 || got[0].ID != id || got[0].User != "refbot-app[bot]" {
		t.Errorf("comment posted as %+v, want refbot-app[bot]", got)
	}

	// A token that expires within a minute is renewed before it does:
	// with 50-second tokens, every request renews the one before.
	gh.SetTokenTTL(50 * time.Second)
	c2, err := New(ctx, Options{
		APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(),
		App: &App{ID: app.ID, InstallationID: app.InstallationID, PrivateKey: app.PrivateKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	gh.ResetRequests()
	for range 3 {
		if _, err := c2.PullRequest(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	issued := gh.IssuedTokens()[1:]
	if len(issued) != 3 {
		t.Fatalf("%d tokens issued, want 3 (one per request near expiry)", len(issued))
	}
	if now := time.Now(); !now.Before(issued[1].ExpiresAt) {
		t.Errorf("a 50-second token expired before it was renewed")
	}
	var used []string
	for _, r := range gh.Requests() {
		used = append(used, r.Method+" "+r.Route+" "+r.Login)
	}
	get := "GET /repos/{owner}/{repo}/pulls/{pull_number} refbot-app[bot]"
	token := "POST /app/installations/{installation_id}/access_tokens "
	if diff := cmp.Diff([]string{token, get, token, get, token, get}, used); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// A wrong installation is ErrUnauthorized.
	bad, err := New(ctx, Options{
		APIURL: gh.APIURL(), Repo: gh.Repo(),
		App: &App{ID: app.ID, InstallationID: 12345, PrivateKey: app.PrivateKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.PullRequest(ctx, 1); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown installation: %v, want ErrUnauthorized", err)
	}
}

func TestNewRejects(t *testing.T) {
	key := []byte("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n")
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"no repo", Options{Token: "t"}, "want owner/name"},
		{"bad repo", Options{Repo: "a/b/c", Token: "t"}, "want owner/name"},
		{"no credentials", Options{Repo: "a/b"}, "exactly one"},
		{"two credentials", Options{Repo: "a/b", Token: "t", App: &App{ID: 1}}, "exactly one"},
		{"bad url", Options{Repo: "a/b", Token: "t", APIURL: "ftp://x/"}, "github api url"},
		{"credentials in url", Options{Repo: "a/b", Token: "t", APIURL: "https://user:secret@ghe.example/api/v3/"}, "do not belong"},
		{"bad key", Options{Repo: "a/b", App: &App{ID: 1, InstallationID: 2, PrivateKey: key}}, "github app 1 key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "bm90IGEga2V5")) {
				t.Errorf("err quotes a secret: %v", err)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	for _, tt := range []struct{ api, gql, wantAPI, wantGQL string }{
		{"", "", "https://api.github.com/", "https://api.github.com/graphql"},
		{"https://ghe.example/api/v3", "", "https://ghe.example/api/v3/", "https://ghe.example/api/graphql"},
		{"http://127.0.0.1:80/api/v3/", "http://127.0.0.1:80/graphql", "http://127.0.0.1:80/api/v3/", "http://127.0.0.1:80/graphql"},
	} {
		api, gql, err := endpoints(tt.api, tt.gql)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{tt.wantAPI, tt.wantGQL}, []string{api.String(), gql.String()}); diff != "" {
			t.Errorf("endpoints(%q, %q) (-want +got):\n%s", tt.api, tt.gql, diff)
		}
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := New(context.Background(), Options{Repo: "a/b", Token: "t", Registerer: reg}); err != nil {
			t.Fatalf("second client on one registry: %v", err)
		}
	}
}
