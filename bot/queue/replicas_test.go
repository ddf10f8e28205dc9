package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/testenv"
)

// postgresOnly skips a test outside the run on PostgreSQL: replicas share
// PostgreSQL only.
func postgresOnly(t *testing.T) {
	t.Helper()
	if !testenv.OnPostgreSQL() {
		t.Skip("replicas share PostgreSQL only (see TestOnPostgreSQL)")
	}
}

// TestTakeOverSilentReplica: a replica that died mid-job (its record not
// renewed) is taken over when another starts: its running job runs again
// at once, one STOP had cancelled as it ran is finished as cancelled, and
// its leases are released; a live replica's job and lease, and a CLI
// command's lease, are left alone.
func TestTakeOverSilentReplica(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	path := database(t)
	q := open(t, path, Handlers{})
	for _, d := range []intake.Delivery{commentDelivery("d4", 4, 7), commentDelivery("d5", 5, 8), commentDelivery("d6", 6, 9)} {
		if _, err := q.Record(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"serve-dead", "serve-live"} {
		if err := q.st.RegisterReplica(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// What SIGKILL leaves: serve-dead was running #4's job and #5's (which
	// STOP cancelled meanwhile), serve-live is running #6's.
	for _, stmt := range []string{
		`UPDATE refbot_replica SET seen_at = '2026-01-01T00:00:00Z' WHERE id = 'serve-dead'`,
		`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = '{serve-dead}'
			WHERE (args->>'pr')::int IN (4, 5)`,
		`UPDATE river_job SET metadata = '{"cancel_attempted_at": "2026-11-23T10:00:00Z"}' WHERE (args->>'pr')::int = 5`,
		`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = '{serve-live}'
			WHERE (args->>'pr')::int = 6`,
	} {
		if _, err := q.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for lease, holder := range map[string]string{"pr:4": "serve-dead/job-1", "pr:6": "serve-live/job-3", "pr:7": "cli-1"} {
		if ok, err := q.st.TakeLeases(ctx, []string{lease}, holder, time.Hour); !ok || err != nil {
			t.Fatalf("take %s: %v, %v", lease, ok, err)
		}
	}
	q.Close()

	f := newFakeJobs(nil)
	q = open(t, path, f.handlers())
	startQueue(t, q)
	waitForRuns(t, f, jobRef{"comment", 4}, 1)
	waitForState(t, q, jobRef{"comment", 5}, "cancelled")
	if n := f.runs(jobRef{"comment", 5}); n != 0 {
		t.Errorf("the job STOP cancelled ran %d times", n)
	}
	if r := jobOf(t, q, jobRef{"comment", 6}); r.State != "running" {
		t.Errorf("the live replica's job is %s, want running", r.State)
	}
	got := map[string]string{}
	for _, lease := range []string{"pr:4", "pr:6", "pr:7"} {
		h, err := q.st.LeaseHolder(ctx, lease)
		if err != nil {
			t.Fatal(err)
		}
		got[lease] = h
	}
	// pr:4 may be held again by this replica's run of the job by now.
	if h := got["pr:4"]; h != "" && h[:len(q.Replica())] != q.Replica() {
		t.Errorf("pr:4 is held by %s after the take-over", h)
	}
	delete(got, "pr:4")
	if diff := cmp.Diff(map[string]string{"pr:6": "serve-live/job-3", "pr:7": "cli-1"}, got); diff != "" {
		t.Errorf("leases after the take-over (-want +got):\n%s", diff)
	}
	reps, err := q.st.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range reps {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]string{"serve-live", q.Replica()}, ids); diff != "" {
		t.Errorf("replicas (-want +got):\n%s", diff)
	}
}

// TestReplicaLearnsItWasTakenOver: a replica whose record the others
// removed (it was silent too long) is told, so that it stops before doing
// work now theirs.
func TestReplicaLearnsItWasTakenOver(t *testing.T) {
	postgresOnly(t)
	lost := make(chan error, 1)
	q := openConfig(t, database(t), Config{ReplicaTimeout: time.Second, OnLost: func(err error) { lost <- err }})
	startQueue(t, q)
	if err := q.st.RemoveReplica(context.Background(), q.Replica()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		if err == nil {
			t.Error("OnLost was told nil")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the replica was not told it was taken over")
	}
}

// TestReconcileRunsOnTheLeader: the reconciler's pass is River's periodic
// job: the leader queues one at start, and among replicas one runs it.
// When the leader stops, another replica leads and queues a pass.
func TestReconcileRunsOnTheLeader(t *testing.T) {
	ctx := context.Background()
	path := database(t)
	var mu sync.Mutex
	var passes []string
	replica := func(name string) *Queue {
		return openConfig(t, path, Config{ReconcileEvery: time.Hour, Handlers: Handlers{Reconcile: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			passes = append(passes, name)
			return nil
		}}})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(passes) }
	a := replica("a")
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a pass at the start", func() bool { return count() == 1 })
	if !testenv.OnPostgreSQL() {
		stopQueue(t, a)
		return
	}
	b := replica("b")
	startQueue(t, b)
	waitForReconcileJobs(t, b, 1)
	// a led (it started alone); stopped, it resigns, and b leads.
	stopQueue(t, a)
	waitUntil(t, "a pass once b leads", func() bool { return count() == 2 })
	if n := countJobs(t, b, ReconcileArgs{}.Kind()); n != 2 {
		t.Errorf("%d passes queued, want 2 (one per leader)", n)
	}
}

// waitForReconcileJobs waits until n passes are completed.
func waitForReconcileJobs(t *testing.T, q *Queue, n int) {
	t.Helper()
	waitUntil(t, "the passes completed", func() bool {
		var done int
		err := q.DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'reconcile' AND state = 'completed'`).Scan(&done)
		return err == nil && done == n
	})
}

// TestReplicasShareTheQueue: deliveries recorded at two replicas at once,
// some of them the same delivery or comment arriving at both, are each
// recorded once, and their jobs run once, on whichever replica takes them.
func TestReplicasShareTheQueue(t *testing.T) {
	postgresOnly(t)
	ctx := context.Background()
	path := database(t)
	var mu sync.Mutex
	ran := map[int64]int{}
	handlers := Handlers{Comment: func(_ context.Context, w intake.CommentWork) error {
		mu.Lock()
		defer mu.Unlock()
		ran[w.CommentID]++
		return nil
	}}
	reps := []*Queue{open(t, path, handlers), open(t, path, handlers)}
	for _, q := range reps {
		startQueue(t, q)
	}
	const comments = 40
	var recorded, dup atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 4*comments)
	for i := range comments {
		for r, q := range reps {
			// Each comment is delivered to both replicas, under the same id
			// (GitHub's redelivery) or another (a reconciler's).
			id := "d" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if i%2 == 1 {
				id += string(rune('0' + r))
			}
			wg.Go(func() {
				out, err := q.Record(ctx, commentDelivery(id, 100+i%5, int64(5000+i)))
				switch {
				case err != nil:
					errs <- err
				case out == intake.Recorded:
					recorded.Add(1)
				case out == intake.Duplicate || out == intake.AlreadyHandled:
					dup.Add(1)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if recorded.Load() != comments || dup.Load() != comments {
		t.Errorf("%d recorded and %d duplicates, want %d of each", recorded.Load(), dup.Load(), comments)
	}
	waitUntil(t, "every comment's job ran", func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == comments })
	waitUntil(t, "every job completed", func() bool {
		var n int
		err := reps[0].DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'comment' AND state = 'completed'`).Scan(&n)
		return err == nil && n == comments
	})
	mu.Lock()
	defer mu.Unlock()
	for id, n := range ran {
		if n != 1 {
			t.Errorf("comment %d's job ran %d times", id, n)
		}
	}
}
