package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// TestUpgradeFromVersion2: a database of this development line's version 2
// gets the policy engine's tables (and every later one), and its cooldowns
// still count.
func TestUpgradeFromVersion2(t *testing.T) {
	testenv.SQLiteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refbot.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := append(append([]string{`CREATE TABLE refbot_schema (version INTEGER NOT NULL)`}, migrations[0]...), migrations[1]...)
	stmts = append(stmts, `INSERT INTO refbot_schema (version) VALUES (2)`,
		`INSERT INTO refbot_cooldown (pr, verb, last_run, comment_id) VALUES (12, 'UPDATE', '2026-01-02T03:04:05Z', 77)`)
	for _, stmt := range stmts {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s := open(t, path, nil)
	if v, err := s.SchemaVersion(ctx); err != nil || v != Version || Version < 3 {
		t.Fatalf("schema version %d, %v; want %d", v, err, Version)
	}
	now := time.Date(2026, 1, 2, 3, 10, 0, 0, time.UTC)
	var got VerbState
	err = s.TakeVerb(ctx, "UPDATE", 12, 78, "2026-01-02", now, func(st VerbState) (*VerbTake, error) {
		got = st
		return &VerbTake{Run: true}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (VerbState{LastRun: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastComment: 77}); !cmp.Equal(want, got) {
		t.Errorf("state after the upgrade: %s", cmp.Diff(want, got))
	}
	if runs, _, err := s.VerbDay(ctx, "UPDATE", "2026-01-02"); runs != 1 || err != nil {
		t.Errorf("runs of the day: %d, %v; want 1", runs, err)
	}
}

// TestVerbRuns: what TakeVerb takes, ReleaseVerb gives back; a slot goes
// back to the PR that held it before.
func TestVerbRuns(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	take := func(pr int, comment int64, at time.Time, tk VerbTake) VerbState {
		t.Helper()
		var st VerbState
		if err := s.TakeVerb(ctx, "WEBSITE", pr, comment, "2026-05-01", at, func(v VerbState) (*VerbTake, error) {
			st = v
			return &tk, nil
		}); err != nil {
			t.Fatal(err)
		}
		return st
	}
	take(1, 10, t0, VerbTake{Cooldown: true, Run: true, Slot: 1, HeldUntil: t0.Add(time.Hour)})
	if ok, err := s.HoldVerbSlot(ctx, "WEBSITE", 1, 10, t0.Add(2*time.Hour)); !ok || err != nil {
		t.Fatalf("hold: %v, %v", ok, err)
	}
	t1 := t0.Add(3 * time.Hour)
	st := take(2, 20, t1, VerbTake{Cooldown: true, Run: true, Slot: 1, HeldUntil: t1.Add(time.Hour)})
	want := VerbState{Today: 1, Slots: []VerbSlot{{Slot: 1, PR: 1, Comment: 10, UsedAt: t0, HeldUntil: t0.Add(2 * time.Hour)}}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("state before the second run (-want +got):\n%s", diff)
	}
	// The first run's comment no longer holds the slot.
	if ok, _ := s.HoldVerbSlot(ctx, "WEBSITE", 1, 10, t1); ok {
		t.Error("a replaced run held the slot")
	}
	st = take(2, 20, t1, VerbTake{})
	if st.Run == nil || st.Run.Slot != 1 || !st.Run.TakenAt.Equal(t1) || st.LastComment != 20 || st.Today != 2 {
		t.Errorf("state of the taken run: %+v", st)
	}
	if err := s.ReleaseVerb(ctx, "WEBSITE", 2, 20); err != nil {
		t.Fatal(err)
	}
	st = take(2, 20, t1, VerbTake{})
	want = VerbState{Today: 1, Slots: []VerbSlot{{Slot: 1, PR: 1, Comment: 10, UsedAt: t0, HeldUntil: t0.Add(2 * time.Hour)}}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("state after release (-want +got):\n%s", diff)
	}
	// Runs older than keepVerbRuns are forgotten when a new one is taken.
	take(3, 30, t0.Add(keepVerbRuns+time.Hour), VerbTake{Run: true})
	if st := take(1, 10, t0, VerbTake{}); st.Run != nil {
		t.Errorf("an old run is still recorded: %+v", st.Run)
	}
}
