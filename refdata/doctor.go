package refdata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// What a probe of the data repo (ProbeFetch, ProbePush) found wrong, for
// `refbot doctor` to say what to fix. A probe's error wraps one of these
// when the server's answer named the cause.
var (
	// ErrCredentialsRefused: the server refused the credentials (401), or
	// wanted some and got none.
	ErrCredentialsRefused = errors.New("the data repo server refused the credentials")
	// ErrAccessDenied: the credentials are valid but may not do it (403),
	// as when a read-only token pushes.
	ErrAccessDenied = errors.New("the data repo server denied access")
	// ErrNoRepo: no repository at the URL, or none the credentials may see
	// (GitHub answers 404 for both).
	ErrNoRepo = errors.New("no data repo at the URL, or none these credentials may see")
)

// ProbeFetch reads the data repo's refs, as every fetch starts, and
// returns the base branch's tip. It is ErrNoBranch when the base branch
// does not exist. It does not use the local cache.
func (r *Repo) ProbeFetch(ctx context.Context) (plumbing.Hash, error) {
	tips, err := r.RemoteTips(ctx)
	if err != nil {
		return plumbing.ZeroHash, probeError(err)
	}
	tip, ok := tips[branchRef(r.opts.BaseBranch)]
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("data repo %s: base branch %s: %w", r.opts.URL, r.opts.BaseBranch, ErrNoBranch)
	}
	return tip, nil
}

// ProbePush creates a ref refs/refbot/doctor-<random> at the base
// branch's tip (a commit the server has, so no objects are sent) and
// deletes it again: two pushes with leases, as every push of refbot's,
// that touch no branch. It returns the ref's name; when the ref was
// created but could not be deleted the error says so, and the ref is left
// behind.
func (r *Repo) ProbePush(ctx context.Context) (string, error) {
	tip, err := r.ProbeFetch(ctx)
	if err != nil {
		return "", err
	}
	var b [6]byte
	rand.Read(b[:])
	ref := plumbing.ReferenceName("refs/refbot/doctor-" + hex.EncodeToString(b[:]))
	if _, err := r.push(ctx, []refUpdate{{Name: ref, New: tip}}, nil, nil, nil); err != nil {
		return ref.String(), fmt.Errorf("create %s: %w", ref, probeError(err))
	}
	if _, err := r.push(ctx, []refUpdate{{Name: ref, Old: tip}}, nil, nil, nil); err != nil {
		return ref.String(), fmt.Errorf("created %s, but deleting it failed (delete it by hand): %w", ref, probeError(err))
	}
	return ref.String(), nil
}

// probeError adds the sentinel that names the cause of go-git's error;
// the error keeps its message (redacted of the token already).
func probeError(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		sentinel = ErrCredentialsRefused
	case errors.Is(err, transport.ErrAuthorizationFailed):
		sentinel = ErrAccessDenied
	case errors.Is(err, transport.ErrRepositoryNotFound):
		sentinel = ErrNoRepo
	default:
		return err
	}
	return &causeError{sentinel: sentinel, err: err}
}

// causeError is an error with the sentinel of its cause; its message is
// the error's.
type causeError struct {
	sentinel error
	err      error
}

func (e *causeError) Error() string   { return e.err.Error() }
func (e *causeError) Unwrap() []error { return []error{e.sentinel, e.err} }
