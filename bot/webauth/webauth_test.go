package webauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
)

const (
	clientID     = "Ov23liTestClient"
	clientSecret = "test-client-secret"
	pageMarker   = "THE-PRIVATE-PAGE"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// clock is the Auth's clock, moved by the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// site is refbot's pages behind an Auth, on 127.0.0.1, with the fake
// GitHub it signs people in with.
type site struct {
	t     *testing.T
	gh    *fakegithub.Server
	srv   *httptest.Server
	auth  *Auth
	clock *clock
}

// newSite starts the pages for a private repository: GitHub sign-in, and
// the tokens given. change adjusts the options.
func newSite(t *testing.T, change func(*Options)) *site {
	t.Helper()
	gh := fakegithub.New(t)
	gh.SetPrivate(true)
	s := &site{t: t, gh: gh, clock: &clock{t: time.Now()}}
	var handler http.Handler
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	gh.AddOAuthClient(fakegithub.OAuthClient{ID: clientID, Secret: clientSecret, CallbackURL: s.srv.URL + "/login/callback"})
	o := Options{
		Mode:         Private,
		Repo:         gh.Repo(),
		GitHubWeb:    gh.URL,
		GitHubAPI:    gh.APIURL(),
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Key:          testKey,
		PublicURL:    s.srv.URL,
		Now:          s.clock.Now,
	}
	if change != nil {
		change(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.auth = a
	mux := http.NewServeMux()
	a.Routes(mux)
	mux.Handle("/", a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, pageMarker+" path="+r.URL.Path+" user="+User(r))
	})))
	handler = mux
	return s
}

// browser is an http.Client with a cookie jar that asks for HTML, as a
// browser does. It follows redirects when follow is set, and records
// every answer it sees.
type browser struct {
	*http.Client
	seen []*http.Response
}

type acceptHTML struct{ next http.RoundTripper }

func (a acceptHTML) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Header.Get("Accept") == "" {
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	return a.next.RoundTrip(r)
}

func newBrowser(t *testing.T, follow bool) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{}
	b.Client = &http.Client{Jar: jar, Transport: acceptHTML{http.DefaultTransport}}
	b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		b.seen = append(b.seen, req.Response)
		if !follow {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		return nil
	}
	return b
}

type result struct {
	status int
	header http.Header
	body   string
	url    string
}

func (b *browser) get(t *testing.T, u string, header ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

func (b *browser) do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL.String()}
}

// cookie returns the browser's cookie of the site by name, or nil.
func (b *browser) cookie(s *site, name string) *http.Cookie {
	u, _ := url.Parse(s.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn runs the whole GitHub sign-in as login, from a page's link to the
// page, and returns the browser and the page.
func (s *site) signIn(t *testing.T, login string) (*browser, result) {
	t.Helper()
	s.gh.SignInBrowser(login)
	b := newBrowser(t, true)
	return b, b.get(t, s.srv.URL+"/pr/5?tab=files")
}

func TestPublicModePassesEverything(t *testing.T) {
	a, err := New(Options{Mode: Public, Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, pageMarker) }))
	for _, accept := range []string{"text/html", "application/json"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/pr/1", nil)
		req.Header.Set("Accept", accept)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.String() != pageMarker {
			t.Errorf("Accept %s: %d %q, want the page", accept, rec.Code, rec.Body.String())
		}
	}

	// The repository is made private while refbot runs: the same handler
	// refuses a visitor, takes a link signed since, and passes everyone
	// again once the repository is public.
	a.SetMode(Private)
	get := func(target string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec.Code
	}
	if a.Mode() != Private || get("/pr/1") != http.StatusUnauthorized || get("/thumb/a-b.png") != http.StatusUnauthorized {
		t.Errorf("made private: mode %s, a visitor gets %d and %d, want 401", a.Mode(), get("/pr/1"), get("/thumb/a-b.png"))
	}
	if q := a.Sign("/thumb/a-b.png", time.Now().Add(time.Hour)); q == "" || get("/thumb/a-b.png?"+q) != http.StatusOK {
		t.Errorf("made private: a link signed since (%q) is refused", q)
	}
	a.SetMode(Public)
	if get("/pr/1") != http.StatusOK {
		t.Error("made public again: a visitor is refused")
	}
}

func TestPrivateWithoutSessionIsRefused(t *testing.T) {
	s := newSite(t, nil)
	b := newBrowser(t, false)
	r := b.get(t, s.srv.URL+"/pr/5?tab=files")
	if r.status != http.StatusFound || r.header.Get("Location") != "/login?next="+url.QueryEscape("/pr/5?tab=files") {
		t.Errorf("browser: %d Location %q, want 302 to /login with next", r.status, r.header.Get("Location"))
	}
	for _, accept := range []string{"application/json", "*/*", "image/png"} {
		r = b.get(t, s.srv.URL+"/pr/5", "Accept", accept)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("Accept %s: %d, want 401 with WWW-Authenticate", accept, r.status)
		}
		if strings.Contains(r.body, pageMarker) {
			t.Errorf("Accept %s: the page was served: %q", accept, r.body)
		}
	}
	// A POST from a browser is not redirected: it would lose its body.
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/pr/5", strings.NewReader("x"))
	if r := b.do(t, req); r.status != http.StatusUnauthorized {
		t.Errorf("POST: %d, want 401", r.status)
	}
}

func TestSignInWithReadAccess(t *testing.T) {
	for _, perm := range []string{fakegithub.PermRead, fakegithub.PermWrite, fakegithub.PermAdmin} {
		t.Run(perm, func(t *testing.T) {
			s := newSite(t, nil)
			s.gh.SetPermission("reader", perm)
			b, page := s.signIn(t, "reader")
			if page.status != http.StatusOK || page.body != pageMarker+" path=/pr/5 user=reader" {
				t.Fatalf("after sign-in: %d %q at %s, want the page as reader", page.status, page.body, page.url)
			}
			if !strings.HasSuffix(page.url, "/pr/5?tab=files") {
				t.Errorf("landed on %s, want the page asked for, with its query", page.url)
			}
			// The session cookie: sealed, HttpOnly, SameSite=Lax; the
			// login cookie gone.
			var set []*http.Cookie
			for _, resp := range b.seen {
				set = append(set, resp.Cookies()...)
			}
			var session *http.Cookie
			for _, c := range set {
				if c.Name == sessionCookie && c.MaxAge > 0 {
					session = c
				}
			}
			if session == nil {
				t.Fatalf("no session cookie set; cookies: %v", set)
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
				t.Errorf("session cookie HttpOnly=%v SameSite=%v Secure=%v, want HttpOnly, Lax, not Secure on http", session.HttpOnly, session.SameSite, session.Secure)
			}
			grants := s.gh.OAuthGrants()
			if len(grants) != 1 || grants[0].Token == "" {
				t.Fatalf("grants %+v, want one, exchanged", grants)
			}
			if strings.Contains(session.Value, grants[0].Token) || strings.Contains(session.Value, "reader") {
				t.Error("the session cookie shows the token or the login in clear")
			}
			if grants[0].Scope != "repo" {
				t.Errorf("an OAuth App asked for scope %q, want repo (a private repository is hidden without it)", grants[0].Scope)
			}
			if b.cookie(s, loginCookie) != nil {
				t.Error("the login cookie outlived the sign-in")
			}
			// The user's token was used for /user and the repository.
			var routes []string
			for _, req := range s.gh.Requests() {
				if req.Login == "reader" {
					routes = append(routes, req.Method+" "+req.Route)
				}
			}
			want := []string{"GET /login/oauth/authorize", "POST /login/oauth/access_token", "GET /user", "GET /repos/{owner}/{repo}"}
			if strings.Join(routes, ", ") != strings.Join(want, ", ") {
				t.Errorf("requests as reader:\n got %v\nwant %v", routes, want)
			}
			// The session goes on without asking GitHub again.
			n := s.gh.RequestCount()
			if r := b.get(t, s.srv.URL+"/jobs/3"); r.status != http.StatusOK || !strings.Contains(r.body, "user=reader") {
				t.Errorf("second page: %d %q", r.status, r.body)
			}
			if s.gh.RequestCount() != n {
				t.Error("a page within RecheckAfter asked GitHub again")
			}
		})
	}
}

func TestSignInWithoutReadAccess(t *testing.T) {
	for name, setup := range map[string]func(*fakegithub.Server){
		"no permission":       func(gh *fakegithub.Server) {},
		"permission none":     func(gh *fakegithub.Server) { gh.SetPermission("stranger", fakegithub.PermNone) },
		"repo already public": nil, // a control: the same user may read a public repository
	} {
		t.Run(name, func(t *testing.T) {
			s := newSite(t, nil)
			if setup == nil {
				s.gh.SetPrivate(false)
			} else {
				setup(s.gh)
			}
			b, page := s.signIn(t, "stranger")
			if setup == nil {
				if page.status != http.StatusOK || !strings.Contains(page.body, "user=stranger") {
					t.Fatalf("public repository: %d %q, want the page", page.status, page.body)
				}
				return
			}
			if page.status != http.StatusForbidden || !strings.Contains(page.body, "cannot read") || strings.Contains(page.body, pageMarker) {
				t.Fatalf("%d %q, want 403 'cannot read'", page.status, page.body)
			}
			if !strings.Contains(page.body, "<b>stranger</b>") || !strings.Contains(page.body, s.gh.Repo()) {
				t.Errorf("the refusal does not name the user and the repository: %q", page.body)
			}
			if b.cookie(s, sessionCookie) != nil {
				t.Error("a session was set for a user who may not read the repository")
			}
			nb := newBrowser(t, false)
			nb.Jar = b.Jar
			if r := nb.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusFound {
				t.Errorf("next page: %d, want 302 to /login", r.status)
			}
		})
	}
}

func TestSignInCancelledAtGitHub(t *testing.T) {
	s := newSite(t, nil)
	b, page := s.signIn(t, "")
	if page.status != http.StatusForbidden || strings.Contains(page.body, pageMarker) {
		t.Fatalf("%d %q, want 403 without the page", page.status, page.body)
	}
	if b.cookie(s, sessionCookie) != nil {
		t.Error("a session was set for a cancelled sign-in")
	}
}

func TestStateMismatchIsRefused(t *testing.T) {
	s := newSite(t, nil)
	s.gh.SetPermission("reader", fakegithub.PermRead)
	s.gh.SignInBrowser("reader")

	// start begins a sign-in in b and returns GitHub's answer: the
	// callback URL with a good code and the state.
	start := func(b *browser) *url.URL {
		t.Helper()
		r := b.get(t, s.srv.URL+"/login?next=/pr/5")
		authorize := r.header.Get("Location")
		if r.status != http.StatusFound || !strings.HasPrefix(authorize, s.gh.URL+"/login/oauth/authorize?") {
			t.Fatalf("GET /login: %d to %q, want GitHub's authorize page", r.status, authorize)
		}
		au, _ := url.Parse(authorize)
		if au.Query().Get("code_challenge") == "" || au.Query().Get("code_challenge_method") != "S256" || au.Query().Get("state") == "" {
			t.Errorf("authorize URL without state or PKCE: %s", authorize)
		}
		r = b.get(t, authorize)
		cb, err := url.Parse(r.header.Get("Location"))
		if err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("GitHub sent back %q", r.header.Get("Location"))
		}
		return cb
	}

	cases := map[string]func(cb *url.URL) (*browser, *url.URL){
		"state changed": func(cb *url.URL) (*browser, *url.URL) {
			q := cb.Query()
			q.Set("state", q.Get("state")+"x")
			cb.RawQuery = q.Encode()
			return nil, cb
		},
		"no state": func(cb *url.URL) (*browser, *url.URL) {
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return nil, cb
		},
		// An attacker's own code and state, in a victim's browser that
		// began no sign-in (login CSRF).
		"another browser's": func(cb *url.URL) (*browser, *url.URL) {
			return newBrowser(t, false), cb
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBrowser(t, false)
			cb := start(b)
			other, cb := tamper(cb)
			if other != nil {
				b = other
			}
			r := b.get(t, cb.String())
			if r.status != http.StatusBadRequest || strings.Contains(r.body, pageMarker) {
				t.Errorf("callback: %d %q, want 400", r.status, r.body)
			}
			if b.cookie(s, sessionCookie) != nil {
				t.Error("a session was set")
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		b := newBrowser(t, false)
		cb := start(b)
		s.clock.Add(loginTTL + time.Second)
		if r := b.get(t, cb.String()); r.status != http.StatusBadRequest {
			t.Errorf("callback after %v: %d, want 400", loginTTL, r.status)
		}
	})
	t.Run("control", func(t *testing.T) {
		b := newBrowser(t, false)
		cb := start(b)
		r := b.get(t, cb.String())
		if r.status != http.StatusFound || r.header.Get("Location") != "/pr/5" || b.cookie(s, sessionCookie) == nil {
			t.Errorf("untampered callback: %d to %q, want a session and /pr/5", r.status, r.header.Get("Location"))
		}
	})
}

func TestForgedSessionCookieIsRefused(t *testing.T) {
	s := newSite(t, nil)
	s.gh.SetPermission("reader", fakegithub.PermRead)
	b, _ := s.signIn(t, "reader")
	good := b.cookie(s, sessionCookie)
	if good == nil {
		t.Fatal("no session")
	}
	other, err := newSealer([]byte("another key, also thirty-two bytes long"))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := other.sealJSON(sessionCookie, session{Login: "reader", Token: "x", Issued: s.clock.Now().Unix(), Checked: s.clock.Now().Unix()})
	loginValue, _ := s.auth.seal.sealJSON(loginCookie, session{Login: "reader", Token: "x", Issued: s.clock.Now().Unix(), Checked: s.clock.Now().Unix()})
	flipped := []byte(good.Value)
	flipped[len(flipped)/2] ^= 1
	if flipped[len(flipped)/2] == '_'^1 || flipped[len(flipped)/2] == '-'^1 {
		flipped[len(flipped)/2] = 'A'
	}
	cases := map[string]string{
		"flipped byte":                 string(flipped),
		"sealed with another key":      forged,
		"another cookie's sealed text": loginValue,
		"truncated":                    good.Value[:len(good.Value)-4],
		"garbage":                      "not-a-cookie",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			nb := newBrowser(t, false)
			req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/pr/5", nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
			if r := nb.do(t, req); r.status != http.StatusFound || strings.Contains(r.body, pageMarker) {
				t.Errorf("%d %q, want 302 to /login", r.status, r.body)
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		nb := newBrowser(t, false)
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/pr/5", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: good.Value})
		if r := nb.do(t, req); r.status != http.StatusOK {
			t.Errorf("the real cookie: %d, want 200", r.status)
		}
	})
}

func TestExpiredSessionSignsInAgain(t *testing.T) {
	s := newSite(t, func(o *Options) { o.SessionTTL = time.Hour; o.RecheckAfter = 2 * time.Hour })
	s.gh.SetPermission("reader", fakegithub.PermRead)
	b, _ := s.signIn(t, "reader")
	nb := newBrowser(t, false)
	nb.Jar = b.Jar
	s.clock.Add(time.Hour - time.Second)
	if r := nb.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusOK {
		t.Fatalf("just before expiry: %d, want 200", r.status)
	}
	s.clock.Add(time.Second)
	r := nb.get(t, s.srv.URL+"/pr/5")
	if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), "/login?") {
		t.Fatalf("expired: %d to %q, want 302 to /login", r.status, r.header.Get("Location"))
	}
	// Following it signs in again, GitHub remembering the user.
	if r := b.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusOK || !strings.Contains(r.body, "user=reader") {
		t.Errorf("signed in again: %d %q", r.status, r.body)
	}
}

func TestLostAccessIsRefusedAfterRecheck(t *testing.T) {
	s := newSite(t, func(o *Options) { o.RecheckAfter = 15 * time.Minute })
	s.gh.SetPermission("reader", fakegithub.PermRead)
	b, _ := s.signIn(t, "reader")
	nb := newBrowser(t, false)
	nb.Jar = b.Jar
	repoChecks := func() int {
		n := 0
		for _, r := range s.gh.Requests() {
			if r.Route == "/repos/{owner}/{repo}" {
				n++
			}
		}
		return n
	}

	// Still allowed: a recheck refreshes the session.
	s.clock.Add(15 * time.Minute)
	if r := nb.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusOK {
		t.Fatalf("recheck with access: %d", r.status)
	}
	if n := repoChecks(); n != 2 {
		t.Errorf("%d repository checks, want 2 (sign-in, recheck)", n)
	}
	s.clock.Add(10 * time.Minute)
	if r := nb.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusOK || repoChecks() != 2 {
		t.Errorf("within RecheckAfter of the recheck: %d, %d checks; want 200 and no new check", r.status, repoChecks())
	}

	// GitHub fails: refused for now, the session kept.
	s.clock.Add(5 * time.Minute)
	s.gh.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: http.StatusBadGateway, Route: "/repos/{owner}/{repo}"})
	if r := nb.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusServiceUnavailable || strings.Contains(r.body, pageMarker) {
		t.Errorf("GitHub failing: %d %q, want 503 without the page", r.status, r.body)
	}
	if nb.cookie(s, sessionCookie) == nil {
		t.Error("a failed recheck ended the session")
	}

	s.gh.SetPermission("reader", fakegithub.PermNone)
	r := nb.get(t, s.srv.URL+"/pr/5")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "cannot read") || strings.Contains(r.body, pageMarker) {
		t.Fatalf("after losing access: %d %q, want 403", r.status, r.body)
	}
	if nb.cookie(s, sessionCookie) != nil {
		t.Error("the session outlived the lost access")
	}
}

func TestTokens(t *testing.T) {
	const token = "pages-token-0123456789abcdef"
	s := newSite(t, func(o *Options) { o.Tokens = []string{"another-token-0123456789", token} })
	b := newBrowser(t, false)

	for name, c := range map[string]struct {
		auth string
		want int
	}{
		"bearer":          {"Bearer " + token, http.StatusOK},
		"wrong token":     {"Bearer " + token + "x", http.StatusUnauthorized},
		"prefix of token": {"Bearer " + token[:10], http.StatusUnauthorized},
		"other scheme":    {"token " + token, http.StatusUnauthorized},
		"empty bearer":    {"Bearer ", http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			r := b.get(t, s.srv.URL+"/pr/5", "Authorization", c.auth, "Accept", "application/json")
			if r.status != c.want || (c.want == http.StatusOK) != strings.Contains(r.body, pageMarker) {
				t.Errorf("%d %q, want %d", r.status, r.body, c.want)
			}
			if c.want == http.StatusOK && !strings.HasSuffix(r.body, "user=") {
				t.Errorf("User(r) for a token = %q, want empty", r.body)
			}
		})
	}

	// The sign-in page offers both ways.
	r := b.get(t, s.srv.URL+"/login?next=/pr/5")
	if r.status != http.StatusOK || !strings.Contains(r.body, `action="/login/token"`) || !strings.Contains(r.body, `href="/login?via=github&amp;next=%2fpr%2f5"`) {
		t.Errorf("sign-in page: %d\n%s", r.status, r.body)
	}

	post := func(b *browser, origin, tok string) result {
		form := url.Values{"token": {tok}, "next": {"/pr/5"}}
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/login/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return b.do(t, req)
	}
	t.Run("form", func(t *testing.T) {
		b := newBrowser(t, false)
		r := post(b, s.srv.URL, token)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/pr/5" {
			t.Fatalf("form: %d to %q", r.status, r.header.Get("Location"))
		}
		if r := b.get(t, s.srv.URL+"/pr/5"); r.status != http.StatusOK || !strings.HasSuffix(r.body, "user=") {
			t.Errorf("after the form: %d %q", r.status, r.body)
		}
		if c := b.cookie(s, sessionCookie); c == nil || strings.Contains(c.Value, token) {
			t.Error("no session, or the token in clear in it")
		}
		// The same cookie, with the token no longer configured.
		other, err := New(Options{Mode: Private, Repo: s.gh.Repo(), Tokens: []string{"a-new-token-0123456789"}, Key: testKey, Now: s.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		h := other.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, pageMarker) }))
		req := httptest.NewRequest(http.MethodGet, "/pr/5", nil)
		req.AddCookie(b.cookie(s, sessionCookie))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("token removed from the configuration: %d, want 401", rec.Code)
		}
	})
	t.Run("form wrong token", func(t *testing.T) {
		b := newBrowser(t, false)
		r := post(b, s.srv.URL, "guess")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `id="bad-token"`) || b.cookie(s, sessionCookie) != nil {
			t.Errorf("wrong token: %d, session %v", r.status, b.cookie(s, sessionCookie))
		}
	})
	t.Run("form from another site", func(t *testing.T) {
		b := newBrowser(t, false)
		if r := post(b, "https://evil.example", token); r.status != http.StatusForbidden || b.cookie(s, sessionCookie) != nil {
			t.Errorf("cross-site form: %d, want 403 and no session", r.status)
		}
	})
}

func TestSignedLinks(t *testing.T) {
	s := newSite(t, nil)
	b := newBrowser(t, false)
	now := s.clock.Now()
	thumb := "/pr/5/thumb/20260101-abc/plots/a b.png"
	q := s.auth.Sign(thumb, now.Add(time.Hour))
	if q == "" {
		t.Fatal("no signature for a thumbnail")
	}
	link := func(p, query string) string {
		return s.srv.URL + (&url.URL{Path: p}).EscapedPath() + "?" + query
	}
	if r := b.get(t, link(thumb, q), "Accept", "image/*"); r.status != http.StatusOK || !strings.Contains(r.body, "path="+thumb) {
		t.Fatalf("signed thumbnail: %d %q, want it", r.status, r.body)
	}
	if q := s.auth.Sign("/thumb/0123-4567.png", now.Add(time.Hour)); b.get(t, link("/thumb/0123-4567.png", q)).status != http.StatusOK {
		t.Error("signed thumbnail of pushed data refused")
	}

	// The query is signed too: a PLAN's thumbnail names its old side there.
	old := strings.Repeat("1", 40)
	withOld := s.auth.Sign(thumb+"?old="+old, now.Add(time.Hour))
	if r := b.get(t, link(thumb, "old="+old+"&"+withOld), "Accept", "image/*"); r.status != http.StatusOK {
		t.Errorf("signed thumbnail with its old side: %d", r.status)
	}
	for name, query := range map[string]string{
		"another old side":  "old=" + strings.Repeat("2", 40) + "&" + withOld,
		"old side dropped":  withOld,
		"a parameter added": "old=" + old + "&x=1&" + withOld,
	} {
		if r := b.get(t, link(thumb, query), "Accept", "image/*"); r.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, r.status)
		}
	}
	if got := s.auth.Sign(thumb+"?sig=x", now.Add(time.Hour)); got != "" {
		t.Errorf("a target naming sig was signed: %q", got)
	}

	for _, p := range []string{"/pr/5", "/pr/5/new/b/a.png", "/thumb/../pr/5", "/pr/5/thumb/../../jobs/1", "/jobs/1/thumb/x"} {
		if got := s.auth.Sign(p, now.Add(time.Hour)); got != "" {
			t.Errorf("Sign(%q) = %q, want none: not a thumbnail", p, got)
		}
	}
	for name, u := range map[string]string{
		"another thumbnail": link("/pr/5/thumb/20260101-abc/plots/b.png", q),
		"another PR":        link("/pr/6/thumb/20260101-abc/plots/a b.png", q),
		"a page":            link("/pr/5", q),
		"changed expiry":    link(thumb, strings.Replace(q, "exp=", "exp=1", 1)),
		"changed signature": link(thumb, q[:len(q)-2]+"AA"),
		"no signature":      link(thumb, strings.Split(q, "&")[0]),
	} {
		if r := b.get(t, u, "Accept", "image/*"); r.status != http.StatusUnauthorized || strings.Contains(r.body, pageMarker) {
			t.Errorf("%s: %d %q, want 401", name, r.status, r.body)
		}
	}
	s.clock.Add(time.Hour)
	if r := b.get(t, link(thumb, q), "Accept", "image/*"); r.status != http.StatusUnauthorized {
		t.Errorf("expired link: %d, want 401", r.status)
	}
}

func TestNextStaysOnTheSite(t *testing.T) {
	cases := map[string]string{
		"/pr/5?tab=files#x":             "/pr/5?tab=files#x",
		"/":                             "/",
		"":                              "/",
		"//evil.example/":               "/",
		"///evil.example/":              "/",
		"https://evil.example/":         "/",
		"http:/evil.example":            "/",
		"javascript:alert(1)":           "/",
		`/\evil.example`:                "/",
		`\\evil.example`:                "/",
		"/%2F%2Fevil.example":           "/",
		"/%5Cevil.example":              "/%5Cevil.example", // a path of this site, with an escaped backslash
		"/\tevil":                       "/",
		"/pr/5\r\nSet-Cookie: x=y":      "/",
		"pr/5":                          "/",
		"/" + strings.Repeat("a", 3000): "/",
	}
	for next, want := range cases {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
	// Through the routes: public mode sends /login straight to next.
	a, err := New(Options{Mode: Public, Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	for _, next := range []string{"//evil.example", "https://evil.example", `/\evil.example`} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login?next="+url.QueryEscape(next), nil))
		if loc := rec.Header().Get("Location"); loc != "/" {
			t.Errorf("/login?next=%s redirects to %q, want /", next, loc)
		}
	}
	// And the sign-in's own next, kept in the sealed login cookie.
	s := newSite(t, nil)
	s.gh.SetPermission("reader", fakegithub.PermRead)
	s.gh.SignInBrowser("reader")
	b := newBrowser(t, true)
	r := b.get(t, s.srv.URL+"/login?next="+url.QueryEscape("//evil.example/x"))
	if r.status != http.StatusOK || r.url != s.srv.URL+"/" {
		t.Errorf("sign-in with next //evil.example/x landed on %s (%d), want %s/", r.url, r.status, s.srv.URL)
	}
}

func TestSharedCachesKeepNoPrivatePage(t *testing.T) {
	s := newSite(t, func(o *Options) { o.Tokens = []string{"pages-token-0123456789abcdef"} })
	for set, want := range map[string]string{
		"public, max-age=31536000, immutable":  "private, max-age=31536000, immutable",
		"max-age=60, PUBLIC":                   "max-age=60, private",
		"private, max-age=31536000, immutable": "private, max-age=31536000, immutable",
		"":                                     "private, no-cache", // a page
		"no-cache":                             "private, no-cache",
		"no-store":                             "no-store",
	} {
		h := s.auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if set != "" {
				w.Header().Set("Cache-Control", set)
			}
			w.Write([]byte("png"))
		}))
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/pr/5/diff/b/a.png", nil)
		req.Header.Set("Authorization", "Bearer pages-token-0123456789abcdef")
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Cache-Control"); got != want {
			t.Errorf("Cache-Control %q became %q, want %q", set, got, want)
		}
		if got := rec.Header().Get("Vary"); got != "Cookie" {
			t.Errorf("Vary %q, want Cookie", got)
		}
	}
}

func TestNewRefusesUnusableOptions(t *testing.T) {
	base := Options{Mode: Private, Repo: "o/r", ClientID: "Iv1.x", ClientSecret: "s", Key: testKey,
		PublicURL: "https://refbot.example", GitHubWeb: "https://github.com", GitHubAPI: "https://api.github.com/"}
	cases := map[string]struct {
		change func(*Options)
		want   string
	}{
		"short key":      {func(o *Options) { o.Key = testKey[:31] }, "at least 32"},
		"no key":         {func(o *Options) { o.Key = nil }, "at least 32"},
		"no secret":      {func(o *Options) { o.ClientSecret = "" }, "client secret"},
		"no public URL":  {func(o *Options) { o.PublicURL = "" }, "public URL"},
		"bad public URL": {func(o *Options) { o.PublicURL = "refbot.example" }, "not an http(s) address"},
		"bad repo":       {func(o *Options) { o.Repo = "o" }, "owner/name"},
		"bad mode":       {func(o *Options) { o.Mode = "auto" }, "neither"},
		"empty token":    {func(o *Options) { o.Tokens = []string{""} }, "empty"},
	}
	for name, c := range cases {
		o := base
		c.change(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	// A repository found private (pages.access auto) with no way to sign
	// in: refbot runs, and its pages refuse everyone.
	locked := base
	locked.ClientID = ""
	la, err := New(locked)
	if err != nil {
		t.Fatalf("private without sign-in: %v", err)
	}
	rec := httptest.NewRecorder()
	la.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(pageMarker)) })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pr/1", nil))
	if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), pageMarker) {
		t.Errorf("private without sign-in: %d %q", rec.Code, rec.Body.String())
	}
	a, err := New(base)
	if err != nil {
		t.Fatalf("good options: %v", err)
	}
	if !a.secure || a.cookieName(sessionCookie) != "__Host-refbot_session" {
		t.Errorf("https public URL: secure=%v name %q, want __Host- cookies", a.secure, a.cookieName(sessionCookie))
	}
	if a.oauthConfig().Scopes != nil {
		t.Errorf("a GitHub App's sign-in asks for scopes %v, want none", a.oauthConfig().Scopes)
	}
}

func TestResolveMode(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	cases := []struct {
		access  string
		private bool
		err     error
		want    Mode
		wantErr bool
	}{
		{"public", true, nil, Public, false},
		{"private", false, nil, Private, false},
		{"auto", true, nil, Private, false},
		{"auto", false, nil, Public, false},
		{"", false, nil, Public, false},
		{"auto", false, boom, Private, true},
		{"open", false, nil, Private, true},
	}
	for _, c := range cases {
		got, err := ResolveMode(ctx, c.access, func(context.Context) (bool, error) { return c.private, c.err })
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("ResolveMode(%q, private=%v, err=%v) = %q, %v; want %q, error %v", c.access, c.private, c.err, got, err, c.want, c.wantErr)
		}
	}
}

func TestKeyFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pages.key")
	k1, err := KeyFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := KeyFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) < MinKeyLen || string(k1) != string(k2) {
		t.Errorf("keys %q then %q, want one key of %d+ bytes", k1, k2, MinKeyLen)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("short\n"), 0o600)
	if _, err := KeyFromFile(short); err == nil {
		t.Error("a short key was accepted")
	}
}
