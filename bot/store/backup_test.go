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

	"github.com/refbot/refbot/internal/testenv"
)

// TestBackupWhileWriting takes backups of a database that another store
// (a refbot serve) writes to all along, one transaction after another, each
// recording a delivery and its comment. Each backup must pass SQLite's
// integrity check and hold a prefix of the transactions, each whole: the
// deliveries 0 … k-1 and their comments, nothing else.
func TestBackupWhileWriting(t *testing.T) {
	testenv.SQLiteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "refbot.db")
	serve, err := Open(ctx, path, Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer serve.Close()
	rec, err := serve.PrepareRecording(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()

	// The writer commits transaction after transaction until it is told
	// to stop; committed says how many it has committed so far.
	committed := make(chan int)
	stop := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			err := serve.inTx(ctx, func(tx *sql.Tx) error {
				id := fmt.Sprintf("d-%06d", i)
				if _, err := rec.Delivery(ctx, tx, id, "issue_comment", "created", time.Now(), ""); err != nil {
					return err
				}
				_, err := rec.Comment(ctx, tx, int64(i), 1, id)
				return err
			})
			if err != nil {
				writerErr <- err
				return
			}
			select {
			case committed <- i + 1:
			case <-stop:
				writerErr <- nil
				return
			default:
			}
		}
	}()
	// waitFor returns once the writer has committed at least n.
	waitFor := func(n int) int {
		for {
			select {
			case got := <-committed:
				if got >= n {
					return got
				}
			case err := <-writerErr:
				t.Fatalf("writer: %v", err)
			}
		}
	}

	reader, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	last := waitFor(20)
	for b := range 4 {
		file := filepath.Join(dir, fmt.Sprintf("backup-%d.db", b))
		info, err := reader.Backup(ctx, file, BackupOptions{})
		if err != nil {
			t.Fatalf("backup %d: %v", b, err)
		}
		if info.SchemaVersion != Version || info.Bytes <= 0 {
			t.Errorf("backup %d: %+v; want schema version %d and a size", b, info, Version)
		}
		k := checkPrefix(t, file)
		if k < last {
			t.Errorf("backup %d holds %d transactions; %d were committed before it began", b, k, last)
		}
		// The writer goes on past what the backup holds before the next.
		last = waitFor(k + 20)
	}
	close(stop)
	if err := <-writerErr; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// checkPrefix opens the backup at file, checks its integrity and that it
// holds the writer's transactions 0 … k-1 whole, and returns k.
func checkPrefix(t *testing.T, file string) int {
	t.Helper()
	ctx := context.Background()
	b, err := Open(ctx, file, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer b.Close()
	var check string
	if err := b.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("backup's integrity_check: %q, %v", check, err)
	}
	var deliveries, comments int
	var maxDelivery, maxComment sql.NullString
	if err := b.db.QueryRowContext(ctx, `SELECT count(*), max(id) FROM refbot_delivery`).Scan(&deliveries, &maxDelivery); err != nil {
		t.Fatal(err)
	}
	if err := b.db.QueryRowContext(ctx, `SELECT count(*), max(printf('d-%06d', comment_id)) FROM refbot_comment`).Scan(&comments, &maxComment); err != nil {
		t.Fatal(err)
	}
	// Ids are numbered from 0: k rows whose highest is k-1 are 0 … k-1.
	want := sql.NullString{String: fmt.Sprintf("d-%06d", deliveries-1), Valid: deliveries > 0}
	if comments != deliveries || maxDelivery != want || maxComment != want {
		t.Fatalf("backup holds %d deliveries up to %v and %d comments up to %v; want a prefix of whole transactions",
			deliveries, maxDelivery.String, comments, maxComment.String)
	}
	var orphans int
	if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM refbot_comment c
		LEFT JOIN refbot_delivery d ON d.id = c.delivery_id WHERE d.id IS NULL`).Scan(&orphans); err != nil || orphans != 0 {
		t.Fatalf("%d comments without their delivery (%v)", orphans, err)
	}
	return deliveries
}

// TestBackupRefuses checks what Backup will not write over, and that a
// backup that fails leaves nothing behind.
func TestBackupRefuses(t *testing.T) {
	testenv.SQLiteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "refbot.db")
	s := open(t, path, nil)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO refbot_reconcile (key, value) VALUES ('k', 'v')`); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		o       BackupOptions
		wantErr string // "" for a backup written
		is      error
	}{
		{name: "existing file", file: existing, wantErr: "file exists", is: ErrBackupExists},
		{name: "the database itself", file: path, o: BackupOptions{Overwrite: true}, wantErr: "that is the database itself"},
		{name: "the database's WAL", file: path + "-wal", o: BackupOptions{Overwrite: true}, wantErr: "that is the database itself"},
		{name: "no such folder", file: filepath.Join(dir, "missing", "b.db"), wantErr: "no such file or directory"},
		{name: "existing file, overwritten", file: existing, o: BackupOptions{Overwrite: true}},
		{name: "new file", file: filepath.Join(dir, "new.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.file)
			_, err := s.Backup(ctx, tt.file, tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.is != nil && !errors.Is(err, tt.is)) {
					t.Fatalf("Backup: %v; want an error with %q", err, tt.wantErr)
				}
				if after, _ := os.ReadFile(tt.file); string(after) != string(before) {
					t.Errorf("%s changed", tt.file)
				}
			} else {
				if err != nil {
					t.Fatalf("Backup: %v", err)
				}
				b := open(t, tt.file, nil)
				var v string
				if err := b.db.QueryRowContext(ctx, `SELECT value FROM refbot_reconcile WHERE key = 'k'`).Scan(&v); err != nil || v != "v" {
					t.Errorf("the backup's row: %q, %v", v, err)
				}
				b.Close()
			}
			if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) > 0 {
				t.Errorf("left behind: %v", leftovers)
			}
		})
	}
	// The database is still whole and open.
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM refbot_reconcile WHERE key = 'k'`).Scan(&v); err != nil || v != "v" {
		t.Errorf("the database's row: %q, %v", v, err)
	}
}

// TestBackupPostgreSQL: a PostgreSQL database is backed up with its own
// tools, and Backup says so.
func TestBackupPostgreSQL(t *testing.T) {
	if !testenv.OnPostgreSQL() {
		t.Skip("PostgreSQL only")
	}
	s := open(t, database(t), nil)
	file := filepath.Join(t.TempDir(), "b.db")
	if _, err := s.Backup(context.Background(), file, BackupOptions{}); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("Backup: %v; want a refusal naming pg_dump", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s written: %v", file, err)
	}
}
