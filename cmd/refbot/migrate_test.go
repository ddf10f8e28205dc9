package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/testenv"
)

// stateConfig writes a configuration whose state is in dir, with WEBSITE
// set up so that `refbot status --website` reads the database. Nothing in
// it is reached over the network by the commands these tests run.
func stateConfig(t *testing.T, dir string, more ...string) string {
	t.Helper()
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", "t0ken")
	return writeFile(t, "refbot.yaml", strings.Join(more, "")+`github:
  repo: octo-org/octo-repo
  token: {env: REFBOT_TEST_GITHUB_TOKEN}
s3:
  endpoint: http://127.0.0.1:9
  bucket: artifacts
  prefix: builds
data_repo:
  url: http://127.0.0.1:9/data.git
state_dir: `+dir+`
website:
  preview:
    prefix: preview
    url: https://preview.example.org/
`)
}

// loadSQL creates the SQLite database at path from the SQL script at
// script.
func loadSQL(t *testing.T, path, script string) {
	t.Helper()
	text, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(text)); err != nil {
		t.Fatalf("load %s: %v", script, err)
	}
}

// tableRows counts the rows of every table of the SQLite database at
// path, by table.
func tableRows(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	counts := map[string]int{}
	for _, name := range tables {
		var n int
		if err := db.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q`, name)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[name] = n
	}
	return counts
}

// TestMigrateUpgrade: a database written by the release before this one
// (refbot's schema version 4, before PostgreSQL and replicas) is migrated
// by `refbot migrate` to this version's schema, keeps every row it held,
// and `refbot status` reads its state as that release left it.
func TestMigrateUpgrade(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "refbot.db")
	loadSQL(t, db, "testdata/upgrade/schema-4.sql")
	before := tableRows(t, db)
	if before["refbot_schema"] != 1 || before["refbot_website"] != 2 || before["river_job"] != 1 {
		t.Fatalf("the fixture holds %v", before)
	}
	cfg := stateConfig(t, dir)

	code, out, errOut := run(t, "--config", cfg, "migrate")
	if code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	riverTo := tableRows(t, db)["river_migration"]
	want := fmt.Sprintf("%s:\n  refbot's tables  version 4 → %d\n  River's tables   %s\n", db, store.Version,
		versionChange(before["river_migration"], riverTo))
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("migrate's output (-want +got):\n%s", diff)
	}
	after := tableRows(t, db)
	for table, n := range before {
		if table == "river_migration" {
			continue // River's own record of its migrations
		}
		if after[table] != n {
			t.Errorf("%s: %d rows after the migration, %d before", table, after[table], n)
		}
	}
	if _, ok := after["refbot_replica"]; !ok {
		t.Errorf("no table of version 5 after the migration: %v", after)
	}

	// Run again: nothing to do, and it says so.
	code, out, errOut = run(t, "--config", cfg, "migrate")
	want = fmt.Sprintf("%s:\n  refbot's tables  version %d, up to date\n  River's tables   version %d, up to date\n", db, store.Version, riverTo)
	if code != exitOK || out != want {
		t.Errorf("migrate again: exit %d\n%s%s; want\n%s", code, out, errOut, want)
	}

	// The state the old release left, read by this one.
	code, out, errOut = run(t, "--config", cfg, "status", "--website")
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range []string{
		"  preview 1 https://preview.example.org/: #7 at 777777777777, docs build 5001, held until 2026-05-01 14:00 UTC",
		"  queued: #9 at 999999999999, asked by bob, starts at 2026-05-02 00:00 UTC: preview 1 is held for #7 until 14:00 UTC",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("status --website lacks %q:\n%s", line, out)
		}
	}
}

// TestMigrate covers a new database, a serve holding the database and a
// database of a newer refbot.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	t.Run("new database", func(t *testing.T) {
		dir := t.TempDir()
		code, out, errOut := run(t, "--config", stateConfig(t, dir), "migrate")
		if code != exitOK || !strings.Contains(out, fmt.Sprintf("refbot's tables  created at version %d\n", store.Version)) ||
			!strings.Contains(out, "River's tables   created at version ") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("a serve holds the database", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "refbot.db")
		loadSQL(t, db, "testdata/upgrade/schema-4.sql")
		serve, err := store.Open(ctx, db, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer serve.Close()
		// What refbot serve takes at its start (store.Options.Exclusive).
		if err := serve.LockExclusive(); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "--config", stateConfig(t, dir), "migrate")
		if code != exitRefused || out != "" || !strings.Contains(errOut, "in use by another refbot serve: stop it first; nothing was migrated") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
		if v, err := serve.SchemaVersion(ctx); v != 4 || err != nil {
			t.Errorf("schema version %d, %v; want 4, untouched", v, err)
		}
	})
	t.Run("newer refbot's database", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "refbot.db")
		loadSQL(t, db, "testdata/upgrade/schema-4.sql")
		raw, err := sql.Open("sqlite", "file:"+db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`UPDATE refbot_schema SET version = $1`, store.Version+1); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		code, out, errOut := run(t, "--config", stateConfig(t, dir), "migrate")
		if code != exitFailure || out != "" || !strings.Contains(errOut, "database schema is newer than this refbot") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
}

// TestMigratePostgreSQL: `refbot migrate` creates refbot's and River's
// tables in a new PostgreSQL database, finds them up to date the second
// time, and `refbot backup` sends the operator to PostgreSQL's tools.
func TestMigratePostgreSQL(t *testing.T) {
	url := testenv.PostgreSQL(t).NewDatabase(t)
	cfg := stateConfig(t, t.TempDir(), "database: "+url+"\n")
	code, out, errOut := run(t, "--config", cfg, "migrate")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("refbot's tables  created at version %d\n", store.Version)) ||
		!strings.Contains(out, "River's tables   created at version ") || strings.Contains(out, "refbot@") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "--config", cfg, "migrate")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("refbot's tables  version %d, up to date\n", store.Version)) {
		t.Errorf("migrate again: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "--config", cfg, "backup", filepath.Join(t.TempDir(), "b.db"))
	if code != exitFailure || !strings.Contains(errOut, "pg_dump") {
		t.Errorf("backup: exit %d\n%s%s", code, out, errOut)
	}
}
