package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/joblog"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/testenv"
)

// TestJobPages: what the index and job pages read of River's jobs. The
// active jobs, oldest first, with their PR; one job's detail, with a
// snoozed job's next run; a failed attempt shown by its time, never its
// error; recent failures by when they failed; an unknown job is nil.
func TestJobPages(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{})
	defer q.Close()
	enqueueComment(t, q, 3, "BUILDBOT: UPDATE")
	enqueueComment(t, q, 4, "BUILDBOT: PLAN <b>")
	if err := q.ScheduleCIWait(ctx, 5, 77, time.Hour); err != nil {
		t.Fatal(err)
	}
	active, err := q.ActiveJobs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range active {
		got = append(got, fmt.Sprintf("%s #%d %s %s", j.Kind, j.PR, j.State, j.Body))
	}
	want := []string{"comment #3 available BUILDBOT: UPDATE", "comment #4 available BUILDBOT: PLAN <b>", "ci_wait #5 scheduled "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ActiveJobs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if few, err := q.ActiveJobs(ctx, 1); err != nil || len(few) != 1 || few[0].ID != active[0].ID {
		t.Errorf("ActiveJobs(1) = %+v, %v; want the oldest", few, err)
	}

	d, err := q.JobByID(ctx, active[2].ID)
	if err != nil || d == nil {
		t.Fatalf("JobByID(ci wait) = %+v, %v", d, err)
	}
	if d.Kind != "ci_wait" || d.PR != 5 || d.Queue != CI || d.MaxAttempts != CIWaitAttempts || d.Attempt != 0 ||
		d.ScheduledAt.Before(time.Now().Add(50*time.Minute)) || !d.AttemptedAt.IsZero() || !d.FinalizedAt.IsZero() ||
		d.CreatedAt.IsZero() || len(d.Failures) != 0 {
		t.Errorf("JobByID(ci wait) = %+v", d)
	}
	if d, err := q.JobByID(ctx, active[2].ID+1000); err != nil || d != nil {
		t.Errorf("JobByID(unknown) = %+v, %v; want nil", d, err)
	}

	// Failures: the comment of #3 gave up yesterday, the one of #4 waits
	// for a retry after failing a minute ago, as River writes them.
	fail := func(id int64, state string, at time.Time) {
		t.Helper()
		finalized := any(nil)
		if state == "discarded" {
			finalized = q.sql.time(at)
		}
		errs := fmt.Sprintf(`{"at": %q, "attempt": 1, "error": "dial tcp 10.1.2.3:443: secret", "trace": ""}`, at.UTC().Format(time.RFC3339Nano))
		column := `json_array(json($5))`
		if q.sql.postgres {
			column = `ARRAY[$5::jsonb]`
		}
		if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET state = $1, attempt = 1, attempted_at = $2, finalized_at = $3,
			errors = `+column+` WHERE id = $4`, state, q.sql.time(at), finalized, id, errs); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	fail(active[0].ID, "discarded", now.Add(-25*time.Hour))
	fail(active[1].ID, "retryable", now.Add(-time.Minute))
	d, err = q.JobByID(ctx, active[0].ID)
	if err != nil || d == nil {
		t.Fatalf("JobByID(failed) = %+v, %v", d, err)
	}
	if len(d.Failures) != 1 || d.Failures[0].Attempt != 1 || d.Failures[0].At.Sub(now.Add(-25*time.Hour)).Abs() > time.Second ||
		!d.Failed || d.FinalizedAt.IsZero() || d.Author != "alice" || d.PR != 3 || d.Body != "BUILDBOT: UPDATE" {
		t.Errorf("JobByID(failed) = %+v", d)
	}
	if s := fmt.Sprintf("%+v", d); strings.Contains(s, "10.1.2.3") {
		t.Errorf("a job's detail shows the error's text: %s", s)
	}
	recent, err := q.RecentFailures(ctx, now.Add(-48*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 2 || recent[0].ID != active[1].ID || recent[1].ID != active[0].ID || !recent[0].Failed {
		t.Errorf("RecentFailures(two days) = %+v; want #4's then #3's", recent)
	}
	recent, err = q.RecentFailures(ctx, now.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 1 || recent[0].ID != active[1].ID || recent[0].PR != 4 {
		t.Errorf("RecentFailures(an hour) = %+v; want only #4's", recent)
	}
	active, err = q.ActiveJobs(ctx, 10)
	if err != nil || len(active) != 2 {
		t.Errorf("ActiveJobs after #3 gave up: %+v, %v", active, err)
	}
}

// TestJobLogWhileRunning: a handler's logger, wrapped with the job's
// context, writes to the job's log, attempt by attempt; lines are in the
// store while the attempt still runs; the reconciler's periodic job prunes
// the lines of jobs River no longer has.
func TestJobLogWhileRunning(t *testing.T) {
	ctx := context.Background()
	var runs atomic.Int32
	release := make(chan struct{})
	var q *Queue
	logged := make(chan int64, 1)
	q = open(t, database(t), Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			log := zap.NewNop().WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return joblog.Core(ctx, c) }))
			n := runs.Add(1)
			log.Info("update: find the build", zap.Int("pr", w.PR), zap.Int32("run", n))
			if n == 1 {
				return errors.New("GitHub is down")
			}
			var id int64
			if err := q.DB().QueryRowContext(ctx, `SELECT id FROM river_job WHERE kind = 'comment'`).Scan(&id); err != nil {
				return err
			}
			logged <- id
			<-release
			log.Info("update: push")
			return nil
		},
	})
	enqueueComment(t, q, 9, "BUILDBOT: UPDATE")
	retryAtOnce(t, q)
	startQueue(t, q)
	id := <-logged
	// The second attempt runs: its first line is written without its end.
	lines := func() []store.JobLogLine {
		t.Helper()
		l, err := q.st.JobLog(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// The first attempt's line and its failure, then the second's first.
	waitUntil(t, "the running attempt's first line is written", func() bool { return len(lines()) == 3 })
	close(release)
	waitForState(t, q, jobRef{"comment", 9}, "completed")
	var got []string
	for _, l := range lines() {
		got = append(got, fmt.Sprintf("%d %d %s %s", l.Seq, l.Attempt, l.Level, l.Message))
	}
	want := []string{"1 1 info update: find the build pr=9 run=1",
		"2 1 warn job attempt failed job=" + fmt.Sprint(id) + " kind=comment attempt=1 max_attempts=8 error=(in refbot's log)",
		"3 2 info update: find the build pr=9 run=2", "4 2 info update: push"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("job log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A job River deleted loses its lines; the others keep theirs.
	if err := q.st.AppendJobLog(ctx, id+100, 1, time.Now(), "info", "a job River deleted"); err != nil {
		t.Fatal(err)
	}
	q.pruneJobLogs(ctx)
	if l, _ := q.st.JobLog(ctx, id+100, 0); len(l) != 0 {
		t.Errorf("lines of a deleted job after pruning: %+v", l)
	}
	if n := len(lines()); n != 4 {
		t.Errorf("%d lines of a job River has after pruning, want 4", n)
	}
}

// BenchmarkJobPages reads what the pages read with 10,000 jobs in River's
// table, most of them completed, as a week's retention holds them. With
// REFBOT_TEST_ON_POSTGRESQL=1 it runs on PostgreSQL.
func BenchmarkJobPages(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, testenv.Database(b, filepath.Join(b.TempDir(), "refbot.db")), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	q, err := Open(ctx, Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	const jobs = 10000
	var params []river.InsertManyParams
	for i := range jobs {
		params = append(params, river.InsertManyParams{Args: CommentArgs{CommentWork: intake.CommentWork{PR: i % 500, CommentID: int64(i),
			Author: "alice", Body: "BUILDBOT: UPDATE"}}, InsertOpts: &river.InsertOpts{Queue: Updates}})
	}
	if err := q.river.inTx(ctx, func(tx riverTx) error { return tx.insertMany(ctx, params) }); err != nil {
		b.Fatal(err)
	}
	// 9,900 completed over the week, 50 discarded, 30 waiting for a retry,
	// 20 still queued.
	for _, set := range []struct{ state, where string }{
		{"completed", "id % 100 < 99"},
		{"discarded", "id % 200 = 99"},
		{"retryable", "id % 200 = 199"},
	} {
		finalized := q.sql.now()
		if set.state == "retryable" {
			finalized = "NULL"
		}
		if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET state = $1, finalized_at = `+finalized+`,
			attempted_at = `+q.sql.now()+` WHERE id > 20 AND `+set.where, set.state); err != nil {
			b.Fatal(err)
		}
	}
	if q.sql.postgres {
		// As autovacuum keeps it: the updates above left an index entry
		// for each row's earlier state.
		if _, err := q.DB().ExecContext(ctx, `VACUUM ANALYZE river_job`); err != nil {
			b.Fatal(err)
		}
	}
	since := time.Now().Add(-24 * time.Hour)
	b.Run("ActiveJobs", func(b *testing.B) {
		for range b.N {
			if _, err := q.ActiveJobs(ctx, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RecentFailures", func(b *testing.B) {
		for range b.N {
			if _, err := q.RecentFailures(ctx, since, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("JobByID", func(b *testing.B) {
		for i := range b.N {
			if _, err := q.JobByID(ctx, int64(1+i%jobs)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestOpenPRsFromDeliveries: a pull_request delivery's view of an open PR
// is written with the delivery (newer views win, whatever the order they
// come in), and a close removes the PR from the list.
func TestOpenPRsFromDeliveries(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{})
	defer q.Close()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	view := func(head string, at time.Duration) *intake.OpenPR {
		return &intake.OpenPR{PR: 7, Title: "Plot", Author: "ann", Head: head, Base: "master", UpdatedAt: t0.Add(at)}
	}
	for _, d := range []intake.Delivery{
		{ID: "opened", Event: "pull_request", Action: "opened", Received: time.Now(), OpenPR: view("a", 0)},
		{ID: "sync", Event: "pull_request", Action: "synchronize", Received: time.Now(), OpenPR: view("c", 2*time.Minute)},
		// Redelivered late: older than what the store holds.
		{ID: "sync-late", Event: "pull_request", Action: "synchronize", Received: time.Now(), OpenPR: view("b", time.Minute)},
	} {
		if _, err := q.Record(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.st.OpenPRs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Head != "c" || got[0].Title != "Plot" || !got[0].UpdatedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("open PRs after three deliveries: %+v; want #7 at head c", got)
	}
	if _, err := q.Record(ctx, intake.Delivery{ID: "closed", Event: "pull_request", Action: "closed", Received: time.Now(),
		Work: intake.PullRequestClosed{Repo: "o/r", PR: 7}}); err != nil {
		t.Fatal(err)
	}
	if got, err := q.st.OpenPRs(ctx); err != nil || len(got) != 0 {
		t.Errorf("open PRs after the close: %+v, %v", got, err)
	}
}
