package refdata

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/refbot/refbot/internal/testenv"
)

// TestPushRejectedForMissingObjects: the cache believes the server has a
// blob b (the base held it when refbot fetched) that the server no longer
// has. An update reusing b without its contents is refused by the server's
// checks; refbot reports it as ErrRejected with the server's reason, not
// as a lost lease, and nothing changes.
func TestPushRejectedForMissingObjects(t *testing.T) {
	tests := []struct {
		name string
		// lose makes the server lose b after the cache fetched the base at
		// tip (which holds b) on top of old; it may act at once or set a
		// hook on the server.
		lose   func(t *testing.T, f *fixture, old, tip string, b plumbing.Hash)
		reason string
	}{
		{
			// Someone force-pushes the base back while the update runs,
			// and the server prunes: the commit the update is built on
			// and b are gone. git's connectivity check (on by default)
			// finds them missing.
			name: "base rewound and pruned during the update",
			lose: func(t *testing.T, f *fixture, old, tip string, b plumbing.Hash) {
				var once sync.Once
				f.gs.BeforeRequest(func(r *http.Request) {
					if r.URL.Query().Get("service") == "git-receive-pack" {
						once.Do(func() {
							f.git(t, "update-ref", "refs/heads/master", old, tip)
							f.git(t, "reflog", "expire", "--expire=now", "--all")
							f.git(t, "gc", "--quiet", "--prune=now")
						})
					}
				})
			},
			reason: "missing necessary objects",
		},
		{
			// The server lost b from its store (a restore from an old
			// backup, say) though its base still names it;
			// receive.fsckObjects checks that every object the pack's
			// trees name is there.
			name: "blob lost from the server's store",
			lose: func(t *testing.T, f *fixture, old, tip string, b plumbing.Hash) {
				f.git(t, "config", "receive.fsckObjects", "true")
				loose := filepath.Join(f.bare, "objects", b.String()[:2], b.String()[2:])
				if err := os.Remove(loose); err != nil {
					t.Fatalf("remove b from the server (it should be a loose object): %v", err)
				}
			},
			reason: "unpack",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			old := f.git(t, "rev-parse", "master")
			tip := f.commitOnServer(t, "master", map[string]string{"data/b.txt": "only on the server for a while\n"})
			b := plumbing.NewHash(f.git(t, "rev-parse", "master:data/b.txt"))
			known, err := f.repo.KnownBlobs(ctx, "PR1")
			if err != nil {
				t.Fatal(err)
			}
			if !known[b] {
				t.Fatal("the cache does not know b")
			}
			tc.lose(t, f, old, tip, b)

			fresh := dataDir(t, map[string]string{"fresh.txt": "fresh\n"})
			_, err = f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Files: []File{
				{Path: "b.txt", Blob: b, Size: 30},
				{Path: "fresh.txt", Blob: plumbing.NewHash(testenv.Git(t, fresh, "hash-object", "fresh.txt")), Size: 6, Local: filepath.Join(fresh, "fresh.txt")},
			}}}})
			if !errors.Is(err, ErrRejected) || errors.Is(err, ErrLeaseLost) {
				t.Fatalf("err = %v, want ErrRejected and not a lost lease", err)
			}
			if !strings.Contains(err.Error(), tc.reason) || strings.Contains(err.Error(), f.gs.Token) {
				t.Errorf("err = %v, want the server's reason %q and no token", err, tc.reason)
			}
			if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
				t.Errorf("PR1 was created at %s", out)
			}
		})
	}
}
