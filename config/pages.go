package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Pages configures refbot's own web pages (docs/design.md, "Review
// pages"): who may read them, and the cache of the difference images and
// thumbnails they show.
type Pages struct {
	// Access says who may read the pages: public (anyone), private (people
	// GitHub says may read github.repo, signed in with GitHub, and holders
	// of one of the Tokens) or auto: private when GitHub says the repository
	// is, and also when refbot cannot tell at start; public otherwise. With
	// auto the pages follow the repository made private or public while
	// refbot runs: at once from GitHub's repository event, else within 10
	// minutes.
	Access string `yaml:"access"`
	// OAuth signs people in with GitHub, for private pages.
	OAuth PagesOAuth `yaml:"oauth"`
	// Tokens may read private pages (as Authorization: Bearer, or in the
	// sign-in page's form): one a line, each of at least 16 characters;
	// blank lines and lines starting with # are skipped.
	Tokens Secret `yaml:"tokens"`
	// SessionKey seals the sign-in cookies and signs the thumbnail links
	// of replies: at least 32 characters. Unset, refbot makes one in
	// <state_dir>/pages-session.key at its first start; refbot serve
	// replicas must share one. Changing it signs everyone out and breaks
	// the thumbnails of earlier replies.
	SessionKey Secret `yaml:"session_key"`
	// CacheDir holds the difference images and thumbnails refbot computes;
	// default <state_dir>/review-cache. CacheMaxBytes caps it: the least
	// recently used go first.
	CacheDir      string   `yaml:"cache_dir"`
	CacheMaxBytes ByteSize `yaml:"cache_max_bytes"`
	// Thumbnails adds small images of the first changed images (old, new,
	// difference) to UPDATE's and PLAN's replies, served by refbot (with a
	// signed link when the pages are private).
	Thumbnails bool `yaml:"thumbnails"`
}

// PagesOAuth is the OAuth App, or the GitHub App refbot runs as, whose
// client credentials sign people in. Its callback URL is
// <server.public_url>/login/callback. Signing in with a GitHub App needs
// no scope; with an OAuth App refbot asks for the repo scope, without
// which GitHub hides a private repository from the user's token.
type PagesOAuth struct {
	ClientID     string `yaml:"client_id"`     // the client ID on the App's settings page
	ClientSecret Secret `yaml:"client_secret"` // a client secret generated on that page
	// WebURL is GitHub's web address, where people sign in; derived from
	// github.api_url: https://github.com for api.github.com, the server
	// of a GitHub Enterprise Server's …/api/v3/.
	WebURL string `yaml:"web_url"`
}

// Values of pages.access.
const (
	PagesAuto    = "auto"
	PagesPublic  = "public"
	PagesPrivate = "private"
)

// The pages section's defaults.
const (
	DefaultPagesAccess        = PagesAuto
	DefaultPagesCacheMaxBytes = 1 * GiB
	DefaultPagesThumbnails    = true
	defaultPagesCacheDirName  = "review-cache"
	defaultPagesKeyName       = "pages-session.key"
	// minPagesTokenLen is the shortest token pages.tokens may hold: a
	// token is a password anyone may try.
	minPagesTokenLen = 16
	minPagesCache    = 1 * MiB
)

// PagesKeyFile is where refbot keeps the pages' session key when
// pages.session_key is unset.
func (c *Config) PagesKeyFile() string {
	return filepath.Join(c.StateDir, defaultPagesKeyName)
}

// ReadTokens reads pages.tokens: one token a line. None when unset.
func (p Pages) ReadTokens() ([]string, error) {
	if !p.Tokens.IsSet() {
		return nil, nil
	}
	v, err := p.Tokens.Resolve()
	if err != nil {
		return nil, fmt.Errorf("pages.tokens: %w", err)
	}
	var tokens []string
	for i, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < minPagesTokenLen {
			return nil, fmt.Errorf("pages.tokens (%s): the token on line %d is shorter than %d characters", p.Tokens, i+1, minPagesTokenLen)
		}
		tokens = append(tokens, line)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("pages.tokens (%s) holds no token", p.Tokens)
	}
	return tokens, nil
}

// githubWebURL derives GitHub's web address from the REST API's: "" when
// it cannot tell.
func githubWebURL(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return ""
	}
	if strings.EqualFold(u.Host, "api.github.com") {
		return "https://github.com"
	}
	if base, ok := strings.CutSuffix(strings.TrimRight(u.Path, "/"), "/api/v3"); ok {
		return u.Scheme + "://" + u.Host + base
	}
	return ""
}

func (c *Config) applyPagesDefaults() {
	p := &c.Pages
	if p.CacheDir == "" && c.StateDir != "" {
		p.CacheDir = filepath.Join(c.StateDir, defaultPagesCacheDirName)
	}
	if p.OAuth.WebURL == "" {
		p.OAuth.WebURL = githubWebURL(c.GitHub.APIURL)
	}
	p.OAuth.WebURL = strings.TrimRight(p.OAuth.WebURL, "/")
}

func (c *Config) checkPages(ck *checker) {
	p := c.Pages
	switch p.Access {
	case PagesAuto, PagesPublic, PagesPrivate:
	default:
		ck.add("pages.access", "%q is not auto, public or private", p.Access)
	}
	o := p.OAuth
	switch {
	case o.ClientID != "" && !o.ClientSecret.IsSet():
		ck.add("pages.oauth.client_secret", "required with pages.oauth.client_id: a client secret of the App, as {file: PATH} or {env: VAR}")
	case o.ClientID == "" && o.ClientSecret.IsSet():
		ck.add("pages.oauth.client_id", "required with pages.oauth.client_secret: the client ID on the App's settings page")
	}
	if o.ClientID != "" {
		if strings.TrimSpace(c.Server.PublicURL) == "" {
			ck.add("server.public_url", "required with pages.oauth: GitHub sends people back to <public_url>/login/callback after they sign in")
		}
		if o.WebURL == "" {
			ck.add("pages.oauth.web_url", "required: GitHub's web address, where people sign in (it cannot be told from github.api_url)")
		}
	}
	if o.WebURL != "" {
		ck.url("pages.oauth.web_url", o.WebURL, secretsGoElsewhere)
	}
	if p.Access == PagesPrivate && o.ClientID == "" && !p.Tokens.IsSet() {
		ck.add("pages.access", "is private, but neither pages.oauth.client_id (sign-in with GitHub) nor pages.tokens is set: nobody could read the pages")
	}
	if p.CacheMaxBytes < minPagesCache {
		ck.add("pages.cache_max_bytes", "must be at least %s, not %s", minPagesCache, p.CacheMaxBytes)
	}
}
