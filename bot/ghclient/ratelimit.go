package ghclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"golang.org/x/time/rate"
)

// How the retry transport waits. GitHub's rules ("rate limits for the REST
// API"): after a primary limit, not before x-ratelimit-reset; after a
// secondary limit, retry-after seconds if given, else until the reset if
// remaining is 0, else at least a minute and exponentially longer after.
const (
	// resetSkew is added to waits until x-ratelimit-reset, which has a
	// resolution of a second and comes from GitHub's clock.
	resetSkew = time.Second
	// secondaryWait is the first wait after a secondary limit that names
	// no time; each further one doubles.
	secondaryWait = time.Minute
	// serverRetryWait is the first wait before retrying after a 5xx or a
	// failed connection; each further one doubles.
	serverRetryWait = time.Second
	// maxLimitRetries bounds the retries after rate limits per request.
	maxLimitRetries = 6
)

type ctxKey int

const idempotentKey ctxKey = iota

// withIdempotent marks a request whose method does not say it is safe to
// repeat, such as a GraphQL query, as safe to retry after a server error.
func withIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey, true)
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	v, _ := req.Context().Value(idempotentKey).(bool)
	return v
}

// resourceOf is the rate-limit resource of a request: GitHub names it in
// x-ratelimit-resource; before an answer, GraphQL is "graphql" and the
// rest "core".
func resourceOf(req *http.Request, resp *http.Response) string {
	if resp != nil {
		if r := resp.Header.Get("X-RateLimit-Resource"); r != "" {
			return r
		}
	}
	if strings.HasSuffix(req.URL.Path, "/graphql") {
		return "graphql"
	}
	return "core"
}

// retryTransport honours GitHub's rate limits and retries what is safe to
// retry. Every wait goes through sleep and is bounded by maxWait and by the
// request's context: a longer one returns a *RateLimitError at once, so that
// the caller can reschedule its job instead of holding a worker.
//
// It retries:
//   - any request refused by a primary or secondary rate limit (GitHub did
//     not act on it);
//   - idempotent requests after a 5xx or a failed connection, with
//     exponential backoff, at most maxRetries times. A POST or PATCH is
//     never retried then: it may have taken effect.
type retryTransport struct {
	next       http.RoundTripper
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	maxWait    time.Duration
	maxRetries int
	timeout    time.Duration // per attempt; 0 for none
	metrics    *metrics

	mu sync.Mutex
	// exhausted holds, per resource, the end of a limit GitHub reported:
	// a primary limit used up (x-ratelimit-remaining: 0), or a secondary
	// limit (GitHub asks that no request be sent until it ends, and may
	// ban an integration that goes on). Every request waits for it rather
	// than be refused.
	exhausted map[string]limitEnd
}

// anyResource keys in retryTransport.exhausted a limit that holds every
// resource (a secondary limit).
const anyResource = "*"

// limitEnd is when a rate limit of the kind ("primary", "secondary") ends.
type limitEnd struct {
	at   time.Time
	kind string
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	canRepeat := idempotent(req)
	// A body that cannot be read again cannot be sent again.
	canResend := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	resource := resourceOf(req, nil)
	serverRetries, limitRetries := 0, 0
	nextSecondary := secondaryWait
	for attempt := 0; ; attempt++ {
		if end, ok := t.exhaustedUntil(resource); ok {
			if err := t.wait(ctx, end.kind, end.at.Sub(t.now())+resetSkew, end.at); err != nil {
				return nil, err
			}
			t.clearExhausted(resource)
		}
		out, err := rewind(req, attempt)
		if err != nil {
			return nil, err
		}
		resp, err := t.send(out)
		if err != nil {
			d := serverRetryWait << serverRetries
			if ctx.Err() != nil || !canRepeat || !canResend || !retryable(err) || serverRetries >= t.maxRetries || !t.fits(ctx, d) {
				return nil, err
			}
			serverRetries++
			if err := t.wait(ctx, "server_error", d, t.now().Add(d)); err != nil {
				return nil, err
			}
			continue
		}
		t.observe(req, resp)

		kind, d, reset := t.classify(resp, nextSecondary)
		switch kind {
		case "primary", "secondary":
			if reset.IsZero() {
				// A secondary limit that named no time: back off
				// exponentially from a minute.
				reset = t.now().Add(d)
				nextSecondary *= 2
			}
			if kind == "secondary" {
				// Not this request's alone: GitHub asks that none be
				// sent until a secondary limit ends, REST or GraphQL.
				t.holdUntil(anyResource, limitEnd{reset, kind})
			}
			if !canResend {
				return resp, nil
			}
			drain(resp)
			if limitRetries >= maxLimitRetries {
				return nil, &RateLimitError{Kind: kind, Reset: reset}
			}
			limitRetries++
			if err := t.wait(ctx, kind, d, reset); err != nil {
				return nil, err
			}
			t.clearExhausted(resource)
			continue
		case "server_error":
			d := serverRetryWait << serverRetries
			if !canRepeat || !canResend || serverRetries >= t.maxRetries || !t.fits(ctx, d) {
				return resp, nil
			}
			drain(resp)
			serverRetries++
			if err := t.wait(ctx, "server_error", d, t.now().Add(d)); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

// retryable reports whether a failed attempt may succeed when repeated: a
// lost connection may, GitHub refusing an App an installation token (4xx)
// will not.
func retryable(err error) bool {
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode >= 500
	}
	return true
}

// send makes one attempt, under the per-attempt timeout.
func (t *retryTransport) send(req *http.Request) (*http.Response, error) {
	if t.timeout <= 0 {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// classify says whether an answer is a rate limit or a server error, and
// how long to wait before trying again.
func (t *retryTransport) classify(resp *http.Response, nextSecondary time.Duration) (kind string, wait time.Duration, reset time.Time) {
	if resp.StatusCode >= 500 {
		return "server_error", 0, time.Time{}
	}
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return "", 0, time.Time{}
	}
	h := resp.Header
	resetAt, hasReset := parseReset(h.Get("X-RateLimit-Reset"))
	untilReset := resetAt.Sub(t.now()) + resetSkew
	if ra := h.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
			d := time.Duration(secs) * time.Second
			return "secondary", d, t.now().Add(d)
		}
		if at, err := http.ParseTime(ra); err == nil {
			d := max(at.Sub(t.now()), 0)
			return "secondary", d, at
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" && hasReset {
		return "primary", max(untilReset, resetSkew), resetAt
	}
	if resp.StatusCode == http.StatusTooManyRequests || mentionsSecondaryLimit(resp) {
		return "secondary", nextSecondary, time.Time{}
	}
	return "", 0, time.Time{}
}

// mentionsSecondaryLimit reports whether a 403's body is GitHub's secondary
// rate limit message (GitHub does not always send retry-after). It puts
// back what it read.
func mentionsSecondaryLimit(resp *http.Response) bool {
	head, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return false
	}
	s := strings.ToLower(string(head))
	return strings.Contains(s, "secondary rate limit") || strings.Contains(s, "abuse detection")
}

func parseReset(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// observe remembers a primary limit GitHub says is used up.
func (t *retryTransport) observe(req *http.Request, resp *http.Response) {
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	reset, ok := parseReset(resp.Header.Get("X-RateLimit-Reset"))
	if !ok || !reset.After(t.now()) {
		return
	}
	t.holdUntil(resourceOf(req, resp), limitEnd{reset, "primary"})
}

// holdUntil makes every request of resource wait for end (or the later
// end already held).
func (t *retryTransport) holdUntil(resource string, end limitEnd) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if held, ok := t.exhausted[resource]; !ok || end.at.After(held.at) {
		t.exhausted[resource] = end
	}
}

// exhaustedUntil returns the end of the limit that holds resource, the
// later when two do.
func (t *retryTransport) exhaustedUntil(resource string) (limitEnd, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out limitEnd
	for _, key := range []string{resource, anyResource} {
		end, ok := t.exhausted[key]
		switch {
		case !ok:
		case !end.at.After(t.now()):
			delete(t.exhausted, key)
		case end.at.After(out.at):
			out = end
		}
	}
	return out, !out.at.IsZero()
}

// clearExhausted forgets resource's limit once it has ended (a request
// waited for it); one held for longer since is kept.
func (t *retryTransport) clearExhausted(resource string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, key := range []string{resource, anyResource} {
		if end, ok := t.exhausted[key]; ok && !end.at.After(t.now()) {
			delete(t.exhausted, key)
		}
	}
}

// wait sleeps d, unless d is longer than maxWait or than the context
// leaves, in which case it returns a *RateLimitError at once.
func (t *retryTransport) wait(ctx context.Context, kind string, d time.Duration, reset time.Time) error {
	if !t.fits(ctx, d) {
		return &RateLimitError{Kind: kind, Reset: reset}
	}
	t.metrics.waits.WithLabelValues(kind).Inc()
	return t.sleep(ctx, d)
}

// fits reports whether a wait of d is allowed: no longer than maxWait nor
// than the request's context leaves.
func (t *retryTransport) fits(ctx context.Context, d time.Duration) bool {
	if d > t.maxWait {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= d
}

// rewind returns the request to send for an attempt: the request itself the
// first time, then a copy with its body read anew.
func rewind(req *http.Request, attempt int) (*http.Request, error) {
	if attempt == 0 {
		return req, nil
	}
	out := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return out, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	out.Body = body
	return out, nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// pacingTransport spaces out requests that write (POST, PATCH, PUT,
// DELETE) by at least interval, as GitHub asks of integrations ("pause at
// least one second between mutative requests"). It waits through the
// injected clock and sleep, so tests see the waits.
type pacingTransport struct {
	next    http.RoundTripper
	limiter *rate.Limiter
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	metrics *metrics
}

func (t *pacingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return t.next.RoundTrip(req)
	}
	if strings.HasSuffix(req.URL.Path, "/graphql") {
		if v, _ := req.Context().Value(idempotentKey).(bool); v {
			return t.next.RoundTrip(req) // a query, not a mutation
		}
	}
	now := t.now()
	r := t.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		t.metrics.waits.WithLabelValues("pacing").Inc()
		if err := t.sleep(req.Context(), d); err != nil {
			r.CancelAt(t.now())
			return nil, err
		}
	}
	return t.next.RoundTrip(req)
}
