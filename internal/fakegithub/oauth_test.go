package fakegithub

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// noFollow does not follow redirects: the tests read where they go.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize opens the authorize page and returns its status and the
// query of where it sends the browser back.
func authorize(t *testing.T, s *Server, q url.Values) (int, url.Values) {
	t.Helper()
	resp, err := noFollow.Get(s.URL + OAuthAuthorizePath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, loc.Query()
}

// exchange posts to the token endpoint and decodes its JSON answer.
func exchange(t *testing.T, s *Server, form url.Values) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+OAuthAccessTokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, b)
	}
	var out map[string]string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("token endpoint: %s: %v", b, err)
	}
	return out
}

func TestOAuthWebFlow(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	const callback = "http://127.0.0.1:1/login/callback"
	s.AddOAuthClient(OAuthClient{ID: "Ov23client", Secret: "secret", CallbackURL: callback})
	s.AddOAuthClient(OAuthClient{ID: "Iv1.app", Secret: "app-secret", App: true})
	s.SetPrivate(true)
	s.SetPermission("reader", PermRead)
	s.SignInBrowser("reader")

	verifier := "a-verifier-of-the-length-pkce-asks-for-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	ask := url.Values{"client_id": {"Ov23client"}, "redirect_uri": {callback}, "state": {"st"}, "scope": {"repo"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}

	t.Run("authorize checks", func(t *testing.T) {
		if st, _ := authorize(t, s, url.Values{"client_id": {"unknown"}, "redirect_uri": {callback}}); st != http.StatusNotFound {
			t.Errorf("unknown client: %d, want 404", st)
		}
		if st, _ := authorize(t, s, url.Values{"client_id": {"Ov23client"}, "redirect_uri": {"http://evil.example/cb"}}); st != http.StatusBadRequest {
			t.Errorf("foreign redirect_uri: %d, want 400", st)
		}
		q := url.Values{"client_id": {"Ov23client"}, "redirect_uri": {callback}, "code_challenge": {"x"}, "code_challenge_method": {"plain"}}
		if _, back := authorize(t, s, q); back.Get("error") != "invalid_request" || back.Get("code") != "" {
			t.Errorf("plain PKCE: sent back %v, want invalid_request", back)
		}
	})

	t.Run("code for a token", func(t *testing.T) {
		_, back := authorize(t, s, ask)
		if back.Get("state") != "st" || back.Get("code") == "" {
			t.Fatalf("sent back %v, want the state and a code", back)
		}
		code := back.Get("code")
		form := url.Values{"client_id": {"Ov23client"}, "client_secret": {"secret"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}}

		wrong := url.Values{}
		for k, v := range form {
			wrong[k] = v
		}
		wrong.Set("client_secret", "guess")
		if got := exchange(t, s, wrong); got["error"] != "incorrect_client_credentials" || got["access_token"] != "" {
			t.Errorf("wrong secret: %v", got)
		}
		wrong.Set("client_secret", "secret")
		wrong.Set("code_verifier", verifier+"x")
		if got := exchange(t, s, wrong); got["error"] != "bad_verification_code" {
			t.Errorf("wrong PKCE verifier: %v", got)
		}

		got := exchange(t, s, form)
		tok := got["access_token"]
		if !strings.HasPrefix(tok, "gho_") || got["token_type"] != "bearer" || got["scope"] != "repo" {
			t.Fatalf("exchange: %v", got)
		}
		if again := exchange(t, s, form); again["error"] != "bad_verification_code" {
			t.Errorf("a code used twice: %v", again)
		}
		user := client{t: t, s: s, token: tok}
		if r := user.do("GET", "/user", nil); r.status != http.StatusOK || field(r.json(t), "login") != "reader" {
			t.Errorf("GET /user with the token: %d %s", r.status, r.body)
		}
		r := user.do("GET", "/repos/"+s.Repo(), nil)
		if r.status != http.StatusOK || field(r.json(t), "private") != true || field(r.json(t), "permissions.pull") != true {
			t.Errorf("GET the private repository as reader: %d %s", r.status, r.body)
		}
		if g := s.OAuthGrants(); len(g) != 1 || g[0].Login != "reader" || g[0].Token != tok {
			t.Errorf("grants %+v", g)
		}
	})

	t.Run("expired code", func(t *testing.T) {
		_, back := authorize(t, s, ask)
		clk.Add(oauthCodeTTL)
		got := exchange(t, s, url.Values{"client_id": {"Ov23client"}, "client_secret": {"secret"}, "code": {back.Get("code")}, "code_verifier": {verifier}})
		if got["error"] != "bad_verification_code" {
			t.Errorf("code after %v: %v", oauthCodeTTL, got)
		}
	})

	t.Run("private repository hidden", func(t *testing.T) {
		s.AddToken("stranger-token", "stranger")
		s.AddToken("reader-token", "reader")
		if r := (client{t: t, s: s, token: "stranger-token"}).do("GET", "/repos/"+s.Repo(), nil); r.status != http.StatusNotFound {
			t.Errorf("stranger: %d, want 404", r.status)
		}
		s.SetTokenScopes("reader-token", "read:user")
		if r := (client{t: t, s: s, token: "reader-token"}).do("GET", "/repos/"+s.Repo(), nil); r.status != http.StatusNotFound {
			t.Errorf("classic token without repo scope: %d, want 404", r.status)
		}
		// A GitHub App's user token has no scopes.
		s.SetPermission("app-user", PermWrite)
		s.SignInBrowser("app-user")
		_, back := authorize(t, s, url.Values{"client_id": {"Iv1.app"}, "redirect_uri": {callback}, "state": {"x"}})
		tok := exchange(t, s, url.Values{"client_id": {"Iv1.app"}, "client_secret": {"app-secret"}, "code": {back.Get("code")}})["access_token"]
		if r := (client{t: t, s: s, token: tok}).do("GET", "/repos/"+s.Repo(), nil); r.status != http.StatusOK || r.header.Get("X-OAuth-Scopes") != "" {
			t.Errorf("GitHub App user token: %d, scopes %q", r.status, r.header.Get("X-OAuth-Scopes"))
		}
		s.SetPrivate(false)
		if r := (client{t: t, s: s, token: "stranger-token"}).do("GET", "/repos/"+s.Repo(), nil); r.status != http.StatusOK || field(r.json(t), "private") != false {
			t.Errorf("public again: %d", r.status)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		s.SignInBrowser("")
		_, back := authorize(t, s, ask)
		if back.Get("error") != "access_denied" || back.Get("code") != "" || back.Get("state") != "st" {
			t.Errorf("nobody signed in: sent back %v", back)
		}
	})
}
