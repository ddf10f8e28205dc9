package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/refbot/refbot/internal/testenv"
)

// TestSyncedCommits: SyncedTx's transaction runs at synchronous=FULL (its
// commit syncs SQLite's WAL) and leaves the connection at NORMAL for the
// rest of refbot's writes; a transaction f fails is not committed. On
// PostgreSQL, SyncCommit turns synchronous_commit back on for its
// transaction where the session had it off, and leaves another setting
// alone.
func TestSyncedCommits(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	if testenv.OnPostgreSQL() {
		for _, tc := range []struct{ session, want string }{{"off", "local"}, {"on", "on"}, {"remote_write", "remote_write"}} {
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = "+tc.session); err != nil {
				t.Fatal(err)
			}
			if err := SyncCommit(ctx, tx); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := tx.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&got); err != nil {
				t.Fatal(err)
			}
			tx.Rollback()
			if got != tc.want {
				t.Errorf("synchronous_commit %s, then SyncCommit: %s, want %s", tc.session, got, tc.want)
			}
		}
		return
	}
	level := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int {
		t.Helper()
		var n int
		if err := q.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const normal, full = 1, 2
	if got := level(s.db); got != normal {
		t.Fatalf("synchronous is %d before, want %d (NORMAL)", got, normal)
	}
	var inside int
	err := s.SyncedTx(ctx, func(tx *sql.Tx) error {
		inside = level(tx)
		_, err := tx.ExecContext(ctx, insertDelivery, "synced", "issue_comment", "created", "2026-11-23T10:00:00Z", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != full {
		t.Errorf("synchronous is %d in SyncedTx, want %d (FULL)", inside, full)
	}
	if got := level(s.db); got != normal {
		t.Errorf("synchronous is %d after SyncedTx, want %d (NORMAL) again", got, normal)
	}
	failed := errors.New("failed")
	err = s.SyncedTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertDelivery, "rolled-back", "issue_comment", "created", "2026-11-23T10:00:00Z", ""); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Errorf("SyncedTx returned %v, want f's error", err)
	}
	var ids []string
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM refbot_delivery ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != "synced" {
		t.Errorf("deliveries recorded: %q, want only \"synced\"", ids)
	}
	if got := level(s.db); got != normal {
		t.Errorf("synchronous is %d after a failed SyncedTx, want %d (NORMAL)", got, normal)
	}
}

// TestStepRecordsAreDurable: the records of a job's steps, each written
// before the job acts outside on it, are committed to disk (durableExec):
// an UPDATE's, a merge's and a WEBSITE request's. The database is at its
// cheaper level again after each.
func TestStepRecordsAreDurable(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	u, err := s.StartUpdate(ctx, Update{CommentID: 5, Key: "UPDATE:1", PR: 12, Head: "aaa", Build: "100", Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.StartMerge(ctx, Merge{PR: 12, MergeCommit: "mmm", Head: "aaa", CodeBase: "master"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.StartWebsite(ctx, Website{CommentID: 6, Key: "WEBSITE:1", PR: 12, Head: "aaa", Branch: "master", Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for what, save := range map[string]func() error{
		"UPDATE restarting CI": func() error { u.Step = StepRestarting; return s.SaveUpdate(ctx, u) },
		"merge restarting CI":  func() error { m.Step = MergeWaiting; return s.SaveMerge(ctx, m) },
		"WEBSITE asking CI":    func() error { w.Step = WebsiteTriggering; return s.SaveWebsite(ctx, w) },
	} {
		before := s.durable.Load()
		if err := save(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if s.durable.Load() != before+1 {
			t.Errorf("%s: not committed to disk", what)
		}
		if !testenv.OnPostgreSQL() {
			var level int
			if err := s.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil || level != 1 {
				t.Errorf("%s: synchronous is %d after, want 1 (NORMAL) (%v)", what, level, err)
			}
		}
	}
	if got, err := s.Update(ctx, 5, "UPDATE:1"); err != nil || got.Step != StepRestarting {
		t.Errorf("the UPDATE's record: %+v, %v", got, err)
	}
}
