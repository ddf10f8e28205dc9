// Package ghclient is refbot's one GitHub client: pull requests, permissions,
// team memberships, commit statuses, comments, check runs and GitHub
// Actions (runs, jobs, re-runs, artifacts) over REST (go-github), and
// lists of open, merged and closed pull requests and of a pull request's
// force-pushes over GraphQL (githubv4). Nothing else in refbot imports those
// libraries.
//
// Authentication is a token, or a GitHub App installation whose tokens
// ghinstallation issues and renews before they expire. Rate limits,
// retries, conditional requests and metrics are http.RoundTripper middleware
// around the injected *http.Client's transport, outermost first:
//
//	pacing (writes ≥1 s apart) → retry (rate limits, 5xx) → auth → ETag cache → metrics → transport
//
// so each retry is authenticated afresh (an App token may have been renewed
// meanwhile), the cache sees who is asking, and the metrics count what goes
// on the wire. Artifacts are fetched from the store GitHub redirects to by
// a chain without auth or cache (retry → metrics → transport), so that no
// GitHub credential can reach the store, even on GitHub's own host.
package ghclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v89/github"
	// ghinstallation's API takes its options as a go-github v88 type.
	appgithub "github.com/google/go-github/v88/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shurcooL/githubv4"
	"golang.org/x/time/rate"

	"github.com/refbot/refbot/internal/clock"
)

// Defaults of Options.
const (
	DefaultAPIURL           = "https://api.github.com/"
	DefaultMaxWait          = 15 * time.Minute
	DefaultMaxRetries       = 3
	DefaultMutationInterval = time.Second
	DefaultTimeout          = 30 * time.Second
	DefaultCacheEntries     = 2000
	DefaultCacheBytes       = 64 << 20
	DefaultDownloadTimeout  = 10 * time.Minute
)

// maxDescription is the longest commit status description GitHub accepts.
const maxDescription = 140

// Options configure a Client.
type Options struct {
	// APIURL is the REST base URL; default https://api.github.com/. For
	// GitHub Enterprise Server: https://HOST/api/v3/.
	APIURL string
	// GraphQLURL is the GraphQL endpoint; default derived from APIURL
	// (https://api.github.com/graphql, or https://HOST/api/graphql).
	GraphQLURL string
	// Repo is the repository, "owner/name".
	Repo string
	// Token authenticates as a user or with a fixed token. Exactly one of
	// Token and App must be set.
	Token string
	// App authenticates as a GitHub App installation.
	App *App
	// HTTPClient's transport, redirect policy and timeout are used; its
	// timeout applies to each attempt, not to the waits between them.
	// Default: http.DefaultTransport with a 30 s timeout.
	HTTPClient *http.Client
	// Registerer receives the client's metrics; nil for none.
	Registerer prometheus.Registerer
	// Now and Sleep are the clock and the wait used for rate limits and
	// retries; defaults time.Now and a timer bounded by ctx.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait is the longest single wait for a rate limit; a longer one
	// returns a *RateLimitError. Default 15 minutes.
	MaxWait time.Duration
	// MaxRetries is how often an idempotent request is retried after a 5xx
	// or a failed connection; default 3, negative for none.
	MaxRetries int
	// MutationInterval is the least time between writes; default 1 s,
	// negative for none.
	MutationInterval time.Duration
	// CacheEntries and CacheBytes bound the ETag cache; defaults 2000
	// entries and 64 MiB.
	CacheEntries int
	CacheBytes   int64
	// UserAgent; default "refbot".
	UserAgent string
	// DownloadTimeout bounds one attempt at downloading an artifact from
	// the artifact store, body included; default 10 minutes.
	DownloadTimeout time.Duration
}

// App is a GitHub App installation.
type App struct {
	ID             int64
	InstallationID int64
	PrivateKey     []byte // PEM
	// Repositories are further repositories of the same owner, by name
	// ("data" or "owner/data"), that the installation tokens must reach
	// besides Options.Repo: the data repo, for git pushes with
	// InstallationToken. The App must be installed on them.
	Repositories []string
}

// Client talks to one repository on GitHub. It is safe for concurrent use.
type Client struct {
	rest        *github.Client
	gql         *githubv4.Client
	owner, name string
	metrics     *metrics
	now         func() time.Time
	// blob fetches artifacts from the artifact store GitHub redirects to.
	// No credentials are anywhere in its transport chain.
	blob *http.Client

	// Only for an App: its installation's tokens, and a client that
	// authenticates as the App itself (a JWT) for the few endpoints that
	// take only that.
	installation *ghinstallation.Transport
	appREST      *github.Client
}

// New builds a Client. It makes no request.
func New(ctx context.Context, opts Options) (*Client, error) {
	owner, name, ok := strings.Cut(opts.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("github repo %q: want owner/name", opts.Repo)
	}
	if (opts.Token == "") == (opts.App == nil) {
		return nil, errors.New("github credentials: set exactly one of a token and an app")
	}
	apiURL, gqlURL, err := endpoints(opts.APIURL, opts.GraphQLURL)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = clock.Sleep
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	opts.MaxRetries = max(opts.MaxRetries, 0)
	if opts.MutationInterval == 0 {
		opts.MutationInterval = DefaultMutationInterval
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = DefaultCacheEntries
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "refbot"
	}
	if opts.DownloadTimeout <= 0 {
		opts.DownloadTimeout = DefaultDownloadTimeout
	}
	var tokenRepos []string
	if opts.App != nil {
		if tokenRepos, err = appRepositories(owner, name, opts.App.Repositories); err != nil {
			return nil, err
		}
	}
	base := &http.Client{Timeout: DefaultTimeout}
	if opts.HTTPClient != nil {
		base = opts.HTTPClient
	}
	transport := base.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}

	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("register github metrics: %w", err)
	}
	hosts := map[string]bool{apiURL.Host: true, gqlURL.Host: true}

	// Inside out: metrics, cache, auth, retry, pacing.
	var rt http.RoundTripper = &metricsTransport{next: transport, metrics: m}
	var identity string
	if opts.App != nil {
		identity = fmt.Sprintf("app %d installation %d", opts.App.ID, opts.App.InstallationID)
	} else {
		identity = "token " + fingerprint(opts.Token)
	}
	cache := newETagCache(rt, identity, opts.CacheEntries, opts.CacheBytes, m.cacheHits.Inc)
	rt = cache
	var authed http.RoundTripper
	var itr *ghinstallation.Transport
	var appREST *github.Client
	if opts.App != nil {
		atr, err := ghinstallation.NewAppsTransport(rt, opts.App.ID, opts.App.PrivateKey)
		if err != nil {
			// The error may quote the key's parse failure, never the key.
			return nil, fmt.Errorf("github app %d key: %w", opts.App.ID, err)
		}
		atr.BaseURL = strings.TrimSuffix(apiURL.String(), "/")
		itr = ghinstallation.NewFromAppsTransport(atr, opts.App.InstallationID)
		// Ask for tokens that reach these repositories only. Without
		// options ghinstallation sends the body "null", which GitHub's
		// description of the endpoint does not allow.
		itr.InstallationTokenOptions = &appgithub.InstallationTokenOptions{Repositories: tokenRepos}
		authed = itr
		if appREST, err = newAppREST(opts, apiURL, hosts, transport, base.Timeout, m); err != nil {
			return nil, err
		}
	} else {
		authed = &tokenTransport{next: rt, token: opts.Token}
	}
	rt = &hostGuard{hosts: hosts, authed: authed, plain: rt, userAgent: opts.UserAgent}
	rt = newRetryTransport(rt, opts, base.Timeout, m)
	if opts.MutationInterval > 0 {
		rt = &pacingTransport{
			next:    rt,
			limiter: rate.NewLimiter(rate.Every(opts.MutationInterval), 1),
			now:     opts.Now,
			sleep:   opts.Sleep,
			metrics: m,
		}
	}
	httpClient := &http.Client{Transport: rt, CheckRedirect: base.CheckRedirect, Jar: base.Jar}
	// The artifact store gets no credentials: its chain has no auth.
	blob := &http.Client{
		Transport:     newRetryTransport(&metricsTransport{next: transport, metrics: m}, opts, opts.DownloadTimeout, m),
		CheckRedirect: base.CheckRedirect,
	}

	api := apiURL.String()
	rest, err := github.NewClient(
		github.WithHTTPClient(httpClient),
		github.WithURLs(&api, &api),
		github.WithUserAgent(opts.UserAgent),
		// The retry transport waits for rate limits; go-github's own
		// check would refuse requests instead.
		github.WithDisableRateLimitCheck(),
	)
	if err != nil {
		return nil, fmt.Errorf("github client for %s: %w", api, err)
	}
	return &Client{
		rest:         rest,
		gql:          githubv4.NewEnterpriseClient(gqlURL.String(), httpClient),
		owner:        owner,
		name:         name,
		metrics:      m,
		now:          opts.Now,
		blob:         blob,
		installation: itr,
		appREST:      appREST,
	}, nil
}

// newRetryTransport is the retry transport of a chain; timeout bounds each
// attempt.
func newRetryTransport(next http.RoundTripper, opts Options, timeout time.Duration, m *metrics) *retryTransport {
	return &retryTransport{
		next:       next,
		now:        opts.Now,
		sleep:      opts.Sleep,
		maxWait:    opts.MaxWait,
		maxRetries: opts.MaxRetries,
		timeout:    timeout,
		metrics:    m,
		exhausted:  map[string]limitEnd{},
	}
}

// endpoints resolves the REST and GraphQL URLs.
func endpoints(api, gql string) (*url.URL, *url.URL, error) {
	if api == "" {
		api = DefaultAPIURL
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	apiURL, err := url.Parse(api)
	if err != nil || apiURL.Host == "" || (apiURL.Scheme != "https" && apiURL.Scheme != "http") {
		return nil, nil, fmt.Errorf("github api url %q: want http(s)://host/path/", api)
	}
	if apiURL.User != nil {
		return nil, nil, errors.New("github api url: credentials do not belong in the url")
	}
	if gql == "" {
		g := *apiURL
		if p, ok := strings.CutSuffix(g.Path, "/v3/"); ok {
			g.Path = p + "/graphql" // GHES: /api/v3/ → /api/graphql
		} else {
			g.Path = strings.TrimSuffix(g.Path, "/") + "/graphql"
		}
		gql = g.String()
	}
	gqlURL, err := url.Parse(gql)
	if err != nil || gqlURL.Host == "" || (gqlURL.Scheme != "https" && gqlURL.Scheme != "http") {
		return nil, nil, fmt.Errorf("github graphql url %q: want http(s)://host/path", gql)
	}
	if gqlURL.User != nil {
		return nil, nil, errors.New("github graphql url: credentials do not belong in the url")
	}
	return apiURL, gqlURL, nil
}

func (c *Client) repo() string { return c.owner + "/" + c.name }

// PullRequest is what refbot needs to know of a pull request.
type PullRequest struct {
	Number  int
	Title   string
	State   string // open or closed
	Merged  bool
	Draft   bool
	HeadSHA string
	HeadRef string
	BaseRef string
	BaseSHA string
	Author  string
	// HeadRepo is the head repository, "owner/name"; "" when it was
	// deleted.
	HeadRepo string
	// IsFork is true when the head is in another repository (or a
	// deleted one): its CI gets no secrets.
	IsFork         bool
	MergeCommitSHA string
	MergedBy       string // login; "" unless merged
	UpdatedAt      time.Time
	// ClosedAt is when it was closed (merged or not); zero while it is
	// open.
	ClosedAt time.Time
}

// PullRequest reads a pull request. It is always asked of GitHub (a cached
// answer is used only after GitHub confirms it is current).
func (c *Client) PullRequest(ctx context.Context, number int) (*PullRequest, error) {
	pr, _, err := c.rest.PullRequests.Get(ctx, c.owner, c.name, number)
	if err != nil {
		return nil, fmt.Errorf("get pull request %s#%d: %w", c.repo(), number, classify(err))
	}
	return c.pullRequest(pr), nil
}

// pullRequest converts go-github's pull request.
func (c *Client) pullRequest(pr *github.PullRequest) *PullRequest {
	out := &PullRequest{
		Number:         pr.GetNumber(),
		Title:          pr.GetTitle(),
		State:          pr.GetState(),
		Merged:         pr.GetMerged(),
		Draft:          pr.GetDraft(),
		HeadSHA:        pr.GetHead().GetSHA(),
		HeadRef:        pr.GetHead().GetRef(),
		BaseRef:        pr.GetBase().GetRef(),
		BaseSHA:        pr.GetBase().GetSHA(),
		Author:         pr.GetUser().GetLogin(),
		HeadRepo:       pr.GetHead().GetRepo().GetFullName(),
		MergeCommitSHA: pr.GetMergeCommitSHA(),
		MergedBy:       pr.GetMergedBy().GetLogin(),
		UpdatedAt:      pr.GetUpdatedAt().Time,
		ClosedAt:       pr.GetClosedAt().Time,
	}
	baseRepo := pr.GetBase().GetRepo().GetFullName()
	if baseRepo == "" {
		baseRepo = c.repo()
	}
	out.IsFork = out.HeadRepo == "" || !strings.EqualFold(out.HeadRepo, baseRepo)
	return out
}

// Permission returns a user's permission on the repository: admin,
// maintain, write, triage, read or none ("none" also when the user is not
// a collaborator or does not exist).
func (c *Client) Permission(ctx context.Context, user string) (string, error) {
	p, _, err := c.rest.Repositories.GetPermissionLevel(ctx, c.owner, c.name, user)
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrNotFound) {
			return "none", nil
		}
		return "", fmt.Errorf("get permission of %s on %s: %w", user, c.repo(), err)
	}
	// role_name has the fine-grained roles (maintain, triage, custom
	// ones); permission only admin, write, read and none.
	role := strings.ToLower(p.GetRoleName())
	switch role {
	case "admin", "maintain", "write", "triage", "read", "none":
		return role, nil
	}
	if perm := strings.ToLower(p.GetPermission()); perm != "" {
		return perm, nil
	}
	return "none", nil
}

// TeamMember reports whether a user is an active member of org/team.
func (c *Client) TeamMember(ctx context.Context, org, team, user string) (bool, error) {
	m, _, err := c.rest.Teams.GetTeamMembershipBySlug(ctx, org, team, user)
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("get membership of %s in %s/%s: %w", user, org, team, err)
	}
	return m.GetState() == "active", nil
}

// Status is a commit status to set.
type Status struct {
	State       string // pending, success, failure or error
	Context     string
	Description string // cut to 140 characters, as GitHub requires
	TargetURL   string
}

// SetStatus sets a commit status on sha.
func (c *Client) SetStatus(ctx context.Context, sha string, s Status) error {
	st := github.RepoStatus{
		State:       github.Ptr(s.State),
		Context:     github.Ptr(s.Context),
		Description: github.Ptr(truncate(s.Description, maxDescription)),
	}
	if s.TargetURL != "" {
		st.TargetURL = github.Ptr(s.TargetURL)
	}
	if _, _, err := c.rest.Repositories.CreateStatus(ctx, c.owner, c.name, sha, st); err != nil {
		return fmt.Errorf("set status %s on %s@%s: %w", s.Context, c.repo(), sha, classify(err))
	}
	return nil
}

// truncate cuts s to at most n characters, ending in "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// CommitStatus is one status of a commit.
type CommitStatus struct {
	State       string
	Context     string
	Description string
	TargetURL   string
	UpdatedAt   time.Time
}

// CombinedStatus is a commit's overall state and the newest status of each
// context.
type CombinedStatus struct {
	SHA      string
	State    string // failure, pending or success
	Statuses []CommitStatus
}

// CombinedStatus reads a commit's combined status; ref is a sha or a branch.
func (c *Client) CombinedStatus(ctx context.Context, ref string) (*CombinedStatus, error) {
	out := &CombinedStatus{}
	opts := &github.ListOptions{PerPage: 100}
	for {
		cs, resp, err := c.rest.Repositories.GetCombinedStatus(ctx, c.owner, c.name, ref, opts)
		if err != nil {
			return nil, fmt.Errorf("get combined status of %s@%s: %w", c.repo(), ref, classify(err))
		}
		out.SHA, out.State = cs.GetSHA(), cs.GetState()
		for _, s := range cs.Statuses {
			out.Statuses = append(out.Statuses, CommitStatus{
				State:       s.GetState(),
				Context:     s.GetContext(),
				Description: s.GetDescription(),
				TargetURL:   s.GetTargetURL(),
				UpdatedAt:   s.GetUpdatedAt().Time,
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// CreateComment comments on a pull request and returns the comment's id.
// It is never retried after a server error: on ErrUnavailable the comment
// may exist.
func (c *Client) CreateComment(ctx context.Context, pr int, body string) (int64, error) {
	cm, _, err := c.rest.Issues.CreateComment(ctx, c.owner, c.name, pr, &github.IssueComment{Body: github.Ptr(body)})
	if err != nil {
		return 0, fmt.Errorf("comment on %s#%d: %w", c.repo(), pr, classify(err))
	}
	return cm.GetID(), nil
}

// EditComment replaces a comment's body.
func (c *Client) EditComment(ctx context.Context, id int64, body string) error {
	if _, _, err := c.rest.Issues.EditComment(ctx, c.owner, c.name, id, &github.IssueComment{Body: github.Ptr(body)}); err != nil {
		return fmt.Errorf("edit comment %d on %s: %w", id, c.repo(), classify(err))
	}
	return nil
}

// Comment is a comment on a pull request.
type Comment struct {
	ID         int64
	Author     string
	AuthorType string // User or Bot
	Body       string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	URL        string // on github.com, for people
}

// Comments lists a pull request's comments updated at or after since (all
// when since is zero), oldest first.
func (c *Client) Comments(ctx context.Context, pr int, since time.Time) ([]Comment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	if !since.IsZero() {
		opts.Since = &since
	}
	var out []Comment
	for {
		page, resp, err := c.rest.Issues.ListComments(ctx, c.owner, c.name, pr, opts)
		if err != nil {
			return nil, fmt.Errorf("list comments of %s#%d: %w", c.repo(), pr, classify(err))
		}
		for _, cm := range page {
			out = append(out, Comment{
				ID:         cm.GetID(),
				Author:     cm.GetUser().GetLogin(),
				AuthorType: cm.GetUser().GetType(),
				Body:       cm.GetBody(),
				CreatedAt:  cm.GetCreatedAt().Time,
				UpdatedAt:  cm.GetUpdatedAt().Time,
				URL:        cm.GetHTMLURL(),
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Rate is a primary rate limit window.
type Rate struct {
	Limit     int
	Remaining int
	Reset     time.Time
}

// RateLimit reads the REST (core) rate limit. GitHub does not count this
// request against it.
func (c *Client) RateLimit(ctx context.Context) (Rate, error) {
	rl, _, err := c.rest.RateLimit.Get(ctx)
	if err != nil {
		return Rate{}, fmt.Errorf("get github rate limit: %w", classify(err))
	}
	core := rl.GetCore()
	return Rate{Limit: core.Limit, Remaining: core.Remaining, Reset: core.Reset.Time}, nil
}
