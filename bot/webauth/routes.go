package webauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// Routes adds the sign-in routes to mux, outside Wrap:
//
//   - GET /login: the sign-in page (GitHub, a token, or both), or straight
//     to GitHub when that is the only way in; ?via=github starts the
//     GitHub sign-in, with a state and a PKCE verifier bound to a
//     short-lived cookie.
//   - GET /login/callback: GitHub's answer. The code is exchanged for the
//     user's token, GET /user names the user and GET /repos/{owner}/{repo}
//     with that token says whether the user may read the repository: a
//     session when it does (permissions.pull), a "you cannot read" page and
//     no session when it does not.
//   - POST /login/token: a session for a configured token.
//   - POST /logout: the session cookie cleared.
func (a *Auth) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /login/callback", a.callback)
	mux.HandleFunc("POST /login/token", a.loginToken)
	mux.HandleFunc("POST /logout", a.logout)
}

func (a *Auth) oauthConfig() *oauth2.Config {
	web := strings.TrimRight(a.o.GitHubWeb, "/")
	c := &oauth2.Config{
		ClientID:     a.o.ClientID,
		ClientSecret: a.o.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   web + "/login/oauth/authorize",
			TokenURL:  web + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: strings.TrimRight(a.o.PublicURL, "/") + "/login/callback",
	}
	// A GitHub App's user token reaches what both the App and the user may
	// (its client ids start with "Iv"); it has no scopes. An OAuth App's
	// token sees a private repository only with the repo scope.
	if !strings.HasPrefix(a.o.ClientID, "Iv") {
		c.Scopes = []string{"repo"}
	}
	return c
}

// login serves GET /login.
func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if a.Mode() == Public {
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	if a.o.ClientID != "" && (len(a.o.Tokens) == 0 || r.URL.Query().Get("via") == "github") {
		a.startGitHub(w, r, next)
		return
	}
	a.page(w, http.StatusOK, pageData{Title: "Sign in", Kind: "login", Next: next})
}

// startGitHub sends the browser to GitHub's authorize page.
func (a *Auth) startGitHub(w http.ResponseWriter, r *http.Request, next string) {
	raw := make([]byte, 32)
	rand.Read(raw)
	p := pendingLogin{
		State:    base64.RawURLEncoding.EncodeToString(raw),
		Verifier: oauth2.GenerateVerifier(),
		Next:     next,
		Expires:  a.o.Now().Add(loginTTL).Unix(),
	}
	if err := a.setCookie(w, loginCookie, p, loginTTL); err != nil {
		panic("webauth: seal a login: " + err.Error())
	}
	http.Redirect(w, r, a.oauthConfig().AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// callback serves GET /login/callback.
func (a *Auth) callback(w http.ResponseWriter, r *http.Request) {
	if a.Mode() == Public || a.o.ClientID == "" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	var p pendingLogin
	ok := a.readCookie(r, loginCookie, &p)
	a.clearCookie(w, loginCookie) // one use
	// The state proves that this browser started this sign-in: without
	// it, anyone could sign a visitor in as themselves (login CSRF).
	if !ok || !a.o.Now().Before(time.Unix(p.Expires, 0)) || q.Get("state") == "" ||
		subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		a.log.Info("web access: sign-in refused: state missing, expired or wrong")
		a.page(w, http.StatusBadRequest, pageData{Title: "Sign-in not verified", Kind: "badstate", Next: safeNext(p.Next)})
		return
	}
	if e := q.Get("error"); e != "" {
		a.log.Info("web access: github sign-in not given", zap.String("error", e))
		a.page(w, http.StatusForbidden, pageData{Title: "Sign-in cancelled", Kind: "cancelled", Next: p.Next})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	tok, err := a.oauthConfig().Exchange(context.WithValue(ctx, oauth2.HTTPClient, a.o.HTTPClient),
		q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			a.log.Warn("web access: github refused the sign-in code", zap.String("error", re.ErrorCode))
		} else {
			a.log.Warn("web access: exchange the sign-in code", zap.Error(err))
		}
		a.page(w, http.StatusBadGateway, pageData{Title: "Sign-in failed", Kind: "failed", Next: p.Next})
		return
	}
	login, err := a.githubLogin(ctx, tok.AccessToken)
	if err != nil {
		a.log.Warn("web access: read the signed-in user", zap.Error(err))
		a.page(w, http.StatusBadGateway, pageData{Title: "Sign-in failed", Kind: "failed", Next: p.Next})
		return
	}
	readable, err := a.canRead(ctx, tok.AccessToken)
	if err != nil {
		a.log.Warn("web access: check read access", zap.String("user", login), zap.Error(err))
		a.page(w, http.StatusBadGateway, pageData{Title: "Sign-in failed", Kind: "failed", Next: p.Next})
		return
	}
	if !readable {
		a.log.Info("web access: user may not read the repository", zap.String("user", login))
		a.clearCookie(w, sessionCookie)
		a.cannotRead(w, r, login)
		return
	}
	now := a.o.Now().Unix()
	a.setSession(w, session{Login: login, Token: tok.AccessToken, Issued: now, Checked: now})
	a.log.Info("web access: signed in", zap.String("user", login))
	http.Redirect(w, r, safeNext(p.Next), http.StatusFound)
}

// loginToken serves POST /login/token.
func (a *Auth) loginToken(w http.ResponseWriter, r *http.Request) {
	if a.Mode() == Public || len(a.o.Tokens) == 0 {
		http.NotFound(w, r)
		return
	}
	// A form posted from another site could sign a visitor in (login
	// CSRF); browsers send Origin with every POST.
	if !a.sameOrigin(r) {
		http.Error(w, "this form must be posted from refbot's own sign-in page", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" || !a.knownToken(token) {
		a.log.Info("web access: unknown token at the sign-in form")
		a.page(w, http.StatusUnauthorized, pageData{Title: "Sign in", Kind: "login", Next: next, BadToken: true})
		return
	}
	now := a.o.Now().Unix()
	a.setSession(w, session{TokenID: a.tokenID(token), Issued: now, Checked: now})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// sameOrigin reports whether a POST came from refbot's own pages: its
// Origin (or, lacking one, Referer) is the public URL's origin or the
// request's own host.
func (a *Auth) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" {
			return r.Header.Get("Referer") == "" // a client that sends neither is not a browser
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if a.o.PublicURL != "" {
		pub, _ := url.Parse(a.o.PublicURL)
		return strings.EqualFold(u.Scheme, pub.Scheme) && strings.EqualFold(u.Host, pub.Host)
	}
	return strings.EqualFold(u.Host, r.Host)
}

// logout serves POST /logout.
func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	a.clearCookie(w, sessionCookie)
	if a.Mode() == Public {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.page(w, http.StatusOK, pageData{Title: "Signed out", Kind: "signedout", Next: "/"})
}

// cannotRead answers a signed-in user GitHub says may not read the
// repository.
func (a *Auth) cannotRead(w http.ResponseWriter, r *http.Request, login string) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="refbot"`)
		http.Error(w, login+" cannot read "+a.o.Repo, http.StatusUnauthorized)
		return
	}
	a.page(w, http.StatusForbidden, pageData{Title: "No access", Kind: "cannotread", Login: login})
}

// recheckUser asks GitHub again whether a session's user may read the
// repository; concurrent requests of one session share one question.
func (a *Auth) recheckUser(ctx context.Context, s session) (bool, error) {
	sum := sha256.Sum256([]byte(s.Token))
	v, err, _ := a.recheck.Do(hex.EncodeToString(sum[:]), func() (any, error) {
		// Not the request's context: a visitor who goes away must not
		// fail the check for the others waiting on it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return a.canRead(ctx, s.Token)
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// errGitHub is an answer from GitHub that says nothing about access: a
// rate limit, a server error.
var errGitHub = errors.New("unexpected answer from github")

// githubLogin reads the login of a user token (GET /user).
func (a *Auth) githubLogin(ctx context.Context, token string) (string, error) {
	var u struct {
		Login string `json:"login"`
	}
	status, err := a.getJSON(ctx, token, "user", &u)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || u.Login == "" {
		return "", fmt.Errorf("get /user: %w: status %d", errGitHub, status)
	}
	return u.Login, nil
}

// canRead asks GitHub, with the user's token, whether the user may read
// the repository (GET /repos/{owner}/{repo}): true on 200 with
// permissions.pull; false on 404 (GitHub hides a private repository from
// who may not read it), on a 403 that is not a rate limit, and on 401 (the
// token was revoked); an error otherwise.
func (a *Auth) canRead(ctx context.Context, token string) (bool, error) {
	var repo struct {
		Permissions *struct {
			Pull bool `json:"pull"`
		} `json:"permissions"`
	}
	p := "repos/" + url.PathEscape(a.owner) + "/" + url.PathEscape(a.name)
	status, err := a.getJSON(ctx, token, p, &repo)
	switch {
	case errors.Is(err, errRateLimited):
		return false, err
	case status == http.StatusNotFound || status == http.StatusForbidden || status == http.StatusUnauthorized:
		return false, nil
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return repo.Permissions != nil && repo.Permissions.Pull, nil
	}
	return false, fmt.Errorf("get %s: %w: status %d", p, errGitHub, status)
}

var errRateLimited = errors.New("github rate limit")

// getJSON GETs an API path with a user token and decodes a 200 answer
// into v. It returns the status; errors are transport failures, rate
// limits and undecodable answers.
func (a *Auth) getJSON(ctx context.Context, token, p string, v any) (int, error) {
	u := strings.TrimRight(a.o.GitHubAPI, "/") + "/" + p
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", p, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.o.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", p, err)
	}
	defer resp.Body.Close()
	if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) &&
		(resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "") {
		return resp.StatusCode, fmt.Errorf("get %s: %w", p, errRateLimited)
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("get %s: decode: %w", p, err)
	}
	return resp.StatusCode, nil
}

// pageData is what the sign-in pages show.
type pageData struct {
	Title    string
	Kind     string // login, badstate, cancelled, failed, cannotread, signedout
	Repo     string
	Next     string
	Login    string
	GitHub   bool // sign-in with GitHub is offered
	Tokens   bool // the token form is offered
	BadToken bool
}

func (a *Auth) page(w http.ResponseWriter, status int, d pageData) {
	d.Repo = a.o.Repo
	d.GitHub = a.o.ClientID != ""
	d.Tokens = len(a.o.Tokens) > 0
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, d); err != nil {
		a.log.Warn("web access: render the sign-in page", zap.Error(err))
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · refbot · {{.Repo}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
.button,button{display:inline-block;padding:.5rem 1rem;border:1px solid #888;border-radius:4px;background:#f6f8fa;color:#000;text-decoration:none;font:inherit;cursor:pointer}
input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}.error{color:#b00}</style></head>
<body><h1>{{.Title}}</h1>
{{- if eq .Kind "login"}}
<p>The pages of <b>{{.Repo}}</b> are private: sign in to read them.</p>
{{- if .GitHub}}
<p><a class="button" id="github" href="/login?via=github&amp;next={{.Next}}">Sign in with GitHub</a></p>
{{- end}}
{{- if .Tokens}}
<form method="post" action="/login/token">
<input type="hidden" name="next" value="{{.Next}}">
<label for="token">Or give an access token:</label>
<input type="password" id="token" name="token" autocomplete="off" required>
{{- if .BadToken}}<p class="error" id="bad-token">That token is not one refbot knows.</p>{{end}}
<button type="submit">Sign in with the token</button>
</form>
{{- end}}
{{- else if eq .Kind "badstate"}}
<p>This sign-in could not be verified: it may have taken too long, or begun in another window. <a href="/login?next={{.Next}}">Sign in again</a>.</p>
{{- else if eq .Kind "cancelled"}}
<p>GitHub did not sign you in. <a href="/login?next={{.Next}}">Try again</a>.</p>
{{- else if eq .Kind "failed"}}
<p>GitHub could not be asked who you are just now. <a href="/login?next={{.Next}}">Try again</a> in a moment.</p>
{{- else if eq .Kind "cannotread"}}
<p id="cannot-read">GitHub says that <b>{{.Login}}</b> cannot read <b>{{.Repo}}</b>, so refbot does not show its pages.</p>
{{- else if eq .Kind "signedout"}}
<p>You are signed out. <a href="/login?next=/">Sign in</a> again.</p>
{{- end}}
</body></html>
`))
