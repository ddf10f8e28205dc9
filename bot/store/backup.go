package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrBackupExists: the file a backup was asked to write exists already.
var ErrBackupExists = errors.New("file exists")

// BackupOptions configure Backup.
type BackupOptions struct {
	// Overwrite replaces an existing file; without it, Backup refuses one
	// (ErrBackupExists).
	Overwrite bool
}

// BackupInfo describes a backup Backup wrote.
type BackupInfo struct {
	SchemaVersion int   // of refbot's tables in the copy
	Bytes         int64 // the copy's size
}

// Backup writes a consistent copy of the SQLite database, River's tables
// and refbot's, to file, while other connections (a running refbot serve)
// go on writing. SQLite's VACUUM INTO reads the whole database in one read
// transaction, which in WAL mode waits for no writer and holds no writer
// back: the copy holds exactly the transactions committed before it began,
// and nothing of those that were not. It works through a store opened
// read-only.
//
// The copy is written to a new file beside file, checked (SQLite's
// integrity_check), synced and only then renamed to file: file is never
// half written, and a backup that fails leaves it as it was. Backup refuses
// the database's own file, and an existing file unless o.Overwrite.
// PostgreSQL is backed up with its own tools (pg_dump); Backup refuses it.
func (s *Store) Backup(ctx context.Context, file string, o BackupOptions) (BackupInfo, error) {
	if s.dialect != sqlite {
		return BackupInfo{}, fmt.Errorf("store: %s is a PostgreSQL database: back it up with PostgreSQL's tools (pg_dump)", s.path)
	}
	if file == "" {
		return BackupInfo{}, errors.New("store: backup: no file to write")
	}
	if err := s.notDatabase(file); err != nil {
		return BackupInfo{}, err
	}
	if !o.Overwrite {
		// Checked first so as not to copy for nothing; the final link
		// checks again without a race.
		if _, err := os.Lstat(file); err == nil {
			return BackupInfo{}, fmt.Errorf("store: backup to %s: %w", file, ErrBackupExists)
		}
	}
	dir, base := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	// VACUUM INTO writes into an empty file: a new one, only ours (0600:
	// the database holds the project's comments and logins).
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	// An absolute path: SQLite would read one starting "file:" as a URI.
	if abs, err := filepath.Abs(tmpName); err == nil {
		tmpName = abs
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO $1`, tmpName); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup %s: %w", s.path, err)
	}
	info, err := checkBackup(ctx, tmpName)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := syncFile(tmpName); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	if o.Overwrite {
		err = os.Rename(tmpName, file)
	} else {
		// A link fails if file has appeared since the check above, where
		// a rename would replace it.
		if err = os.Link(tmpName, file); err == nil {
			os.Remove(tmpName)
		} else if errors.Is(err, os.ErrExist) {
			err = ErrBackupExists
		}
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup to %s: %w", file, err)
	}
	done = true
	// The rename is durable once the folder is synced; a folder that
	// cannot be synced (some file systems) still holds the backup.
	_ = syncFile(dir)
	return info, nil
}

// notDatabase refuses file when it is the database or one of SQLite's
// files beside it: a backup written there would replace what it copies.
func (s *Store) notDatabase(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return nil // a new file cannot be the database
	}
	for _, name := range []string{s.path, s.path + "-wal", s.path + "-shm", s.path + "-journal"} {
		if db, err := os.Stat(name); err == nil && os.SameFile(fi, db) {
			return fmt.Errorf("store: backup to %s: that is the database itself; write the backup to another file", file)
		}
	}
	return nil
}

// checkBackup opens the copy at path on its own, runs SQLite's integrity
// check over it and reads its schema version.
func checkBackup(ctx context.Context, path string) (BackupInfo, error) {
	db, err := sql.Open("sqlite", "file:"+uriPath(path)+"?mode=ro")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: check backup: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	problems, err := collect(rows, err, func(r *sql.Rows) (string, error) {
		var msg string
		return msg, r.Scan(&msg)
	})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: check backup: %w", err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return BackupInfo{}, fmt.Errorf("store: the backup failed SQLite's integrity check: %s", strings.Join(problems, "; "))
	}
	v, err := schemaVersion(ctx, db)
	if err != nil && !strings.Contains(err.Error(), "no such table") {
		return BackupInfo{}, fmt.Errorf("store: check backup: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: check backup: %w", err)
	}
	return BackupInfo{SchemaVersion: v, Bytes: fi.Size()}, nil
}

// uriPath escapes what a SQLite URI would read otherwise in a path.
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// syncFile flushes the file or folder at path to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
