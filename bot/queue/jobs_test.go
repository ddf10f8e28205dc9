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

// TestSnoozeRunsAgainWithoutAnAttempt: a handler that returns d > 0 runs
// again d later, and the run is not counted as an attempt; one that returns
// 0 completes its job.
func TestSnoozeRunsAgainWithoutAnAttempt(t *testing.T) {
	t.Parallel()
	const snoozes = 3
	const d = 250 * time.Millisecond
	tests := []struct {
		kind        string
		maxAttempts int
	}{
		{"pr_closed", MergeAttempts},
		{"delete_branch", DeleteAttempts},
		{"ci_wait", CIWaitAttempts},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			job := jobRef{tc.kind, 7}
			var q *Queue
			var mu sync.Mutex
			var rows []riverJob // the job's row as each run found it
			f := newFakeJobs(func(ctx context.Context, j jobRef, run int) (time.Duration, error) {
				r, err := readJob(ctx, q, j)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				rows = append(rows, r)
				mu.Unlock()
				if run <= snoozes {
					return d, nil
				}
				return 0, nil
			})
			q = open(t, database(t), f.handlers())
			enqueue(t, q, job)
			startQueue(t, q)
			waitForRuns(t, f, job, snoozes+1)
			waitForState(t, q, job, "completed")

			if n := f.runs(job); n != snoozes+1 {
				t.Fatalf("ran %d times, want %d (%d snoozes, then done)", n, snoozes+1, snoozes)
			}
			ends := f.endTimes(job)
			mu.Lock()
			defer mu.Unlock()
			for i, r := range rows {
				if r.Attempt != 1 || r.MaxAttempts != tc.maxAttempts {
					t.Errorf("run %d: attempt %d of %d, want 1 of %d", i+1, r.Attempt, r.MaxAttempts, tc.maxAttempts)
				}
				if i == 0 {
					continue
				}
				// River keeps milliseconds; the upper bound only catches a
				// snooze for another duration than the handler's.
				if after := r.ScheduledAt.Sub(ends[i-1]); after < d-time.Millisecond || after > d+time.Minute {
					t.Errorf("run %d was scheduled %v after run %d returned, want %v", i+1, after, i, d)
				}
			}
			if got := jobOf(t, q, job); got.Attempt != 1 || got.Snoozes != snoozes {
				t.Errorf("completed at attempt %d after %d snoozes, want attempt 1 after %d", got.Attempt, got.Snoozes, snoozes)
			}
		})
	}
}

// TestQueuesDoNotWaitBehindUpdates: while the updates queue's only worker
// is busy with a long job, commands, merges, branch deletions and CI waits
// run in their own queues.
func TestQueuesDoNotWaitBehindUpdates(t *testing.T) {
	t.Parallel()
	long := jobRef{"comment", 1}
	release := make(chan struct{})
	f := newFakeJobs(func(ctx context.Context, j jobRef, _ int) (time.Duration, error) {
		if j == long {
			select {
			case <-release:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return 0, nil
	})
	q := openConfig(t, database(t), Config{Handlers: f.handlers(),
		LeaseWait: 50 * time.Millisecond, Workers: map[string]int{Updates: 1}})
	startQueue(t, q)
	enqueue(t, q, long)
	waitUntil(t, "the long UPDATE runs", func() bool { return f.runs(long) == 1 })
	behind := jobRef{"comment", 2} // another UPDATE, for the same worker
	enqueue(t, q, behind)

	tests := []struct {
		name  string
		job   jobRef
		body  string // of a comment
		queue string
	}{
		{"command", jobRef{"comment", 3}, statusBody, Commands},
		{"closed pull request", jobRef{"pr_closed", 4}, "", Merges},
		{"branch deletion", jobRef{"delete_branch", 5}, "", Merges},
		{"CI wait", jobRef{"ci_wait", 6}, "", CI},
	}
	for _, tc := range tests {
		if tc.body != "" {
			enqueueComment(t, q, tc.job.pr, tc.body)
		} else {
			enqueue(t, q, tc.job)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			waitForState(t, q, tc.job, "completed")
			if got := jobOf(t, q, tc.job).Queue; got != tc.queue {
				t.Errorf("ran in queue %q, want %q", got, tc.queue)
			}
		})
	}
	if n := f.runs(behind); n != 0 {
		t.Errorf("a second UPDATE ran %d times while the updates queue's only worker was busy", n)
	}
	close(release)
	waitForState(t, q, behind, "completed")
}

// TestPRClosedHoldsPRAndBaseLeases: a closed pull request's job runs
// holding the PR's lease and the data repo's base branch's, and lets go of
// both.
func TestPRClosedHoldsPRAndBaseLeases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		baseBranch string // Config.BaseBranch
		baseLease  string
	}{
		{"default base branch", "", "base:master"},
		{"configured base branch", "data", "base:data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := jobRef{"pr_closed", 8}
			leases := []string{store.PRLease(job.pr), tc.baseLease}
			var q *Queue
			held := make(chan []string, 1) // the holders of leases while the job ran
			f := newFakeJobs(func(ctx context.Context, _ jobRef, _ int) (time.Duration, error) {
				select {
				case held <- leaseHolders(t, q.st, leases):
				default:
					t.Error("the job ran twice")
				}
				return 0, nil
			})
			q = openConfig(t, database(t), Config{Handlers: f.handlers(),
				LeaseWait: 50 * time.Millisecond, BaseBranch: tc.baseBranch})
			enqueue(t, q, job)
			startQueue(t, q)
			waitForState(t, q, job, "completed")

			holders := <-held
			if len(holders) != 2 || !strings.HasPrefix(holders[0], "serve-") || holders[1] != holders[0] {
				t.Errorf("while the job ran, %v were held by %q, want both by this serve's job", leases, holders)
			}
			if got := leaseHolders(t, q.st, leases); strings.Join(got, "") != "" {
				t.Errorf("after the job, %v are held by %q", leases, got)
			}
		})
	}
}

// TestJobsWaitForLeases: a job whose lease is held, by a CLI command or by
// another job, snoozes (no attempt counted) until the lease is free.
func TestJobsWaitForLeases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// Either a lease a CLI command holds, or a job that runs, holding
		// its leases, until released.
		cli    string
		first  jobRef
		waiter jobRef
	}{
		{name: "CLI on the base holds up a merge", cli: "base:master", waiter: jobRef{"pr_closed", 7}},
		{name: "CLI on the PR holds up its comment", cli: "pr:7", waiter: jobRef{"comment", 7}},
		{name: "CLI on the PR holds up its CI wait", cli: "pr:7", waiter: jobRef{"ci_wait", 7}},
		{name: "merge holds up another PR's merge", first: jobRef{"pr_closed", 6}, waiter: jobRef{"pr_closed", 7}},
		{name: "merge holds up the PR's comment", first: jobRef{"pr_closed", 7}, waiter: jobRef{"comment", 7}},
		{name: "CI wait holds up the PR's comment", first: jobRef{"ci_wait", 7}, waiter: jobRef{"comment", 7}},
		{name: "comment holds up the PR's CI wait", first: jobRef{"comment", 7}, waiter: jobRef{"ci_wait", 7}},
		{name: "branch deletion holds up the PR's comment", first: jobRef{"delete_branch", 7}, waiter: jobRef{"comment", 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			release := make(chan struct{})
			f := newFakeJobs(func(ctx context.Context, j jobRef, _ int) (time.Duration, error) {
				if j == tc.first {
					select {
					case <-release:
					case <-ctx.Done():
						return 0, ctx.Err()
					}
				}
				return 0, nil
			})
			q := open(t, database(t), f.handlers())
			startQueue(t, q)
			if tc.cli != "" {
				if ok, err := q.st.TakeLeases(ctx, []string{tc.cli}, "cli-1", time.Hour); !ok || err != nil {
					t.Fatalf("the CLI's lease: %v, %v", ok, err)
				}
			} else {
				enqueue(t, q, tc.first)
				waitUntil(t, tc.first.String()+" runs", func() bool { return f.runs(tc.first) == 1 })
			}

			enqueue(t, q, tc.waiter)
			waitUntil(t, tc.waiter.String()+" was tried", func() bool {
				return f.runs(tc.waiter) > 0 || jobOf(t, q, tc.waiter).Snoozes > 0
			})
			if n := f.runs(tc.waiter); n != 0 {
				t.Errorf("%v ran while the lease was held", tc.waiter)
			}
			if tc.cli != "" {
				if err := q.st.ReleaseLeases(ctx, []string{tc.cli}, "cli-1"); err != nil {
					t.Fatal(err)
				}
			} else {
				close(release)
			}
			waitForState(t, q, tc.waiter, "completed")
			if r := jobOf(t, q, tc.waiter); r.Attempt != 1 {
				t.Errorf("%v completed at attempt %d after %d snoozes, want attempt 1", tc.waiter, r.Attempt, r.Snoozes)
			}
		})
	}
}

// TestGaveUpIsReported: a job that fails every attempt is reported to its
// kind's GaveUp handler once, after the last attempt. A snooze in between
// is not an attempt.
func TestGaveUpIsReported(t *testing.T) {
	t.Parallel()
	errDown := errors.New("GitHub is down")
	tests := []struct {
		kind     string
		attempts int
		// snoozeAt is the run that asks to run again instead of failing
		// (0: none); comment handlers cannot ask.
		snoozeAt int
	}{
		{"comment", CommentAttempts, 0},
		{"pr_closed", MergeAttempts, MergeAttempts},
		{"delete_branch", DeleteAttempts, DeleteAttempts},
		{"ci_wait", CIWaitAttempts, CIWaitAttempts},
	}
	for _, tc := range tests {
		name := tc.kind
		if tc.snoozeAt > 0 {
			name += fmt.Sprintf(" snoozing at run %d", tc.snoozeAt)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := jobRef{tc.kind, 2}
			f := newFakeJobs(func(_ context.Context, _ jobRef, run int) (time.Duration, error) {
				if run == tc.snoozeAt {
					return time.Millisecond, nil
				}
				return 0, errDown
			})
			q := open(t, database(t), f.handlers())
			enqueue(t, q, job)
			retryAtOnce(t, q)
			startQueue(t, q)
			runs := tc.attempts
			if tc.snoozeAt > 0 {
				runs++
			}
			waitForRuns(t, f, job, runs)
			// GaveUp is called before River records the end.
			waitForState(t, q, job, "discarded")

			want := []gaveUpCall{{job: job, attempts: tc.attempts, runs: runs, err: errDown.Error()}}
			if diff := cmp.Diff(want, f.gaveUpCalls(), cmp.AllowUnexported(gaveUpCall{}, jobRef{})); diff != "" {
				t.Errorf("GaveUp calls (-want +got):\n%s", diff)
			}
		})
	}
}

// leaseHolders returns who holds each of leases ("" for nobody).
func leaseHolders(t *testing.T, st *store.Store, leases []string) []string {
	var out []string
	for _, l := range leases {
		h, err := st.LeaseHolder(context.Background(), l)
		if err != nil {
			t.Error(err)
		}
		out = append(out, h)
	}
	return out
}

// TestGaveUpWhenLeasesCannotBeTaken: on a job's last attempt, an error
// taking its leases (the database failing) is told to its GaveUp handler
// too: the job does not end unreported.
func TestGaveUpWhenLeasesCannotBeTaken(t *testing.T) {
	ctx := context.Background()
	f := newFakeJobs(nil)
	q := open(t, database(t), f.handlers())
	job := jobRef{"comment", 3}
	enqueue(t, q, job)
	// Its last attempt, due in a moment: after the queue started.
	if _, err := q.DB().ExecContext(ctx, `UPDATE river_job SET attempt = max_attempts - 1, state = 'scheduled',
		scheduled_at = `+q.sql.inSeconds(1)); err != nil {
		t.Fatal(err)
	}
	startQueue(t, q)
	if _, err := q.DB().ExecContext(ctx, `ALTER TABLE refbot_lease RENAME TO refbot_lease_gone`); err != nil {
		t.Fatal(err)
	}
	waitForState(t, q, job, "discarded")
	calls := f.gaveUpCalls()
	if len(calls) != 1 || calls[0].runs != 0 || !strings.Contains(calls[0].err, "lease") {
		t.Errorf("GaveUp calls: %+v; want one, for the lease error, with the handler never run", calls)
	}
}
