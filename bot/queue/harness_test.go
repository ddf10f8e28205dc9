package queue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/intake"
)

// The test harness: fake handlers for every job kind, queuing a job of any
// kind the way refbot does, and reading River's rows.

// jobRef names a job as the tests see it: its kind, as River stores it
// ("comment", "pr_closed", "delete_branch", "ci_wait"), and its pull
// request.
type jobRef struct {
	kind string
	pr   int
}

func (j jobRef) String() string { return fmt.Sprintf("%s #%d", j.kind, j.pr) }

// The body of a comment job the fake QueueFor sends to Commands; every other
// comment goes to Updates.
const statusBody = "BUILDBOT: STATUS"

// fakeJobs are Handlers for every job kind. Each run is counted and timed
// and answered by do (nil: done at once; a comment's duration is ignored);
// the GaveUp calls are recorded.
type fakeJobs struct {
	do func(ctx context.Context, j jobRef, run int) (time.Duration, error)

	mu      sync.Mutex
	started map[jobRef][]time.Time
	ended   map[jobRef][]time.Time
	gaveUp  []gaveUpCall
}

// gaveUpCall is one call of a GaveUp handler.
type gaveUpCall struct {
	job      jobRef
	attempts int    // as the handler was told
	runs     int    // how often the job had run by then
	err      string // the error it was told
}

func newFakeJobs(do func(ctx context.Context, j jobRef, run int) (time.Duration, error)) *fakeJobs {
	if do == nil {
		do = func(context.Context, jobRef, int) (time.Duration, error) { return 0, nil }
	}
	return &fakeJobs{do: do, started: map[jobRef][]time.Time{}, ended: map[jobRef][]time.Time{}}
}

func (f *fakeJobs) handlers() Handlers {
	return Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			_, err := f.run(ctx, jobRef{"comment", w.PR})
			return err
		},
		PRClosed: func(ctx context.Context, w intake.PullRequestClosed) (time.Duration, error) {
			return f.run(ctx, jobRef{"pr_closed", w.PR})
		},
		DeleteBranch: func(ctx context.Context, pr int) (time.Duration, error) {
			return f.run(ctx, jobRef{"delete_branch", pr})
		},
		CIWait: func(ctx context.Context, pr int, _ int64) (time.Duration, error) {
			return f.run(ctx, jobRef{"ci_wait", pr})
		},
		QueueFor: func(w intake.CommentWork) string {
			if w.Body == statusBody {
				return Commands
			}
			return Updates
		},
		GaveUp: func(_ context.Context, w intake.CommentWork, n int, err error) {
			f.gaveUpOn(jobRef{"comment", w.PR}, n, err)
		},
		MergeGaveUp: func(_ context.Context, w intake.PullRequestClosed, n int, err error) {
			f.gaveUpOn(jobRef{"pr_closed", w.PR}, n, err)
		},
		DeleteGaveUp: func(_ context.Context, pr int, n int, err error) {
			f.gaveUpOn(jobRef{"delete_branch", pr}, n, err)
		},
		CIWaitGaveUp: func(_ context.Context, pr int, _ int64, n int, err error) {
			f.gaveUpOn(jobRef{"ci_wait", pr}, n, err)
		},
	}
}

func (f *fakeJobs) run(ctx context.Context, j jobRef) (time.Duration, error) {
	f.mu.Lock()
	f.started[j] = append(f.started[j], time.Now())
	run := len(f.started[j])
	f.mu.Unlock()
	d, err := f.do(ctx, j, run)
	f.mu.Lock()
	f.ended[j] = append(f.ended[j], time.Now())
	f.mu.Unlock()
	return d, err
}

func (f *fakeJobs) gaveUpOn(j jobRef, attempts int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gaveUp = append(f.gaveUp, gaveUpCall{job: j, attempts: attempts, runs: len(f.started[j]), err: fmt.Sprint(err)})
}

// runs is how often j has started.
func (f *fakeJobs) runs(j jobRef) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.started[j])
}

// endTimes are when j's runs returned.
func (f *fakeJobs) endTimes(j jobRef) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.ended[j]...)
}

func (f *fakeJobs) gaveUpCalls() []gaveUpCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gaveUpCall(nil), f.gaveUp...)
}

// seq numbers the deliveries and comments the tests make up.
var seq atomic.Int64

// enqueue queues a job of j's kind for j's pull request the way refbot
// does: comments (an UPDATE) and closed pull requests through Record,
// branch deletions and CI waits scheduled to run now.
func enqueue(t *testing.T, q *Queue, j jobRef) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch j.kind {
	case "comment":
		enqueueComment(t, q, j.pr, "BUILDBOT: UPDATE")
	case "pr_closed":
		d := intake.Delivery{ID: fmt.Sprint("closed-", seq.Add(1)), Event: "pull_request", Action: "closed",
			Received: time.Now(), Work: intake.PullRequestClosed{Repo: "o/r", PR: j.pr, Merged: true}}
		var got intake.Outcome
		if got, err = q.Record(ctx, d); err == nil && got != intake.Recorded {
			err = fmt.Errorf("outcome %v", got)
		}
	case "delete_branch":
		err = q.ScheduleBranchDeletion(ctx, j.pr, time.Now())
	case "ci_wait":
		err = q.ScheduleCIWait(ctx, j.pr, 1, 0)
	default:
		t.Fatalf("no job kind %q", j.kind)
	}
	if err != nil {
		t.Fatalf("queue %v: %v", j, err)
	}
}

// enqueueComment records a new comment on pr with body and returns the
// comment's id.
func enqueueComment(t *testing.T, q *Queue, pr int, body string) int64 {
	t.Helper()
	n := seq.Add(1)
	id := 1000 + n
	d := commentDelivery(fmt.Sprint("comment-", n), pr, id)
	w := d.Work.(intake.CommentWork)
	w.Body = body
	d.Work = w
	if got, err := q.Record(context.Background(), d); err != nil || got != intake.Recorded {
		t.Fatalf("record a comment on #%d: %v, %v", pr, got, err)
	}
	return id
}

// riverJob is what the tests read of a job's row in River's table.
type riverJob struct {
	ID          int64
	State       string
	Queue       string
	Attempt     int
	MaxAttempts int
	Snoozes     int
	ScheduledAt time.Time
}

// readJob reads the newest job of j's kind and PR (sql.ErrNoRows if none).
func readJob(ctx context.Context, q *Queue, j jobRef) (riverJob, error) {
	var r riverJob
	var scheduled string
	err := q.DB().QueryRowContext(ctx, `SELECT id, state, queue, attempt, max_attempts,
		coalesce(`+q.sql.metaInt("snoozes")+`, 0), scheduled_at
		FROM river_job WHERE kind = $1 AND `+q.sql.argInt("pr")+` = $2 ORDER BY id DESC LIMIT 1`,
		j.kind, j.pr).Scan(&r.ID, &r.State, &r.Queue, &r.Attempt, &r.MaxAttempts, &r.Snoozes, &scheduled)
	if err != nil {
		return r, fmt.Errorf("read the job %v: %w", j, err)
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, scheduled); err == nil {
			r.ScheduledAt = t
			return r, nil
		}
	}
	return r, fmt.Errorf("the job %v: scheduled_at %q", j, scheduled)
}

// jobOf is readJob for the test's goroutine.
func jobOf(t *testing.T, q *Queue, j jobRef) riverJob {
	t.Helper()
	r, err := readJob(context.Background(), q, j)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// jobStates returns the state of every job, by its kind, PR and (for a
// comment) body.
func jobStates(t *testing.T, q *Queue) map[string]string {
	t.Helper()
	rows, err := q.DB().Query(`SELECT kind, ` + q.sql.argInt("pr") + `, coalesce(` + q.sql.argText("body") + `, ''), state
		FROM river_job WHERE kind != 'reconcile'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	states := map[string]string{}
	for rows.Next() {
		var kind, body, state string
		var pr int
		if err := rows.Scan(&kind, &pr, &body, &state); err != nil {
			t.Fatal(err)
		}
		states[strings.TrimSpace(fmt.Sprintf("%v %s", jobRef{kind, pr}, body))] = state
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return states
}

// waitForRuns waits until j has started n times, one run at a time: a run
// may take River's next poll (a second), which a noisy machine can make
// several.
func waitForRuns(t *testing.T, f *fakeJobs, j jobRef, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		waitUntil(t, fmt.Sprintf("%v ran %d times", j, i), func() bool { return f.runs(j) >= i })
	}
}

// waitForState waits until the newest job of j's kind and PR is in state.
func waitForState(t *testing.T, q *Queue, j jobRef, state string) {
	t.Helper()
	var r riverJob
	deadline := time.Now().Add(30 * time.Second)
	for r = jobOf(t, q, j); r.State != state; r = jobOf(t, q, j) {
		if time.Now().After(deadline) {
			t.Fatalf("%v is %s (attempt %d of %d, %d snoozes), want %s", j, r.State, r.Attempt, r.MaxAttempts, r.Snoozes, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countJobs counts the jobs of kind.
func countJobs(t *testing.T, q *Queue, kind string) int {
	t.Helper()
	var n int
	if err := q.DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil checks cond until it holds. What the tests wait for takes
// milliseconds, or a second for River's next poll; the 30 seconds are only
// there so that a broken queue fails instead of hanging.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startQueue starts q and stops it when the test ends.
func startQueue(t *testing.T, q *Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopQueue(t, q) })
}

// retryAtOnce makes failed jobs retry at once instead of after River's
// backoff (attempt⁴ seconds), until the test ends.
func retryAtOnce(t *testing.T, q *Queue) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				q.DB().Exec(`UPDATE river_job SET state = 'available', scheduled_at = ` + q.sql.now() + `
					WHERE state = 'retryable'`)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// metaInt is metadata's key as a number (NULL when absent), for the tests'
// look at River's rows.
func (d jobSQL) metaInt(key string) string {
	if d.postgres {
		return "(metadata->>'" + key + "')::bigint"
	}
	return "json_extract(metadata, '$." + key + "')"
}

// inSeconds is the database's time n seconds from now, as River writes its
// times.
func (d jobSQL) inSeconds(n int) string {
	if d.postgres {
		return fmt.Sprintf("now() + interval '%d seconds'", n)
	}
	return fmt.Sprintf("datetime('now', '%+d seconds')", n)
}
