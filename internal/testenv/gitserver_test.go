package testenv

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// TestGitServerAuthorize: by default the server takes x-access-token with
// its Token only; Authorize replaces that check with a plain function,
// which sees each request's user and password and whose verdict is final
// (a token it stops accepting is refused from then on); nil restores the
// default. git itself clones through the replaced check.
func TestGitServerAuthorize(t *testing.T) {
	g := NewGitServer(t)
	g.CreateSeededRepo(t, "data.git", map[string]string{"a.txt": "a\n"})

	var mu sync.Mutex
	valid := map[string]bool{}
	var users []string
	accept := func(user, password string) bool {
		mu.Lock()
		defer mu.Unlock()
		users = append(users, user)
		return user == "x-access-token" && valid[password]
	}
	setValid := func(tokens ...string) {
		mu.Lock()
		defer mu.Unlock()
		clear(valid)
		for _, tok := range tokens {
			valid[tok] = true
		}
	}

	type try struct {
		user, password string
		want           int
	}
	steps := []struct {
		name  string
		setup func()
		tries []try
	}{
		{"default", func() {}, []try{
			{"x-access-token", g.Token, http.StatusOK},
			{"x-access-token", "wrong", http.StatusUnauthorized},
			{"someone", g.Token, http.StatusUnauthorized},
			{"", "", http.StatusUnauthorized},
		}},
		{"authorize", func() { g.Authorize(accept); setValid("issued-1") }, []try{
			{"x-access-token", "issued-1", http.StatusOK},
			{"x-access-token", g.Token, http.StatusUnauthorized},
			{"someone", "issued-1", http.StatusUnauthorized},
			{"", "", http.StatusUnauthorized},
		}},
		{"renewed", func() { setValid("issued-2") }, []try{
			{"x-access-token", "issued-2", http.StatusOK},
			{"x-access-token", "issued-1", http.StatusUnauthorized},
		}},
		{"nil restores the default", func() { g.Authorize(nil) }, []try{
			{"x-access-token", g.Token, http.StatusOK},
			{"x-access-token", "issued-2", http.StatusUnauthorized},
		}},
	}
	for _, step := range steps {
		step.setup()
		for _, tr := range step.tries {
			if got := infoRefs(t, g, tr.user, tr.password); got != tr.want {
				t.Errorf("%s: %q:%q: HTTP %d, want %d", step.name, tr.user, tr.password, got, tr.want)
			}
		}
	}
	mu.Lock()
	// The function saw every request while it was set, and only those.
	if want := []string{"x-access-token", "x-access-token", "someone", "", "x-access-token", "x-access-token"}; !slices.Equal(users, want) {
		t.Errorf("Authorize's function saw users %q, want %q", users, want)
	}
	mu.Unlock()

	// git clones with a token only the function accepts.
	g.Authorize(accept)
	setValid("issued-3")
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:issued-3"))
	env := []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic " + basic, "GIT_TERMINAL_PROMPT=0"}
	dir := t.TempDir()
	if _, err := GitEnv(dir, env, "clone", "--quiet", g.URL("data.git"), "."); err != nil {
		t.Fatalf("clone with an accepted token: %v", err)
	}
	if _, err := GitEnv(t.TempDir(), g.AuthEnv(), "ls-remote", g.URL("data.git")); err == nil {
		t.Error("git was served with Token, which the function does not accept")
	}
}

// infoRefs asks for the data repo's refs as git's first request does and
// returns the status.
func infoRefs(t *testing.T, g *GitServer, user, password string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.URL("data.git")+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
