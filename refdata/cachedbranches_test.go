package refdata

import (
	"context"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// TestCachedBranches: CachedBranches lists the cache's copies of the PR
// branches (not the base, not a branch only the server has), as the last
// fetch or push left them, without contacting the server; a tip read once
// is answered from memory.
func TestCachedBranches(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tips := map[int]string{}
	for _, pr := range []int{1, 2} {
		res, err := f.repo.Update(ctx, UpdateRequest{Branch: PRBranch(pr), Trailers: Trailers{PR: pr, Build: "b" + PRBranch(pr), Commit: "c0ffee"},
			Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": PRBranch(pr) + "\n"})}}})
		if err != nil {
			t.Fatal(err)
		}
		tips[pr] = res.Commit.String()
	}
	f.git(t, "branch", "PR3", "master") // on the server only
	f.git(t, "branch", "PRx", "master")

	read := func(t *testing.T) map[int]BranchInfo {
		t.Helper()
		before := f.gs.Requests()
		got, err := f.repo.CachedBranches(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.gs.Requests() - before; n != 0 {
			t.Errorf("%d requests to the server, want none", n)
		}
		return got
	}
	summary := func(m map[int]BranchInfo) map[int][2]string {
		out := map[int][2]string{}
		for n, info := range m {
			out[n] = [2]string{info.Tip.String(), info.Trailers["Refbot-Build"]}
		}
		return out
	}

	got := read(t)
	want := map[int][2]string{1: {tips[1], "bPR1"}, 2: {tips[2], "bPR2"}}
	if d := cmp.Diff(want, summary(got)); d != "" {
		t.Errorf("branches (-want +got):\n%s", d)
	}
	for n, info := range got {
		one, err := f.repo.CachedBranch(ctx, PRBranch(n))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(one, info); d != "" {
			t.Errorf("PR%d differs from CachedBranch (-one +all):\n%s", n, d)
		}
		if _, ok := tipInfos.get(info.Tip); !ok {
			t.Errorf("PR%d's tip is not remembered", n)
		}
	}

	// A caller changing what it got does not change what the next reads.
	got[1].Trailers["Refbot-Build"] = "changed"
	if b := read(t)[1].Trailers["Refbot-Build"]; b != "bPR1" {
		t.Errorf("Refbot-Build after a caller's change = %q", b)
	}

	// Someone else pushes PR2 and refbot fetches it; PR1 is deleted.
	theirs := f.commitOnServer(t, "PR2", map[string]string{"data/theirs.txt": "x\n"})
	if _, err := f.repo.Branch(ctx, "PR2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.DeleteBranch(ctx, "PR1"); err != nil {
		t.Fatal(err)
	}
	want = map[int][2]string{2: {theirs, ""}}
	if d := cmp.Diff(want, summary(read(t))); d != "" {
		t.Errorf("after a fetch and a delete (-want +got):\n%s", d)
	}
}

func TestTipInfoCacheBounded(t *testing.T) {
	c := &tipInfoCache{max: 2}
	for i := range 5 {
		c.put(plumbing.Hash{byte(i + 1)}, BranchInfo{Exists: true})
		if len(c.m) > 2 {
			t.Fatalf("%d entries, max 2", len(c.m))
		}
	}
	if _, ok := c.get(plumbing.Hash{5}); !ok {
		t.Error("the newest entry is gone")
	}
}
