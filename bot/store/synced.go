package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SQLite's safety levels (PRAGMA synchronous). The database runs at
// NORMAL: in WAL mode a commit is then in the operating system's hands
// when it returns, which a killed process cannot take back, but a power
// cut or a kernel crash can. FULL syncs the WAL at every commit.
const (
	syncNormal = "NORMAL"
	syncFull   = "FULL"
)

// SyncedTx runs f in a transaction on the SQLite database and commits it
// to the disk: when SyncedTx returns nil, the commit is in the WAL and
// the WAL is fsynced, so that not even a power cut takes it back. It is
// for what refbot promises to someone once it returns, such as a webhook
// delivery it is about to answer 200 (docs/design.md, "Flows": recorded,
// then answered), and for the records of a job's steps (durableExec); the
// rest of refbot's writes can be redone after a crash and stay at the
// cheaper NORMAL. f must use only tx: the store has one connection.
//
// SQLite sets the level per connection, and not inside a transaction: the
// connection is held, raised to FULL, the transaction run and committed,
// and the connection set back to NORMAL before anyone else gets it.
func (s *Store) SyncedTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if s.dialect != sqlite {
		return errors.New("store: SyncedTx is for SQLite (see SyncCommit)")
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := setSynchronous(ctx, conn, syncFull); err != nil {
		return err
	}
	defer func() {
		// A connection left at FULL is only slower; the next SyncedTx
		// tries again.
		setSynchronous(context.WithoutCancel(ctx), conn, syncNormal)
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return commit(tx, f)
}

func setSynchronous(ctx context.Context, conn *sql.Conn, level string) error {
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+level); err != nil {
		return fmt.Errorf("store: synchronous %s: %w", level, err)
	}
	return nil
}

// syncCommit is the transaction-local setting that SyncCommit raises
// synchronous_commit to when it is off ("local": flushed to this server's
// disk; a setting other than off is left as the operator chose it).
const syncCommit = `SELECT set_config('synchronous_commit', 'local', true)
	WHERE current_setting('synchronous_commit') = 'off'`

// SyncCommit makes the commit of tx, a transaction on the PostgreSQL
// database, return only once it is on the server's disk, as SyncedTx does
// on SQLite. That is PostgreSQL's default; this keeps it so where the
// server's configuration, or the URL's options, turned synchronous_commit
// off. Call it in the transaction, before its commit.
func SyncCommit(ctx context.Context, tx Tx) error {
	if _, err := tx.ExecContext(ctx, syncCommit); err != nil {
		return fmt.Errorf("store: synchronous_commit: %w", err)
	}
	return nil
}

// durableExec runs one statement and commits it to disk, as SyncedTx (on
// SQLite) or SyncCommit (on PostgreSQL) do. It is for the records of a
// job's steps, each written before the job acts outside on it (asks CI to
// restart a build, to build the docs, pushes): a power cut must not take
// such a record back after the act, or the job would act twice.
func (s *Store) durableExec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	run := func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	}
	var err error
	if s.dialect == sqlite {
		err = s.SyncedTx(ctx, run)
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if err := SyncCommit(ctx, tx); err != nil {
				return err
			}
			return run(tx)
		})
	}
	if err != nil {
		return nil, err
	}
	s.durable.Add(1)
	return res, nil
}
