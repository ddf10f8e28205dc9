package reconcile

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
)

// t0 is when every test's world begins; the fake GitHub's clock and the
// reconciler's are one clock that moves only when the test moves it.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// clock is the test's time, shared by the fake GitHub and the reconciler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// recorder records deliveries by the rules of the queue's Record (the
// durable recorder the webhook and the reconciler share): a delivery id
// seen before is a Duplicate, a comment seen before under any delivery id
// is AlreadyHandled. It keeps what it was asked and what it recorded.
type recorder struct {
	mu       sync.Mutex
	ids      map[string]bool
	comments map[int64]bool
	asked    []intake.Delivery // every Record call, in order
	recorded []intake.Delivery // the Recorded ones, in order
}

func newRecorder() *recorder {
	return &recorder{ids: map[string]bool{}, comments: map[int64]bool{}}
}

func (r *recorder) Record(_ context.Context, d intake.Delivery) (intake.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, d)
	if r.ids[d.ID] {
		return intake.Duplicate, nil
	}
	r.ids[d.ID] = true
	if c, ok := d.Work.(intake.CommentWork); ok {
		if r.comments[c.CommentID] {
			return intake.AlreadyHandled, nil
		}
		r.comments[c.CommentID] = true
	}
	r.recorded = append(r.recorded, d)
	return intake.Recorded, nil
}

// Asked returns the deliveries the recorder was given, recorded or not.
func (r *recorder) Asked() []intake.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]intake.Delivery(nil), r.asked...)
}

// Recorded returns the deliveries recorded as new.
func (r *recorder) Recorded() []intake.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]intake.Delivery(nil), r.recorded...)
}

// recorded is what the tests compare of a delivery.
type recorded struct {
	ID   string
	Work intake.Work
}

func works(ds []intake.Delivery) []recorded {
	var out []recorded
	for _, d := range ds {
		out = append(out, recorded{ID: d.ID, Work: d.Work})
	}
	return out
}

// harness is a reconciler over the fake GitHub (checked against GitHub's
// published API description) and the real store, with a controlled clock.
type harness struct {
	fake  *fakegithub.Server
	clock *clock
	gh    *ghclient.Client
	st    *store.Store
	rec   *recorder
	r     *Reconciler

	mu       sync.Mutex
	branches map[int]bool // the PRs that have a data branch
}

func hasCommand(body string) bool { return strings.Contains(body, "BUILDBOT:") }

// newHarness starts a fake GitHub at t0 and opens a store; configure may
// change the reconciler's options before it is built.
func newHarness(t *testing.T, configure ...func(*Options)) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{clock: &clock{t: t0}, rec: newRecorder(), branches: map[int]bool{}}
	h.fake = fakegithub.New(t, fakegithub.WithRepo("o/r"), fakegithub.WithClock(h.clock.Now))
	gh, err := ghclient.New(ctx, ghclient.Options{APIURL: h.fake.APIURL(), GraphQLURL: h.fake.GraphQLURL(), Repo: "o/r",
		Token: h.fake.Token(), MutationInterval: -1, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.gh = gh
	h.st, err = store.Open(ctx, filepath.Join(t.TempDir(), "refbot.db"), store.Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	o := Options{Repo: "o/r", BotLogin: "refbot[bot]", GitHub: gh, Recorder: h.rec, Store: h.st, Now: h.clock.Now,
		HasCommand: hasCommand, DataBranches: h.dataBranches}
	for _, f := range configure {
		f(&o)
	}
	h.r = New(o)
	return h
}

func (h *harness) dataBranches(context.Context) (map[int]bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.branches), nil
}

// setBranch gives pr a data branch.
func (h *harness) setBranch(pr int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.branches[pr] = true
}

// at moves the clock to t0+d.
func (h *harness) at(d time.Duration) { h.clock.Set(t0.Add(d)) }

// pass runs one pass at the clock's time.
func (h *harness) pass(t *testing.T) Result {
	t.Helper()
	res, err := h.r.Pass(context.Background())
	if err != nil {
		t.Fatalf("pass at t0+%s: %v", h.clock.Now().Sub(t0), err)
	}
	return res
}

// passWant runs one pass and checks what it recorded.
func (h *harness) passWant(t *testing.T, want Result) {
	t.Helper()
	if diff := cmp.Diff(want, h.pass(t)); diff != "" {
		t.Errorf("pass at t0+%s (-want +got):\n%s", h.clock.Now().Sub(t0), diff)
	}
}

// countingGitHub counts the reconciler's GitHub calls by method.
type countingGitHub struct {
	next  GitHub
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingGitHub) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method]++
}

// take returns the calls counted since the last take.
func (c *countingGitHub) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *countingGitHub) OpenPullRequests(ctx context.Context) ([]ghclient.PRSummary, error) {
	c.count("OpenPullRequests")
	return c.next.OpenPullRequests(ctx)
}

func (c *countingGitHub) ClosedPullRequests(ctx context.Context, since time.Time) ([]ghclient.ClosedPR, error) {
	c.count("ClosedPullRequests")
	return c.next.ClosedPullRequests(ctx, since)
}

func (c *countingGitHub) Comments(ctx context.Context, pr int, since time.Time) ([]ghclient.Comment, error) {
	c.count("Comments")
	return c.next.Comments(ctx, pr, since)
}

func (c *countingGitHub) PullRequest(ctx context.Context, n int) (*ghclient.PullRequest, error) {
	c.count("PullRequest")
	return c.next.PullRequest(ctx, n)
}

func (c *countingGitHub) SetStatus(ctx context.Context, sha string, s ghclient.Status) error {
	c.count("SetStatus")
	return c.next.SetStatus(ctx, sha, s)
}

// TestRequestsPerPass counts the GitHub requests of one pass over 500 open
// PRs, with 600 closed and 600 merged long ago, as the fake GitHub sees
// them: when nothing changed (target: at most 10), when 5 PRs got a
// comment, when 5 got a new head and when 5 were closed. Request counts do
// not depend on the machine's speed, so they are asserted. The old closed
// and merged PRs fill six pages of each listing: a quiet pass that read
// them all instead of stopping at the first would miss the target.
func TestRequestsPerPass(t *testing.T) {
	// The cache status of a head: success once "CI" has built it, which
	// here is every head but those of PRs above 495, still pending.
	evaluated := 0
	cache := func(_ context.Context, p ghclient.PRSummary, _ bool) (ghclient.Status, string, error) {
		evaluated++
		pr := p.Number
		if pr > 495 {
			return ghclient.Status{State: "pending", Context: "s3-reference-data-cache", Description: "CI build is running"}, "", nil
		}
		return ghclient.Status{State: "success", Context: "s3-reference-data-cache", Description: "Outputs cached"}, fmt.Sprint(1000 + pr), nil
	}
	var calls *countingGitHub
	h := newHarness(t, func(o *Options) {
		o.CacheStatus = cache
		calls = &countingGitHub{next: o.GitHub, calls: map[string]int{}}
		o.GitHub = calls
	})
	longAgo := t0.Add(-30 * 24 * time.Hour)
	for n := 1001; n <= 1600; n++ {
		h.fake.AddPR(fakegithub.PR{Number: n, State: "closed", CreatedAt: longAgo, UpdatedAt: longAgo.Add(time.Hour)})
	}
	for n := 1601; n <= 2200; n++ {
		h.fake.AddPR(fakegithub.PR{Number: n, Merged: true, CreatedAt: longAgo, UpdatedAt: longAgo.Add(time.Hour)})
	}
	for n := 1; n <= 500; n++ {
		h.fake.AddPR(fakegithub.PR{Number: n, HeadSHA: fmt.Sprintf("%040x", n)})
	}
	pass := func(want Result) int {
		t.Helper()
		h.fake.ResetRequests()
		calls.take()
		h.passWant(t, want)
		return h.fake.RequestCount()
	}
	h.at(time.Minute)
	pass(Result{Statuses: 500}) // the first pass reads the last day: every PR
	if got := h.fake.Statuses(fmt.Sprintf("%040x", 7)); len(got) != 1 || got[0].Context != "s3-reference-data-cache" || got[0].State != "success" {
		t.Errorf("PR 7's statuses: %+v", got)
	}

	h.at(10 * time.Minute)
	evaluated = 0
	quiet := pass(Result{})
	if evaluated != 5 {
		t.Errorf("a quiet pass examined %d heads, want only the 5 pending ones", evaluated)
	}
	// Each listing once, nothing else: a pass that reads any PR's comments
	// or writes a status when nothing changed costs a request per PR.
	if diff := cmp.Diff(map[string]int{"OpenPullRequests": 1, "ClosedPullRequests": 1}, calls.take()); diff != "" {
		t.Errorf("a quiet pass's calls (-want +got):\n%s", diff)
	}

	h.at(20 * time.Minute)
	for _, n := range []int{7, 70, 170, 270, 470} {
		h.fake.AddComment(n, "alice", "BUILDBOT: UPDATE")
	}
	h.at(21 * time.Minute)
	commented := pass(Result{Comments: 5})

	// Five PRs get a new head: their cache statuses are written.
	for _, n := range []int{8, 80, 180, 280, 480} {
		h.fake.SetHead(n, fmt.Sprintf("%040x", 10000+n))
	}
	h.at(31 * time.Minute)
	pushed := pass(Result{Statuses: 5})

	// Five PRs with data branches are closed without merging.
	for _, n := range []int{9, 90, 190, 290, 490} {
		h.setBranch(n)
		h.fake.ClosePR(n)
	}
	h.at(41 * time.Minute)
	closed := pass(Result{Closes: 5})

	t.Logf("GitHub requests per pass over 500 open PRs: %d with nothing changed, %d with 5 new comments, %d with 5 new heads, %d with 5 closed",
		quiet, commented, pushed, closed)
	if quiet > 10 {
		t.Errorf("a quiet pass made %d requests, target at most 10", quiet)
	}
	// Again: nothing new is recorded twice.
	h.at(51 * time.Minute)
	pass(Result{})
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
	rec := &failingRecorder{recorder: newRecorder(), failAt: 2}
	h := newHarness(t, func(o *Options) { o.Recorder = rec })
	for n := 1; n <= 3; n++ {
		h.fake.AddPR(fakegithub.PR{Number: n})
		h.fake.AddComment(n, "alice", fmt.Sprintf("BUILDBOT: UPDATE\n\n(for #%d)", n))
	}
	h.at(time.Minute)
	if _, err := h.r.Pass(context.Background()); err == nil {
		t.Fatal("the interrupted pass reported success")
	}
	if n := len(rec.Recorded()); n != 1 {
		t.Fatalf("%d comments recorded before the interruption, want 1", n)
	}
	if last, err := h.st.LastPass(context.Background()); err != nil || !last.IsZero() {
		t.Errorf("after the interrupted pass, the last pass is %v (%v), want none", last, err)
	}
	h.at(2 * time.Minute)
	h.passWant(t, Result{Comments: 2})
	var got []string
	for _, d := range rec.Recorded() {
		got = append(got, d.Work.(intake.CommentWork).Body)
	}
	want := []string{"BUILDBOT: UPDATE\n\n(for #1)", "BUILDBOT: UPDATE\n\n(for #2)", "BUILDBOT: UPDATE\n\n(for #3)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("comments recorded (-want +got):\n%s", diff)
	}
}
