package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v89/github"
)

// Sentinels for what callers branch on. Errors returned by Client wrap one
// of them when it applies; test with errors.Is.
var (
	// ErrNotFound: GitHub answered 404 (no such pull request, comment, ...),
	// or NOT_FOUND to a GraphQL query.
	ErrNotFound = errors.New("not found on github")
	// ErrUnauthorized: GitHub refused the credentials (401), or refused
	// to issue an installation token.
	ErrUnauthorized = errors.New("github refused the credentials")
	// ErrForbidden: GitHub answered 403 for a reason other than a rate limit.
	ErrForbidden = errors.New("forbidden by github")
	// ErrInvalid: GitHub refused the request as invalid (422), e.g. a
	// status on a commit it does not know.
	ErrInvalid = errors.New("github refused the request as invalid")
	// ErrUnavailable: GitHub answered 5xx after the retries allowed for the
	// request. Retryable later. A POST or PATCH is never retried and may
	// have taken effect: look before doing it again.
	ErrUnavailable = errors.New("github unavailable")
	// ErrRateLimited: a rate limit would have held the request longer than
	// allowed. The error is a *RateLimitError saying when to try again:
	// reschedule the job rather than hold a worker.
	ErrRateLimited = errors.New("github rate limit")
)

// RateLimitError is returned instead of waiting when a GitHub rate limit
// would hold a request for longer than Options.MaxWait or than its context
// allows. errors.Is(err, ErrRateLimited) is true.
type RateLimitError struct {
	// Kind is "primary" or "secondary".
	Kind string
	// Reset is when GitHub should accept requests again.
	Reset time.Time
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("github %s rate limit until %s", e.Kind, e.Reset.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryAt is when to try again: a job queue reschedules the work for then
// instead of counting a failed attempt.
func (e *RateLimitError) RetryAt() time.Time { return e.Reset }

// unreachable reports whether a request failed without an answer from
// GitHub for a reason other than a rate limit or the caller's context.
func unreachable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) && !errors.Is(err, ErrRateLimited) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// classifyGraphQL adds a sentinel to an error from githubv4. Its library
// reports an HTTP status other than 200 only in the message, in a fixed
// form ("non-200 OK status code: 502 Bad Gateway body: ..."), and drops
// the type of a GraphQL error, so GitHub's NOT_FOUND is known by its
// message ("Could not resolve to a PullRequest with the number of 7.").
func classifyGraphQL(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "Could not resolve to a") {
		return &statusError{ErrNotFound, err}
	}
	if i := strings.Index(msg, "non-200 OK status code: "); i >= 0 {
		code, _, _ := strings.Cut(msg[i+len("non-200 OK status code: "):], " ")
		switch status, _ := strconv.Atoi(code); {
		case status == http.StatusUnauthorized:
			return &statusError{ErrUnauthorized, err}
		case status == http.StatusForbidden:
			return &statusError{ErrForbidden, err}
		case status >= 500:
			return &statusError{ErrUnavailable, err}
		}
		return err
	}
	return classify(err)
}

// statusError adds a sentinel to an error from go-github or ghinstallation
// without changing its message.
type statusError struct {
	sentinel error
	err      error
}

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) Unwrap() []error { return []error{e.sentinel, e.err} }

// classify adds the sentinel that matches an error's HTTP status.
func classify(err error) error {
	var status int
	var er *github.ErrorResponse
	var he *ghinstallation.HTTPError
	switch {
	case errors.As(err, &er) && er.Response != nil:
		status = er.Response.StatusCode
	case errors.As(err, &he) && he.Response != nil:
		status = he.Response.StatusCode
		if status == http.StatusNotFound || status == http.StatusUnauthorized || status == http.StatusForbidden {
			// The app or installation is unknown or its key is wrong.
			return &statusError{ErrUnauthorized, err}
		}
	case unreachable(err):
		return &statusError{ErrUnavailable, err}
	default:
		return err
	}
	switch {
	case status == http.StatusNotFound:
		return &statusError{ErrNotFound, err}
	case status == http.StatusUnauthorized:
		return &statusError{ErrUnauthorized, err}
	case status == http.StatusForbidden:
		return &statusError{ErrForbidden, err}
	case status == http.StatusUnprocessableEntity:
		return &statusError{ErrInvalid, err}
	case status >= 500:
		return &statusError{ErrUnavailable, err}
	}
	return err
}
