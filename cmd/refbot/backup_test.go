package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refbot/refbot/bot/store"
)

// TestBackup runs `refbot backup` beside a store that holds the database
// as refbot serve does, and checks what it writes, what it refuses, and
// that a backup restored as docs/upgrading.md says holds the state.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "refbot.db")
	loadSQL(t, db, "testdata/upgrade/schema-4.sql")
	cfg := stateConfig(t, dir)
	if code, out, errOut := run(t, "--config", cfg, "migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	want := tableRows(t, db)
	serve, err := store.Open(ctx, db, store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer serve.Close()

	file := filepath.Join(t.TempDir(), "refbot-backup.db")
	code, out, errOut := run(t, "--config", cfg, "backup", file)
	if code != exitOK || !strings.HasPrefix(out, fmt.Sprintf("backed up %s to %s: ", db, file)) ||
		!strings.HasSuffix(out, fmt.Sprintf(" bytes, schema version %d, integrity checked\n", store.Version)) {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	checkRows(t, file, want)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"existing file", []string{"backup", file}, exitRefused, "refbot: " + file + " exists: give another file, or --force to replace it\n"},
		{"the database itself", []string{"backup", "--force", db}, exitFailure, "that is the database itself"},
		{"no file", []string{"backup"}, exitUsage, "accepts 1 arg(s), received 0"},
		{"existing file, forced", []string{"backup", "--force", file}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"--config", cfg}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantStderr) || (tt.wantStderr == "") != (errOut == "") {
				t.Errorf("exit %d\n%s%s; want exit %d and %q", code, out, errOut, tt.wantCode, tt.wantStderr)
			}
		})
	}
	checkRows(t, file, want)

	t.Run("to standard output", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := execute(ctx, newRootCmd(), []string{"--config", cfg, "backup", "-"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if !strings.HasPrefix(stderr.String(), "backed up "+db+" to standard output: ") {
			t.Errorf("stderr: %s", stderr.String())
		}
		copied := filepath.Join(t.TempDir(), "refbot.db")
		if err := os.WriteFile(copied, stdout.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		checkRows(t, copied, want)
	})

	t.Run("no database", func(t *testing.T) {
		code, out, errOut := run(t, "--config", stateConfig(t, t.TempDir()), "backup", filepath.Join(t.TempDir(), "b.db"))
		if code != exitFailure || !strings.Contains(errOut, "no database at ") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("restored", func(t *testing.T) {
		// docs/upgrading.md: with serve stopped, the backup takes the
		// database's place; serve and the commands read it as it was.
		restored := t.TempDir()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, "refbot.db"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := stateConfig(t, restored)
		code, out, errOut := run(t, "--config", cfg, "migrate")
		if code != exitOK || !strings.Contains(out, fmt.Sprintf("refbot's tables  version %d, up to date", store.Version)) {
			t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = run(t, "--config", cfg, "status", "--website")
		if code != exitOK || !strings.Contains(out, "  queued: #9 at 999999999999, asked by bob") {
			t.Errorf("status: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// checkRows checks that the database at path holds want's rows.
func checkRows(t *testing.T, path string, want map[string]int) {
	t.Helper()
	got := tableRows(t, path)
	for table, n := range want {
		if got[table] != n {
			t.Errorf("%s: %s has %d rows; the database has %d", path, table, got[table], n)
		}
	}
}
