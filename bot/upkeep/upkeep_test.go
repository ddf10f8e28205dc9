package upkeep

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/refdata"
)

// fakeStore is the store as upkeep sees it: the open PRs, the leases held
// by jobs, and the cutoff PruneFinished was given.
type fakeStore struct {
	open   []int
	held   map[string]bool // leases held by someone else
	cutoff time.Time
}

func (f *fakeStore) PruneFinished(_ context.Context, before time.Time) (store.Pruned, error) {
	f.cutoff = before
	return store.Pruned{"refbot_delivery": 3}, nil
}

func (f *fakeStore) OpenPRs(context.Context) ([]store.OpenPR, error) {
	var out []store.OpenPR
	for _, n := range f.open {
		out = append(out, store.OpenPR{PR: n})
	}
	return out, nil
}

func (f *fakeStore) TakeLeases(_ context.Context, names []string, _ string, _ time.Duration) (bool, error) {
	for _, n := range names {
		if f.held[n] {
			return false, nil
		}
	}
	return true, nil
}

func (f *fakeStore) ReleaseLeases(context.Context, []string, string) error { return nil }

// fakeCache is the data repo's clone, which records the bound it was given.
type fakeCache struct{ max int64 }

func (c *fakeCache) TrimCache(_ context.Context, maxBytes int64) (refdata.TrimResult, error) {
	c.max = maxBytes
	return refdata.TrimResult{Bytes: 2 * maxBytes, Emptied: true}, nil
}

// TestPrune: the work folder of a PR that is not open goes once it was last
// used before the retention period; an open PR's, a recently used one's
// and one whose PR a job holds stay, and so does anything in the work
// folder that is not a PR's. The clone is trimmed to its bound, and
// finished records are pruned at now minus keep_finished.
func TestPrune(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	work := t.TempDir()
	long, lately := now.Add(-48*time.Hour), now.Add(-time.Hour)
	folder := func(name string, used time.Time) {
		t.Helper()
		dir := filepath.Join(work, name)
		for _, p := range []string{"files/_default/plots/a.png", "state/_default.sha256"} {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// Oldest first, so that a folder's own time is not renewed by
		// what is aged below it.
		for _, p := range []string{"files/_default/plots/a.png", "files/_default/plots", "files/_default", "files",
			"state/_default.sha256", "state", ""} {
			if err := os.Chtimes(filepath.Join(dir, p), used, used); err != nil {
				t.Fatal(err)
			}
		}
	}
	folder("pr1", long)       // open
	folder("pr2", long)       // closed long ago: goes
	folder("pr3", long)       // closed, its job holds the lease
	folder("pr4", long)       // closed, but used lately (below)
	folder("pr5", lately)     // closed lately
	folder("artifacts", long) // not a PR's
	folder("pr06", long)      // not a name refbot makes
	os.Chtimes(filepath.Join(work, "pr4", "state", "_default.sha256"), lately, lately)

	st := &fakeStore{open: []int{1}, held: map[string]bool{store.PRLease(3): true}}
	clone := &fakeCache{}
	u, err := New(Options{Store: st, WorkDir: work, KeepFinished: 7 * 24 * time.Hour, KeepWorkFolders: 24 * time.Hour,
		Cache: clone, CacheMaxBytes: 1 << 30, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := u.PruneLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if clone.max != 1<<30 || !res.Cache.Emptied {
		t.Errorf("the clone was trimmed to %d bytes (%+v), want %d", clone.max, res.Cache, 1<<30)
	}
	if _, err := u.PruneRecords(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{2}, res.WorkFolders); diff != "" {
		t.Errorf("work folders removed (-want +got):\n%s", diff)
	}
	if want := now.Add(-7 * 24 * time.Hour); !st.cutoff.Equal(want) {
		t.Errorf("finished records pruned before %s, want %s", st.cutoff, want)
	}
	ents, _ := os.ReadDir(work)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	if diff := cmp.Diff([]string{"artifacts", "pr06", "pr1", "pr3", "pr4", "pr5"}, left); diff != "" {
		t.Errorf("left in the work folder (-want +got):\n%s", diff)
	}
	// A missing work folder (nothing downloaded yet) is no error.
	u.o.WorkDir = filepath.Join(work, "missing")
	if _, err := u.PruneLocal(context.Background()); err != nil {
		t.Errorf("without a work folder: %v", err)
	}
}
