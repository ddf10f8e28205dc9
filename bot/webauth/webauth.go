// Package webauth decides who may read refbot's pages (docs/design.md,
// "Review pages"): everyone, for a public repository; for a private one,
// only people GitHub says may read the repository, signed in with GitHub's
// OAuth web flow (of an OAuth App, or of the GitHub App refbot runs as),
// holders of a configured token, and, for thumbnails only, links refbot
// signed.
//
// Nothing is stored server-side: a session is a cookie sealed with
// AES-GCM under a key derived from Options.Key. It holds the user's login,
// when it was issued and last checked, and the user's OAuth token, which
// refbot needs to ask GitHub again, every RecheckAfter, whether the user
// may still read the repository. The token never leaves the seal: the
// browser holds only ciphertext it cannot read or change.
package webauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Mode says who may read the pages.
type Mode string

// The modes.
const (
	// Public: everyone, without signing in.
	Public Mode = "public"
	// Private: people GitHub says may read the repository, configured
	// tokens, and signed thumbnail links.
	Private Mode = "private"
)

// Defaults of Options.
const (
	DefaultSessionTTL   = 8 * time.Hour
	DefaultRecheckAfter = 15 * time.Minute
	// MinKeyLen is the shortest Options.Key.
	MinKeyLen = 32
	// loginTTL is how long a sign-in started at /login may take to come
	// back to /login/callback.
	loginTTL = 10 * time.Minute
)

// Options configure an Auth.
type Options struct {
	Mode Mode
	Repo string // owner/name
	// GitHubWeb is GitHub's web address, e.g. https://github.com: the
	// OAuth endpoints are GitHubWeb + /login/oauth/authorize and
	// /login/oauth/access_token.
	GitHubWeb string
	// GitHubAPI is the REST API's base URL, e.g. https://api.github.com/:
	// GET /user and GET /repos/{owner}/{repo} are asked with the user's
	// token.
	GitHubAPI string
	// ClientID and ClientSecret are an OAuth App's, or a GitHub App's
	// client credentials. Empty: no sign-in with GitHub, only tokens.
	ClientID, ClientSecret string
	// Tokens may read the pages (Authorization: Bearer, or the form of
	// /login).
	Tokens []string
	// Key, at least MinKeyLen bytes, seals session cookies and signs
	// thumbnail links; required in private mode. Changing it signs
	// everyone out and breaks links signed before.
	Key []byte
	// PublicURL is how browsers reach refbot: the OAuth redirect_uri is
	// PublicURL + /login/callback, and cookies are Secure when it is
	// https. Required for sign-in with GitHub.
	PublicURL string
	// SessionTTL is how long a session lasts; default DefaultSessionTTL.
	SessionTTL time.Duration
	// RecheckAfter is how old a session's last check with GitHub may be
	// before refbot asks GitHub again; default DefaultRecheckAfter.
	RecheckAfter time.Duration
	HTTPClient   *http.Client
	Logger       *zap.Logger
	Now          func() time.Time
}

// Auth gates refbot's pages. Its methods are safe for concurrent use.
type Auth struct {
	o Options
	// private is the mode now: Options.Mode at first, then SetMode's.
	private atomic.Bool
	owner   string
	name    string
	secure  bool
	seal    *sealer
	tokens  [][sha256.Size]byte // sha256 of each configured token
	recheck singleflight.Group  // one GitHub check at a time per user token
	log     *zap.Logger
}

// New checks the options and returns an Auth.
func New(o Options) (*Auth, error) {
	switch o.Mode {
	case Public, Private:
	default:
		return nil, fmt.Errorf("web access: mode %q is neither %q nor %q", o.Mode, Public, Private)
	}
	owner, name, ok := strings.Cut(o.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("web access: repository %q is not owner/name", o.Repo)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.RecheckAfter <= 0 {
		o.RecheckAfter = DefaultRecheckAfter
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Auth{o: o, owner: owner, name: name, log: o.Logger}
	a.private.Store(o.Mode == Private)
	for _, t := range o.Tokens {
		if t == "" {
			return nil, errors.New("web access: a configured token is empty")
		}
		a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
	}
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("web access: public URL %q is not an http(s) address", o.PublicURL)
		}
		a.secure = u.Scheme == "https"
	}
	if o.Mode == Public && len(o.Key) == 0 {
		// Signed links and sessions are not needed while the repository
		// is public; should it turn private (SetMode), they last until
		// refbot restarts.
		o.Key = make([]byte, 32)
		rand.Read(o.Key)
	}
	s, err := newSealer(o.Key)
	if err != nil {
		return nil, err
	}
	a.seal = s
	if o.Mode == Private && o.ClientID == "" && len(o.Tokens) == 0 {
		// pages.access private is refused so by the configuration's
		// check; here the repository turned out private (auto), and
		// refbot does its other work with pages nobody can read.
		o.Logger.Warn("web access: the repository is private and neither GitHub sign-in (pages.oauth) nor a token (pages.tokens) is configured: nobody can read refbot's pages")
	}
	if o.ClientID != "" {
		switch {
		case o.ClientSecret == "":
			return nil, errors.New("web access: GitHub sign-in needs the client secret with the client id")
		case o.PublicURL == "":
			return nil, errors.New("web access: GitHub sign-in needs the public URL, for the address GitHub sends people back to")
		case o.GitHubWeb == "" || o.GitHubAPI == "":
			return nil, errors.New("web access: GitHub sign-in needs GitHub's web and API addresses")
		}
	}
	return a, nil
}

// ResolveMode turns pages.access (auto, public or private) into a Mode.
// auto asks isPrivate and fails closed: when GitHub cannot tell, the pages
// are private, and the error says why (log it).
func ResolveMode(ctx context.Context, access string, isPrivate func(context.Context) (bool, error)) (Mode, error) {
	switch access {
	case string(Public):
		return Public, nil
	case string(Private):
		return Private, nil
	case "", "auto":
		private, err := isPrivate(ctx)
		if err != nil {
			return Private, fmt.Errorf("tell whether the repository is private (the pages are private until refbot can): %w", err)
		}
		if private {
			return Private, nil
		}
		return Public, nil
	}
	return Private, fmt.Errorf("pages access %q is not auto, public or private", access)
}

// Mode is the mode the Auth gates in now.
func (a *Auth) Mode() Mode {
	if a.private.Load() {
		return Private
	}
	return Public
}

// SetMode changes who may read the pages, for a repository made private
// or public while refbot runs (pages.access auto: GitHub's repository
// event, or a later look). A repository made private without sign-in or
// tokens configured gets pages nobody can read.
func (a *Auth) SetMode(m Mode) {
	private := m != Public
	if a.private.Swap(private) == private {
		return
	}
	a.log.Warn("web access: the repository's visibility changed; the pages follow", zap.String("access", string(a.Mode())))
	if private && a.o.ClientID == "" && len(a.o.Tokens) == 0 {
		a.log.Warn("web access: the repository is private and neither GitHub sign-in (pages.oauth) nor a token (pages.tokens) is configured: nobody can read refbot's pages")
	}
}

type userKey struct{}

// User returns who the request is signed in as: the GitHub login of a
// session begun with GitHub, "" when the pages are public or the request
// came with a token or a signed link.
func User(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

// Wrap gates next. In public mode every request passes. In private mode a
// request passes with a session cookie (of a user GitHub said may read the
// repository, asked again when the last check is older than RecheckAfter),
// a configured token (Authorization: Bearer), or a valid signature on a
// thumbnail path (Sign). Any other request gets nothing of next: a
// browser's GET (Accept: text/html) is redirected to /login?next=<path>,
// anything else gets 401.
//
// Wrap exempts no path: mount the routes that have their own
// authentication (/webhook, /healthz, /readyz, /metrics, /api/v1/) and
// Routes beside it, not under it.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Mode() == Public {
			next.ServeHTTP(w, r)
			return
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			token, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || !a.knownToken(token) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="refbot"`)
				http.Error(w, "the token is not one refbot knows", http.StatusUnauthorized)
				return
			}
			a.serve(w, r, next, "")
			return
		}
		if a.signedLink(r) {
			a.serve(w, r, next, "")
			return
		}
		s, ok := a.readSession(r)
		if !ok {
			a.refuse(w, r)
			return
		}
		now := a.o.Now()
		if s.TokenID != "" {
			// A token session lasts while its token is configured.
			if !a.knownTokenID(s.TokenID) {
				a.clearCookie(w, sessionCookie)
				a.refuse(w, r)
				return
			}
		} else if now.Sub(time.Unix(s.Checked, 0)) >= a.o.RecheckAfter {
			readable, err := a.recheckUser(r.Context(), s)
			switch {
			case err != nil:
				// Fail closed, but keep the session: GitHub may answer
				// in a moment.
				a.log.Warn("web access: recheck with github", zap.String("user", s.Login), zap.Error(err))
				http.Error(w, "refbot could not check with GitHub that you may read "+a.o.Repo+"; try again in a moment", http.StatusServiceUnavailable)
				return
			case !readable:
				a.log.Info("web access: user lost read access", zap.String("user", s.Login))
				a.clearCookie(w, sessionCookie)
				a.cannotRead(w, r, s.Login)
				return
			}
			s.Checked = now.Unix()
			a.setSession(w, s)
		}
		a.serve(w, r, next, s.Login)
	})
}

// serve runs next for an admitted request. Answers from a private
// repository's pages must not sit in a shared cache: every one is
// Cache-Control private (privateCache), and answers vary by cookie.
func (a *Auth) serve(w http.ResponseWriter, r *http.Request, next http.Handler, user string) {
	if user != "" {
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	}
	w.Header().Add("Vary", "Cookie")
	next.ServeHTTP(&privateCache{ResponseWriter: w}, r)
}

// privateCache makes every answer's Cache-Control private when the header
// is written: "public" becomes "private", a header without either gets
// "private" added, and an answer without one is "private, no-cache".
type privateCache struct {
	http.ResponseWriter
	wrote bool
}

func (p *privateCache) WriteHeader(status int) {
	if !p.wrote {
		p.wrote = true
		h := p.Header()
		if cc := h.Get("Cache-Control"); cc == "" {
			h.Set("Cache-Control", "private, no-cache")
		} else {
			h.Set("Cache-Control", privately(cc))
		}
	}
	p.ResponseWriter.WriteHeader(status)
}

// privately is the Cache-Control header cc with its public directive, in
// any case, made private, and private added when cc has neither private
// nor no-store.
func privately(cc string) string {
	directives := strings.Split(cc, ",")
	private := false
	for i, d := range directives {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "public":
			directives[i], private = " private", true
		case "private", "no-store":
			private = true
		}
	}
	out := strings.TrimSpace(strings.Join(directives, ","))
	if !private {
		out = "private, " + out
	}
	return out
}

func (p *privateCache) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

// Flush sends what is written so far, for a page that updates while a job
// runs and asserts http.Flusher.
func (p *privateCache) Flush() {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(p.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer.
func (p *privateCache) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// refuse answers a request that is not admitted: a browser's GET goes to
// /login, anything else gets 401. Nothing of the page is rendered.
func (a *Auth) refuse(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(safeNext(r.URL.RequestURI())), http.StatusFound)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="refbot"`)
	http.Error(w, "sign in to read "+a.o.Repo+"'s pages", http.StatusUnauthorized)
}

// knownToken compares a token with the configured ones in constant time
// (as hashes, so that the length does not tell either).
func (a *Auth) knownToken(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return a.knownHash(sum)
}

func (a *Auth) knownHash(sum [sha256.Size]byte) bool {
	found := 0
	for _, t := range a.tokens {
		found |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return found == 1
}

// tokenID is what a token session holds of its token: a hash under the
// link key, so that the cookie does not carry the token.
func (a *Auth) tokenID(token string) string { return a.seal.mac("token", token) }

func (a *Auth) knownTokenID(id string) bool {
	found := 0
	for _, t := range a.o.Tokens {
		found |= subtle.ConstantTimeCompare([]byte(a.tokenID(t)), []byte(id))
	}
	return found == 1
}

// safeNext returns next when it is a path of this site, else "/": no
// scheme, no host, no "//" or backslash that a browser would read as
// another host, no control characters.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}
