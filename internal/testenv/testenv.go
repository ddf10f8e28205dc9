// Package testenv starts the real outside systems refbot's tests run against:
// a MinIO server, a git smart-HTTP server (git http-backend) and a
// PostgreSQL server, all on 127.0.0.1, started at most once per test binary
// and stopped by Run.
//
// A test package uses it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
//
// and asks for the servers it needs with MinIO(t), NewGitServer(t) or
// PostgreSQL(t). A missing MinIO binary fails the test with the command to
// run; a machine without PostgreSQL skips the tests that need it, saying
// why, except in CI, where it fails them.
package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// Run runs the package's tests and then stops every server this package
// started for them. Use it as os.Exit(testenv.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
	return code
}

func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory (go test runs each package in its own folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// NoLeaks fails t when goroutines started from now on are still running
// as t ends (goleak; it waits a moment for them to finish), before the
// cleanups registered earlier (servers, proxies) run: a call bounded in
// time leaves nothing behind once it has returned. Call it once the
// test's fixtures are up.
//
// Connections kept open for reuse are not leaks: the goroutines of an
// HTTP client's pooled connection, of a test server's side of it and of
// a fault proxy's copies of it are left out. A call that is stuck, or
// left work running, shows in the goroutines its own code started.
func NoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, before,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
			goleak.IgnoreAnyFunction("github.com/refbot/refbot/internal/faultproxy.(*Proxy).handle"),
			goleak.IgnoreAnyFunction("github.com/refbot/refbot/internal/faultproxy.(*conn).pipe"))
	})
}
