package reconcile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
)

type recorder struct {
	mu   sync.Mutex
	seen map[int64]bool
	n    int
}

func (r *recorder) Record(_ context.Context, d intake.Delivery) (intake.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := d.Work.(intake.CommentWork); ok {
		if r.seen[c.CommentID] {
			return intake.AlreadyHandled, nil
		}
		r.seen[c.CommentID] = true
	}
	r.n++
	return intake.Recorded, nil
}

// TestRequestsPerPass counts the GitHub requests of one pass over 500 open
// PRs, as the fake GitHub sees them: when nothing changed (target: at most
// 10) and when 5 PRs got a comment. Request counts do not depend on the
// machine's speed, so they are asserted.
func TestRequestsPerPass(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	fake := fakegithub.New(t, fakegithub.WithRepo("o/r"), fakegithub.WithClock(clock))
	for n := 1; n <= 500; n++ {
		fake.AddPR(fakegithub.PR{Number: n, HeadSHA: fmt.Sprintf("%040x", n)})
	}
	gh, err := ghclient.New(ctx, ghclient.Options{APIURL: fake.APIURL(), GraphQLURL: fake.GraphQLURL(), Repo: "o/r",
		Token: fake.Token(), MutationInterval: -1, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recorder{seen: map[int64]bool{}}
	// The cache status of a head: success once "CI" has built it, which
	// here is every head but those of PRs above 495, still pending.
	evaluated := 0
	cache := func(_ context.Context, pr int, head string, _ bool) (ghclient.Status, string, error) {
		evaluated++
		if pr > 495 {
			return ghclient.Status{State: "pending", Context: "s3-reference-data-cache", Description: "CI build is running"}, "", nil
		}
		return ghclient.Status{State: "success", Context: "s3-reference-data-cache", Description: "Outputs cached"}, fmt.Sprint(1000 + pr), nil
	}
	r := New(Options{Repo: "o/r", GitHub: gh, Recorder: rec, Store: st, Now: clock, CacheStatus: cache,
		HasCommand:   func(b string) bool { return strings.Contains(b, "BUILDBOT:") },
		DataBranches: func(context.Context) (map[int]bool, error) { return map[int]bool{}, nil }})
	pass := func() (int, Result) {
		t.Helper()
		fake.ResetRequests()
		res, err := r.Pass(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return fake.RequestCount(), res
	}
	if _, res := pass(); res.Statuses != 500 { // the first pass reads the last day: every PR
		t.Errorf("the first pass wrote %d cache statuses, want 500", res.Statuses)
	}
	if got := fake.Statuses(fmt.Sprintf("%040x", 7)); len(got) != 1 || got[0].Context != "s3-reference-data-cache" || got[0].State != "success" {
		t.Errorf("PR 7's statuses: %+v", got)
	}
	now = now.Add(10 * time.Minute)
	evaluated = 0
	quiet, res := pass()
	if res.Comments != 0 || res.Statuses != 0 {
		t.Errorf("a quiet pass recorded %d comments and wrote %d statuses", res.Comments, res.Statuses)
	}
	if evaluated != 5 {
		t.Errorf("a quiet pass examined %d heads, want only the 5 pending ones", evaluated)
	}
	now = now.Add(10 * time.Minute)
	for _, n := range []int{7, 70, 170, 270, 470} {
		fake.AddComment(n, "alice", "BUILDBOT: UPDATE")
	}
	now = now.Add(time.Minute)
	busy, res := pass()
	if res.Comments != 5 {
		t.Errorf("recorded %d of the 5 new comments", res.Comments)
	}
	// Five PRs get a new head: their cache statuses are written.
	for _, n := range []int{8, 80, 180, 280, 480} {
		fake.AddCommit(fmt.Sprintf("%040x", 10000+n))
		fake.SetHead(n, fmt.Sprintf("%040x", 10000+n))
	}
	now = now.Add(10 * time.Minute)
	pushed, res := pass()
	if res.Statuses != 5 {
		t.Errorf("wrote %d cache statuses for 5 new heads", res.Statuses)
	}
	t.Logf("GitHub requests per pass over 500 open PRs: %d with nothing changed, %d with 5 new comments, %d with 5 new heads", quiet, busy, pushed)
	if quiet > 10 {
		t.Errorf("a quiet pass made %d requests, target at most 10", quiet)
	}
	// Again: nothing new is recorded twice.
	now = now.Add(10 * time.Minute)
	if _, res := pass(); res.Comments != 0 {
		t.Errorf("the next pass recorded %d comments again", res.Comments)
	}
}

// failingRecorder fails its nth Record, as a crash in the middle of a pass.
type failingRecorder struct {
	*recorder
	calls, failAt int
}

func (f *failingRecorder) Record(ctx context.Context, d intake.Delivery) (intake.Outcome, error) {
	f.calls++
	if f.calls == f.failAt {
		return 0, fmt.Errorf("database is gone")
	}
	return f.recorder.Record(ctx, d)
}

// TestPassInterrupted: a pass that fails half way (after recording the
// first of three missed comments) leaves its marks where they were; the
// next pass reads again and each comment is recorded exactly once.
func TestPassInterrupted(t *testing.T) {
	ctx := context.Background()
	fake := fakegithub.New(t, fakegithub.WithRepo("o/r"))
	for n := 1; n <= 3; n++ {
		fake.AddPR(fakegithub.PR{Number: n})
		fake.AddComment(n, "alice", fmt.Sprintf("BUILDBOT: UPDATE\n\n(for #%d)", n))
	}
	gh, err := ghclient.New(ctx, ghclient.Options{APIURL: fake.APIURL(), GraphQLURL: fake.GraphQLURL(), Repo: "o/r",
		Token: fake.Token(), MutationInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &failingRecorder{recorder: &recorder{seen: map[int64]bool{}}, failAt: 2}
	r := New(Options{Repo: "o/r", GitHub: gh, Recorder: rec, Store: st,
		HasCommand:   func(b string) bool { return strings.Contains(b, "BUILDBOT:") },
		DataBranches: func(context.Context) (map[int]bool, error) { return map[int]bool{}, nil }})
	if _, err := r.Pass(ctx); err == nil {
		t.Fatal("the interrupted pass reported success")
	}
	if rec.n != 1 {
		t.Fatalf("%d comments recorded before the interruption, want 1", rec.n)
	}
	res, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Comments != 2 || rec.n != 3 || len(rec.seen) != 3 {
		t.Errorf("after the next pass: %d new, %d recorded (%d distinct); want 2 new and each of the 3 once", res.Comments, rec.n, len(rec.seen))
	}
}
