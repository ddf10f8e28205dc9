package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/pages"
	"github.com/refbot/refbot/bot/review"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/bot/webauth"
	"github.com/refbot/refbot/config"
	"github.com/refbot/refbot/internal/diskcache"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// thumbLinksFor is how long a thumbnail link in a reply works: replies are
// read long after they are written.
const thumbLinksFor = 2 * 365 * 24 * time.Hour

// pagesAccess decides who may read the pages (docs/design.md, "Review
// pages"): it asks GitHub whether the repository is private when
// pages.access is auto, and takes it as private when GitHub cannot tell.
func pagesAccess(ctx context.Context, cfg *config.Config, gh *ghclient.Client, log *zap.Logger) (*webauth.Auth, error) {
	mode, err := webauth.ResolveMode(ctx, cfg.Pages.Access, gh.RepoPrivate)
	if err != nil {
		log.Warn("pages: could not tell whether the repository is private; the pages are private", zap.Error(err))
	}
	tokens, err := cfg.Pages.ReadTokens()
	if err != nil {
		return nil, err
	}
	var key []byte
	if cfg.Pages.SessionKey.IsSet() {
		v, err := cfg.Pages.SessionKey.Resolve()
		if err != nil {
			return nil, fmt.Errorf("pages.session_key: %w", err)
		}
		key = []byte(v)
	} else if key, err = webauth.KeyFromFile(cfg.PagesKeyFile()); err != nil {
		return nil, err
	}
	var secret string
	if cfg.Pages.OAuth.ClientSecret.IsSet() {
		if secret, err = cfg.Pages.OAuth.ClientSecret.Resolve(); err != nil {
			return nil, fmt.Errorf("pages.oauth.client_secret: %w", err)
		}
	}
	auth, err := webauth.New(webauth.Options{Mode: mode, Repo: cfg.GitHub.Repo, GitHubWeb: cfg.Pages.OAuth.WebURL,
		GitHubAPI: cfg.GitHub.APIURL, ClientID: cfg.Pages.OAuth.ClientID, ClientSecret: secret, Tokens: tokens, Key: key,
		PublicURL: cfg.Server.PublicURL,
		// A plain client: never refbot's own authenticated one.
		HTTPClient: &http.Client{Timeout: 30 * time.Second}, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("pages", zap.String("access", string(auth.Mode())))
	return auth, nil
}

// visibilityEvery is how often refbot asks GitHub whether the repository
// is private, with pages.access auto: GitHub's repository event makes it
// ask at once, and the look catches a delivery that never came.
const visibilityEvery = 10 * time.Minute

// followVisibility keeps the pages' access in step with the repository's
// visibility when pages.access is auto: onEvent is the intake's
// Visibility, and watch (run it in the background until ctx ends) asks
// GitHub every visibilityEvery and whenever an event came.
//
// An event is a hint, not the truth: a signed body can be delivered again
// (GitHub's redelivery, or a copy under another delivery id), so only
// closing the pages is done at once, which is safe; either way GitHub is
// asked. A look that an event overtook is asked again rather than applied,
// so that an answer older than the event never reopens the pages. A look
// GitHub does not answer keeps the access as it is. Both are nil when
// access is configured outright. With replicas, the one receiving the
// event follows at once and the others at their next look.
func followVisibility(cfg *config.Config, auth *webauth.Auth, isPrivate func(context.Context) (bool, error), every time.Duration,
	log *zap.Logger) (onEvent func(private bool), watch func(ctx context.Context)) {
	if cfg.Pages.Access != config.PagesAuto && cfg.Pages.Access != "" {
		return nil, nil
	}
	var events atomic.Int64
	kick := make(chan struct{}, 1)
	onEvent = func(private bool) {
		events.Add(1)
		if private {
			auth.SetMode(webauth.Private)
		}
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	look := func(ctx context.Context) {
		for {
			seen := events.Load()
			lctx, cancel := context.WithTimeout(ctx, time.Minute)
			private, err := isPrivate(lctx)
			cancel()
			switch {
			case err != nil:
				if ctx.Err() == nil {
					log.Warn("pages: could not tell whether the repository is still "+string(auth.Mode()), zap.Error(err))
				}
				return
			case events.Load() != seen:
				continue // an event came while GitHub answered: ask again
			case private:
				auth.SetMode(webauth.Private)
			default:
				auth.SetMode(webauth.Public)
			}
			return
		}
	}
	watch = func(ctx context.Context) {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-kick:
			}
			look(ctx)
		}
	}
	return onEvent, watch
}

// signLink signs a reply's thumbnail link for a private repository's
// pages (none is needed for a public one).
func signLink(auth func() *webauth.Auth) func(string) string {
	return func(target string) string {
		a := auth()
		if a == nil || a.Mode() != webauth.Private {
			return ""
		}
		return a.Sign(target, time.Now().Add(thumbLinksFor))
	}
}

// newReviewer is the review pages' reviewer: the newest build of a PR's
// head (as the cache status found it, else from S3's listing) against the
// data branch, with difference images kept in pages.cache_dir.
func newReviewer(cfg *config.Config, st *store.Store, cache *s3cache.Store, repo *refdata.Repo, log *zap.Logger) (*review.Reviewer, error) {
	dc, err := diskcache.New(cfg.Pages.CacheDir, int64(cfg.Pages.CacheMaxBytes), diskcache.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("pages.cache_dir: %w", err)
	}
	return review.New(review.Options{Builds: cache, Repo: repo, BaseBranch: cfg.DataRepo.BaseBranch,
		Head: func(ctx context.Context, pr int) (string, error) { return newestHead(ctx, st, pr) },
		BuildOf: func(ctx context.Context, pr int, head string) (string, error) {
			c, err := st.CacheStatus(ctx, pr)
			if err != nil || c == nil || c.SHA != head || c.State != "success" {
				return "", err
			}
			return c.Build, nil
		},
		Cache: dc, Logger: log}), nil
}

// newestHead is the newest head refbot knows of pr, "" if none.
func newestHead(ctx context.Context, st *store.Store, pr int) (string, error) {
	heads, err := st.HeadsSeen(ctx, pr)
	if err != nil || len(heads) == 0 {
		return "", err
	}
	return heads[len(heads)-1].SHA, nil
}

// pagesHandler is every page behind the access gate, and the sign-in
// routes beside it.
func pagesHandler(auth *webauth.Auth, p *pages.Pages) http.Handler {
	mux := http.NewServeMux()
	auth.Routes(mux)
	mux.Handle("/", auth.Wrap(p))
	return mux
}
