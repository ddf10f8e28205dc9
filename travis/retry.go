package travis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// RetryPolicy bounds how the client waits and tries again. Zero fields take
// the values of DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts counts every try of one call, the first included.
	MaxAttempts int
	// MaxWait is the longest single wait. A Retry-After asking for more is
	// not waited for: the call fails at once with ErrRateLimited and the
	// APIError carries the asked wait, for the caller to schedule.
	MaxWait time.Duration
	// BaseDelay is the first backoff when the server gave no Retry-After;
	// it doubles on every further attempt, up to MaxWait.
	BaseDelay time.Duration
}

// DefaultRetryPolicy: four tries, waits of 1 s, 2 s, 4 s, nothing longer
// than a minute.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts: 4,
	MaxWait:     time.Minute,
	BaseDelay:   time.Second,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultRetryPolicy.MaxWait
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultRetryPolicy.BaseDelay
	}
	return p
}

// SleepFunc waits for d or until ctx is done, whichever comes first, and
// returns ctx.Err() in the second case. Tests inject one that returns at
// once and records d.
type SleepFunc func(ctx context.Context, d time.Duration) error

// retryTransport is the client's RoundTripper middleware: an optional
// client-side rate limit, then bounded retries.
//
// What is retried depends on whether the server may have acted:
//   - 429 (any method): the server refused the request, so even a POST
//     (restart, trigger) is safe to send again. Retry-After is honoured.
//   - 503 with Retry-After, other 5xx and connection errors: only for GET
//     and HEAD. A POST that failed that way may have restarted a build or
//     queued a request; repeating it blindly could do it twice.
type retryTransport struct {
	next    http.RoundTripper
	policy  RetryPolicy
	sleep   SleepFunc
	now     func() time.Time
	limiter *rate.Limiter
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// A body that cannot be produced again means one attempt only. This
	// client's own requests always can be (http.NewRequest sets GetBody
	// for a bytes.Reader); the check keeps the middleware safe on its own.
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			var err error
			if r, err = rewind(req); err != nil {
				return nil, err
			}
		}
		if t.limiter != nil {
			if err := t.limiter.Wait(ctx); err != nil {
				if attempt == 1 && req.Body != nil {
					req.Body.Close() // a RoundTripper always closes the body
				}
				return nil, err
			}
		}
		resp, err := t.next.RoundTrip(r)
		if !rewindable {
			return resp, err
		}
		wait, again := t.decide(req, attempt, resp, err)
		if !again {
			return resp, err
		}
		if resp != nil {
			// Drain a little so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// rewind returns a copy of req with a fresh body for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return r, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("travis: request body for another attempt: %w", err)
	}
	r.Body = body
	return r, nil
}

// decide reports whether to try req again after this attempt, and after
// how long.
func (t *retryTransport) decide(req *http.Request, attempt int, resp *http.Response, err error) (time.Duration, bool) {
	ctx := req.Context()
	if attempt >= t.policy.MaxAttempts || ctx.Err() != nil {
		return 0, false
	}
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	backoff := t.backoff(attempt)

	var wait time.Duration
	switch {
	case err != nil:
		if !idempotent || !transientNetError(err) {
			return 0, false
		}
		wait = backoff
	case resp.StatusCode == http.StatusTooManyRequests:
		wait = backoff
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
			wait = d
		}
	case idempotent && retryableStatus(resp.StatusCode):
		wait = backoff
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok && resp.StatusCode == http.StatusServiceUnavailable {
			wait = d
		}
	default:
		return 0, false
	}
	if wait > t.policy.MaxWait {
		return 0, false
	}
	// Waiting past the caller's deadline only turns a clear answer (rate
	// limited, retry after N) into a vague one (deadline exceeded).
	// (Real time here: the deadline is on the real clock, t.now only
	// reads Retry-After dates.)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, false
	}
	return wait, true
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay
	for i := 1; i < attempt && d < t.policy.MaxWait; i++ {
		d *= 2
	}
	return min(d, t.policy.MaxWait)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110, section 10.2.3). A date in the past means now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Anything beyond a day is as good as "not now"; cap before
		// multiplying so a huge value cannot overflow.
		return time.Duration(min(secs, 86400)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}
