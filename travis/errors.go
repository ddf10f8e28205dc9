package travis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Sentinels that callers branch on. An *APIError matches the first three
// through errors.Is, according to its status code.
var (
	// ErrNotFound: the API answered 404 (Travis says "not found (or
	// insufficient access)"), or no build matched a search.
	ErrNotFound = errors.New("travis: not found")
	// ErrUnauthorized: the API answered 401 or 403. The token is missing,
	// wrong, or lacks access to the repository or operation.
	ErrUnauthorized = errors.New("travis: unauthorized")
	// ErrRateLimited: the API answered 429 and the client gave up waiting,
	// either because the attempts ran out or because Retry-After asked for
	// longer than the client is willing to wait (see APIError.RetryAfter).
	ErrRateLimited = errors.New("travis: rate limited")
	// ErrMalformedResponse: a 2xx answer that is not the JSON document the
	// endpoint documents. Retrying does not help.
	ErrMalformedResponse = errors.New("travis: malformed response")
)

// APIError is a non-2xx answer of the Travis API. Travis v3 answers errors
// with {"@type": "error", "error_type": ..., "error_message": ...}; when the
// body is not that (a proxy's HTML page), Type is empty and Message holds
// the start of the body.
type APIError struct {
	StatusCode int
	Type       string // error_type, e.g. "not_found", "login_required"
	Message    string // error_message
	Method     string
	Endpoint   string // path of the request, without host and query
	// RetryAfter is the wait the server asked for with Retry-After, zero
	// when it sent none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("travis %s %s: %d", e.Method, e.Endpoint, e.StatusCode)
	if e.Type != "" {
		msg += " " + e.Type
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Is lets errors.Is(err, ErrNotFound) and friends match by status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// Retryable reports whether trying the same call again later may succeed:
// 5xx (except 501) and 429 answers, timeouts and broken connections. 4xx
// answers, malformed responses and cancellation are final. It says nothing
// about whether the call is safe to repeat: a Restart that timed out may
// have been done.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return retryableStatus(apiErr.StatusCode)
	}
	if errors.Is(err, ErrMalformedResponse) || errors.Is(err, context.Canceled) {
		return false
	}
	return transientNetError(err)
}

func retryableStatus(code int) bool {
	switch {
	case code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented:
		return false
	default:
		return code >= 500 && code <= 599
	}
}

// transientNetError reports errors of the connection rather than of the
// request: timeouts, refused or reset connections, a server that hung up.
// A *url.Error for a bad URL or scheme is not one.
func transientNetError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}
