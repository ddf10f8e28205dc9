package pages

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/refdata"
)

// The rest of the test fakes' Branches and Jobs (pages_test.go has the
// PR page's part).

func (b branches) CachedBranches(context.Context) (map[int]refdata.BranchInfo, error) {
	if _, ok := b["PR13"]; ok {
		return nil, errors.New("connection refused")
	}
	out := map[int]refdata.BranchInfo{}
	for name, info := range b {
		if n := refdata.PRBranchNumber(name); n > 0 && info.Exists {
			out[n] = info
		}
	}
	return out, nil
}

func (j jobs) JobByID(_ context.Context, id int64) (*queue.JobDetail, error) {
	for _, js := range j {
		for _, s := range js {
			if s.ID == id {
				return &queue.JobDetail{JobSummary: s}, nil
			}
		}
	}
	return nil, nil
}

func (j jobs) ActiveJobs(context.Context, int) ([]queue.JobSummary, error) {
	return j.where(func(s queue.JobSummary) bool { return !finished(s.State) }), nil
}

func (j jobs) RecentFailures(context.Context, time.Time, int) ([]queue.JobSummary, error) {
	return j.where(func(s queue.JobSummary) bool { return s.Failed }), nil
}

func (j jobs) where(keep func(queue.JobSummary) bool) []queue.JobSummary {
	var out []queue.JobSummary
	for _, js := range j {
		for _, s := range js {
			if keep(s) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b queue.JobSummary) int { return int(a.ID - b.ID) })
	return out
}

// records is a Store of fixed records that counts the reads it answers.
type records struct {
	open     []store.OpenPR
	statuses map[int]store.CacheStatus
	lastPass time.Time
	heads    map[int][]store.HeadSeen
	updates  map[int][]store.Update
	update   map[int]*store.UpdateStatus
	merges   map[int]*store.Merge
	err      error // every read of the timeline fails with it

	mu   sync.Mutex
	logs map[int64][]store.JobLogLine

	reads atomic.Int64
}

func (r *records) OpenPRs(context.Context) ([]store.OpenPR, error) {
	r.reads.Add(1)
	return r.open, nil
}

func (r *records) CacheStatuses(context.Context) (map[int]store.CacheStatus, error) {
	r.reads.Add(1)
	return r.statuses, nil
}

func (r *records) LastPass(context.Context) (time.Time, error) {
	r.reads.Add(1)
	return r.lastPass, nil
}

func (r *records) JobLog(_ context.Context, id int64, after int) ([]store.JobLogLine, error) {
	r.reads.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []store.JobLogLine
	for _, l := range r.logs[id] {
		if l.Seq > after {
			out = append(out, l)
		}
	}
	return out, nil
}

// appendLog adds a line to job id's log, as a running job does.
func (r *records) appendLog(id int64, level, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logs == nil {
		r.logs = map[int64][]store.JobLogLine{}
	}
	r.logs[id] = append(r.logs[id], store.JobLogLine{Seq: len(r.logs[id]) + 1, Attempt: 1,
		At: time.Date(2026, 5, 1, 12, 0, len(r.logs[id]), 0, time.UTC), Level: level, Message: message})
}

func (r *records) HeadsSeen(_ context.Context, pr int) ([]store.HeadSeen, error) {
	return r.heads[pr], r.err
}

func (r *records) CacheStatus(_ context.Context, pr int) (*store.CacheStatus, error) {
	if c, ok := r.statuses[pr]; ok {
		return &c, r.err
	}
	return nil, r.err
}

func (r *records) UpdateStatus(_ context.Context, pr int) (*store.UpdateStatus, error) {
	return r.update[pr], r.err
}

func (r *records) UpdatesOfPR(_ context.Context, pr, _ int) ([]store.Update, error) {
	return r.updates[pr], r.err
}

func (r *records) Merge(_ context.Context, pr int) (*store.Merge, error) { return r.merges[pr], r.err }

// countingBranches counts the reads of every data branch.
type countingBranches struct {
	branches
	reads atomic.Int64
}

func (c *countingBranches) CachedBranches(ctx context.Context) (map[int]refdata.BranchInfo, error) {
	c.reads.Add(1)
	return c.branches.CachedBranches(ctx)
}

func (c *countingBranches) CachedBranch(context.Context, string) (refdata.BranchInfo, error) {
	panic("the index read one branch")
}

// sha is a commit id whose short form names c and i.
func sha(c byte, i int) string { return fmt.Sprintf("%c%07d%032d", c, i, 0) }

// manyPRs is n open PRs, the newest first (#n updated last), every third
// with a data branch for its head, and a cache status for each.
func manyPRs(n int) (*records, branches) {
	rec := &records{statuses: map[int]store.CacheStatus{}, lastPass: time.Date(2026, 5, 1, 11, 30, 0, 0, time.UTC)}
	br := branches{}
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := n; i >= 1; i-- {
		rec.open = append(rec.open, store.OpenPR{PR: i, Title: fmt.Sprintf("change %d <b>bold</b>", i), Author: "dev",
			Head: sha('a', i), Base: "master", UpdatedAt: t0.Add(time.Duration(i) * time.Minute)})
		rec.statuses[i] = store.CacheStatus{PR: i, SHA: sha('a', i), State: "success", Build: fmt.Sprint(1000 + i)}
		if i%3 == 0 {
			br[refdata.PRBranch(i)] = refdata.BranchInfo{Exists: true, Tip: plumbing.NewHash(sha('d', i)),
				Trailers: map[string]string{"Refbot-Build": fmt.Sprint(1000 + i), "Refbot-Commit": sha('a', i)}}
		}
	}
	return rec, br
}

var prLink = regexp.MustCompile(`<a href="/pr/(\d+)">#`)

// TestIndex: the open PRs, newest first, 100 a page, each with its data
// state; what is escaped is escaped; the page says when the list was
// refreshed; and it makes the same few reads for 500 PRs as for 5.
func TestIndex(t *testing.T) {
	reads := map[int]int64{}
	for _, n := range []int{5, 500} {
		rec, br := manyPRs(n)
		cb := &countingBranches{branches: br}
		h := New(Options{Repo: "o/r", Branches: cb, Jobs: jobs{}, Store: rec})
		code, body := get(t, h, "/")
		if code != 200 {
			t.Fatalf("%d PRs: status %d", n, code)
		}
		reads[n] = rec.reads.Load() + cb.reads.Load()
		var shown []string
		for _, m := range prLink.FindAllStringSubmatch(body, -1) {
			shown = append(shown, m[1])
		}
		if n == 5 {
			if d := cmp.Diff([]string{"5", "4", "3", "2", "1"}, shown); d != "" {
				t.Errorf("PRs shown (-want +got):\n%s", d)
			}
			for _, want := range []string{
				"change 5 &lt;b&gt;bold&lt;/b&gt;",
				`<td class="data-current">data branch at build 1003 for head a00000030000</td>`,
				`<td class="data-waiting">no data branch; build 1004 of head a00000040000 waiting for review</td>`,
				"last refreshed 2026-05-01 11:30 UTC",
				`<code title="a000000500000000000000000000000000000000">a00000050000</code>`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(body, "<b>bold") {
				t.Error("a title is not escaped")
			}
			continue
		}
		if len(shown) != 100 || shown[0] != "500" || shown[99] != "401" {
			t.Errorf("page 1 of 500 shows %d PRs, #%s to #%s; want 100, #500 to #401", len(shown), shown[0], shown[len(shown)-1])
		}
		if !strings.Contains(body, `href="/?page=2" rel="next"`) || strings.Contains(body, `rel="prev"`) {
			t.Error("page 1 does not link page 2 only")
		}
		_, body = get(t, h, "/?page=5")
		shown = shown[:0]
		for _, m := range prLink.FindAllStringSubmatch(body, -1) {
			shown = append(shown, m[1])
		}
		if len(shown) != 100 || shown[99] != "1" || !strings.Contains(body, `href="/?page=4" rel="prev"`) || strings.Contains(body, `rel="next"`) {
			t.Errorf("page 5 shows %d PRs, the last #%s; its links are wrong or it is", len(shown), shown[len(shown)-1])
		}
		if _, body := get(t, h, "/?page=6"); !strings.Contains(body, "No pull request on page 6: there are 5 pages") {
			t.Error("a page past the end is not explained")
		}
		for _, bad := range []string{"/?page=0", "/?page=x", "/?page=-1"} {
			if code, _ := get(t, h, bad); code != 400 {
				t.Errorf("%s: status %d, want 400", bad, code)
			}
		}
	}
	if reads[5] != reads[500] || reads[5] == 0 {
		t.Errorf("reads for 5 PRs: %d, for 500: %d; want the same few", reads[5], reads[500])
	}
}

// TestIndex500 renders 500 open PRs from a SQLite store and reports how
// long a page takes.
func TestIndex500(t *testing.T) {
	ctx := context.Background()
	rec, br := manyPRs(500)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "refbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetOpenPRs(ctx, rec.open); err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.statuses {
		if err := st.SaveCacheStatus(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Options{Repo: "o/r", Branches: br, Jobs: jobs{}, Store: st})
	for range 2 { // the second with the database's pages cached
		start := time.Now()
		code, body := get(t, h, "/")
		t.Logf("GET / with 500 open PRs in SQLite: %v, %d bytes", time.Since(start), len(body))
		if code != 200 || strings.Count(body, `<a href="/pr/`) != 100 || !strings.Contains(body, "#500</a> change 500") {
			t.Fatalf("status %d, %d PR links", code, strings.Count(body, `<a href="/pr/`))
		}
	}
}

// The pages read refbot's own parts through their interfaces.
var (
	_ Store    = (*store.Store)(nil)
	_ Jobs     = (*queue.Queue)(nil)
	_ Branches = (*refdata.Repo)(nil)
)

// TestIndexSections: the jobs, the failures, WEBSITE, a stale or missing
// list, and a data repo that cannot be read.
func TestIndexSections(t *testing.T) {
	rec, br := manyPRs(2)
	rec.lastPass = time.Time{}
	js := jobs{
		1: {{ID: 41, Kind: "comment", State: "running", PR: 1, Author: "alice", Body: "BUILDBOT: UPDATE <script>x</script>", CreatedAt: time.Now()}},
		2: {{ID: 42, Kind: "comment", State: "discarded", PR: 2, Author: "bob", Body: "BUILDBOT: PLAN", Failed: true, CreatedAt: time.Now()}},
	}
	_, body := get(t, New(Options{Repo: "o/r", Branches: br, Jobs: js, Store: rec}), "/")
	for _, want := range []string{
		"refbot has not listed the open pull requests yet",
		`<a href="/jobs/41">41</a>`, `<a href="/jobs/42">42</a>`,
		"BUILDBOT: UPDATE &lt;script&gt;x&lt;/script&gt;",
		"its last attempt failed",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	active, failures, _ := strings.Cut(body, "Failures of the last 24 hours")
	if !strings.Contains(active, "/jobs/41") || strings.Contains(active, "/jobs/42") || !strings.Contains(failures, "/jobs/42") {
		t.Error("the running job and the failure are not each in its own list")
	}

	br["PR13"] = refdata.BranchInfo{} // the fake's CachedBranches fails
	code, body := get(t, New(Options{Repo: "o/r", Branches: br, Jobs: js, Store: rec}), "/")
	if code != 200 || !strings.Contains(body, "the data repo could not be read just now") ||
		strings.Count(body, `class="data-unknown"`) != 2 || strings.Contains(body, "connection refused") {
		t.Errorf("with the data repo unreadable: status %d, the states not unknown or the error shown", code)
	}
	if code, _ := get(t, New(Options{Repo: "o/r", Branches: br, Jobs: js}), "/"); code != 503 {
		t.Errorf("without a store: %d, want 503", code)
	}
}

func TestStateOf(t *testing.T) {
	head, old := sha('a', 2), sha('a', 1)
	branch := func(build, commit string) refdata.BranchInfo {
		return refdata.BranchInfo{Exists: true, Trailers: map[string]string{"Refbot-Build": build, "Refbot-Commit": commit}}
	}
	status := func(sha, state, build string) *store.CacheStatus {
		return &store.CacheStatus{SHA: sha, State: state, Build: build}
	}
	for _, c := range []struct {
		name   string
		branch refdata.BranchInfo
		status *store.CacheStatus
		want   string
	}{
		{"nothing", refdata.BranchInfo{}, nil, "none"},
		{"no branch, build running", refdata.BranchInfo{}, status(head, "pending", ""), "none"},
		{"no branch, build matched the base", refdata.BranchInfo{}, status(head, "success", ""), "none"},
		{"no branch, outputs to review", refdata.BranchInfo{}, status(head, "success", "7"), "waiting"},
		{"no branch, outputs missing", refdata.BranchInfo{}, status(head, "failure", ""), "missing"},
		{"branch of the head, its build", branch("7", head), status(head, "success", "7"), "current"},
		{"branch of the head, no status", branch("7", head), nil, "current"},
		{"branch of the head, a newer build", branch("7", head), status(head, "success", "8"), "waiting"},
		{"branch of an older head, build of the new", branch("7", old), status(head, "success", "8"), "waiting"},
		{"branch of an older head, new build matched it", branch("7", old), status(head, "success", ""), "current"},
		{"branch of an older head, no build yet", branch("7", old), status(old, "success", "7"), "nobuild"},
		{"branch of an older head, build running", branch("7", old), status(head, "pending", ""), "nobuild"},
		{"branch, outputs missing", branch("7", old), status(head, "failure", ""), "missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := stateOf(head, c.branch, c.status)
			if got.Kind != c.want || got.Text == "" {
				t.Errorf("state %q (%q), want %q", got.Kind, got.Text, c.want)
			}
		})
	}
}
