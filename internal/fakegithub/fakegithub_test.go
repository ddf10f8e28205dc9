package fakegithub

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// client is a plain HTTP client for the fake, so that these tests do not
// depend on the GitHub client they are there to test.
type client struct {
	t     testing.TB
	s     *Server
	token string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func (c client) do(method, path string, body any, header ...string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	url := c.s.APIURL() + strings.TrimPrefix(path, "/")
	if path == "/graphql" {
		url = c.s.GraphQLURL()
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// field walks a decoded JSON value along a dotted path ("head.repo.fork",
// "0.number").
func field(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRESTOperations(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now), WithRepo("octo-org/project"))
	c := client{t: t, s: s, token: s.Token()}
	s.AddPR(PR{Number: 7, Author: "alice", HeadSHA: strings.Repeat("a", 40), HeadRef: "fix-7"})
	s.AddPR(PR{Number: 8, Author: "mallory", HeadRepo: "mallory/project", HeadRef: "master", Draft: true})
	s.AddPR(PR{Number: 9, Author: "bob", Merged: true})
	s.SetPermission("alice", PermMaintain)
	s.SetPermission("bob", PermTriage)
	s.AddUser("carol")
	s.AddTeamMember("octo-org", "maintainers", "carol")
	s.SetTeamMembership("octo-org", "maintainers", "dave", "member", "pending")

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		want   map[string]any // dotted path → value
	}{
		{"get pr", "GET", "/repos/octo-org/project/pulls/7", nil, 200, map[string]any{
			"number": 7.0, "state": "open", "merged": false, "draft": false, "user.login": "alice",
			"head.sha": strings.Repeat("a", 40), "head.ref": "fix-7", "base.ref": "master",
			"head.repo.full_name": "octo-org/project", "head.repo.fork": false,
		}},
		{"get fork pr", "GET", "/repos/octo-org/project/pulls/8", nil, 200, map[string]any{
			"draft": true, "head.repo.full_name": "mallory/project", "head.repo.fork": true, "head.label": "mallory:master",
		}},
		{"get merged pr", "GET", "/repos/octo-org/project/pulls/9", nil, 200, map[string]any{
			"state": "closed", "merged": true,
		}},
		{"missing pr", "GET", "/repos/octo-org/project/pulls/99", nil, 404, map[string]any{"message": "Not Found"}},
		{"other repo", "GET", "/repos/someone/else/pulls/7", nil, 404, nil},
		{"open prs", "GET", "/repos/octo-org/project/pulls?state=open&sort=created&direction=asc", nil, 200, map[string]any{
			"0.number": 7.0, "1.number": 8.0, "2": nil,
		}},
		{"permission maintain", "GET", "/repos/octo-org/project/collaborators/alice/permission", nil, 200, map[string]any{
			"permission": "write", "role_name": "maintain", "user.login": "alice", "user.permissions.maintain": true, "user.permissions.admin": false,
		}},
		{"permission triage", "GET", "/repos/octo-org/project/collaborators/bob/permission", nil, 200, map[string]any{
			"permission": "read", "role_name": "triage",
		}},
		{"permission none", "GET", "/repos/octo-org/project/collaborators/carol/permission", nil, 200, map[string]any{
			"permission": "none", "role_name": "none",
		}},
		{"permission unknown user", "GET", "/repos/octo-org/project/collaborators/nobody/permission", nil, 404, nil},
		{"team member", "GET", "/orgs/octo-org/teams/maintainers/memberships/carol", nil, 200, map[string]any{
			"role": "member", "state": "active",
		}},
		{"team pending", "GET", "/orgs/octo-org/teams/maintainers/memberships/dave", nil, 200, map[string]any{"state": "pending"}},
		{"team non-member", "GET", "/orgs/octo-org/teams/maintainers/memberships/alice", nil, 404, nil},
		{"create status", "POST", "/repos/octo-org/project/statuses/" + strings.Repeat("a", 40), map[string]any{
			"state": "pending", "context": "s3-reference-data-cache", "description": "CI is running", "target_url": "https://refbot.example/pr/7",
		}, 201, map[string]any{"state": "pending", "context": "s3-reference-data-cache", "creator.login": "refbot"}},
		{"status description too long", "POST", "/repos/octo-org/project/statuses/" + strings.Repeat("a", 40), map[string]any{
			"state": "success", "description": strings.Repeat("x", 141),
		}, 422, map[string]any{"message": "Validation Failed"}},
		{"status on unknown commit", "POST", "/repos/octo-org/project/statuses/" + strings.Repeat("f", 40), map[string]any{
			"state": "success",
		}, 422, nil},
		{"combined status", "GET", "/repos/octo-org/project/commits/" + strings.Repeat("a", 40) + "/status", nil, 200, map[string]any{
			"state": "pending", "total_count": 1.0, "statuses.0.context": "s3-reference-data-cache", "sha": strings.Repeat("a", 40),
		}},
		{"combined status by branch", "GET", "/repos/octo-org/project/commits/fix-7/status", nil, 200, map[string]any{
			"sha": strings.Repeat("a", 40),
		}},
		{"create comment", "POST", "/repos/octo-org/project/issues/7/comments", map[string]any{"body": "hello"}, 201, map[string]any{
			"body": "hello", "user.login": "refbot", "id": 1002.0,
		}},
		{"get comment", "GET", "/repos/octo-org/project/issues/comments/1002", nil, 200, map[string]any{"body": "hello"}},
		{"edit comment", "PATCH", "/repos/octo-org/project/issues/comments/1002", map[string]any{"body": "hello again"}, 200, map[string]any{
			"body": "hello again",
		}},
		{"list comments", "GET", "/repos/octo-org/project/issues/7/comments", nil, 200, map[string]any{
			"0.body": "hello again", "1": nil,
		}},
		{"list comments since", "GET", "/repos/octo-org/project/issues/7/comments?since=2030-01-01T00:00:00Z", nil, 200, map[string]any{"0": nil}},
		{"comment on missing pr", "POST", "/repos/octo-org/project/issues/99/comments", map[string]any{"body": "x"}, 404, nil},
		{"rate limit", "GET", "/rate_limit", nil, 200, map[string]any{"resources.core.limit": 5000.0, "rate.limit": 5000.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			r := c.do(tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			v := r.json(t)
			var got map[string]any
			if tt.want != nil {
				got = map[string]any{}
			}
			for k := range tt.want {
				got[k] = field(v, k)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if tt.method == "GET" && r.status == 200 && r.header.Get("ETag") == "" {
				t.Errorf("no ETag on a GET answer")
			}
			if r.header.Get("X-RateLimit-Remaining") == "" {
				t.Errorf("no x-ratelimit-remaining")
			}
		})
	}

	if got := s.Statuses(strings.Repeat("a", 40)); len(got) != 1 || got[0].Creator != "refbot" {
		t.Errorf("Statuses = %+v", got)
	}
	if got := s.Comments(7); len(got) != 1 || got[0].Body != "hello again" {
		t.Errorf("Comments = %+v", got)
	}
}

func TestPagination(t *testing.T) {
	s := New(t)
	c := client{t: t, s: s, token: s.Token()}
	for i := 1; i <= 5; i++ {
		s.AddPR(PR{Number: i, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	var got []int
	path := "/repos/" + s.Repo() + "/pulls?per_page=2&direction=asc"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		r := c.do("GET", path, nil)
		for _, pr := range r.json(t).([]any) {
			got = append(got, int(field(pr, "number").(float64)))
		}
		path = ""
		for _, l := range strings.Split(r.header.Get("Link"), ",") {
			if strings.Contains(l, `rel="next"`) {
				u := strings.Trim(strings.TrimSpace(strings.Split(l, ";")[0]), "<>")
				path = strings.TrimPrefix(u, strings.TrimSuffix(s.APIURL(), "/"))
			}
		}
	}
	if diff := cmp.Diff([]int{1, 2, 3, 4, 5}, got); diff != "" {
		t.Errorf("numbers (-want +got):\n%s", diff)
	}
}

func TestConditionalRequests(t *testing.T) {
	s := New(t)
	c := client{t: t, s: s, token: s.Token()}
	s.AddPR(PR{Number: 1})
	path := "/repos/" + s.Repo() + "/pulls/1"

	first := c.do("GET", path, nil)
	tag := first.header.Get("ETag")
	remaining := first.header.Get("X-RateLimit-Remaining")
	second := c.do("GET", path, nil, "If-None-Match", tag)
	if second.status != http.StatusNotModified || len(second.body) != 0 {
		t.Fatalf("conditional GET: %d %q, want 304 and no body", second.status, second.body)
	}
	if got := second.header.Get("X-RateLimit-Remaining"); got != remaining {
		t.Errorf("a 304 counted against the rate limit: remaining %s, then %s", remaining, got)
	}

	s.SetHead(1, strings.Repeat("b", 40))
	third := c.do("GET", path, nil, "If-None-Match", tag)
	if third.status != http.StatusOK || third.header.Get("ETag") == tag {
		t.Errorf("after a change: %d with ETag %s, want 200 and a new tag", third.status, third.header.Get("ETag"))
	}

	// The tag depends on who asks, as on GitHub.
	s.AddToken("other-token", "someone")
	other := client{t: t, s: s, token: "other-token"}
	if r := other.do("GET", path, nil, "If-None-Match", third.header.Get("ETag")); r.status != http.StatusOK {
		t.Errorf("another token's tag matched: %d", r.status)
	}

	reqs := s.Requests()
	var statuses []int
	for _, r := range reqs {
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff([]int{200, 304, 200, 200}, statuses); diff != "" {
		t.Errorf("request log statuses (-want +got):\n%s", diff)
	}
	if s.RequestCount() != 4 {
		t.Errorf("RequestCount = %d", s.RequestCount())
	}
	s.ResetRequests()
	if s.RequestCount() != 0 {
		t.Errorf("RequestCount after reset = %d", s.RequestCount())
	}
}

func TestFaults(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	c := client{t: t, s: s, token: s.Token()}
	s.AddPR(PR{Number: 1})
	path := "/repos/" + s.Repo() + "/pulls/1"
	reset := t0.Add(10 * time.Minute)

	// Scripted faults do not use up the primary limit.
	tests := []struct {
		name       string
		inject     func()
		status     int
		remaining  string
		reset      string
		retryAfter string
		message    string
	}{
		{"primary 403", func() { s.FailPrimary(1, 403, reset) }, 403, "0", strconv.FormatInt(reset.Unix(), 10), "", "API rate limit exceeded"},
		{"primary 429", func() { s.FailPrimary(1, 429, reset) }, 429, "0", strconv.FormatInt(reset.Unix(), 10), "", "API rate limit exceeded"},
		{"secondary with retry-after", func() { s.FailSecondary(1, 403, 30*time.Second) }, 403, "5000", "", "30", "secondary rate limit"},
		{"secondary without time", func() { s.FailSecondary(1, 429, 0) }, 429, "5000", "", "", "secondary rate limit"},
		{"server error", func() { s.FailServer(1, 502) }, 502, "5000", "", "", "Bad Gateway"},
		{"no fault left", func() {}, 200, "4999", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			tt.inject()
			r := c.do("GET", path, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if got := r.header.Get("X-RateLimit-Remaining"); got != tt.remaining {
				t.Errorf("x-ratelimit-remaining %q, want %q", got, tt.remaining)
			}
			if tt.reset != "" && r.header.Get("X-RateLimit-Reset") != tt.reset {
				t.Errorf("x-ratelimit-reset %q, want %q", r.header.Get("X-RateLimit-Reset"), tt.reset)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("retry-after %q, want %q", got, tt.retryAfter)
			}
			if !strings.Contains(string(r.body), tt.message) {
				t.Errorf("body %s does not say %q", r.body, tt.message)
			}
		})
	}

	t.Run("fault after the write took effect", func(t *testing.T) {
		c.t = t
		s.Inject(Fault{Kind: ServerError, Status: 500, Method: "POST", Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments", Applied: true})
		if r := c.do("GET", path, nil); r.status != 200 {
			t.Errorf("a GET took the POST's fault: %d", r.status)
		}
		r := c.do("POST", "/repos/"+s.Repo()+"/issues/1/comments", map[string]any{"body": "hi"})
		if r.status != 500 || len(s.Comments(1)) != 1 {
			t.Errorf("status %d with %d comments, want 500 and the comment made", r.status, len(s.Comments(1)))
		}
	})

	t.Run("primary limit used up", func(t *testing.T) {
		c.t = t
		s.SetRateLimit(2)
		for i, want := range []int{200, 200, 403, 403} {
			r := c.do("GET", path, nil)
			if r.status != want {
				t.Fatalf("request %d: status %d, want %d", i, r.status, want)
			}
		}
		clk.Add(61 * time.Minute)
		if r := c.do("GET", path, nil); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "1" {
			t.Errorf("after the reset: %d, remaining %s", r.status, r.header.Get("X-RateLimit-Remaining"))
		}
	})
}

func TestAuthentication(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	s.AddPR(PR{Number: 1})
	path := "/repos/" + s.Repo() + "/pulls/1"
	for _, tt := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", 401},
		{"bad token", "ghp_wrong", 401},
		{"good token", s.Token(), 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := (client{t: t, s: s, token: tt.token}).do("GET", path, nil); r.status != tt.status {
				t.Errorf("status %d, want %d", r.status, tt.status)
			}
		})
	}
}

// signJWT signs an App's JWT as GitHub's documentation describes.
func signJWT(t *testing.T, app App, iat, exp time.Time) string {
	t.Helper()
	block, _ := pem.Decode(app.PrivateKey)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims := enc.EncodeToString(fmt.Appendf(nil, `{"iat":%d,"exp":%d,"iss":"%d"}`, iat.Unix(), exp.Unix(), app.ID))
	digest := sha256.Sum256([]byte(head + "." + claims))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return head + "." + claims + "." + enc.EncodeToString(sig)
}

func TestInstallationTokens(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	s.AddPR(PR{Number: 1})
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AddApp("other-app")
	if err != nil {
		t.Fatal(err)
	}
	tokenPath := fmt.Sprintf("/app/installations/%d/access_tokens", app.InstallationID)

	for _, tt := range []struct {
		name   string
		jwt    string
		status int
	}{
		{"expired jwt", signJWT(t, app, t0.Add(-20*time.Minute), t0.Add(-10*time.Minute)), 401},
		{"jwt of another app", signJWT(t, other, t0, t0.Add(5*time.Minute)), 401},
		{"not a jwt", "abc", 401},
		{"good jwt", signJWT(t, app, t0.Add(-30*time.Second), t0.Add(90*time.Second)), 201},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := (client{t: t, s: s, token: tt.jwt}).do("POST", tokenPath, nil); r.status != tt.status {
				t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	issued := s.IssuedTokens()
	if len(issued) != 1 || !issued[0].ExpiresAt.Equal(t0.Add(time.Hour)) || issued[0].InstallationID != app.InstallationID {
		t.Fatalf("IssuedTokens = %+v", issued)
	}

	bot := client{t: t, s: s, token: issued[0].Token}
	r := bot.do("POST", "/repos/"+s.Repo()+"/issues/1/comments", map[string]any{"body": "from the app"})
	if got := field(r.json(t), "user.login"); r.status != 201 || got != "refbot-app[bot]" {
		t.Errorf("comment by installation token: %d by %v", r.status, got)
	}
	if got := field(r.json(t), "user.type"); got != "Bot" {
		t.Errorf("user.type = %v, want Bot", got)
	}
	clk.Add(time.Hour)
	if r := bot.do("GET", "/repos/"+s.Repo()+"/pulls/1", nil); r.status != 401 {
		t.Errorf("expired installation token: %d, want 401", r.status)
	}
}

func TestGraphQL(t *testing.T) {
	s := New(t)
	c := client{t: t, s: s, token: s.Token()}
	for i := 1; i <= 5; i++ {
		s.AddPR(PR{Number: i, CreatedAt: t0.Add(time.Duration(i) * time.Minute), Author: "alice"})
	}
	s.ClosePR(2)
	s.Merge(3, "alice")
	query := `query($owner: String!, $name: String!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [OPEN], first: 2, after: $cursor, orderBy: {field: CREATED_AT, direction: ASC}) {
      nodes { number headRefOid baseRefName updatedAt isDraft author { login __typename } }
      pageInfo { hasNextPage endCursor }
    }
  }
  rateLimit { remaining }
}`
	owner, name, _ := strings.Cut(s.Repo(), "/")
	var got []float64
	var cursor any
	for page := 0; ; page++ {
		r := c.do("POST", "/graphql", map[string]any{"query": query, "variables": map[string]any{"owner": owner, "name": name, "cursor": cursor}})
		v := r.json(t)
		if r.status != 200 || field(v, "errors") != nil {
			t.Fatalf("answer %d: %s", r.status, r.body)
		}
		conn := field(v, "data.repository.pullRequests")
		for _, n := range field(conn, "nodes").([]any) {
			got = append(got, field(n, "number").(float64))
			if field(n, "author.__typename") != "User" || field(n, "headRefOid") == "" {
				t.Errorf("node %v", n)
			}
		}
		if field(conn, "pageInfo.hasNextPage") != true {
			break
		}
		cursor = field(conn, "pageInfo.endCursor")
	}
	if diff := cmp.Diff([]float64{1, 4, 5}, got); diff != "" {
		t.Errorf("open PRs (-want +got):\n%s", diff)
	}
	if reqs := s.Requests(); len(reqs) != 2 || reqs[0].Route != "graphql" {
		t.Errorf("requests %+v", reqs)
	}
}

// recordingTB records what New reports when a test ends.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatalf(format string, args ...any) { r.TB.Fatalf(format, args...) }
func (r *recordingTB) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestValidationCatchesMistakes proves that the checks against GitHub's
// published description fail a test: each case makes the fake or its
// client do something GitHub's description does not allow, and New must
// report it when the test ends.
func TestValidationCatchesMistakes(t *testing.T) {
	sha := strings.Repeat("a", 40)
	tests := []struct {
		name string
		do   func(s *Server, c client)
		want string
	}{
		{
			name: "answer without a required field",
			do: func(s *Server, c client) {
				s.mutate = func(opID string, body map[string]any) {
					if opID == "repos/create-commit-status" {
						delete(body, "state")
					}
				}
				c.do("POST", "/repos/"+s.Repo()+"/statuses/"+sha, map[string]any{"state": "success", "context": "ci"})
			},
			want: `answer 201 does not match GitHub's OpenAPI description: response body doesn't match schema #/components/schemas/status: Error at "/state": property "state" is missing`,
		},
		{
			name: "answer with a wrong type",
			do: func(s *Server, c client) {
				s.mutate = func(opID string, body map[string]any) {
					if opID == "pulls/get" {
						body["number"] = "seven"
					}
				}
				c.do("GET", "/repos/"+s.Repo()+"/pulls/1", nil)
			},
			want: `Error at "/number": value must be an integer`,
		},
		{
			name: "request body outside the enum",
			do: func(s *Server, c client) {
				c.do("POST", "/repos/"+s.Repo()+"/statuses/"+sha, map[string]any{"state": "green"})
			},
			want: "request does not match GitHub's OpenAPI description",
		},
		{
			name: "request body missing a required field",
			do: func(s *Server, c client) {
				c.do("POST", "/repos/"+s.Repo()+"/issues/1/comments", map[string]any{"text": "hi"})
			},
			want: `property "body" is missing`,
		},
		{
			name: "query parameter of the wrong type",
			do: func(s *Server, c client) {
				c.do("GET", "/repos/"+s.Repo()+"/pulls?per_page=many", nil)
			},
			want: `parameter "per_page" in query has an error`,
		},
		{
			name: "operation GitHub does not have",
			do: func(s *Server, c client) {
				c.do("GET", "/repos/"+s.Repo()+"/pulls/1/statuses", nil)
			},
			want: "no such operation in GitHub's OpenAPI description",
		},
		{
			name: "graphql field GitHub does not have",
			do: func(s *Server, c client) {
				c.do("POST", "/graphql", map[string]any{"query": `{ repository(owner: "a", name: "b") { pullRequests(first: 1) { nodes { headSha } } } }`})
			},
			want: `Cannot query field "headSha" on type "PullRequest"`,
		},
		{
			name: "graphql variable of the wrong type",
			do: func(s *Server, c client) {
				c.do("POST", "/graphql", map[string]any{
					"query":     `query($n: Int!) { repository(owner: "a", name: "b") { pullRequest(number: $n) { number } } }`,
					"variables": map[string]any{"n": "one"},
				})
			},
			want: "variables do not match the query",
		},
		{
			name: "graphql connection without first or last",
			do: func(s *Server, c client) {
				owner, name, _ := strings.Cut(s.Repo(), "/")
				c.do("POST", "/graphql", map[string]any{"query": fmt.Sprintf(`{ repository(owner: %q, name: %q) { pullRequests(states: [OPEN]) { nodes { number } } } }`, owner, name)})
			},
			want: "You must provide a `first` or `last` value",
		},
		{
			name: "graphql timeline without first or last",
			do: func(s *Server, c client) {
				owner, name, _ := strings.Cut(s.Repo(), "/")
				c.do("POST", "/graphql", map[string]any{"query": fmt.Sprintf(`{ repository(owner: %q, name: %q) { pullRequest(number: 1) { timelineItems(itemTypes: [HEAD_REF_FORCE_PUSHED_EVENT]) { totalCount } } } }`, owner, name)})
			},
			want: "You must provide a `first` or `last` value to properly paginate the `timelineItems` connection.",
		},
		{
			name: "graphql timeline of every item type, which the fake does not model",
			do: func(s *Server, c client) {
				owner, name, _ := strings.Cut(s.Repo(), "/")
				c.do("POST", "/graphql", map[string]any{"query": fmt.Sprintf(`{ repository(owner: %q, name: %q) { pullRequest(number: 1) { timelineItems(first: 10) { totalCount } } } }`, owner, name)})
			},
			want: "the fake answers timelineItems only with itemTypes among [HEAD_REF_FORCE_PUSHED_EVENT ISSUE_COMMENT]",
		},
		{
			name: "graphql timeline of an item type the fake does not model",
			do: func(s *Server, c client) {
				owner, name, _ := strings.Cut(s.Repo(), "/")
				c.do("POST", "/graphql", map[string]any{"query": fmt.Sprintf(`{ repository(owner: %q, name: %q) { pullRequest(number: 1) { timelineItems(itemTypes: [PULL_REQUEST_COMMIT], last: 10) { totalCount } } } }`, owner, name)})
			},
			want: "the fake does not model timeline items of type PULL_REQUEST_COMMIT yet",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			s := New(rec)
			s.AddPR(PR{Number: 1, HeadSHA: sha})
			tt.do(s, client{t: t, s: s, token: s.Token()})
			rec.end()
			if len(rec.errors) == 0 {
				t.Fatalf("no test failure reported; want one saying %q", tt.want)
			}
			t.Logf("reported: %s", strings.Join(rec.errors, "\n"))
			if !strings.Contains(strings.Join(rec.errors, "\n"), tt.want) {
				t.Errorf("reported:\n%s\nwant a failure saying %q", strings.Join(rec.errors, "\n"), tt.want)
			}
		})
	}
}

func TestWebhookDelivery(t *testing.T) {
	s := New(t)
	s.AddPR(PR{Number: 12, Author: "alice", HeadSHA: strings.Repeat("c", 40)})
	s.SetPermission("bob", PermWrite)
	const secret = "It's a Secret to Everybody"

	type got struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var deliveries []got
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		deliveries = append(deliveries, got{r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()

	payload := s.Comment(12, "bob", "BUILDBOT: UPDATE")
	d, err := s.Deliver(context.Background(), recv.URL, secret, "issue_comment", payload)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != http.StatusAccepted {
		t.Errorf("status %d", d.Status)
	}
	again, err := s.Redeliver(context.Background(), recv.URL, secret, d)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != d.ID {
		t.Errorf("redelivery id %s, want %s", again.ID, d.ID)
	}

	if len(deliveries) != 2 {
		t.Fatalf("%d deliveries", len(deliveries))
	}
	h := deliveries[0].header
	for k, want := range map[string]string{
		"X-GitHub-Event":      "issue_comment",
		"X-GitHub-Delivery":   d.ID,
		"X-GitHub-Hook-ID":    strconv.Itoa(HookID),
		"Content-Type":        "application/json",
		"X-Hub-Signature-256": Sign(secret, payload),
	} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "GitHub-Hookshot/") {
		t.Errorf("User-Agent %q", h.Get("User-Agent"))
	}
	if !bytes.Equal(deliveries[0].body, payload) {
		t.Errorf("body differs from the payload")
	}
	// GitHub's documented test vector.
	if got := Sign(secret, []byte("Hello, World!")); got != "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" {
		t.Errorf("Sign = %s", got)
	}

	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	comments := s.Comments(12)
	want := map[string]any{
		"action":                 "created",
		"issue.number":           12.0,
		"issue.state":            "open",
		"issue.user.login":       "alice",
		"issue.pull_request.url": s.APIURL() + "repos/" + s.Repo() + "/pulls/12",
		"comment.id":             float64(comments[0].ID),
		"comment.body":           "BUILDBOT: UPDATE",
		"comment.user.login":     "bob",
		"comment.user.type":      "User",
		"sender.login":           "bob",
		"repository.full_name":   s.Repo(),
	}
	gotFields := map[string]any{}
	for k := range want {
		gotFields[k] = field(v, k)
	}
	if diff := cmp.Diff(want, gotFields); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}

	s.Merge(12, "bob")
	var pr any
	if err := json.Unmarshal(s.PullRequestPayload(12, "closed", "bob"), &pr); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"action": "closed", "pull_request.merged": true, "pull_request.head.sha": strings.Repeat("c", 40), "sender.login": "bob"} {
		if got := field(pr, k); got != want {
			t.Errorf("pull_request payload %s = %v, want %v", k, got, want)
		}
	}
}

func TestWebhookExamples(t *testing.T) {
	examples := WebhookExamples(t)
	if len(examples) < 100 {
		t.Fatalf("%d examples, want the whole api.github.com set", len(examples))
	}
	names := map[string]bool{}
	events := map[string]bool{}
	for _, e := range examples {
		if names[e.Name] {
			t.Errorf("duplicate name %s", e.Name)
		}
		names[e.Name] = true
		events[e.Event] = true
		if !json.Valid(e.Payload) {
			t.Errorf("%s: payload is not JSON", e.Name)
		}
	}
	for _, ev := range []string{"issue_comment", "pull_request", "push", "ping"} {
		if !events[ev] {
			t.Errorf("no %s examples", ev)
		}
	}
}
