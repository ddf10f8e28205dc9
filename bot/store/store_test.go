package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// TestOnPostgreSQL runs the package's tests again on PostgreSQL: every
// store a test opens on database(t) is a new PostgreSQL database there.
func TestOnPostgreSQL(t *testing.T) { testenv.RunOnPostgreSQL(t) }

// database is a new database for a test: a SQLite file, or in the run on
// PostgreSQL a new database there.
func database(t *testing.T) string {
	t.Helper()
	return testenv.Database(t, filepath.Join(t.TempDir(), "refbot.db"))
}

func open(t *testing.T, path string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestUpgradeFromUnversioned: a database of a release before versioned
// migrations (each package created its tables) is brought to the current
// version, and what it held is still there.
func TestUpgradeFromUnversioned(t *testing.T) {
	testenv.SQLiteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refbot.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range migrations[0] {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		`INSERT INTO refbot_delivery (id, event, action, received_at) VALUES ('d1', 'issue_comment', 'created', '2026-01-02T03:04:05Z')`,
		`INSERT INTO refbot_comment (comment_id, pr, delivery_id) VALUES (77, 12, 'd1')`,
		`INSERT INTO refbot_cooldown (pr, verb, last_run, comment_id) VALUES (12, 'UPDATE', '2026-01-02T03:04:05.5Z', 77)`,
		`INSERT INTO refbot_pr_lease (pr, owner, job_id, expires_at) VALUES (12, 'pid-1', 5, '2099-01-01T00:00:00Z')`,
		`INSERT INTO refbot_reply (comment_id, verb, reply_id) VALUES (77, 'UPDATE:1', 9001)`,
		`INSERT INTO refbot_update_view (reply_key, comment_id, view) VALUES ('UPDATE:1', 77, '{}')`,
	} {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s := open(t, path, nil)
	if v, err := s.SchemaVersion(ctx); err != nil || v != Version {
		t.Fatalf("schema version %d, %v; want %d", v, err, Version)
	}
	r, err := s.Reply(ctx, 77, "UPDATE:1")
	if err != nil || r == nil || r.ID != 9001 {
		t.Errorf("reply kept through the upgrade: %+v, %v", r, err)
	}
	taken, last, err := s.TakeCooldown(ctx, 12, "UPDATE", 78, time.Now(), time.Hour*24*365*100)
	if err != nil || taken || !last.Equal(time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC)) {
		t.Errorf("cooldown kept through the upgrade: taken %v last %v, %v", taken, last, err)
	}
	// Opening again changes nothing: the same tables, the same rows.
	schema := func(s *Store) string {
		t.Helper()
		var out []string
		rows, err := s.db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, sql string
			rows.Scan(&name, &sql)
			out = append(out, name+": "+sql)
		}
		return strings.Join(out, "\n")
	}
	before := schema(s)
	s.Close()
	s = open(t, path, nil)
	if diff := cmp.Diff(before, schema(s)); diff != "" {
		t.Errorf("a second open changed the schema (-before +after):\n%s", diff)
	}
	if r, err := s.Reply(ctx, 77, "UPDATE:1"); err != nil || r == nil || r.ID != 9001 {
		t.Errorf("reply after a second open: %+v, %v", r, err)
	}
}

// TestNewerSchemaRefused: a database written by a newer refbot is not
// touched.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := database(t)
	s := open(t, path, nil)
	if _, err := s.DB().Exec(`UPDATE refbot_schema SET version = $1`, Version+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("open a newer database: %v, want ErrNewerSchema", err)
	}
}

// TestLockExclusive: a second refbot serve on the same database is refused;
// once the first closes, it may start. A CLI command (not exclusive) opens
// the database a serve holds without migrating it, and refuses one whose
// schema is not its own.
func TestLockExclusive(t *testing.T) {
	testenv.SQLiteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refbot.db")
	// A CLI command on a new database creates it and lets the lock go.
	cli := open(t, path, nil)
	a, err := Open(ctx, path, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("serve after a CLI command: %v", err)
	}
	if _, err := Open(ctx, path, Options{Exclusive: true}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second serve: %v, want ErrLocked", err)
	}
	if err := cli.LockExclusive(); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock while a serve holds it: %v, want ErrLocked", err)
	}
	// The CLI beside the running serve: the same schema, nothing written.
	if _, err := a.db.ExecContext(ctx, `CREATE TRIGGER no_schema_writes BEFORE DELETE ON refbot_schema
		BEGIN SELECT RAISE(ABORT, 'schema rewritten'); END`); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(ctx, path, Options{}); err != nil {
		t.Errorf("CLI beside a serve: %v", err)
	} else {
		b.Close()
	}
	if _, err := a.db.ExecContext(ctx, `DROP TRIGGER no_schema_writes`); err != nil {
		t.Fatal(err)
	}
	// A serve of another version holds it: the CLI refuses to touch it.
	if _, err := a.db.ExecContext(ctx, `UPDATE refbot_schema SET version = ?`, Version-1); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "a refbot serve holds it") {
		t.Errorf("CLI beside a serve of another schema: %v", err)
	}
	if _, err := a.db.ExecContext(ctx, `UPDATE refbot_schema SET version = ?`, Version); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if b, err := Open(ctx, path, Options{Exclusive: true}); err != nil {
		t.Errorf("serve after the first closed: %v", err)
	} else {
		b.Close()
	}
}

func TestLeases(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := open(t, database(t), func() time.Time { return now })
	take := func(holder string, names ...string) bool {
		t.Helper()
		ok, err := s.TakeLeases(ctx, names, holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("serve-1/job-1", PRLease(12), BaseLease("master")) {
		t.Fatal("free leases not taken")
	}
	if take("serve-1/job-2", PRLease(13), BaseLease("master")) {
		t.Error("a held lease was taken")
	}
	// All or none: PR 13's lease was not kept by the failed attempt.
	if h, _ := s.LeaseHolder(ctx, PRLease(13)); h != "" {
		t.Errorf("PR 13 lease held by %q after a failed take", h)
	}
	if !take("serve-1/job-1", PRLease(12)) {
		t.Error("the holder could not renew")
	}
	if !take("cli-7", PRLease(13)) {
		t.Error("a free lease was not taken")
	}
	// Expired leases are free.
	now = now.Add(2 * time.Minute)
	if !take("serve-1/job-2", BaseLease("master")) {
		t.Error("an expired lease was not taken")
	}
	// A restarted serve clears its predecessors', not the CLI's.
	if err := s.ReleaseLeasesHeldBy(ctx, "serve-"); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.LeaseHolder(ctx, BaseLease("master")); h != "" {
		t.Errorf("serve's lease survived: %q", h)
	}
	now = now.Add(-2 * time.Minute) // the CLI's lease is current again
	if h, _ := s.LeaseHolder(ctx, PRLease(13)); h != "cli-7" {
		t.Errorf("the CLI's lease was cleared: %q", h)
	}
}

func TestUpdateSteps(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	u, err := s.StartUpdate(ctx, Update{CommentID: 5, Key: "UPDATE:1", PR: 12, Head: "aaa", Build: "100", Author: "alice"})
	if err != nil || u.Step != StepPublishing {
		t.Fatalf("start: %+v, %v", u, err)
	}
	// Before the push, a retry may choose another build.
	if u, _ = s.StartUpdate(ctx, Update{CommentID: 5, Key: "UPDATE:1", PR: 12, Head: "aaa", Build: "101", Author: "alice"}); u.Build != "101" {
		t.Errorf("retry before the push kept build %s", u.Build)
	}
	u.Step, u.DataCommit = StepPushed, "ccc"
	if err := s.SaveUpdate(ctx, u); err != nil {
		t.Fatal(err)
	}
	// After it, the record stays as it is.
	if u2, _ := s.StartUpdate(ctx, Update{CommentID: 5, Key: "UPDATE:1", PR: 12, Head: "bbb", Build: "102"}); u2.Build != "101" || u2.Step != StepPushed {
		t.Errorf("a pushed update was restarted: %+v", u2)
	}
	active, err := s.ActiveUpdates(ctx, 12, false)
	if err != nil || len(active) != 1 || active[0].ID != u.ID {
		t.Errorf("active updates: %+v, %v", active, err)
	}
	if err := s.FinishUnpushed(ctx, 5, "UPDATE:1", StepRefused); err != nil {
		t.Fatal(err)
	}
	if u2, _ := s.UpdateByID(ctx, u.ID); u2.Step != StepPushed {
		t.Errorf("FinishUnpushed ended a pushed update: %s", u2.Step)
	}
}

func TestHeads(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, h := range []HeadSeen{{12, "b", t0.Add(time.Minute), HeadFromWebhook}, {12, "a", t0, HeadFromReconciler}, {12, "b", t0.Add(time.Minute), HeadFromWebhook}} {
		if err := s.RecordHead(ctx, 12, h.SHA, h.At, h.Source); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	got, err := s.HeadsSeen(ctx, 12)
	want := []HeadSeen{{12, "a", t0, HeadFromReconciler}, {12, "b", t0.Add(time.Minute), HeadFromWebhook}}
	if diff := cmp.Diff(want, got); diff != "" || err != nil {
		t.Errorf("heads (-want +got):\n%s%v", diff, err)
	}
	for pr, want := range map[int]bool{12: true, 13: false} {
		if known, err := s.KnowsPR(ctx, pr); known != want || err != nil {
			t.Errorf("KnowsPR(%d) = %v, %v; want %v", pr, known, err, want)
		}
	}
}

func TestUnprivilegedReplies(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := open(t, database(t), func() time.Time { return now })
	for i, want := range []bool{true, false, false} {
		if ok, err := s.TakeUnprivilegedReply(ctx, "mallory", int64(100+i), time.Hour); ok != want || err != nil {
			t.Errorf("reply %d: %v, %v; want %v", i, ok, err, want)
		}
		now = now.Add(20 * time.Minute)
	}
	// The first comment's job again (its reply failed): still its turn.
	if ok, _ := s.TakeUnprivilegedReply(ctx, "mallory", 100, time.Hour); !ok {
		t.Error("a retried job lost its comment's turn")
	}
	now = now.Add(time.Hour)
	if ok, _ := s.TakeUnprivilegedReply(ctx, "mallory", 103, time.Hour); !ok {
		t.Error("no reply after the interval")
	}
	if ok, _ := s.TakeUnprivilegedReply(ctx, "mallory", 100, time.Hour); ok {
		t.Error("an old comment took the turn back")
	}
}

// TestHeadsBounded: however a head is recorded (a delivery's group commit,
// a job, the reconciler), each PR keeps its newest keepHeads.
func TestHeadsBounded(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	rec, err := s.PrepareRecording(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range keepHeads + 10 {
		at, sha := t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("%040d", i)
		if i%2 == 0 {
			err = s.inTx(ctx, func(tx *sql.Tx) error { return rec.Head(ctx, tx, 12, sha, at, HeadFromWebhook) })
		} else {
			err = s.RecordHead(ctx, 12, sha, at, HeadFromJob)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	heads, err := s.HeadsSeen(ctx, 12)
	if err != nil || len(heads) != keepHeads || !heads[0].At.Equal(t0.Add(10*time.Second)) {
		t.Errorf("%d heads kept from %v, %v; want %d from the 11th", len(heads), heads[0].At, err, keepHeads)
	}
}
