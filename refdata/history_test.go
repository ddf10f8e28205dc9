package refdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/google/go-cmp/cmp"
)

// historyStart is the committer date of the first commit addHistory
// writes; later commits are an hour apart.
var historyStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// addHistory adds n commits to master on the server with git fast-import,
// each changing one of 20 files under data/hist/ (so each has trees of its
// own), committed an hour apart from historyStart, and returns their
// hashes, oldest first.
func (f *fixture) addHistory(t *testing.T, n int) []string {
	t.Helper()
	var in bytes.Buffer
	for i := range n {
		body := fmt.Sprintf("history %d\n", i)
		msg := fmt.Sprintf("history commit %d\n", i)
		fmt.Fprintf(&in, "commit refs/heads/master\ncommitter Hist <hist@example.com> %d +0000\ndata %d\n%s",
			historyStart.Add(time.Duration(i)*time.Hour).Unix(), len(msg), msg)
		if i == 0 {
			fmt.Fprintf(&in, "from refs/heads/master^0\n")
		}
		fmt.Fprintf(&in, "M 100644 inline data/hist/f%02d.txt\ndata %d\n%s\n", i%20, len(body), body)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Stdin = f.bare, &in
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	list := strings.Fields(f.git(t, "rev-list", "--first-parent", "--reverse", "master"))
	return list[len(list)-n:]
}

// cacheObjects counts the commits and trees in r's cache.
func cacheObjects(t *testing.T, r *Repo) (commits, trees int) {
	t.Helper()
	for typ, n := range map[plumbing.ObjectType]*int{plumbing.CommitObject: &commits, plumbing.TreeObject: &trees} {
		iter, err := r.store.IterEncodedObjects(typ)
		if err != nil {
			t.Fatal(err)
		}
		if err := iter.ForEach(func(plumbing.EncodedObject) error { *n++; return nil }); err != nil && err != storer.ErrStop {
			t.Fatal(err)
		}
	}
	return commits, trees
}

func shallowList(t *testing.T, r *Repo) []string {
	t.Helper()
	hs, err := r.store.Shallow()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hs {
		out = append(out, h.String())
	}
	slices.Sort(out)
	return out
}

// TestColdStartOnLongHistory: against a data repo with a long history, a
// cold cache fetches the tips an operation works on (and their parents
// where it needs them), not the history; pushes with their leases work
// from that shallow cache, and so do promotion and rebase.
func TestColdStartOnLongHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const n = 300
	hist := f.addHistory(t, n)
	// PR2 was built long ago, on a base 200 commits back.
	old := hist[n-201]
	f.git(t, "update-ref", "refs/heads/PR2", old)
	f.commitOnServer(t, "PR2", map[string]string{"data/b.txt": "b from PR2\n"})
	master := f.git(t, "rev-parse", "master")

	// A full fetch would bring every one of the 300 commits, and the
	// trees of each (data/, data/hist/ and the root).
	res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{
		"a.txt": "a2\n", "b.txt": "b1\n", "sub/c.txt": "c1\n"})}}})
	if err != nil {
		t.Fatal(err)
	}
	commits, trees := cacheObjects(t, f.repo)
	if commits > 2 || trees > 10 {
		t.Errorf("after a cold update the cache holds %d commits and %d trees, want the base's tip and the new commit (2) and their trees", commits, trees)
	}
	if got := f.git(t, "rev-parse", "PR1^"); got != master {
		t.Errorf("PR1's parent is %s, want master %s", got, master)
	}
	if got := f.git(t, "rev-parse", "PR1"); got != res.Commit.String() {
		t.Errorf("PR1 is %s, Update says %s", got, res.Commit)
	}
	if diff := cmp.Diff(map[string]string{"README.md": "reference data", "data/a.txt": "a2", "data/b.txt": "b1", "data/sub/c.txt": "c1"},
		f.files(t, "PR1")); diff != "" {
		t.Errorf("PR1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{master}, shallowList(t, f.repo)); diff != "" {
		t.Errorf("the cache's shallow commits (-want +got):\n%s", diff)
	}

	// A rebase needs PR2's tip and the base it was built on: two more
	// commits, whatever lies between.
	if _, err := f.repo.Rebase(ctx, "PR2"); err != nil {
		t.Fatal(err)
	}
	if got := f.git(t, "rev-parse", "PR2^"); got != master {
		t.Errorf("rebased PR2's parent is %s, want %s", got, master)
	}
	if got := f.files(t, "PR2")["data/b.txt"]; got != "b from PR2" {
		t.Errorf("rebased PR2's b.txt = %q", got)
	}
	// Promotion needs PR1's tip and its parent, the base's tip.
	pres, err := f.repo.Promote(ctx, "PR1", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.files(t, "master")["data/a.txt"]; got != "a2" {
		t.Errorf("promoted master's a.txt = %q", got)
	}
	if got := f.git(t, "rev-parse", "master"); got != pres.Commit.String() {
		t.Errorf("master is %s, Promote says %s", got, pres.Commit)
	}
	if commits, _ := cacheObjects(t, f.repo); commits > 8 {
		t.Errorf("after an update, a rebase and a promotion the cache holds %d commits, want at most 8", commits)
	}
	f.fsck(t)

	// A second cold cache amends PR1, now on an older base: its lease
	// holds, and the server's history is whole.
	f.commitOnServer(t, "master", map[string]string{"data/b.txt": "b moved\n"})
	cold := f.open(t, f.gs.Token)
	if _, err := cold.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a3\n"})}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.git(t, "rev-parse", "PR1^"), f.git(t, "rev-parse", "master"); got != want {
		t.Errorf("PR1's parent is %s, want master %s", got, want)
	}
	if n := f.git(t, "rev-list", "--count", "PR1"); n != strconv.Itoa(300+4) {
		t.Errorf("PR1's history has %s commits, want the seed, 300, PR1's promotion, the new master commit and PR1's", n)
	}
	f.fsck(t)
}

// TestVariantUpdateOnShallowCache: a variant update carries the branch's
// other variants over against the base it was built on, the tip's parent,
// which a cache that fetched the branch before at depth 1 lacks.
func TestVariantUpdateOnShallowCache(t *testing.T) {
	ctx := context.Background()
	f := newFixtureWith(t, map[string]string{"data/linux/x.txt": "l0\n", "data/macos/x.txt": "m0\n"})
	f.addHistory(t, 30)
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Variant: "linux", Dir: dataDir(t, map[string]string{"x.txt": "l1\n"})}}}); err != nil {
		t.Fatal(err)
	}
	f.commitOnServer(t, "master", map[string]string{"data/hist/new.txt": "n\n"})
	// Reading PR1's trailers fetches its tip alone.
	cold := f.open(t, f.gs.Token)
	if _, err := cold.Branch(ctx, "PR1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cold.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Variant: "macos", Dir: dataDir(t, map[string]string{"x.txt": "m1\n"})}}}); err != nil {
		t.Fatal(err)
	}
	files := f.files(t, "PR1")
	if files["data/linux/x.txt"] != "l1" || files["data/macos/x.txt"] != "m1" || files["data/hist/new.txt"] != "n" {
		t.Errorf("PR1 holds %v", files)
	}
	f.fsck(t)
}

// TestBaseAtDeepensShallowCache: BaseAt walks back through a history the
// cache does not hold, fetching as much more of it as the walk needs.
func TestBaseAtDeepensShallowCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const n = 400
	hist := f.addHistory(t, n)
	at := func(i int) time.Time { return historyStart.Add(time.Duration(i) * time.Hour) }
	tests := []struct {
		name      string
		t         time.Time
		want      string
		wantErr   error
		maxCommit int // commits the cache may hold afterwards
	}{
		{name: "after the tip", t: at(n + 5), want: hist[n-1], maxCommit: 1},
		{name: "three back", t: at(n - 4), want: hist[n-4], maxCommit: 2 * minDeepen},
		{name: "between two commits", t: at(n - 10).Add(30 * time.Minute), want: hist[n-10], maxCommit: 2 * minDeepen},
		{name: "far back", t: at(n - 300), want: hist[n-300], maxCommit: 2 * 300},
		{name: "before history", t: historyStart.AddDate(-100, 0, 0), wantErr: ErrNoBranch, maxCommit: n + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.open(t, f.gs.Token)
			got, err := r.BaseAt(ctx, tt.t)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("BaseAt = %v, %v; want an error wrapping %v", got, err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got.String() != tt.want {
				t.Errorf("BaseAt = %s, want %s", got, tt.want)
			}
			if commits, _ := cacheObjects(t, r); commits > tt.maxCommit {
				t.Errorf("the cache holds %d commits, want at most %d", commits, tt.maxCommit)
			}
			// What the deepening left is a sound shallow cache: an update
			// from it pushes what the server needs, no more.
			if _, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": tt.name + "\n"})}}}); err != nil {
				t.Fatal(err)
			}
			f.fsck(t)
		})
	}
}

// TestAgainstDeepInHistory: a base build made from a commit far back is
// found on the base's history by deepening the shallow cache, and applied.
func TestAgainstDeepInHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	hist := f.addHistory(t, 150)
	against := hist[10]
	res, err := f.repo.Update(ctx, UpdateRequest{Branch: "master", Against: plumbing.NewHash(against),
		Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a-build\n", "b.txt": "b1\n", "sub/c.txt": "c1\n",
			"hist/f00.txt": "history 0\n", "hist/f01.txt": "history 1\n", "hist/f02.txt": "history 2\n", "hist/f03.txt": "history 3\n",
			"hist/f04.txt": "history 4\n", "hist/f05.txt": "history 5\n", "hist/f06.txt": "history 6\n", "hist/f07.txt": "history 7\n",
			"hist/f08.txt": "history 8\n", "hist/f09.txt": "history 9\n", "hist/f10.txt": "history 10\n"})}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"modified data/a.txt"}, changes(res.Changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	files := f.files(t, "master")
	if files["data/a.txt"] != "a-build" || files["data/hist/f00.txt"] != "history 140" {
		t.Errorf("master holds a.txt %q, hist/f00.txt %q", files["data/a.txt"], files["data/hist/f00.txt"])
	}

	// A commit that is not on the base's history is refused, after the
	// walk has fetched all of it.
	f.git(t, "update-ref", "refs/heads/other", hist[5])
	other := f.commitOnServer(t, "other", map[string]string{"data/x.txt": "x\n"})
	_, err = f.open(t, f.gs.Token).Update(ctx, UpdateRequest{Branch: "master", Against: plumbing.NewHash(other),
		Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a\n"})}}})
	if !errors.Is(err, ErrNotOnBase) {
		t.Errorf("Update against a commit off the base: %v, want ErrNotOnBase", err)
	}
}
