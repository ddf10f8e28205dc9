package testenv

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// GitServer serves bare repositories under a temporary root over git's smart
// HTTP protocol through the real git http-backend, behind token auth in the
// form GitHub uses: Basic x-access-token:<token>.
type GitServer struct {
	Root string // folder holding the bare repositories
	// Token is the only credential accepted, unless Authorize replaced the
	// check.
	Token string

	srv      *http.Server
	url      string
	requests atomic.Int64

	mu        sync.Mutex
	before    func(r *http.Request)                             // test hook, run before a request is served
	intercept func(w http.ResponseWriter, r *http.Request) bool // test hook: true if it answered
	authorize func(user, password string) bool                  // nil: x-access-token with Token
}

// NewGitServer starts a git smart-HTTP server on 127.0.0.1 for this test and
// stops it when the test ends.
func NewGitServer(t testing.TB) *GitServer {
	t.Helper()
	g, err := StartGitServer(t.TempDir())
	if err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(g.Close)
	return g
}

// StartGitServer starts a git smart-HTTP server on 127.0.0.1 serving the
// repositories under root. Close stops it.
func StartGitServer(root string) (*GitServer, error) {
	backend, err := gitHTTPBackend()
	if err != nil {
		return nil, fmt.Errorf("git http-backend: %w", err)
	}
	g := &GitServer{Root: root, Token: "canary-" + hexString(12)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g.url = "http://" + ln.Addr().String()
	cgiHandler := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + g.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=x-access-token",
			// Keep the user's and the machine's git config out of the server.
			"HOME=" + g.Root,
			"GIT_CONFIG_NOSYSTEM=1",
		},
	}
	g.srv = &http.Server{Handler: g.handler(cgiHandler)}
	go g.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed at Close
	return g, nil
}

// Close stops the server.
func (g *GitServer) Close() { g.srv.Close() }

// URL returns the clone URL of the repository name (without credentials).
func (g *GitServer) URL(name string) string { return g.url + "/" + name }

// Requests counts the HTTP requests served so far.
func (g *GitServer) Requests() int64 { return g.requests.Load() }

// BeforeRequest sets a hook run before each request is served; tests use it to
// land a concurrent push at an exact moment. nil removes it.
func (g *GitServer) BeforeRequest(f func(r *http.Request)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.before = f
}

// Intercept sets a hook that may answer a request itself (returning true)
// instead of git, to play a proxy or server that refuses. nil removes it.
func (g *GitServer) Intercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.intercept = f
}

// Authorize replaces the check of each request's credentials: f gets the
// user and password of its Basic auth ("" and "" when it has none) and says
// whether to serve it; refused, it is answered 401 as GitHub does. A test
// uses it to accept exactly the tokens the fake GitHub issued for a
// repository, or tokens it rotates. nil restores the default: user
// x-access-token with Token.
func (g *GitServer) Authorize(f func(user, password string) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.authorize = f
}

// CreateRepo makes an empty bare repository name that accepts pushes and
// partial-clone filters, and returns its path.
func (g *GitServer) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	dir, err := g.NewRepo(name)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// NewRepo is CreateRepo outside a test.
func (g *GitServer) NewRepo(name string) (string, error) {
	dir := filepath.Join(g.Root, name)
	if _, err := GitEnv("", nil, "init", "--quiet", "--bare", "--initial-branch=master", dir); err != nil {
		return "", err
	}
	for _, kv := range [][2]string{
		{"http.receivepack", "true"},
		{"uploadpack.allowFilter", "true"},
	} {
		if _, err := GitEnv(dir, nil, "config", kv[0], kv[1]); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// SeedRepo makes repository name, like NewRepo, with one commit on master
// holding files (path → content), and returns its path.
func (g *GitServer) SeedRepo(name string, files map[string]string) (string, error) {
	bare, err := g.NewRepo(name)
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(g.Root, "seed-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := WriteFiles(work, files); err != nil {
		return "", err
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=master"}, {"add", "-A"},
		{"commit", "--quiet", "-m", "seed"}, {"push", "--quiet", bare, "master"},
	} {
		if _, err := GitEnv(work, nil, args...); err != nil {
			return "", err
		}
	}
	return bare, nil
}

// CreateSeededRepo is SeedRepo in a test.
func (g *GitServer) CreateSeededRepo(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	bare, err := g.SeedRepo(name, files)
	if err != nil {
		t.Fatal(err)
	}
	return bare
}

// AuthEnv returns environment variables that make the git CLI authenticate to
// this server with Token, without the token in argv or in a URL. (With
// Authorize set, Token is accepted only if its function says so.)
func (g *GitServer) AuthEnv() []string {
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + g.Token))
	return []string{
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic " + basic,
		"GIT_TERMINAL_PROMPT=0",
	}
}

func (g *GitServer) handler(backend http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.requests.Add(1)
		if !g.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="refbot-test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		before, intercept := g.before, g.intercept
		g.mu.Unlock()
		if before != nil {
			before(r)
		}
		if intercept != nil && intercept(w, r) {
			return
		}
		// Go's CGI host refuses chunked request bodies, which git uses for
		// large pushes: spool the body to a file and pass it on with its length.
		if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
			spool, err := os.CreateTemp(g.Root, "spool-*")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer os.Remove(spool.Name())
			defer spool.Close()
			n, err := io.Copy(spool, r.Body)
			if err != nil {
				http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
				return
			}
			if _, err := spool.Seek(0, io.SeekStart); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			r.Body = spool
			r.ContentLength = n
			r.TransferEncoding = nil
			r.Header.Set("Content-Length", fmt.Sprint(n))
		}
		backend.ServeHTTP(w, r)
	})
}

func (g *GitServer) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	g.mu.Lock()
	authorize := g.authorize
	g.mu.Unlock()
	if authorize != nil {
		return authorize(user, pass)
	}
	return ok && user == "x-access-token" &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(g.Token)) == 1
}

func gitHTTPBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// Git runs the git CLI in dir with a clean, deterministic environment plus
// extraEnv, failing the test on error, and returns its trimmed stdout.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := GitEnv(dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// GitEnv is Git without a test: it returns the error with git's stderr.
func GitEnv(dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test Author", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Author", "GIT_COMMITTER_EMAIL=author@example.com",
	), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
