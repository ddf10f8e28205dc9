// Package store is refbot's own state, kept beside the job queue in one
// database: webhook deliveries and the comments already handled, leases,
// cooldowns and the policy engine's runs, daily counts and slots
// (verbs.go), the replies and statuses refbot posted, the progress of each
// UPDATE and merge, the heads each pull request had and when, and what the
// reconciler last saw. Every table is created and changed by the versioned
// migrations in migrations.go, in one place; callers never write SQL, they
// call the methods here (docs/design.md, "State").
//
// The embedded default is SQLite: one file, one writer. Open sets it up the
// way both refbot and River need it; LockExclusive keeps a second
// `refbot serve` off the same file. A postgres:// URL opens PostgreSQL
// instead (postgres.go), where several `refbot serve` replicas share the
// database by design: what two of them may decide at once is decided in
// transactions that lock what they read (lockTx, WithLock), never in a
// process's memory (docs/design.md, "Replicas").
//
// Statements are written once for both: numbered parameters ($1), which
// SQLite understands too, and SQL both dialects share; what differs
// (the schema's types, locks) is chosen by the store's dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite", pure Go
)

// Store is refbot's state in one database.
type Store struct {
	db      *sql.DB
	dialect dialect
	path    string   // the SQLite file, or the PostgreSQL database as named in errors (no credentials)
	lock    *os.File // held by LockExclusive
	now     func() time.Time
	// pool is PostgreSQL's connection pool, which db draws on too; nil
	// with SQLite.
	pool *pgxpool.Pool
	// locks are WithLock's named locks with SQLite, where one process
	// holds the database (see LockExclusive).
	locks *namedLocks
	// durable counts the commits made to disk by durableExec.
	durable atomic.Int64
}

// dialect is the database a Store runs on.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

// Options configure Open.
type Options struct {
	// ReadOnly opens the database for reading only, without migrating
	// (for CLI commands that must not change a running serve's state).
	ReadOnly bool
	// Exclusive keeps the database to this process until Close (see
	// LockExclusive), taken before migrating: for `refbot serve`. Without
	// it, Open migrates only while no serve holds the database, and
	// otherwise refuses a schema other than its own: a CLI command never
	// changes the tables under a running serve. PostgreSQL is shared by
	// design: there, Exclusive changes nothing.
	Exclusive bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// IsPostgres reports whether database (the configuration's database) is a
// PostgreSQL URL rather than the path of a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Open opens (creating if needed) the database and brings refbot's tables
// up to date (see Options.Exclusive for when): the SQLite file at path, or
// the PostgreSQL database path names when it is a URL (see IsPostgres).
// River's tables are the queue's to migrate.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: database path is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if IsPostgres(path) {
		return openPostgres(ctx, path, o)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		dsn += "&mode=ro"
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// WAL with synchronous=NORMAL: a commit survives the process
		// being killed at any point (what the crash tests check); only a
		// power loss can take the last commits back, which is why what
		// refbot answers for is committed through SyncedTx instead.
		dsn += "&_pragma=journal_mode(WAL)&_pragma=synchronous(" + syncNormal + ")&_txlock=immediate"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// SQLite allows one writer; River's driver recommends one connection.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, dialect: sqlite, path: path, now: o.Now, locks: &namedLocks{}}
	if o.ReadOnly {
		return s, nil
	}
	if err := s.setUp(ctx, o.Exclusive); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// setUp migrates under the serve lock: kept when exclusive, let go of
// after migrating otherwise. A database a serve holds is only checked. The
// lock is also held for the moment a CLI command migrates: a holder that
// lets go within lockWait is waited for.
func (s *Store) setUp(ctx context.Context, exclusive bool) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := s.LockExclusive()
		switch {
		case err == nil:
			if err := s.migrate(ctx); err != nil {
				return err
			}
			if !exclusive {
				s.unlock()
			}
			return nil
		case !errors.Is(err, ErrLocked):
			return err
		case !exclusive:
			if v, verr := s.SchemaVersion(ctx); verr == nil && v == Version {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if exclusive {
				return err
			}
			v, _ := s.SchemaVersion(ctx)
			return fmt.Errorf("store: %s has schema version %d, this refbot knows %d, and a refbot serve holds it: "+
				"run this command with the same refbot version as the serve", s.path, v, Version)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockWait is how long Open waits for another process's hold on the
// database (a CLI command migrating it) to end.
const lockWait = 3 * time.Second

// DB is the database, for the job queue (River) that shares it.
func (s *Store) DB() *sql.DB { return s.db }

// Postgres returns the PostgreSQL connection pool the store draws on, for
// River's pgx driver; nil when the database is SQLite.
func (s *Store) Postgres() *pgxpool.Pool { return s.pool }

// Name is the database as refbot's messages name it: the SQLite file, or
// the PostgreSQL server and database (never credentials).
func (s *Store) Name() string { return s.path }

// ErrLocked: another process holds the database (LockExclusive).
var ErrLocked = errors.New("database is in use by another refbot serve")

// LockExclusive keeps the database to this process until Close: a second
// `refbot serve` on the same file fails here instead of taking the first
// one's running jobs for its own. Open takes it with Options.Exclusive;
// CLI commands hold it only while migrating a database no serve holds, and
// otherwise coordinate with the serve through leases (see TakeLeases).
// PostgreSQL is shared by replicas by design: there it does nothing.
func (s *Store) LockExclusive() error {
	if s.dialect == postgres {
		return nil
	}
	f, err := os.OpenFile(s.path+".serve.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: serve lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("store: %s: %w", s.path, ErrLocked)
		}
		return fmt.Errorf("store: serve lock: %w", err)
	}
	s.lock = f
	return nil
}

// Close closes the database and lets go of the exclusive lock.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	s.unlock()
	return err
}

func (s *Store) unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// timeFormat is how times are stored: text that sorts as time does.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{timeFormat, time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// errRollback makes inTx roll back without an error of its own.
var errRollback = errors.New("rolled back")

// inTx runs f in one transaction.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return commit(tx, f)
}

// commit runs f in tx and commits it, or rolls it back when f fails.
func commit(tx *sql.Tx, f func(tx *sql.Tx) error) error {
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// collect reads rows with scan, closing them.
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
