package fakegithub

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// GitHub's OAuth web flow (signing a person in for an OAuth App or a GitHub
// App: docs.github.com, "Authorizing OAuth apps", "Generating a user access
// token for a GitHub App"). Its two endpoints are on GitHub's web host,
// outside the REST API and its OpenAPI description, so they are served
// here without that check; the calls then made with the user's token
// (GET /user, GET /repos/{owner}/{repo}) are REST calls and are checked as
// every other.

// The OAuth endpoints' paths, on the fake's root (GitHub's web host).
const (
	OAuthAuthorizePath   = "/login/oauth/authorize"
	OAuthAccessTokenPath = "/login/oauth/access_token"
)

// oauthCodeTTL is how long an authorization code may be exchanged; GitHub:
// ten minutes.
const oauthCodeTTL = 10 * time.Minute

// OAuthClient is an OAuth App, or a GitHub App's client credentials, that
// may sign users in.
type OAuthClient struct {
	ID     string
	Secret string
	// CallbackURL is the registered callback: a redirect_uri must start
	// with it (GitHub's rule: same host and port, path below it); "" takes
	// any.
	CallbackURL string
	// App marks a GitHub App's client credentials: its user tokens have
	// no OAuth scopes (the App's permissions and the user's apply), and
	// the scope parameter is ignored. An OAuth App's tokens have the
	// scopes asked for.
	App bool
}

// OAuthGrant is one authorization a user gave through the web flow.
type OAuthGrant struct {
	ClientID string
	Login    string
	Scope    string // the scopes asked for, space-separated, as sent
	Token    string // "" until the code is exchanged
}

type oauthCode struct {
	client      string
	redirectURI string
	login       string
	scope       string
	challenge   string // PKCE S256 challenge; "" when the request sent none
	expires     time.Time
	used        bool
	grant       int // index in oauthState.grants
}

// oauthState is the fake's web-flow state; Server.mu guards it.
type oauthState struct {
	clients map[string]OAuthClient
	// browserLogin is who is signed in at GitHub in "the browser" that
	// opens the authorize page; "" makes the authorize page answer as a
	// user who clicked Cancel would.
	browserLogin string
	codes        map[string]*oauthCode
	grants       []OAuthGrant
}

func (s *Server) oauth() *oauthState {
	o := s.st.oauth
	if o == nil {
		o = &oauthState{clients: map[string]OAuthClient{}, codes: map[string]*oauthCode{}}
		s.st.oauth = o
	}
	return o
}

// AddOAuthClient registers client credentials that may sign users in.
func (s *Server) AddOAuthClient(c OAuthClient) {
	if c.ID == "" || c.Secret == "" {
		panic("fakegithub: an OAuth client needs an id and a secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth().clients[c.ID] = c
}

// SignInBrowser says who is signed in at GitHub when the authorize page is
// next opened: that user authorizes the client at once. "" is a user who
// clicks Cancel: the flow comes back with error=access_denied.
func (s *Server) SignInBrowser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if login != "" {
		s.st.user(login)
	}
	s.oauth().browserLogin = login
}

// OAuthGrants returns the authorizations given through the web flow,
// oldest first.
func (s *Server) OAuthGrants() []OAuthGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]OAuthGrant(nil), s.oauth().grants...)
}

// SetPrivate makes the fake's repository private or public. repos/get then
// says so, and for a private repository answers 404 to a user without read
// permission (SetPermission; the owner has all) and to a classic token
// without the repo scope, as GitHub does. Other operations do not change.
func (s *Server) SetPrivate(private bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.private = private
}

// hidesPrivateRepo reports whether repos/get answers 404 to idn because
// the repository is private and idn may not read it; the caller holds
// s.mu.
func (s *Server) hidesPrivateRepo(idn identity) bool {
	if !s.st.private || idn.install != 0 {
		return false
	}
	if idn.scopes != nil && !containsFold(idn.scopes, "repo") {
		return true
	}
	if strings.EqualFold(idn.login, s.owner) {
		return false
	}
	switch s.st.perms[idn.login] {
	case PermRead, PermTriage, PermWrite, PermMaintain, PermAdmin:
		return false
	}
	return true
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// serveOAuth serves the web flow's two endpoints.
func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: r.URL.Path}
	var status int
	switch {
	case r.URL.Path == OAuthAuthorizePath && r.Method == http.MethodGet:
		status = s.oauthAuthorize(w, r, &rec)
	case r.URL.Path == OAuthAccessTokenPath && r.Method == http.MethodPost:
		status = s.oauthAccessToken(w, r, &rec)
	default:
		status = http.StatusNotFound
		http.NotFound(w, r)
	}
	rec.Status = status
	// The query of the token request holds no secret (the form does), but
	// the authorize query is recorded as sent: it names the state and the
	// PKCE challenge, not a credential.
	s.record(rec)
}

// oauthAuthorize answers GET /login/oauth/authorize: it checks the client
// and the redirect_uri as GitHub does, and sends the browser back with a
// code (or with error=access_denied when nobody is signed in).
func (s *Server) oauthAuthorize(w http.ResponseWriter, r *http.Request, rec *Request) int {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauth()
	client, ok := o.clients[q.Get("client_id")]
	if !ok {
		return oauthPage(w, http.StatusNotFound, "The client_id is not one of a registered OAuth or GitHub App.")
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = client.CallbackURL
	}
	target, err := url.Parse(redirect)
	if err != nil || target.Scheme == "" || target.Host == "" ||
		(client.CallbackURL != "" && !strings.HasPrefix(redirect, client.CallbackURL)) {
		return oauthPage(w, http.StatusBadRequest, "The redirect_uri MUST match the registered callback URL for this application.")
	}
	back := target.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	method := q.Get("code_challenge_method")
	if q.Get("code_challenge") != "" && method != "S256" {
		// GitHub supports S256 only.
		back.Set("error", "invalid_request")
		back.Set("error_description", "code_challenge_method must be S256")
	} else if o.browserLogin == "" {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user has denied your application access.")
		back.Set("error_uri", "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied")
	} else {
		rec.Login = o.browserLogin
		code := randomHex(10)
		o.grants = append(o.grants, OAuthGrant{ClientID: client.ID, Login: o.browserLogin, Scope: q.Get("scope")})
		o.codes[code] = &oauthCode{
			client: client.ID, redirectURI: q.Get("redirect_uri"), login: o.browserLogin, scope: q.Get("scope"),
			challenge: q.Get("code_challenge"),
			expires:   s.now().Add(oauthCodeTTL), grant: len(o.grants) - 1,
		}
		back.Set("code", code)
	}
	target.RawQuery = back.Encode()
	w.Header().Set("Location", target.String())
	w.WriteHeader(http.StatusFound)
	return http.StatusFound
}

// oauthAccessToken answers POST /login/oauth/access_token: the code
// exchanged for a user token. As GitHub, it answers 200 with an error
// field when the exchange fails, JSON when asked for (Accept:
// application/json) and a form otherwise.
func (s *Server) oauthAccessToken(w http.ResponseWriter, r *http.Request, rec *Request) int {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return http.StatusBadRequest
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauth()
	client, ok := o.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(client.Secret), []byte(secret)) != 1 {
		return tokenAnswer(w, r, url.Values{"error": {"incorrect_client_credentials"},
			"error_description": {"The client_id and/or client_secret passed are incorrect."}})
	}
	bad := url.Values{"error": {"bad_verification_code"}, "error_description": {"The code passed is incorrect or expired."}}
	c, ok := o.codes[r.PostForm.Get("code")]
	switch {
	case !ok || c.used || c.client != id || !s.now().Before(c.expires):
		return tokenAnswer(w, r, bad)
	case c.redirectURI != "" && r.PostForm.Get("redirect_uri") != "" && r.PostForm.Get("redirect_uri") != c.redirectURI:
		return tokenAnswer(w, r, url.Values{"error": {"redirect_uri_mismatch"},
			"error_description": {"The redirect_uri MUST match the registered callback URL for this application."}})
	case c.challenge != "" && !pkceMatches(c.challenge, r.PostForm.Get("code_verifier")):
		return tokenAnswer(w, r, bad)
	}
	c.used = true
	token := "gho_" + randomAlnum(36)
	idn := identity{login: c.login}
	if !client.App {
		idn.scopes = strings.Fields(strings.ReplaceAll(c.scope, ",", " "))
	}
	s.st.tokens[token] = idn
	o.grants[c.grant].Token = token
	rec.Login = c.login
	return tokenAnswer(w, r, url.Values{"access_token": {token}, "token_type": {"bearer"}, "scope": {c.scope}})
}

// pkceMatches checks a PKCE verifier against its S256 challenge.
func pkceMatches(challenge, verifier string) bool {
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return verifier != "" && subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// tokenAnswer writes the token endpoint's answer in the form asked for.
func tokenAnswer(w http.ResponseWriter, r *http.Request, v url.Values) int {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		body := map[string]any{}
		for k := range v {
			body[k] = v.Get(k)
		}
		writeJSON(w, http.StatusOK, nil, body)
		return http.StatusOK
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, v.Encode())
	return http.StatusOK
}

// oauthPage is the error page GitHub shows in the browser.
func oauthPage(w http.ResponseWriter, status int, message string) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>GitHub</title><p>%s</p>\n", html.EscapeString(message))
	return status
}
