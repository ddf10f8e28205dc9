package refdata

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/refbot/refbot/internal/faultproxy"
	"github.com/refbot/refbot/internal/testenv"
)

// backend is git http-backend over the fixture's repositories, run
// directly: a test hook hands it a request body of its choosing (the part
// of a pack a cut connection delivered) with its length.
func (f *fixture) backend(t *testing.T) http.Handler {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	return &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"), Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + f.gs.Root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=x-access-token",
			"HOME=" + f.gs.Root, "GIT_CONFIG_NOSYSTEM=1"}}
}

// serveBody has backend answer r with body as its whole request body, into
// a recorder (the client may be gone), and returns the answer.
func serveBody(backend http.Handler, r *http.Request, body []byte) *httptest.ResponseRecorder {
	r = r.Clone(context.WithoutCancel(r.Context()))
	r.Body, r.ContentLength, r.TransferEncoding = io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
	r.Header.Set("Content-Length", fmt.Sprint(len(body)))
	rec := httptest.NewRecorder()
	backend.ServeHTTP(rec, r)
	return rec
}

// isReceivePack says whether r sends a pack (a push's POST).
func isReceivePack(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
}

// refsOnServer lists every ref of the server's repository, name → hash.
func (f *fixture) refsOnServer(t *testing.T) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for _, line := range strings.Split(f.git(t, "for-each-ref", "--format=%(refname) %(objectname)"), "\n") {
		if name, hash, ok := strings.Cut(line, " "); ok {
			refs[name] = hash
		}
	}
	return refs
}

// leftovers lists what an interrupted transfer may leave under dir (a git
// repository): temporary packs and objects, receive-pack's quarantine.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		n := d.Name()
		if strings.HasPrefix(n, "tmp") || strings.HasPrefix(n, "incoming-") || strings.HasPrefix(n, "packfile") {
			rel, _ := filepath.Rel(dir, p)
			found = append(found, rel)
		}
		return nil
	})
	sort.Strings(found)
	return found
}

// bigData is a folder with a small file and size random bytes (which
// neither compress nor delta): its push sends a pack about that large.
func bigData(t *testing.T, size int) (dir string, content []byte) {
	t.Helper()
	content = make([]byte, size)
	rand.Read(content)
	dir = dataDir(t, map[string]string{"a.txt": "a3\n"})
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, content
}

// TestPushCutMidway: the connection of a push is reset after part of its
// pack went out (a fault proxy in front of the git server), and the server
// passes what it got, a truncated pack, to git receive-pack. git refuses
// it; the data branch and the backup refs are as before (the update is
// atomic: never a half ref), the repository is sound and holds no
// quarantined or temporary objects, and the push fails naming the data
// repo. Meanwhile someone else pushes to the branch; the retry takes its
// lease against the branch as it now is, succeeds, and keeps that other
// commit as a backup ref: it is never lost.
func TestPushCutMidway(t *testing.T) {
	for _, cut := range []int64{64 << 10, 1 << 20} {
		t.Run(fmt.Sprintf("after %d KiB", cut>>10), func(t *testing.T) {
			f := newFixture(t)
			p, url := f.proxied(t)
			testenv.NoLeaks(t)
			r, err := Open(Options{URL: url, Token: f.gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache"), KeepBackups: 5})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			first, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a2\n"})}}})
			if err != nil {
				t.Fatal(err)
			}
			before := f.refsOnServer(t)

			backend := f.backend(t)
			var mu sync.Mutex
			var got int
			var answer string
			f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if !isReceivePack(r) {
					return false
				}
				body, _ := io.ReadAll(r.Body) // ends at the reset
				rec := serveBody(backend, r, body)
				mu.Lock()
				got, answer = len(body), rec.Body.String()
				mu.Unlock()
				return true
			})
			// Counted from here: the requests before the pack are a few KiB.
			p.ResetAfter(cut, faultproxy.ToServer)
			dir, content := bigData(t, 2<<20)
			_, err = r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir}}})
			if err == nil {
				t.Fatal("the push went through a reset connection")
			}
			t.Logf("push cut after %d KiB: %v", cut>>10, err)
			if !strings.Contains(err.Error(), "push to data repo") {
				t.Errorf("err = %v, want it to say the push to the data repo failed", err)
			}
			// The server passes what it got to git once the client is gone.
			waitServerDone(t, func() bool { mu.Lock(); defer mu.Unlock(); return answer != "" })
			mu.Lock()
			t.Logf("git got %d bytes of the pack and answered %q", got, answer)
			if got == 0 || got >= len(content) || !strings.Contains(answer, "unpack") || strings.Contains(answer, "unpack ok") {
				t.Errorf("git got %d bytes and answered %q: want a truncated pack refused", got, answer)
			}
			mu.Unlock()
			if after := f.refsOnServer(t); !maps.Equal(before, after) {
				t.Errorf("refs changed by a cut push:\nbefore %v\nafter  %v", before, after)
			}
			f.fsck(t)
			if l := leftovers(t, f.bare); len(l) > 0 {
				t.Errorf("the server's repository holds leftovers: %v", l)
			}

			other := f.commitOnServer(t, "PR1", map[string]string{"data/a.txt": "someone else\n"})
			f.gs.Intercept(nil)
			p.Pass()
			res, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir}}})
			if err != nil {
				t.Fatalf("the retry: %v", err)
			}
			if res.Previous.String() != other {
				t.Errorf("the retry replaced %s, want the other pusher's %s (its lease)", res.Previous, other)
			}
			// Compared by blob id: the content is random bytes, which the
			// git helper's trimmed output would cut at either end.
			if got := f.git(t, "rev-parse", "PR1:data/big.bin"); got != plumbing.ComputeHash(plumbing.BlobObject, content).String() {
				t.Error("PR1 lacks the data after the retry")
			}
			if n := f.git(t, "rev-list", "--count", "master..PR1"); n != "1" {
				t.Errorf("PR1 is master + %s commits, want 1", n)
			}
			backups := map[string]bool{}
			for name, hash := range f.refsOnServer(t) {
				if strings.HasPrefix(name, "refs/refbot/backup/PR1/") {
					backups[hash] = true
				}
			}
			if !backups[other] {
				t.Errorf("backups of PR1 %v lack the other pusher's %s", backups, other)
			}
			// refbot's first commit is the other's parent: kept with it.
			if parent := f.git(t, "rev-parse", other+"^"); parent != first.Commit.String() {
				t.Errorf("the other pusher's commit has parent %s, want refbot's first %s", parent, first.Commit)
			}
			f.fsck(t)
		})
	}
}

// TestPushAnswerLost: the server applies a push, then the connection is
// reset before its report reaches refbot. The branch is fully updated
// (with its backup ref: one atomic update) though the push failed; the
// retry finds its own commit there and pushes nothing more.
func TestPushAnswerLost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.open(t, f.gs.Token)
	if _, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a2\n"})}}}); err != nil {
		t.Fatal(err)
	}
	backend := f.backend(t)
	f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !isReceivePack(r) {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		serveBody(backend, r, body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
		return true
	})
	dir := dataDir(t, map[string]string{"a.txt": "a3\n"})
	_, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir}}})
	if err == nil {
		t.Fatal("the push succeeded without the server's report")
	}
	t.Logf("report lost: %v", err)
	if got := f.git(t, "show", "PR1:data/a.txt"); got != "a3" {
		t.Errorf("PR1's data/a.txt = %q: the server applied the push, want a3", got)
	}
	backups := 0
	for name := range f.refsOnServer(t) {
		if strings.HasPrefix(name, "refs/refbot/backup/PR1/") {
			backups++
		}
	}
	if backups != 1 {
		t.Errorf("%d backup refs of PR1, want 1 (the branch and its backup move together)", backups)
	}

	f.gs.Intercept(nil)
	tip := f.git(t, "rev-parse", "PR1")
	res, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir}}})
	if err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if !res.NoChange || res.Commit.String() != tip {
		t.Errorf("the retry: NoChange %v, commit %s; want its own commit %s found in place", res.NoChange, res.Commit, tip)
	}
	if now := f.git(t, "rev-parse", "PR1"); now != tip {
		t.Errorf("PR1 moved on the retry: %s → %s", tip, now)
	}
	f.fsck(t)
}

// TestFetchCutMidway: a fetch of a branch whose trees are large, and a
// read of a large blob, each have their connection reset partway through
// the server's answer. Each fails; the local cache keeps no temporary
// pack; once the fault clears the same Repo reads the branch and the blob
// and pushes an update on it.
func TestFetchCutMidway(t *testing.T) {
	seed := map[string]string{}
	for i := range 4000 {
		seed[fmt.Sprintf("data/many/file-%04d.txt", i)] = fmt.Sprintf("content %d\n", i)
	}
	big := make([]byte, 1<<20)
	rand.Read(big)
	seed["data/big.bin"] = string(big)
	f := newFixtureWith(t, seed)
	p, url := f.proxied(t)
	testenv.NoLeaks(t)
	cache := filepath.Join(t.TempDir(), "cache")
	r, err := Open(Options{URL: url, Token: f.gs.Token, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bigID := plumbing.NewHash(f.git(t, "rev-parse", "master:data/big.bin"))

	p.ResetAfter(32<<10, faultproxy.ToClient)
	if _, err := r.Branch(ctx, "master"); err == nil {
		t.Fatal("a fetch cut midway succeeded")
	} else {
		t.Logf("fetch cut: %v", err)
	}
	p.ResetAfter(32<<10, faultproxy.ToClient)
	if _, err := r.Blobs(ctx, []plumbing.Hash{bigID}, 2<<20, 4<<20); err == nil {
		t.Fatal("a blob read cut midway succeeded")
	} else {
		t.Logf("blob read cut: %v", err)
	}
	if l := leftovers(t, cache); len(l) > 0 {
		t.Errorf("the cache holds leftovers: %v", l)
	}

	p.Pass()
	if _, err := r.Branch(ctx, "master"); err != nil {
		t.Fatalf("fetch after the fault: %v", err)
	}
	blobs, err := r.Blobs(ctx, []plumbing.Hash{bigID}, 2<<20, 4<<20)
	if err != nil {
		t.Fatalf("blob read after the fault: %v", err)
	}
	if !bytes.Equal(blobs[bigID], big) {
		t.Error("the blob read after the fault differs")
	}
	if _, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"x.txt": "x\n"})}}}); err != nil {
		t.Fatalf("update after the fault: %v", err)
	}
	if got := f.git(t, "show", "PR1:data/x.txt"); got != "x" {
		t.Errorf("PR1:data/x.txt = %q", got)
	}
	f.fsck(t)
}

// waitServerDone waits until cond holds, for up to 30 s (the server's work on a
// request whose client is gone ends on its own; this only bounds a hang).
func waitServerDone(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("the server never finished the request")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
