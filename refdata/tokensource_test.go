package refdata

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// rotatingToken plays a GitHub App's installation token: the data repo
// server accepts only the current one, and renew replaces it (the old one
// stops working). It records the password of every request the server saw.
type rotatingToken struct {
	mu      sync.Mutex
	current string
	calls   int      // of the token source
	seen    []string // passwords of the server's requests, in order
}

func (rt *rotatingToken) renew(token string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.current = token
}

func (rt *rotatingToken) source(ctx context.Context) (string, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.calls++
	return rt.current, nil
}

func (rt *rotatingToken) authorize(user, password string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.seen = append(rt.seen, password)
	return user == "x-access-token" && password == rt.current
}

// since returns the passwords seen from the n-th request on, each once, and
// how many calls the source had.
func (rt *rotatingToken) since(n int) (passwords []string, calls int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	got := map[string]bool{}
	for _, p := range rt.seen[n:] {
		if !got[p] {
			got[p] = true
			passwords = append(passwords, p)
		}
	}
	return passwords, rt.calls
}

// counts returns how many requests the server saw and how many calls the
// source had so far.
func (rt *rotatingToken) counts() (requests, calls int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.seen), rt.calls
}

func (f *fixture) openWithSource(t *testing.T, source func(context.Context) (string, error)) *Repo {
	t.Helper()
	r, err := Open(Options{URL: f.gs.URL("data.git"), TokenSource: source, CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTokenSourceRenewed: the token a source gives is asked for again for
// every exchange, so a push after the token was renewed (and the old one
// revoked) authenticates with the new one, and no request ever carries the
// old one again.
func TestTokenSourceRenewed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rt := &rotatingToken{current: "app-token-1"}
	f.gs.Authorize(rt.authorize)
	r := f.openWithSource(t, rt.source)

	for i, content := range []string{"first\n", "second\n"} {
		token := fmt.Sprintf("app-token-%d", i+1)
		rt.renew(token)
		from, callsBefore := rt.counts()
		if _, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"out.txt": content})}}}); err != nil {
			t.Fatalf("push %d: %v", i+1, err)
		}
		passwords, calls := rt.since(from)
		if diff := cmp.Diff([]string{token}, passwords); diff != "" {
			t.Errorf("push %d: passwords sent (-want +got):\n%s", i+1, diff)
		}
		// At least the fetch and the push, each its own call.
		if calls-callsBefore < 2 {
			t.Errorf("push %d: the token source was called %d times, want one per exchange (at least 2)", i+1, calls-callsBefore)
		}
		if got := f.git(t, "show", "PR1:data/out.txt"); got+"\n" != content {
			t.Errorf("push %d: PR1:data/out.txt = %q, want %q", i+1, got, content)
		}
	}
	f.fsck(t)
}

// TestTokenSourceFails: a source that cannot give a token ends the
// operation with an error that names the data repo and wraps the source's
// error; the exchange it was asked for sends nothing, so nothing is pushed.
func TestTokenSourceFails(t *testing.T) {
	errGitHub := errors.New("installation token: GitHub answered 503")
	for _, tc := range []struct {
		name string
		// okCalls is how many calls succeed before the source fails.
		okCalls int
		fail    error // nil: the source gives an empty token
		// sent says whether the server sees requests (the fetch's).
		sent bool
	}{
		{name: "at the fetch", okCalls: 0, fail: errGitHub},
		{name: "at the push", okCalls: 1, fail: errGitHub, sent: true},
		{name: "empty token", okCalls: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			var mu sync.Mutex
			calls := 0
			r := f.openWithSource(t, func(context.Context) (string, error) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				switch {
				case calls <= tc.okCalls:
					return f.gs.Token, nil
				case tc.fail != nil:
					return "", tc.fail
				}
				return "", nil
			})
			before := f.gs.Requests()
			_, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"out.txt": "x\n"})}}})
			if err == nil {
				t.Fatal("update succeeded without a token")
			}
			if !strings.Contains(err.Error(), "data repo "+f.gs.URL("data.git")) {
				t.Errorf("err = %v, want it to name the data repo", err)
			}
			if tc.fail != nil && !errors.Is(err, tc.fail) {
				t.Errorf("err = %v, want it to wrap the source's error", err)
			}
			if sent := f.gs.Requests() > before; sent != tc.sent {
				t.Errorf("requests sent: %v, want %v", sent, tc.sent)
			}
			if out, _ := testenv.GitEnv(f.bare, nil, "for-each-ref", "refs/heads/PR1", "refs/refbot/"); out != "" {
				t.Errorf("something was pushed: %s", out)
			}
		})
	}
}

// TestTokenSourceNeverLeaks: an error from an exchange whose server echoes
// the token it was given (a proxy's message) carries "***" instead, with a
// token that differs in every exchange; and the cache keeps no token.
func TestTokenSourceNeverLeaks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var mu sync.Mutex
	n := 0
	source := func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("issued-token-%d", n), nil
	}
	f.gs.Authorize(func(user, password string) bool { return strings.HasPrefix(password, "issued-token-") })
	issued := regexp.MustCompile(`issued-token-\d`)
	for _, service := range []string{"git-upload-pack", "git-receive-pack"} {
		t.Run(service, func(t *testing.T) {
			f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/"+service) {
					return false
				}
				_, password, _ := r.BasicAuth()
				http.Error(w, "token "+password+" may not do this", http.StatusForbidden)
				return true
			})
			defer f.gs.Intercept(nil)
			r := f.openWithSource(t, source)
			var err error
			if service == "git-upload-pack" {
				// Blobs reads with a POST of its own; the first fetch
				// of Update only asks when the cache lacks commits.
				_, err = r.Blobs(ctx, []plumbing.Hash{plumbing.NewHash(f.git(t, "rev-parse", "master:data/a.txt"))}, 1<<20, 1<<20)
			} else {
				_, err = r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"out.txt": "x\n"})}}})
			}
			if err == nil {
				t.Fatal("the refused exchange succeeded")
			}
			if issued.MatchString(err.Error()) || !strings.Contains(err.Error(), "token *** may not") {
				t.Errorf("err = %v, want the server's message with the token as ***", err)
			}
			assertNoToken(t, r.opts.CacheDir, issued)
		})
	}
}

// assertNoToken fails if a file under dir holds a match of token.
func assertNoToken(t *testing.T, dir string, token *regexp.Regexp) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if token.Match(b) {
			t.Errorf("%s holds a token", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTokenWinsOverTokenSource: with both set, Token is used and the
// source never called.
func TestTokenWinsOverTokenSource(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r, err := Open(Options{URL: f.gs.URL("data.git"), Token: f.gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache"),
		TokenSource: func(context.Context) (string, error) {
			t.Error("the token source was called though Token is set")
			return "", errors.New("not to be called")
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"out.txt": "x\n"})}}}); err != nil {
		t.Fatal(err)
	}
}
