// Package fakegithub is a fake GitHub on 127.0.0.1 for refbot's tests and
// `make demo`: the REST operations and GraphQL queries refbot uses (pull
// requests, statuses, comments, GitHub Actions runs and artifacts with the
// blob store their downloads redirect to, check runs, GitHub App
// installations and their permissions), webhook deliveries, and scripted
// trouble (rate limits, server errors, late or lost re-runs).
//
// It is kept honest against GitHub's own published description: every REST
// request and answer is validated against the OpenAPI document of the npm
// package @octokit/openapi, every GraphQL query against the schema of
// @octokit/graphql-schema, and webhook payloads are built from the examples
// of @octokit/webhooks-examples. A mismatch is a violation: New reports each
// one as a test failure when the test ends. The packages are pinned in
// tools/npm and installed into .tools/npm on first use (see NodeModules).
package fakegithub

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// Options configure a fake GitHub. The zero value is usable.
type Options struct {
	// Addr is the address to listen on; default 127.0.0.1:0.
	Addr string
	// Prefix is the path under which the REST API is served; default
	// "/api/v3", as on GitHub Enterprise Server, so that clients can use
	// APIURL() as an enterprise base URL. GraphQL is served at /api/graphql
	// and /graphql.
	Prefix string
	// Repo is the repository the fake serves, "owner/name"; default
	// "refbot-test/project". Other repositories are 404, but for those
	// added with Server.AddRepo.
	Repo string
	// Now is the fake's clock (timestamps, token expiry, rate-limit
	// windows); default time.Now.
	Now func() time.Time
	// Token is a personal access token the fake accepts, acting as
	// TokenUser; default a random one (see Server.Token).
	Token string
	// TokenUser is the login of Token; default "refbot".
	TokenUser string
	// RateLimit is the primary rate limit per hour; default 5000.
	RateLimit int
}

// Server is a running fake GitHub. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's root, http://127.0.0.1:PORT.
	URL string

	srv       *httptest.Server
	prefix    string
	repo      string
	owner     string
	name      string
	token     string
	nowFunc   func() time.Time
	spec      *spec
	schema    *ast.Schema
	templates map[string][]byte // by operation id, URLs rewritten to this server
	hooks     *webhookTemplates
	client    *http.Client // for webhook deliveries

	mu sync.Mutex
	st *state
	// mutate, when set, changes an answer body before it is validated and
	// sent; the fake's own tests use it to prove validation catches a
	// wrong answer.
	mutate func(opID string, body map[string]any)
}

// Start starts a fake GitHub. Close stops it.
func Start(opts Options) (*Server, error) {
	sp, err := loadSpec()
	if err != nil {
		return nil, err
	}
	schema, err := loadSchema()
	if err != nil {
		return nil, err
	}
	hooks, err := loadWebhookTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		prefix:  strings.TrimRight(opts.Prefix, "/"),
		repo:    opts.Repo,
		token:   opts.Token,
		nowFunc: opts.Now,
		spec:    sp,
		schema:  schema,
		hooks:   hooks,
		client:  &http.Client{Timeout: 10 * time.Second},
		st:      newState(),
	}
	if opts.Prefix == "" {
		s.prefix = "/api/v3"
	}
	if s.repo == "" {
		s.repo = "refbot-test/project"
	}
	owner, name, ok := strings.Cut(s.repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("fake github: repo %q is not owner/name", s.repo)
	}
	s.owner, s.name = owner, name
	if s.nowFunc == nil {
		s.nowFunc = time.Now
	}
	if s.token == "" {
		s.token = "ghp_fake" + randomHex(16)
	}
	login := opts.TokenUser
	if login == "" {
		login = "refbot"
	}
	s.st.tokenTTL = time.Hour
	s.st.rateLimit = opts.RateLimit
	if s.st.rateLimit == 0 {
		s.st.rateLimit = 5000
	}
	s.st.user(login)
	s.st.tokens[s.token] = identity{login: login}

	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake github: listen on %s: %w", addr, err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = s.srv.URL

	// Answers are built from GitHub's documented examples, with their
	// addresses pointing here.
	s.templates = map[string][]byte{}
	rewrite := strings.NewReplacer(
		"https://api.github.com/", s.URL+s.prefix+"/",
		"https://github.com/", s.URL+"/",
		"octocat/Hello-World", s.repo,
	)
	for id, b := range sp.templates {
		s.templates[id] = []byte(rewrite.Replace(string(b)))
	}
	return s, nil
}

// New starts a fake GitHub for a test, stops it when the test ends and
// reports every violation of GitHub's published description as a test
// failure then.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o Options
	for _, f := range opts {
		f(&o)
	}
	s, err := Start(o)
	if err != nil {
		t.Fatalf("start fake github: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("fake github: %s", v)
		}
	})
	return s
}

// Option changes the Options New starts the fake with.
type Option func(*Options)

// WithOptions replaces all options.
func WithOptions(o Options) Option { return func(p *Options) { *p = o } }

// WithClock sets the fake's clock.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// WithRepo sets the repository the fake serves, "owner/name".
func WithRepo(repo string) Option { return func(o *Options) { o.Repo = repo } }

// WithPrefix sets the path prefix of the REST API.
func WithPrefix(prefix string) Option { return func(o *Options) { o.Prefix = prefix } }

// Close stops the server, waiting for requests in flight.
func (s *Server) Close() { s.srv.Close() }

// APIURL is the REST API's base URL with a trailing slash, e.g.
// http://127.0.0.1:PORT/api/v3/.
func (s *Server) APIURL() string { return s.URL + s.prefix + "/" }

// GraphQLURL is the GraphQL endpoint.
func (s *Server) GraphQLURL() string { return s.URL + "/api/graphql" }

// Repo is the repository the fake serves, "owner/name".
func (s *Server) Repo() string { return s.repo }

// Token is a personal access token the fake accepts.
func (s *Server) Token() string { return s.token }

// Violations returns every mismatch with GitHub's published description seen
// so far: requests and answers that do not match the OpenAPI document, and
// GraphQL queries that do not match the schema.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.st.violations...)
}

// TakeViolations returns the violations seen so far and forgets them, for a
// test that provokes them on purpose.
func (s *Server) TakeViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.st.violations
	s.st.violations = nil
	return v
}

func (s *Server) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.violations = append(s.st.violations, fmt.Sprintf(format, args...))
}

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string // without the REST prefix, e.g. /repos/o/r/pulls/1, or /graphql
	Query  string
	Route  string // the OpenAPI path template, "graphql", or "blob" (an artifact download)
	Status int
	Login  string // who the request authenticated as; "" when it did not
	// Time is when the request arrived, on the fake's clock: a test of
	// rate limits checks that nothing was sent before the reset.
	Time time.Time
}

// Requests returns the requests answered since the start or the last
// ResetRequests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.st.requests...)
}

// RequestCount is len(Requests()).
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.st.requests)
}

// ResetRequests forgets the requests answered so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.requests = nil
	s.st.maxInFlight = s.st.inFlight
}

// MaxInFlight is the largest number of requests the fake was answering at
// once since the start or the last ResetRequests.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.maxInFlight
}

func (s *Server) now() time.Time { return s.nowFunc().UTC() }

// FaultKind says what a Fault answers.
type FaultKind int

const (
	// PrimaryRateLimit answers Status (403 or 429) with
	// x-ratelimit-remaining: 0 and x-ratelimit-reset: Reset.
	PrimaryRateLimit FaultKind = iota + 1
	// SecondaryRateLimit answers Status (403 or 429) with GitHub's secondary
	// rate limit message and, when RetryAfter > 0, a retry-after header.
	SecondaryRateLimit
	// ServerError answers Status (5xx).
	ServerError
)

// Fault is a scripted failure for the next Count matching requests.
type Fault struct {
	Kind   FaultKind
	Status int
	Count  int    // default 1
	Method string // "" matches any method
	// Route is an OpenAPI path template such as
	// "/repos/{owner}/{repo}/statuses/{sha}", or "graphql"; "" matches any.
	Route      string
	RetryAfter time.Duration // SecondaryRateLimit
	Reset      time.Time     // PrimaryRateLimit; default the fake's clock + 1 minute
	// Applied makes a ServerError answer come after the request took
	// effect, as when GitHub fails after writing.
	Applied bool
}

// Inject scripts faults, matched in order.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Count == 0 {
			f.Count = 1
		}
		s.st.faults = append(s.st.faults, f)
	}
}

// FailPrimary makes the next n requests hit the primary rate limit, answered
// with status (403 or 429) until reset.
func (s *Server) FailPrimary(n, status int, reset time.Time) {
	s.Inject(Fault{Kind: PrimaryRateLimit, Status: status, Count: n, Reset: reset})
}

// FailSecondary makes the next n requests hit a secondary rate limit,
// answered with status (403 or 429) and retry-after when retryAfter > 0.
func (s *Server) FailSecondary(n, status int, retryAfter time.Duration) {
	s.Inject(Fault{Kind: SecondaryRateLimit, Status: status, Count: n, RetryAfter: retryAfter})
}

// FailServer makes the next n requests fail with status (5xx) without taking
// effect.
func (s *Server) FailServer(n, status int) {
	s.Inject(Fault{Kind: ServerError, Status: status, Count: n})
}

// ClearFaults drops faults not yet used.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.faults = nil
}

// takeFault returns the first fault that matches, and uses it up once.
func (s *Server) takeFault(method, route string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.st.faults {
		if (f.Method == "" || f.Method == method) && (f.Route == "" || f.Route == route) {
			f.Count--
			if f.Count == 0 {
				s.st.faults = append(s.st.faults[:i], s.st.faults[i+1:]...)
			} else {
				s.st.faults[i] = f
			}
			return f, true
		}
	}
	return Fault{}, false
}

// etag is how the fake tags an answer: like GitHub's, it depends on who asks
// (the Authorization header) as well as on the body, so a new token does not
// match an old tag.
func etag(auth, accept string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s:%s:", accept, auth)
	h.Write(body)
	return `W/"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

// etagMatches reports whether an If-None-Match header names tag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatches(header, tag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	want := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == want {
			return true
		}
	}
	return false
}
