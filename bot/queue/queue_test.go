package queue

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/testenv"
)

func commentDelivery(id string, pr int, comment int64) intake.Delivery {
	return intake.Delivery{ID: id, Event: "issue_comment", Action: "created", Received: time.Now(),
		Work: intake.CommentWork{Repo: "o/r", PR: pr, CommentID: comment, Author: "alice", Body: "BUILDBOT: UPDATE"}}
}

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// TestOnPostgreSQL runs the package's tests again on PostgreSQL: every
// queue a test opens on database(t) is on a new PostgreSQL database there.
func TestOnPostgreSQL(t *testing.T) { testenv.RunOnPostgreSQL(t) }

// database is a new database for a test: a SQLite file, or in the run on
// PostgreSQL a new database there.
func database(t *testing.T) string {
	t.Helper()
	return testenv.Database(t, filepath.Join(t.TempDir(), "refbot.db"))
}

func open(t *testing.T, path string, h Handlers) *Queue {
	t.Helper()
	return openConfig(t, path, Config{Handlers: h, LeaseWait: 50 * time.Millisecond, Workers: map[string]int{Updates: 4}})
}

// openConfig opens a queue with cfg on the store at path, which it opens.
func openConfig(t *testing.T, path string, cfg Config) *Queue {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	q, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestRecordSurvivesRestart: a recorded delivery is in the database before
// Record returns; a process that dies before running it loses nothing: the
// next one runs it, once.
func TestRecordSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := database(t)
	q := open(t, path, Handlers{})
	tests := []struct {
		d    intake.Delivery
		want intake.Outcome
	}{
		{commentDelivery("d1", 3, 100), intake.Recorded},
		{commentDelivery("d1", 3, 100), intake.Duplicate},      // GitHub's redelivery
		{commentDelivery("d2", 3, 100), intake.AlreadyHandled}, // same comment, new delivery id
		{intake.Delivery{ID: "d3", Event: "ping", Received: time.Now(), Ignored: "ping"}, intake.Recorded},
		{intake.Delivery{ID: "d4", Event: "pull_request", Action: "closed", Received: time.Now(),
			Work: intake.PullRequestClosed{Repo: "o/r", PR: 3, Merged: true}}, intake.Recorded},
	}
	for _, tc := range tests {
		got, err := q.Record(ctx, tc.d)
		if err != nil || got != tc.want {
			t.Errorf("Record(%s) = %v, %v; want %v", tc.d.ID, got, err, tc.want)
		}
	}
	// "Crash": close without ever starting the workers.
	q.Close()

	var comments, closes atomic.Int32
	done := make(chan struct{}, 2)
	q = open(t, path, Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error { comments.Add(1); done <- struct{}{}; return nil },
		PRClosed: func(ctx context.Context, w intake.PullRequestClosed) (time.Duration, error) {
			closes.Add(1)
			done <- struct{}{}
			return 0, nil
		},
	})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the recorded jobs did not run after the restart")
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if comments.Load() != 1 || closes.Load() != 1 {
		t.Errorf("ran %d comment and %d close jobs, want 1 and 1", comments.Load(), closes.Load())
	}
	// A redelivery after the work is done is still not redone.
	if got, _ := q.Record(ctx, commentDelivery("d1", 3, 100)); got != intake.Duplicate {
		t.Errorf("redelivery after completion: %v, want Duplicate", got)
	}
	q.Close()
}

// TestOneJobPerPRAtATime: jobs for one PR never overlap; jobs for different
// PRs do.
func TestOneJobPerPRAtATime(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	running := map[int]int{}
	maxSame, maxAll, all := 0, 0, 0
	var finished atomic.Int32
	q := open(t, database(t), Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			mu.Lock()
			running[w.PR]++
			all++
			maxSame = max(maxSame, running[w.PR])
			maxAll = max(maxAll, all)
			mu.Unlock()
			time.Sleep(150 * time.Millisecond)
			mu.Lock()
			running[w.PR]--
			all--
			mu.Unlock()
			finished.Add(1)
			return nil
		},
	})
	for i := range 6 {
		pr := 1 + i%2 // three jobs each for PR 1 and PR 2
		if _, err := q.Record(ctx, commentDelivery(fmt.Sprint("d", i), pr, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for finished.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopQueue(t, q)
	if finished.Load() != 6 {
		t.Fatalf("%d of 6 jobs finished", finished.Load())
	}
	if maxSame != 1 {
		t.Errorf("%d jobs for one PR ran at once", maxSame)
	}
	if maxAll < 2 {
		t.Errorf("jobs for different PRs never ran together (max %d)", maxAll)
	}
}

// TestStopWaitsForRunningJobs: Stop lets a running job finish.
func TestStopWaitsForRunningJobs(t *testing.T) {
	ctx := context.Background()
	started := make(chan struct{})
	var finished atomic.Bool
	q := open(t, database(t), Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			close(started)
			time.Sleep(300 * time.Millisecond)
			finished.Store(true)
			return nil
		},
	})
	q.Record(ctx, commentDelivery("d", 1, 1))
	q.Start(ctx)
	<-started
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("Stop returned before the running job finished")
	}
	q.Close()
}

// TestCancelPR: a STOP's job cancels the PR's running and queued jobs but
// not itself or another PR's, and does not wait for the lease.
func TestCancelPR(t *testing.T) {
	ctx := context.Background()
	running := make(chan struct{})
	cancelled := make(chan error, 1)
	var q *Queue
	var stopped []int64
	stopDone := make(chan struct{})
	var other atomic.Int32
	q = open(t, database(t), Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			switch w.Body {
			case "UPDATE":
				close(running)
				<-ctx.Done() // works until cancelled
				cancelled <- ctx.Err()
				return ctx.Err()
			case "STOP":
				ids, err := q.CancelPR(ctx, w.PR, w.CommentID)
				stopped = ids
				close(stopDone)
				return err
			default:
				other.Add(1)
				return nil
			}
		},
		NeedsLease: func(w intake.CommentWork) bool { return w.Body != "STOP" },
	})
	rec := func(id string, pr int, comment int64, body string) {
		d := commentDelivery(id, pr, comment)
		cw := d.Work.(intake.CommentWork)
		cw.Body = body
		d.Work = cw
		if _, err := q.Record(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	rec("u", 5, 1, "UPDATE")
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-running
	rec("queued", 5, 2, "PLAN") // waits behind the lease
	rec("other", 6, 3, "PLAN")  // another PR: untouched
	rec("s", 5, 4, "STOP")
	select {
	case <-stopDone:
	case <-time.After(30 * time.Second):
		t.Fatal("STOP did not run while the PR's lease was held")
	}
	select {
	case err := <-cancelled:
		if err == nil {
			t.Error("the running job's context ended without an error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the running job was not cancelled")
	}
	if len(stopped) != 2 {
		t.Errorf("STOP cancelled jobs %v, want the running UPDATE and the queued PLAN", stopped)
	}
	stopQueue(t, q)
	if other.Load() != 1 {
		t.Errorf("%d jobs ran besides UPDATE and STOP, want 1 (the other PR's)", other.Load())
	}
}

// TestResumeInterruptedJob: a job left "running" by a process that was
// killed runs again at the next start, not hours later.
func TestResumeInterruptedJob(t *testing.T) {
	testenv.SQLiteOnly(t) // with PostgreSQL, see TestTakeOverSilentReplica
	ctx := context.Background()
	path := database(t)
	q := open(t, path, Handlers{})
	if _, err := q.Record(ctx, commentDelivery("d", 4, 7)); err != nil {
		t.Fatal(err)
	}
	// What SIGKILL in the middle of the job leaves behind.
	if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
		attempted_at = datetime('now', 'subsec')`); err != nil {
		t.Fatal(err)
	}
	if _, err := q.DB().ExecContext(ctx, `INSERT INTO refbot_lease (name, holder, expires_at)
		VALUES ('pr:4', 'serve-dead-process/job-1', '2999-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	// A second job, which STOP had cancelled while it ran: not resumed.
	if _, err := q.Record(ctx, commentDelivery("d2", 5, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
		attempted_at = datetime('now', 'subsec'), metadata = jsonb('{"cancel_attempted_at": "2026-11-23T10:00:00Z"}')
		WHERE json_extract(args, '$.pr') = 5`); err != nil {
		t.Fatal(err)
	}
	q.Close()
	ran := make(chan struct{}, 1)
	var stopped atomic.Bool
	q = open(t, path, Handlers{Comment: func(_ context.Context, w intake.CommentWork) error {
		if w.PR == 5 {
			stopped.Store(true)
		}
		ran <- struct{}{}
		return nil
	}})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted job did not run after the restart")
	}
	time.Sleep(time.Second)
	stopQueue(t, q)
	if stopped.Load() {
		t.Error("a job STOP had cancelled ran again after the restart")
	}
}

// TestNewerSupersedable: the plain UPDATEs queued on a PR and written after
// a comment, newest first; other kinds, other PRs and jobs no longer queued
// are left out. Written after, not recorded after: comment 6, which the
// reconciler recorded late, is older than comment 5.
func TestNewerSupersedable(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{
		Supersedes: func(w intake.CommentWork) bool { return w.Body == "BUILDBOT: UPDATE" },
	})
	defer q.Close()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	written := map[int64]time.Time{}
	rec := func(id string, pr int, comment int64, body string, minute int) {
		d := commentDelivery(id, pr, comment)
		cw := d.Work.(intake.CommentWork)
		cw.Body, cw.CreatedAt = body, t0.Add(time.Duration(minute)*time.Minute)
		written[comment] = cw.CreatedAt
		d.Work = cw
		if _, err := q.Record(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	rec("d1", 8, 1, "BUILDBOT: UPDATE", 1)
	rec("d2", 8, 2, "BUILDBOT: UPDATE", 2)
	rec("d3", 8, 3, "BUILDBOT: PLAN", 3)   // not a plain UPDATE
	rec("d4", 9, 4, "BUILDBOT: UPDATE", 4) // another PR
	rec("d5", 8, 5, "BUILDBOT: UPDATE", 6)
	rec("d6", 8, 6, "BUILDBOT: UPDATE", 5) // recorded last, written before 5
	newer := func(comment int64) []int64 {
		t.Helper()
		ws, err := q.NewerSupersedable(ctx, 8, comment, written[comment])
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{}
		for _, w := range ws {
			ids = append(ids, w.CommentID)
		}
		return ids
	}
	for comment, want := range map[int64][]int64{1: {5, 6, 2}, 2: {5, 6}, 6: {5}, 5: {}} {
		if got := newer(comment); !slices.Equal(got, want) {
			t.Errorf("newer than comment %d: %v, want %v", comment, got, want)
		}
	}
	// A cancelled job (STOP) no longer counts.
	if _, err := q.CancelPR(ctx, 8, 2); err != nil {
		t.Fatal(err)
	}
	if got := newer(1); !slices.Equal(got, []int64{2}) {
		t.Errorf("after STOP: %v, want [2]", got)
	}
}

func TestJobMetrics(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{})
	defer q.Close()
	for i := range 3 {
		if _, err := q.Record(ctx, commentDelivery(fmt.Sprint("m", i), 1, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(q.Collector())
	n, err := testutil.GatherAndCount(reg, "refbot_jobs")
	if err != nil || n != 1 {
		t.Fatalf("refbot_jobs series: %d, %v", n, err)
	}
	want := "# HELP refbot_jobs Jobs in the queue by kind and state.\n# TYPE refbot_jobs gauge\nrefbot_jobs{kind=\"comment\",state=\"available\"} 3\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "refbot_jobs"); err != nil {
		t.Error(err)
	}
}

func TestScheduledBranchDeletion(t *testing.T) {
	ctx := context.Background()
	deleted := make(chan int, 2)
	q := open(t, database(t), Handlers{
		DeleteBranch: func(_ context.Context, pr int) (time.Duration, error) { deleted <- pr; return 0, nil },
	})
	at := time.Now().Add(300 * time.Millisecond)
	for range 2 { // the second is a duplicate close event
		if err := q.ScheduleBranchDeletion(ctx, 31, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case pr := <-deleted:
		if pr != 31 {
			t.Errorf("deleted #%d's branch", pr)
		}
		if time.Now().Before(at.Add(-time.Millisecond)) { // River keeps milliseconds
			t.Error("deleted before the grace period ended")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the scheduled deletion never ran")
	}
	time.Sleep(2 * time.Second)
	stopQueue(t, q)
	if len(deleted) != 0 {
		t.Error("the duplicate scheduled a second deletion")
	}
}

func TestJobsForPR(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{})
	defer q.Close()
	for i, pr := range []int{3, 4, 3} {
		if _, err := q.Record(ctx, commentDelivery(fmt.Sprint("j", i), pr, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := q.JobsForPR(ctx, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID < jobs[1].ID || jobs[0].Kind != "comment" || jobs[0].State != "available" ||
		jobs[0].Author != "alice" || jobs[0].Body != "BUILDBOT: UPDATE" || jobs[0].CreatedAt.IsZero() || jobs[0].Failed {
		t.Errorf("JobsForPR(3) = %+v", jobs)
	}
	// A job whose last attempt failed, waiting for another or given up.
	for _, state := range []string{"retryable", "discarded"} {
		if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET state = $1,
			finalized_at = CASE WHEN $2 = 'discarded' THEN `+q.sql.now()+` END WHERE id = $3`, state, state, jobs[1].ID); err != nil {
			t.Fatal(err)
		}
		if jobs, err := q.JobsForPR(ctx, 3, 10); err != nil || !jobs[1].Failed || jobs[0].Failed {
			t.Errorf("with the older job %s: %+v, %v", state, jobs, err)
		}
	}
}

// stopQueue stops q, letting its jobs finish for up to ten seconds, and closes it.
func stopQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.Stop(ctx)
	q.Close()
}

// TestScheduleCIWaitOnceWhileWaiting: scheduling an update's CI wait again
// while one is waiting adds nothing; another update's or another PR's is a
// job of its own.
func TestScheduleCIWaitOnceWhileWaiting(t *testing.T) {
	type wait struct {
		pr     int
		update int64
	}
	tests := []struct {
		name  string
		waits []wait
		jobs  int
	}{
		{"same update twice", []wait{{5, 1}, {5, 1}}, 1},
		{"another update", []wait{{5, 1}, {5, 2}}, 2},
		{"another pull request", []wait{{5, 1}, {6, 1}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := open(t, database(t), Handlers{})
			defer q.Close()
			for _, w := range tc.waits {
				if err := q.ScheduleCIWait(context.Background(), w.pr, w.update, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if n := countJobs(t, q, "ci_wait"); n != tc.jobs {
				t.Errorf("%d CI wait jobs, want %d", n, tc.jobs)
			}
		})
	}
}

// TestScheduleCIWaitAgainOnceEnded: a CI wait scheduled again while it runs
// adds nothing; once it has ended, scheduling it again runs it again.
func TestScheduleCIWaitAgainOnceEnded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	job := jobRef{"ci_wait", 5}
	var q *Queue
	f := newFakeJobs(func(ctx context.Context, j jobRef, run int) (time.Duration, error) {
		if run == 1 {
			if err := q.ScheduleCIWait(ctx, j.pr, 1, 0); err != nil {
				t.Error(err)
			}
		}
		return 0, nil
	})
	q = open(t, database(t), f.handlers())
	if err := q.ScheduleCIWait(ctx, job.pr, 1, 0); err != nil {
		t.Fatal(err)
	}
	startQueue(t, q)
	waitForState(t, q, job, "completed")
	if n := countJobs(t, q, "ci_wait"); n != 1 {
		t.Errorf("scheduling the running CI wait again made %d jobs, want 1", n)
	}
	if err := q.ScheduleCIWait(ctx, job.pr, 1, 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the CI wait ran again", func() bool { return f.runs(job) == 2 })
}

// TestStartReleasesEarlierServesLeases: Start releases the leases an
// earlier refbot serve left behind (it died holding them) but not a CLI
// command's, which may still be running.
func TestStartReleasesEarlierServesLeases(t *testing.T) {
	testenv.SQLiteOnly(t) // with PostgreSQL, see TestTakeOverSilentReplica
	ctx := context.Background()
	path := database(t)
	q := open(t, path, Handlers{})
	held := map[string]string{ // lease: holder
		"pr:1":        "serve-123-456/job-1",
		"base:master": "serve-123-456/job-1",
		"pr:2":        "serve-99-1/job-7",
		"pr:3":        "cli-9",
		"pr:4":        "cli-serve-1",
	}
	for lease, holder := range held {
		if ok, err := q.st.TakeLeases(ctx, []string{lease}, holder, time.Hour); !ok || err != nil {
			t.Fatalf("take %s for %s: %v, %v", lease, holder, ok, err)
		}
	}
	q.Close() // the crash

	q = open(t, path, Handlers{})
	startQueue(t, q)
	want := map[string]string{"pr:1": "", "base:master": "", "pr:2": "", "pr:3": "cli-9", "pr:4": "cli-serve-1"}
	got := map[string]string{}
	for lease := range held {
		h, err := q.st.LeaseHolder(ctx, lease)
		if err != nil {
			t.Fatal(err)
		}
		got[lease] = h
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lease holders after Start (-want +got):\n%s", diff)
	}
}

// TestOpenChecksWorkers: Workers may name only the queues there are, and an
// error says which those are.
func TestOpenChecksWorkers(t *testing.T) {
	tests := []struct {
		name    string
		workers map[string]int
		wantErr bool
	}{
		{"every queue", map[string]int{Commands: 1, Updates: 1, Merges: 1, CI: 1}, false},
		{"none", nil, false},
		{"misspelt", map[string]int{"update": 1}, true},
		{"capitalised", map[string]int{Commands: 1, "Merges": 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), database(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			q, err := Open(context.Background(), Config{Store: st, Workers: tc.workers})
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				q.Close()
				return
			}
			if err == nil {
				q.Close()
				t.Fatal("Open accepted an unknown queue")
			}
			for _, name := range []string{Commands, Updates, Merges, CI} {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("the error %q does not name the queue %q", err, name)
				}
			}
		})
	}
}

// TestCancelPRCancelsCommentsAndCIWaits: CancelPR cancels the PR's comment
// jobs and CI waits, except the asking comment's, and leaves its merges and
// branch deletions, and other PRs' jobs.
func TestCancelPRCancelsCommentsAndCIWaits(t *testing.T) {
	tests := []struct {
		name string
		stop bool // a STOP asks, and its own job is kept
	}{
		{"from a STOP", true},
		{"keeping none", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := open(t, database(t), Handlers{})
			defer q.Close()
			for _, j := range []jobRef{{"comment", 5}, {"ci_wait", 5}, {"pr_closed", 5}, {"delete_branch", 5},
				{"comment", 6}, {"ci_wait", 6}} {
				enqueue(t, q, j)
			}
			want := map[string]string{
				"comment #5 BUILDBOT: UPDATE": "cancelled",
				"ci_wait #5":                  "cancelled",
				"pr_closed #5":                "available",
				"delete_branch #5":            "available",
				"comment #6 BUILDBOT: UPDATE": "available",
				"ci_wait #6":                  "available",
			}
			var keep int64
			if tc.stop {
				keep = enqueueComment(t, q, 5, "BUILDBOT: STOP")
				want["comment #5 BUILDBOT: STOP"] = "available"
			}
			ids, err := q.CancelPR(context.Background(), 5, keep)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, jobStates(t, q)); diff != "" {
				t.Errorf("job states after CancelPR (-want +got):\n%s", diff)
			}
			if len(ids) != 2 {
				t.Errorf("CancelPR returned %v, want the ids of the 2 jobs it cancelled", ids)
			}
		})
	}
}

// TestScheduledJobDueNowIsAvailable: a CI wait or branch deletion due now is
// available to the workers at once; one due later waits, as scheduled, for
// River's scheduler.
func TestScheduledJobDueNowIsAvailable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		schedule func(q *Queue) error
		job      jobRef
		state    string
	}{
		{"CI wait now", func(q *Queue) error { return q.ScheduleCIWait(ctx, 5, 1, 0) }, jobRef{"ci_wait", 5}, "available"},
		{"CI wait later", func(q *Queue) error { return q.ScheduleCIWait(ctx, 5, 1, time.Hour) }, jobRef{"ci_wait", 5}, "scheduled"},
		{"deletion due", func(q *Queue) error { return q.ScheduleBranchDeletion(ctx, 5, time.Now().Add(-time.Minute)) },
			jobRef{"delete_branch", 5}, "available"},
		{"deletion later", func(q *Queue) error { return q.ScheduleBranchDeletion(ctx, 5, time.Now().Add(time.Hour)) },
			jobRef{"delete_branch", 5}, "scheduled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := open(t, database(t), Handlers{})
			defer q.Close()
			if err := tc.schedule(q); err != nil {
				t.Fatal(err)
			}
			if got := jobOf(t, q, tc.job).State; got != tc.state {
				t.Errorf("%v is %s, want %s", tc.job, got, tc.state)
			}
		})
	}
}

// TestEarlierDefaultQueueJobsMoved: jobs an earlier refbot queued in
// River's default queue go to their own queues at start, a comment's to the
// one its command belongs in (a STOP or STATUS not behind UPDATEs), and run.
func TestEarlierDefaultQueueJobsMoved(t *testing.T) {
	testenv.SQLiteOnly(t) // PostgreSQL came after the queues were separate
	ctx := context.Background()
	f := newFakeJobs(nil)
	q := open(t, database(t), f.handlers())
	update, status := enqueueComment(t, q, 4, "BUILDBOT: UPDATE"), enqueueComment(t, q, 5, statusBody)
	enqueue(t, q, jobRef{"pr_closed", 6})
	if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET queue = 'default'`); err != nil {
		t.Fatal(err)
	}
	startQueue(t, q)
	want := map[string]string{fmt.Sprint(update): Updates, fmt.Sprint(status): Commands}
	rows, err := q.DB().QueryContext(ctx, `SELECT kind, queue, `+q.sql.argText("comment_id")+` FROM river_job`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, queue string
		var comment sql.NullString
		if err := rows.Scan(&kind, &queue, &comment); err != nil {
			t.Fatal(err)
		}
		w := Merges
		if kind == "comment" {
			w = want[comment.String]
		}
		if queue != w {
			t.Errorf("%s job (comment %s) in queue %s, want %s", kind, comment.String, queue, w)
		}
	}
	for _, j := range []jobRef{{"comment", 4}, {"comment", 5}, {"pr_closed", 6}} {
		waitForRuns(t, f, j, 1)
	}
}

// TestWakeCIWaits: a CI wait snoozed for an hour runs again at once when
// woken (a workflow_run delivery); one that ended is not revived, and
// another PR's is left asleep.
func TestWakeCIWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	five, six := jobRef{"ci_wait", 5}, jobRef{"ci_wait", 6}
	f := newFakeJobs(func(ctx context.Context, j jobRef, run int) (time.Duration, error) {
		if run == 1 {
			return time.Hour, nil
		}
		return 0, nil
	})
	q := open(t, database(t), f.handlers())
	enqueue(t, q, five)
	enqueue(t, q, six)
	startQueue(t, q)
	waitForState(t, q, five, "scheduled")
	waitForState(t, q, six, "scheduled")
	n, err := q.WakeCIWaits(ctx, 5)
	if err != nil || n != 1 {
		t.Fatalf("WakeCIWaits(5) = %d, %v; want 1", n, err)
	}
	waitForState(t, q, five, "completed")
	if f.runs(five) != 2 {
		t.Errorf("woken wait ran %d times, want 2", f.runs(five))
	}
	if got := jobOf(t, q, six); got.State != "scheduled" || f.runs(six) != 1 {
		t.Errorf("#6's wait: %s after %d runs, want still asleep", got.State, f.runs(six))
	}
	// The ended wait is not revived.
	if n, err := q.WakeCIWaits(ctx, 5); err != nil || n != 0 {
		t.Errorf("waking an ended wait = %d, %v; want 0", n, err)
	}
	time.Sleep(200 * time.Millisecond)
	if f.runs(five) != 2 {
		t.Errorf("the ended wait ran again: %d runs", f.runs(five))
	}
}
