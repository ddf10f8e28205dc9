package travis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/refbot/refbot/travis"
)

func TestAPIErrorIs(t *testing.T) {
	sentinels := []error{travis.ErrNotFound, travis.ErrUnauthorized, travis.ErrRateLimited}
	tests := []struct {
		status int
		want   error // the one sentinel it matches, nil for none
	}{
		{status: 404, want: travis.ErrNotFound},
		{status: 401, want: travis.ErrUnauthorized},
		{status: 403, want: travis.ErrUnauthorized},
		{status: 429, want: travis.ErrRateLimited},
		{status: 400},
		{status: 409},
		{status: 500},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			err := fmt.Errorf("build 1: %w", &travis.APIError{StatusCode: tt.status})
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%d, %v) = %v", tt.status, s, got)
				}
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *travis.APIError
		want string
	}{
		{
			name: "travis error body",
			err:  &travis.APIError{StatusCode: 404, Type: "not_found", Message: "build not found (or insufficient access)", Method: "GET", Endpoint: "/build/7"},
			want: "travis GET /build/7: 404 not_found: build not found (or insufficient access)",
		},
		{
			name: "with retry after",
			err:  &travis.APIError{StatusCode: 429, Type: "request_limit_reached", Method: "POST", Endpoint: "/repo/a%2Fb/requests", RetryAfter: time.Hour},
			want: "travis POST /repo/a%2Fb/requests: 429 request_limit_reached (retry after 1h0m0s)",
		},
		{
			name: "bare status",
			err:  &travis.APIError{StatusCode: 502, Method: "GET", Endpoint: "/build/7"},
			want: "travis GET /build/7: 502",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "500", err: &travis.APIError{StatusCode: 500}, want: true},
		{name: "502 wrapped", err: fmt.Errorf("build 1: %w", &travis.APIError{StatusCode: 502}), want: true},
		{name: "503", err: &travis.APIError{StatusCode: 503}, want: true},
		{name: "501 not implemented", err: &travis.APIError{StatusCode: 501}, want: false},
		{name: "429", err: &travis.APIError{StatusCode: 429}, want: true},
		{name: "400", err: &travis.APIError{StatusCode: 400}, want: false},
		{name: "401", err: &travis.APIError{StatusCode: 401}, want: false},
		{name: "403", err: &travis.APIError{StatusCode: 403}, want: false},
		{name: "404", err: &travis.APIError{StatusCode: 404}, want: false},
		{name: "409", err: &travis.APIError{StatusCode: 409}, want: false},
		{name: "malformed", err: fmt.Errorf("x: %w", travis.ErrMalformedResponse), want: false},
		{name: "not found search", err: fmt.Errorf("x: %w", travis.ErrNotFound), want: false},
		{name: "deadline", err: context.DeadlineExceeded, want: true},
		{name: "cancelled", err: &url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, want: false},
		{name: "net timeout", err: &url.Error{Op: "Get", URL: "http://x", Err: timeoutError{}}, want: true},
		{name: "connection refused", err: &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, want: true},
		{name: "connection reset", err: &url.Error{Op: "Get", URL: "http://x", Err: syscall.ECONNRESET}, want: true},
		{name: "server hung up", err: &url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, want: true},
		{name: "bad scheme", err: &url.Error{Op: "Get", URL: "gopher://x", Err: errors.New(`unsupported protocol scheme "gopher"`)}, want: false},
		{name: "plain error", err: errors.New("repo slug: want owner/name"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := travis.Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
