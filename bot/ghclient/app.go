package ghclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v89/github"
)

// ErrNotApp: the call needs a GitHub App and the client uses a token.
var ErrNotApp = errors.New("not authenticated as a github app")

// appRepositories is what an installation token is asked to reach: the
// client's repository and the App's further ones, by name, each once. A
// token reaches only repositories of the installation's owner, so another
// owner is a mistake in the configuration.
func appRepositories(owner, name string, extra []string) ([]string, error) {
	out := []string{name}
	for _, r := range extra {
		n := r
		if o, rest, ok := strings.Cut(r, "/"); ok {
			if !strings.EqualFold(o, owner) {
				return nil, fmt.Errorf("github app repository %q: an installation token reaches only repositories of %s", r, owner)
			}
			n = rest
		}
		if n == "" || strings.ContainsAny(n, "/ ") {
			return nil, fmt.Errorf("github app repository %q: want a repository name of %s", r, owner)
		}
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, n) }) {
			out = append(out, n)
		}
	}
	return out, nil
}

// newAppREST builds a REST client that authenticates as the App itself,
// with a JWT: retry → host guard → JWT → metrics → transport. It has no
// ETag cache (the few requests it makes are rare) and no pacing (it only
// reads).
func newAppREST(opts Options, apiURL *url.URL, hosts map[string]bool, transport http.RoundTripper, timeout time.Duration, m *metrics) (*github.Client, error) {
	var rt http.RoundTripper = &metricsTransport{next: transport, metrics: m}
	atr, err := ghinstallation.NewAppsTransport(rt, opts.App.ID, opts.App.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("github app %d key: %w", opts.App.ID, err)
	}
	rt = &hostGuard{hosts: hosts, authed: cloneFirst{atr}, plain: rt, userAgent: opts.UserAgent}
	rt = newRetryTransport(rt, opts, timeout, m)
	api := apiURL.String()
	c, err := github.NewClient(
		github.WithHTTPClient(&http.Client{Transport: rt}),
		github.WithURLs(&api, &api),
		github.WithUserAgent(opts.UserAgent),
		github.WithDisableRateLimitCheck(),
	)
	if err != nil {
		return nil, fmt.Errorf("github app client for %s: %w", api, err)
	}
	return c, nil
}

// cloneFirst hands its transport a copy of each request: ghinstallation's
// AppsTransport sets its headers on the request it is given, which a
// RoundTripper must not change.
type cloneFirst struct{ next http.RoundTripper }

func (t cloneFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.Clone(req.Context()))
}

// IsApp reports whether the client authenticates as a GitHub App
// installation.
func (c *Client) IsApp() bool { return c.installation != nil }

// InstallationToken returns the App installation's current token, renewed
// first when it expires within a minute, for git pushes to the
// repositories of Options.Repo and App.Repositories. Ask for it right
// before each use rather than keep it: it lives an hour. It is ErrNotApp
// when the client uses a token.
func (c *Client) InstallationToken(ctx context.Context) (string, error) {
	if c.installation == nil {
		return "", fmt.Errorf("installation token for %s: %w", c.repo(), ErrNotApp)
	}
	tok, err := c.installation.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("installation token for %s: %w", c.repo(), classify(err))
	}
	return tok, nil
}

// RepoPermissions reads what the credentials may do on the repository:
// GitHub's permissions of repos/get (admin, maintain, push, triage, pull;
// nil when GitHub sends none), and the scopes of a classic personal token
// from X-OAuth-Scopes (nil when GitHub sends no such header, as for
// fine-grained and App tokens; empty for a classic token without scopes).
func (c *Client) RepoPermissions(ctx context.Context) (map[string]bool, []string, error) {
	r, resp, err := c.rest.Repositories.Get(ctx, c.owner, c.name)
	if err != nil {
		return nil, nil, fmt.Errorf("get repository %s: %w", c.repo(), classify(err))
	}
	var perms map[string]bool
	if p := r.GetPermissions(); p != nil {
		perms = map[string]bool{}
		for k, v := range map[string]*bool{"admin": p.Admin, "maintain": p.Maintain, "push": p.Push, "triage": p.Triage, "pull": p.Pull} {
			if v != nil {
				perms[k] = *v
			}
		}
	}
	var scopes []string
	if v := resp.Header.Values("X-OAuth-Scopes"); len(v) > 0 {
		scopes = []string{}
		for _, s := range strings.Split(strings.Join(v, ","), ",") {
			if s = strings.TrimSpace(s); s != "" {
				scopes = append(scopes, s)
			}
		}
	}
	return perms, scopes, nil
}

// AppInstallation reads, as the App itself, its installation on the
// repository: the permissions it was granted (e.g. "checks": "write") and
// the events it is subscribed to. It is ErrNotApp when the client uses a
// token, and ErrNotFound when the App is not installed on the repository.
func (c *Client) AppInstallation(ctx context.Context) (perms map[string]string, events []string, err error) {
	if c.appREST == nil {
		return nil, nil, fmt.Errorf("app installation on %s: %w", c.repo(), ErrNotApp)
	}
	inst, _, err := c.appREST.Apps.GetRepositoryInstallation(ctx, c.owner, c.name)
	if err != nil {
		return nil, nil, fmt.Errorf("app installation on %s: %w", c.repo(), classify(err))
	}
	// go-github has a field per permission; its JSON names are GitHub's.
	perms = map[string]string{}
	if p := inst.GetPermissions(); p != nil {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, nil, fmt.Errorf("app installation on %s: %w", c.repo(), err)
		}
		if err := json.Unmarshal(b, &perms); err != nil {
			return nil, nil, fmt.Errorf("app installation on %s: %w", c.repo(), err)
		}
	}
	return perms, inst.Events, nil
}

// Login is the login refbot acts as on GitHub: the token's user, or an
// App's bot account ("<slug>[bot]"), which signs the App's comments.
func (c *Client) Login(ctx context.Context) (string, error) {
	if c.appREST != nil {
		app, _, err := c.appREST.Apps.Get(ctx, "")
		if err != nil {
			return "", fmt.Errorf("get the app: %w", classify(err))
		}
		if app.GetSlug() == "" {
			return "", errors.New("get the app: GitHub gave no slug")
		}
		return app.GetSlug() + "[bot]", nil
	}
	u, _, err := c.rest.Users.Get(ctx, "")
	if err != nil {
		return "", fmt.Errorf("get the token's user: %w", classify(err))
	}
	if u.GetLogin() == "" {
		return "", errors.New("get the token's user: GitHub gave no login")
	}
	return u.GetLogin(), nil
}
