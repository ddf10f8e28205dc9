package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// replicas opens n stores on one database, as n `refbot serve` replicas
// do on PostgreSQL. SQLite is one process's: there, the n share one store.
func replicas(t *testing.T, n int, now func() time.Time) []*Store {
	t.Helper()
	db := database(t)
	out := []*Store{open(t, db, now)}
	for len(out) < n {
		if testenv.OnPostgreSQL() {
			out = append(out, open(t, db, now))
		} else {
			out = append(out, out[0])
		}
	}
	return out
}

// together runs f n times at once, spread over the replicas.
func together(t *testing.T, reps []*Store, n int, f func(s *Store, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := f(reps[i%len(reps)], i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCooldownTakenOnceAcrossReplicas: comments on one PR arriving at
// several replicas at once start the cooldown once.
func TestCooldownTakenOnceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	reps := replicas(t, 3, nil)
	var taken atomic.Int32
	together(t, reps, 12, func(s *Store, i int) error {
		ok, _, err := s.TakeCooldown(ctx, 7, "UPDATE", int64(100+i), time.Now(), time.Hour)
		if ok {
			taken.Add(1)
		}
		return err
	})
	if n := taken.Load(); n != 1 {
		t.Errorf("the cooldown was taken %d times, want 1", n)
	}
}

// TestVerbCapAcrossReplicas: commands on different PRs deciding at once on
// several replicas never take more runs of a day than its cap, nor one
// slot twice.
func TestVerbCapAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	reps := replicas(t, 3, nil)
	const limit = 4
	var slotTaken sync.Map
	together(t, reps, 16, func(s *Store, i int) error {
		return s.TakeVerb(ctx, "WEBSITE", 10+i, int64(200+i), "2026-12-03", time.Now(), func(st VerbState) (*VerbTake, error) {
			if st.Today >= limit {
				return nil, nil
			}
			used := map[int]bool{}
			for _, sl := range st.Slots {
				used[sl.Slot] = true
			}
			slot := 1
			for used[slot] {
				slot++
			}
			if _, dup := slotTaken.LoadOrStore(slot, i); dup {
				t.Errorf("slot %d was given twice", slot)
			}
			return &VerbTake{Run: true, Slot: slot, HeldUntil: time.Now().Add(time.Hour)}, nil
		})
	})
	runs, slots, err := reps[0].VerbDay(ctx, "WEBSITE", "2026-12-03")
	if err != nil {
		t.Fatal(err)
	}
	if runs != limit || len(slots) != limit {
		t.Errorf("%d runs and %d slots taken, want %d of each", runs, len(slots), limit)
	}
}

// TestWithLockAcrossReplicas: work under one lock never overlaps, on
// whichever replica it runs; under another, it does not wait.
func TestWithLockAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	reps := replicas(t, 3, nil)
	var inside, overlaps atomic.Int32
	together(t, reps, 12, func(s *Store, i int) error {
		return s.WithLock(ctx, "status:5", func() error {
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			// Another lock is free meanwhile.
			other := make(chan error, 1)
			go func() { other <- reps[(i+1)%len(reps)].WithLock(ctx, "status:6", func() error { return nil }) }()
			err := <-other
			inside.Add(-1)
			return err
		})
	})
	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d holders of one lock overlapped", n)
	}
	// A caller that gives up waiting gets its context's error.
	held, release := make(chan struct{}), make(chan struct{})
	go reps[0].WithLock(ctx, "status:5", func() error { close(held); <-release; return nil })
	<-held
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := reps[1].WithLock(cctx, "status:5", func() error { return nil }); err == nil {
		t.Error("a cancelled wait for a held lock ran its work")
	}
	close(release)
}

// TestTakeOverReplica: a replica whose record went stale is taken over
// once: its leases (its jobs') are released, a CLI command's and a live
// replica's are not, and the dead one learns it was taken over at its
// next heartbeat.
func TestTakeOverReplica(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	reps := replicas(t, 2, func() time.Time { return now })
	a, b := reps[0], reps[1]
	for _, id := range []string{"serve-a", "serve-b"} {
		if err := a.RegisterReplica(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for name, holder := range map[string]string{"pr:1": "serve-a/job-1", "base:master": "serve-a/job-1", "pr:2": "serve-b/job-2",
		"pr:3": "cli-9", "pr:4": "serve-ab/job-4"} {
		if ok, err := a.TakeLeases(ctx, []string{name}, holder, time.Hour); err != nil || !ok {
			t.Fatalf("take %s: %v, %v", name, ok, err)
		}
	}
	now = now.Add(time.Minute)
	if ok, err := b.Heartbeat(ctx, "serve-b"); err != nil || !ok {
		t.Fatalf("heartbeat of a live replica: %v, %v", ok, err)
	}
	var ran []string
	also := func(id string) func(context.Context, *sql.Tx) error {
		return func(context.Context, *sql.Tx) error { ran = append(ran, id); return nil }
	}
	stale := now.Add(-30 * time.Second)
	if ok, err := b.TakeOverReplica(ctx, "serve-b", stale, also("serve-b")); err != nil || ok {
		t.Errorf("took over a live replica: %v, %v", ok, err)
	}
	if ok, err := b.TakeOverReplica(ctx, "serve-a", stale, also("serve-a")); err != nil || !ok {
		t.Fatalf("take over a dead replica: %v, %v", ok, err)
	}
	if ok, err := a.TakeOverReplica(ctx, "serve-a", stale, also("again")); err != nil || ok {
		t.Errorf("took over a dead replica twice: %v, %v", ok, err)
	}
	if diff := cmp.Diff([]string{"serve-a"}, ran); diff != "" {
		t.Errorf("the queue's part ran (-want +got):\n%s", diff)
	}
	holders := map[string]string{}
	for _, name := range []string{"pr:1", "base:master", "pr:2", "pr:3", "pr:4"} {
		h, err := a.LeaseHolder(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		holders[name] = h
	}
	want := map[string]string{"pr:1": "", "base:master": "", "pr:2": "serve-b/job-2", "pr:3": "cli-9", "pr:4": "serve-ab/job-4"}
	if diff := cmp.Diff(want, holders); diff != "" {
		t.Errorf("leases after the take-over (-want +got):\n%s", diff)
	}
	if ok, err := a.Heartbeat(ctx, "serve-a"); err != nil || ok {
		t.Errorf("heartbeat of a replica taken over: %v, %v; want false", ok, err)
	}
	got, err := a.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "serve-b" || !got[0].Seen.Equal(now) {
		t.Errorf("replicas: %+v, want serve-b seen at %s", got, now)
	}
}
