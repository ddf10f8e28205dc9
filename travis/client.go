// Package travis is a client for the parts of the Travis CI API v3 that
// refbot uses: the builds of a pull request, a branch or a commit, one
// build with its jobs, the unfinished (cron) builds of a branch,
// restarting and cancelling a build, triggering a build with extra
// environment variables, and reading build requests back.
//
// The client honours Retry-After on 429, retries idempotent GETs on 5xx and
// broken connections with a bounded backoff, and never repeats a POST the
// server may have acted on. Errors are *APIError values that match the
// sentinels ErrNotFound, ErrUnauthorized and ErrRateLimited; Retryable says
// whether trying later may help. The token never appears in an error.
package travis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/refbot/refbot/internal/clock"
)

// DefaultBaseURL is the API of travis-ci.com.
const DefaultBaseURL = "https://api.travis-ci.com"

const (
	defaultUserAgent  = "refbot (+https://github.com/refbot/refbot)"
	defaultPageSize   = 50
	defaultMaxPages   = 10
	defaultMaxResults = 25
	defaultTimeout    = 30 * time.Second
	// maxBodyBytes bounds what is read of one answer; a page of 100 builds
	// with their jobs' configs stays well below it.
	maxBodyBytes = 16 << 20
)

// Client calls the Travis CI API v3. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	token      string
	userAgent  string
	http       *http.Client
	pageSize   int
	maxPages   int
	maxResults int

	// Only used while New builds the transport.
	metrics *Metrics
	policy  RetryPolicy
	sleep   SleepFunc
	now     func() time.Time
	limiter *rate.Limiter
}

// Option changes a Client built by New.
type Option func(*Client)

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.policy = p } }

// WithSleep replaces the wait between attempts; tests pass one that
// records the wait and returns at once.
func WithSleep(sleep SleepFunc) Option { return func(c *Client) { c.sleep = sleep } }

// WithClock replaces time.Now, used to turn a Retry-After date into a wait.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithLimiter makes every attempt wait for a token of l first, to stay
// under a request rate the operator chose. It does not replace honouring
// Retry-After.
func WithLimiter(l *rate.Limiter) Option { return func(c *Client) { c.limiter = l } }

// WithUserAgent replaces the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithPaging sets how many builds a page asks for (Travis allows 1 to 100)
// and how many pages one search reads at most.
func WithPaging(pageSize, maxPages int) Option {
	return func(c *Client) { c.pageSize, c.maxPages = pageSize, maxPages }
}

// WithMaxResults sets how many builds BuildsForPR and BuildsForBranch
// return at most.
func WithMaxResults(n int) Option { return func(c *Client) { c.maxResults = n } }

// New returns a client of the API at baseURL (DefaultBaseURL when empty)
// that authenticates with token. httpClient may be nil for a client with a
// 30 s timeout; its Transport is wrapped, not changed, so the caller's
// client can be shared. New does not contact the API.
func New(baseURL, token string, httpClient *http.Client, opts ...Option) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	base, err := url.Parse(baseURL)
	if err != nil {
		// Not the *url.Error itself: it quotes the whole URL, which may
		// hold a password.
		if urlErr, ok := errors.AsType[*url.Error](err); ok {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("travis: base URL: %w", err)
	}
	if base.User != nil {
		return nil, errors.New("travis: base URL must not carry credentials; pass the token separately")
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("travis: base URL has scheme %q and host %q, want http(s)://host[/path]", base.Scheme, base.Host)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, errors.New("travis: base URL must not have a query or fragment")
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""
	if strings.IndexFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, errors.New("travis: token contains spaces or control characters")
	}

	c := &Client{
		base:       base,
		token:      token,
		userAgent:  defaultUserAgent,
		pageSize:   defaultPageSize,
		maxPages:   defaultMaxPages,
		maxResults: defaultMaxResults,
		policy:     DefaultRetryPolicy,
		sleep:      clock.Sleep,
		now:        time.Now,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.pageSize < 1 || c.pageSize > 100 {
		return nil, fmt.Errorf("travis: page size %d: want 1 to 100", c.pageSize)
	}
	if c.maxPages < 1 {
		return nil, fmt.Errorf("travis: max pages %d: want at least 1", c.maxPages)
	}
	if c.maxResults < 1 {
		return nil, fmt.Errorf("travis: max results %d: want at least 1", c.maxResults)
	}

	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultTimeout}
	}
	next := httpClient.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if c.metrics != nil {
		next = &metricsTransport{next: next, metrics: c.metrics, basePath: base.EscapedPath()}
	}
	hc := *httpClient
	hc.Transport = &retryTransport{
		next:    next,
		policy:  c.policy.withDefaults(),
		sleep:   c.sleep,
		now:     c.now,
		limiter: c.limiter,
	}
	// A redirect to another host would carry the token there.
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != base.Host || req.URL.Scheme != base.Scheme {
			return fmt.Errorf("travis: refusing redirect to another host %s", req.URL.Host)
		}
		if len(via) >= 5 {
			return errors.New("travis: too many redirects")
		}
		return nil
	}
	c.http = &hc
	return c, nil
}

// endpoint builds the URL of path (already escaped, starting with "/")
// under the base URL.
func (c *Client) endpoint(path string, query url.Values) *url.URL {
	u := *c.base
	u.Path = c.base.Path + unescapeForPath(path)
	u.RawPath = c.base.EscapedPath() + path
	u.RawQuery = ""
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return &u
}

func unescapeForPath(p string) string {
	s, err := url.PathUnescape(p)
	if err != nil {
		return p
	}
	return s
}

// repoPath is /repo/{owner%2Fname}: the slug is one path segment, so its
// slash must be escaped.
func repoPath(slug string) (string, error) {
	owner, name, ok := strings.Cut(slug, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("travis: repo slug %q: want owner/name", slug)
	}
	return "/repo/" + url.PathEscape(slug), nil
}

// do sends one call and decodes a 2xx JSON answer into out (when out is
// not nil). A non-2xx answer is an *APIError.
func (c *Client) do(ctx context.Context, method string, u *url.URL, body any, out any) error {
	var reader io.Reader
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("travis %s %s: encode body: %w", method, u.EscapedPath(), err)
		}
		reader = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return fmt.Errorf("travis %s %s: %w", method, u.EscapedPath(), err)
	}
	req.Header.Set("Travis-API-Version", "3")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "token "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error: it names the method and URL, which hold no secret.
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("travis %s %s: read answer: %w", method, u.EscapedPath(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(req, resp, data)
	}
	if out == nil {
		return nil
	}
	if len(data) > maxBodyBytes {
		return fmt.Errorf("travis %s %s: answer larger than %d bytes: %w", method, u.EscapedPath(), maxBodyBytes, ErrMalformedResponse)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("travis %s %s: %w: %w", method, u.EscapedPath(), ErrMalformedResponse, err)
	}
	return nil
}

func (c *Client) apiError(req *http.Request, resp *http.Response, data []byte) error {
	e := &APIError{
		StatusCode: resp.StatusCode,
		Method:     req.Method,
		Endpoint:   req.URL.EscapedPath(),
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = d
	}
	var body struct {
		Type    string `json:"@type"`
		ErrType string `json:"error_type"`
		Message string `json:"error_message"`
	}
	if json.Unmarshal(data, &body) == nil && body.Type == "error" {
		e.Type, e.Message = body.ErrType, c.redact(body.Message)
		return e
	}
	e.Message = snippet(c.redact(string(data)))
	return e
}

// redact removes the token from text the server sent back, in case a
// proxy's error page echoes the request headers.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[token]")
}

// snippet is the start of a non-JSON error body, on one line.
func snippet(body string) string {
	const limit = 200
	s := strings.Join(strings.Fields(body), " ")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
