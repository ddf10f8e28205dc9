package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/store"
)

// websiteJobs are the harness's handlers with the WEBSITE job's: each run
// is counted as the "website" job of its PR, and the request ids the
// handler was given are kept.
type websiteJobs struct {
	*fakeJobs
	mu  sync.Mutex
	ids []int64
}

func newWebsiteJobs(do func(ctx context.Context, j jobRef, run int) (time.Duration, error)) *websiteJobs {
	return &websiteJobs{fakeJobs: newFakeJobs(do)}
}

func (f *websiteJobs) handlers() Handlers {
	h := f.fakeJobs.handlers()
	h.Website = func(ctx context.Context, pr int, id int64) (time.Duration, error) {
		f.mu.Lock()
		f.ids = append(f.ids, id)
		f.mu.Unlock()
		return f.run(ctx, jobRef{"website", pr})
	}
	h.WebsiteGaveUp = func(_ context.Context, pr int, _ int64, n int, err error) {
		f.gaveUpOn(jobRef{"website", pr}, n, err)
	}
	return h
}

func (f *websiteJobs) requests() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.ids...)
}

// websiteArg reads the request id of the newest website job of pr.
func websiteArg(t *testing.T, q *Queue, pr int) int64 {
	t.Helper()
	var id int64
	if err := q.DB().QueryRow(`SELECT `+q.sql.argInt("website")+` FROM river_job WHERE kind = 'website'
		AND `+q.sql.argInt("pr")+` = $1 ORDER BY id DESC LIMIT 1`, pr).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestScheduleWebsite: a WEBSITE request's job goes to the ci queue with
// its own attempts, due at the time given (at once when it is past).
func TestScheduleWebsite(t *testing.T) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name  string
		at    time.Time
		state string
	}{
		{"due", time.Now().Add(-time.Minute), "available"},
		{"later", later, "scheduled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := open(t, database(t), Handlers{})
			defer q.Close()
			before := time.Now()
			if err := q.ScheduleWebsite(ctx, 7, 42, tc.at); err != nil {
				t.Fatal(err)
			}
			got := jobOf(t, q, jobRef{"website", 7})
			if got.State != tc.state || got.Queue != CI || got.MaxAttempts != WebsiteAttempts || got.Attempt != 0 {
				t.Errorf("job: %+v; want %s in queue %s with %d attempts", got, tc.state, CI, WebsiteAttempts)
			}
			if id := websiteArg(t, q, 7); id != 42 {
				t.Errorf("the job is for request %d, want 42", id)
			}
			// River keeps milliseconds. A job due already is due from
			// its insertion, not from the past time given.
			want := tc.at
			if tc.state == "available" {
				want = before
			}
			if d := got.ScheduledAt.Sub(want); d < -time.Millisecond || (tc.state == "scheduled" && d > time.Millisecond) {
				t.Errorf("scheduled at %v, want %v", got.ScheduledAt, want)
			}
		})
	}
}

// TestScheduleWebsiteOnceWhileActive: scheduling a request's job again
// while it waits adds nothing (the first time stays); another request's or
// another PR's is a job of its own.
func TestScheduleWebsiteOnceWhileActive(t *testing.T) {
	type sched struct {
		pr int
		id int64
	}
	tests := []struct {
		name   string
		scheds []sched
		jobs   int
	}{
		{"same request twice", []sched{{5, 1}, {5, 1}}, 1},
		{"another request", []sched{{5, 1}, {5, 2}}, 2},
		{"another pull request", []sched{{5, 1}, {6, 1}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := open(t, database(t), Handlers{})
			defer q.Close()
			first := time.Now().Add(time.Hour)
			for i, s := range tc.scheds {
				if err := q.ScheduleWebsite(context.Background(), s.pr, s.id, first.Add(time.Duration(i)*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if n := countJobs(t, q, "website"); n != tc.jobs {
				t.Errorf("%d website jobs, want %d", n, tc.jobs)
			}
			if tc.jobs == 1 {
				if got := jobOf(t, q, jobRef{"website", 5}).ScheduledAt; got.Sub(first).Abs() > time.Millisecond {
					t.Errorf("the job is due at %v, want the first schedule's %v", got, first)
				}
			}
		})
	}
}

// TestWebsiteJobSnoozes: the website job runs its handler with its request
// under the PR's lease; a duration snoozes it (no attempt counted) and it
// runs again, until the handler is done. Once ended, it can be scheduled
// again.
func TestWebsiteJobSnoozes(t *testing.T) {
	t.Parallel()
	const snoozes = 2
	job := jobRef{"website", 7}
	var q *Queue
	var mu sync.Mutex
	var holders []string
	var rows []riverJob
	f := newWebsiteJobs(func(ctx context.Context, j jobRef, run int) (time.Duration, error) {
		h, err := q.st.LeaseHolder(ctx, store.PRLease(j.pr))
		r, rerr := readJob(ctx, q, j)
		mu.Lock()
		holders, rows = append(holders, h), append(rows, r)
		mu.Unlock()
		if err := errors.Join(err, rerr); err != nil {
			t.Error(err)
		}
		if run <= snoozes {
			return 50 * time.Millisecond, nil
		}
		return 0, nil
	})
	q = open(t, database(t), f.handlers())
	if err := q.ScheduleWebsite(context.Background(), job.pr, 42, time.Now()); err != nil {
		t.Fatal(err)
	}
	startQueue(t, q)
	waitForRuns(t, f.fakeJobs, job, snoozes+1)
	waitForState(t, q, job, "completed")
	if n := f.runs(job); n != snoozes+1 {
		t.Errorf("ran %d times, want %d", n, snoozes+1)
	}
	if diff := cmp.Diff([]int64{42, 42, 42}, f.requests()); diff != "" {
		t.Errorf("requests the handler was given (-want +got):\n%s", diff)
	}
	if got := jobOf(t, q, job); got.Attempt != 1 || got.Snoozes != snoozes {
		t.Errorf("completed at attempt %d after %d snoozes, want attempt 1 after %d", got.Attempt, got.Snoozes, snoozes)
	}
	mu.Lock()
	for i, h := range holders {
		if !strings.HasPrefix(h, "serve-") || !strings.HasSuffix(h, fmt.Sprintf("/job-%d", rows[i].ID)) {
			t.Errorf("run %d: the PR's lease is held by %q, want this job", i+1, h)
		}
		if rows[i].Attempt != 1 {
			t.Errorf("run %d: attempt %d, want 1", i+1, rows[i].Attempt)
		}
	}
	mu.Unlock()
	if h, err := q.st.LeaseHolder(context.Background(), store.PRLease(job.pr)); h != "" || err != nil {
		t.Errorf("after the job the PR's lease is held by %q (%v)", h, err)
	}

	if err := q.ScheduleWebsite(context.Background(), job.pr, 42, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitForRuns(t, f.fakeJobs, job, snoozes+2)
	if n := countJobs(t, q, "website"); n != 2 {
		t.Errorf("%d website jobs after scheduling the ended one again, want 2", n)
	}
}

// TestCancelPRCancelsWebsiteJobs: CancelPR cancels the PR's website jobs,
// waiting and running, and leaves another PR's.
func TestCancelPRCancelsWebsiteJobs(t *testing.T) {
	ctx := context.Background()
	running := make(chan struct{})
	ended := make(chan error, 1)
	f := newWebsiteJobs(func(ctx context.Context, j jobRef, run int) (time.Duration, error) {
		if j.pr != 5 {
			return time.Hour, nil
		}
		close(running)
		<-ctx.Done() // follows its docs build until cancelled
		ended <- ctx.Err()
		return 0, ctx.Err()
	})
	q := open(t, database(t), f.handlers())
	if err := q.ScheduleWebsite(ctx, 5, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	startQueue(t, q)
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatal("the website job never ran")
	}
	// A second request of #5 waits for its limits; #6's waits too.
	if err := q.ScheduleWebsite(ctx, 5, 2, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := q.ScheduleWebsite(ctx, 6, 3, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// From a STOP whose comment id happens to be request 1's id: kept
	// are only the STOP's own comment jobs.
	ids, err := q.CancelPR(ctx, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Errorf("CancelPR cancelled jobs %v, want #5's two website jobs", ids)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Error("the running job's context ended without an error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the running website job was not cancelled")
	}
	// Request 1 was running: River finishes it as cancelled once its
	// handler returns.
	waitUntil(t, "the running job ended cancelled", func() bool {
		var s string
		q.DB().QueryRow(`SELECT state FROM river_job WHERE kind = 'website' AND ` + q.sql.argInt("website") + ` = 1`).Scan(&s)
		return s == "cancelled"
	})
	var states []string
	rows, err := q.DB().Query(`SELECT state FROM river_job WHERE kind = 'website' ORDER BY ` + q.sql.argInt("website"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		states = append(states, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(states) != 3 || states[0] != "cancelled" || states[1] != "cancelled" || states[2] != "scheduled" {
		t.Errorf("website job states by request: %v; want #5's cancelled, #6's scheduled", states)
	}
	if len(f.gaveUpCalls()) != 0 {
		t.Errorf("a cancelled job was told as given up: %+v", f.gaveUpCalls())
	}
}

// TestWebsiteGaveUp: a website job that fails every attempt is told to
// WebsiteGaveUp once, after its last; a snooze in between is no attempt.
func TestWebsiteGaveUp(t *testing.T) {
	t.Parallel()
	errDown := errors.New("S3 is down")
	for _, snoozeAt := range []int{0, 3} {
		t.Run(map[int]string{0: "failing", 3: "snoozing at run 3"}[snoozeAt], func(t *testing.T) {
			t.Parallel()
			job := jobRef{"website", 2}
			f := newWebsiteJobs(func(_ context.Context, _ jobRef, run int) (time.Duration, error) {
				if run == snoozeAt {
					return time.Millisecond, nil
				}
				return 0, errDown
			})
			q := open(t, database(t), f.handlers())
			if err := q.ScheduleWebsite(context.Background(), job.pr, 9, time.Now()); err != nil {
				t.Fatal(err)
			}
			retryAtOnce(t, q)
			startQueue(t, q)
			runs := WebsiteAttempts
			if snoozeAt > 0 {
				runs++
			}
			waitForRuns(t, f.fakeJobs, job, runs)
			waitForState(t, q, job, "discarded")
			want := []gaveUpCall{{job: job, attempts: WebsiteAttempts, runs: runs, err: errDown.Error()}}
			if diff := cmp.Diff(want, f.gaveUpCalls(), cmp.AllowUnexported(gaveUpCall{}, jobRef{})); diff != "" {
				t.Errorf("WebsiteGaveUp calls (-want +got):\n%s", diff)
			}
		})
	}
}
