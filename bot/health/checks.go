package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// GitHubAPI is what the GitHub check asks.
type GitHubAPI interface {
	RateLimit(ctx context.Context) (ghclient.Rate, error)
}

// GitHub checks that GitHub takes refbot's credentials, a token or an App
// installation's (whose token is asked for first when there is none), by
// reading their rate limit, which costs nothing of it. login, if known,
// is named in the note.
func GitHub(gh GitHubAPI, login string) Check {
	return Check{ID: "github", Name: "GitHub", Probe: func(ctx context.Context) (string, error) {
		rate, err := gh.RateLimit(ctx)
		switch {
		case errors.Is(err, ghclient.ErrUnauthorized):
			return "", fmt.Errorf("credentials refused: %w", err)
		case err != nil:
			return "", err
		}
		note := fmt.Sprintf("%d of %d requests left until %s", rate.Remaining, rate.Limit, rate.Reset.UTC().Format("15:04 UTC"))
		if login != "" {
			note = "as " + login + ", " + note
		}
		return note, nil
	}}
}

// Bucket is what the S3 check asks.
type Bucket interface {
	// ProbeList lists one key under the store's prefix.
	ProbeList(ctx context.Context) (string, error)
	String() string
}

// S3 checks that the bucket answers and the credentials may list it, with
// a list of one key.
func S3(b Bucket) Check {
	return Check{ID: "s3", Name: "S3", Probe: func(ctx context.Context) (string, error) {
		if _, err := b.ProbeList(ctx); err != nil {
			// S3's own message is long; the cause, when S3 named it, says
			// it all.
			for _, cause := range []error{s3cache.ErrNoBucket, s3cache.ErrAccessDenied, s3cache.ErrUnknownAccessKey, s3cache.ErrWrongSecretKey} {
				if errors.Is(err, cause) {
					return "", fmt.Errorf("%s: %w", b, cause)
				}
			}
			return "", err
		}
		return b.String() + " listed", nil
	}}
}

// Remote is what the data repo check asks.
type Remote interface {
	// ProbeFetch reads the remote's refs and returns the base branch's
	// tip.
	ProbeFetch(ctx context.Context) (plumbing.Hash, error)
	BaseBranch() string
}

// DataRepo checks that the data repo's server gives its refs to refbot's
// credentials and has the base branch, as every fetch starts.
func DataRepo(r Remote) Check {
	return Check{ID: "data_repo", Name: "data repo", Probe: func(ctx context.Context) (string, error) {
		tip, err := r.ProbeFetch(ctx)
		if err != nil {
			for _, cause := range []error{refdata.ErrCredentialsRefused, refdata.ErrAccessDenied, refdata.ErrNoRepo} {
				if errors.Is(err, cause) {
					return "", fmt.Errorf("%w (%w)", cause, err)
				}
			}
			return "", err
		}
		return fmt.Sprintf("refs listed, %s at %s", r.BaseBranch(), tip.String()[:12]), nil
	}}
}
