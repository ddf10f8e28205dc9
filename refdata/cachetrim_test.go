package refdata

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTrimCache: UPDATEs leave their trees and commits in the cache, which
// grows with each; TrimCache leaves a cache under its bound alone, and
// empties one over it, fetching the branches' tips back, so that the
// cache's view of the branches is the same and the next UPDATE amends the
// branch as before.
func TestTrimCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	update := func(i int) {
		t.Helper()
		if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR7", Trailers: Trailers{PR: 7, Build: fmt.Sprint(i)},
			Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": fmt.Sprintf("a%d\n", i), "sub/c.txt": "c1\n"})}}}); err != nil {
			t.Fatal(err)
		}
	}
	objects := func() int64 {
		t.Helper()
		n, err := treeBytes(filepath.Join(f.repo.opts.CacheDir, "objects"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var sizes []int64
	for i := range 5 {
		update(i)
		sizes = append(sizes, objects())
	}
	if sizes[4] <= sizes[0] {
		t.Fatalf("the cache did not grow with the updates: %v", sizes)
	}
	before, err := f.repo.CachedBranches(ctx)
	if err != nil {
		t.Fatal(err)
	}

	res, err := f.repo.TrimCache(ctx, sizes[4])
	if err != nil || res.Emptied || res.Bytes != sizes[4] {
		t.Fatalf("TrimCache at its size: %+v, %v; want it left alone", res, err)
	}
	res, err = f.repo.TrimCache(ctx, sizes[0]/2)
	if err != nil || !res.Emptied {
		t.Fatalf("TrimCache over its bound: %+v, %v; want it emptied", res, err)
	}
	if after := objects(); after >= sizes[4] {
		t.Errorf("the cache's objects take %d bytes after trimming, %d before", after, sizes[4])
	}
	after, err := f.repo.CachedBranches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the cache's branches changed (-before +after):\n%s", diff)
	}
	update(5)
	f.fsck(t)
	master := f.git(t, "rev-parse", "master")
	if parent := f.git(t, "rev-parse", "PR7^"); parent != master {
		t.Errorf("after trimming, PR7's parent = %s, want master %s", parent, master)
	}
	if got := f.files(t, "PR7")["data/a.txt"]; got != "a5" {
		t.Errorf("PR7's data/a.txt = %q after the update, want a5", got)
	}
}
