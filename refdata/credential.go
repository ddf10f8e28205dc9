package refdata

import (
	"context"
	"fmt"
	"strings"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// credential is what one exchange with the data repo (a fetch, a push, a
// read of blobs) authenticates with: Options.Token, or what
// Options.TokenSource gave when the exchange started. It lives as long as
// the exchange and is never kept on the Repo, so a token the source renews
// is used from the next exchange on, and an error can only carry the token
// of its own exchange, which redact removes.
type credential struct {
	token string // empty: no credentials
}

// credential returns the credential of an exchange about to start.
func (r *Repo) credential(ctx context.Context) (credential, error) {
	if r.opts.Token != "" || r.opts.TokenSource == nil {
		return credential{token: r.opts.Token}, nil
	}
	token, err := r.opts.TokenSource(ctx)
	if err != nil {
		return credential{}, fmt.Errorf("data repo %s: get a token: %w", r.opts.URL, err)
	}
	if token == "" {
		return credential{}, fmt.Errorf("data repo %s: get a token: the token source gave an empty token", r.opts.URL)
	}
	return credential{token: token}, nil
}

// auth is the credential as go-git's transport takes it; nil without a
// token (go-git's BasicAuth sets nothing then).
func (c credential) auth() *githttp.BasicAuth {
	if c.token == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: c.token}
}

// redact makes sure no error leaving this package carries the token.
func (c credential) redact(err error) error {
	if err == nil || c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), c.token, "***"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap keeps errors.Is working for sentinels; the wrapped text is never
// printed by this type.
func (e *redactedError) Unwrap() error { return e.err }
