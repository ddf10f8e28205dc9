package refdata

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/refbot/refbot/internal/faultproxy"
	"github.com/refbot/refbot/internal/stall"
	"github.com/refbot/refbot/internal/testenv"
)

// proxied returns the fixture's repository URL through a fault proxy.
func (f *fixture) proxied(t *testing.T) (*faultproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(f.gs.URL("data.git"))
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.New(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// openStall opens the data repo at url with a short stall limit and a
// response-header timeout far beyond it, so that only the stall limit can
// end a wait.
func (f *fixture) openStall(t *testing.T, url string, limit time.Duration) *Repo {
	t.Helper()
	r, err := Open(Options{URL: url, Token: f.gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache"),
		Timeouts: Timeouts{Stall: limit, ResponseHeader: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantStall checks err is a stall, of op if op is not "".
func wantStall(t *testing.T, err error, op string) {
	t.Helper()
	var se *stall.Error
	if !errors.As(err, &se) || op != "" && se.Op != op {
		t.Errorf("err = %v, want a %s stall", err, op)
	}
}

// TestBlackholedDataRepo: with the git server blackholed (it takes the
// request and never answers), listing refs, fetching, reading blobs and
// pushing each fail with the stall, under a caller's context that has no
// deadline, and nothing is pushed.
func TestBlackholedDataRepo(t *testing.T) {
	f := newFixture(t)
	p, url := f.proxied(t)
	testenv.NoLeaks(t)
	p.Blackhole()
	tests := []struct {
		name string
		op   func(ctx context.Context, r *Repo) error
	}{
		{"list refs", func(ctx context.Context, r *Repo) error { _, err := r.RemoteTips(ctx); return err }},
		{"fetch", func(ctx context.Context, r *Repo) error { _, err := r.Branch(ctx, "master"); return err }},
		{"read blobs", func(ctx context.Context, r *Repo) error {
			_, err := r.Blobs(ctx, []plumbing.Hash{plumbing.NewHash(strings.Repeat("1", 40))}, 1<<20, 1<<20)
			return err
		}},
		{"push", func(ctx context.Context, r *Repo) error {
			_, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "x\n"})}}})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantStall(t, tc.op(context.Background(), f.openStall(t, url, 300*time.Millisecond)), "read")
		})
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
		t.Errorf("PR1 was created at %s", out)
	}
}

// TestPushToServerThatStopsReading: a server that takes the start of a
// pack and then stops reading leaves the push blocked in write once the
// socket buffers fill; the push fails with the stall (nothing moves
// either way, so the transport's wait for the answer may notice first).
func TestPushToServerThatStopsReading(t *testing.T) {
	f := newFixture(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			io.CopyN(io.Discard, r.Body, 4096)
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return true
		}
		return false
	})
	big := make([]byte, 32<<20) // random: the pack is as large
	rand.Read(big)
	dir := dataDir(t, map[string]string{"small.txt": "x\n"})
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.openStall(t, f.gs.URL("data.git"), 300*time.Millisecond)
	_, err := r.Update(context.Background(), UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir}}})
	wantStall(t, err, "")
}

// TestSlowDataRepoIsNotCut: a fetch and a push whose answers trickle,
// taking several stall limits in all but never pausing for one, succeed.
// (The requests are not slowed: a request that fits in the socket buffers
// leaves the client nothing to see move until the answer comes.)
func TestSlowDataRepoIsNotCut(t *testing.T) {
	const limit = 300 * time.Millisecond
	f := newFixture(t)
	p, url := f.proxied(t)
	p.Trickle(64, limit/6, faultproxy.ToClient)
	r := f.openStall(t, url, limit)
	start := time.Now()
	ctx := context.Background()
	if _, err := r.Branch(ctx, "master"); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if _, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a2\n"})}}}); err != nil {
		t.Fatalf("push: %v", err)
	}
	// Not a bound on speed: a check that the transfers were longer than
	// the limit, so that a total timeout of that length would have cut
	// them.
	if took := time.Since(start); took < 2*limit {
		t.Errorf("the trickled fetch and push took %s, less than the %s this test needs", took, 2*limit)
	}
	if got := f.git(t, "rev-parse", "--verify", "--quiet", "PR1"); got == "" {
		t.Error("PR1 not pushed")
	}
}
