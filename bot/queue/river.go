package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/refbot/refbot/bot/store"
)

// riverClient is River's client on the store's database. River's client
// is typed by its driver's transactions (*sql.Tx on SQLite, pgx.Tx on
// PostgreSQL): what the queue does in a transaction goes through inTx,
// and the rest is the same on both.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	// inTx runs f in one transaction, committed when f returns nil.
	inTx(ctx context.Context, f func(tx riverTx) error) error
	// inSyncedTx is inTx whose commit is on disk (fsynced) when it
	// returns nil: for what refbot answers for (store.SyncedTx).
	inSyncedTx(ctx context.Context, f func(tx riverTx) error) error
}

// riverTx is a transaction in which the store records deliveries
// (store.Tx) and River inserts or retries jobs.
type riverTx interface {
	store.Tx
	insertMany(ctx context.Context, jobs []river.InsertManyParams) error
	// jobState reads job id's state, locking its row until the
	// transaction ends ("" if there is no such job).
	jobState(ctx context.Context, id int64) (rivertype.JobState, error)
	retry(ctx context.Context, id int64) error
}

// newRiver builds River's client on st's database, after migrating
// River's tables.
func newRiver(ctx context.Context, st *store.Store, cfg *river.Config) (riverClient, error) {
	if pool := st.Postgres(); pool != nil {
		driver := riverpgxv5.New(pool)
		if err := migrateRiver(ctx, driver, pool); err != nil {
			return nil, err
		}
		c, err := river.NewClient(driver, cfg)
		if err != nil {
			return nil, err
		}
		return postgresRiver{c, pool}, nil
	}
	driver := riversqlite.New(st.DB())
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("queue: migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("queue: migrate River's tables: %w", err)
	}
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, err
	}
	return sqliteRiver{c, st}, nil
}

// migrateRiver brings River's tables on PostgreSQL up to date. Its
// versions each run in a transaction of their own (one cannot use an enum
// value another adds in the same transaction); replicas starting together
// migrate one after the other, under an advisory lock that a dedicated
// connection holds meanwhile (and lets go of if the process dies).
func migrateRiver(ctx context.Context, driver *riverpgxv5.Driver, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("queue: migrations: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("queue: migrate River's tables: %w", err)
	}
	const key = `hashtextextended('refbot:migrate-river', 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		conn.Hijack().Close(context.WithoutCancel(ctx)) // a lock taken as the wait was cancelled ends with the session
		return fmt.Errorf("queue: migrate River's tables: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: migrate River's tables: %w", err)
	}
	return nil
}

type sqliteRiver struct {
	*river.Client[*sql.Tx]
	st *store.Store
}

func (r sqliteRiver) inTx(ctx context.Context, f func(tx riverTx) error) error {
	tx, err := r.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(sqliteTx{tx, r.Client}); err != nil {
		return err
	}
	return tx.Commit()
}

func (r sqliteRiver) inSyncedTx(ctx context.Context, f func(tx riverTx) error) error {
	return r.st.SyncedTx(ctx, func(tx *sql.Tx) error { return f(sqliteTx{tx, r.Client}) })
}

type sqliteTx struct {
	*sql.Tx
	c *river.Client[*sql.Tx]
}

func (t sqliteTx) insertMany(ctx context.Context, jobs []river.InsertManyParams) error {
	_, err := t.c.InsertManyTx(ctx, t.Tx, jobs)
	return err
}

// jobState needs no lock with SQLite, whose write transactions hold the
// whole database.
func (t sqliteTx) jobState(ctx context.Context, id int64) (rivertype.JobState, error) {
	var state string
	err := t.QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return rivertype.JobState(state), err
}

func (t sqliteTx) retry(ctx context.Context, id int64) error {
	_, err := t.c.JobRetryTx(ctx, t.Tx, id)
	return err
}

type postgresRiver struct {
	*river.Client[pgx.Tx]
	pool *pgxpool.Pool
}

func (r postgresRiver) inTx(ctx context.Context, f func(tx riverTx) error) error {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(postgresTx{tx, r.Client}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// inSyncedTx: PostgreSQL's commits are on disk when they return unless
// synchronous_commit is off, which store.SyncCommit overrides for the
// transaction.
func (r postgresRiver) inSyncedTx(ctx context.Context, f func(tx riverTx) error) error {
	return r.inTx(ctx, func(tx riverTx) error {
		if err := store.SyncCommit(ctx, tx); err != nil {
			return err
		}
		return f(tx)
	})
}

type postgresTx struct {
	tx pgx.Tx
	c  *river.Client[pgx.Tx]
}

// ExecContext is pgx's Exec as database/sql's, for the store's Recording.
func (t postgresTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tag, err := t.tx.Exec(ctx, query, args...)
	return pgResult(tag), err
}

func (t postgresTx) insertMany(ctx context.Context, jobs []river.InsertManyParams) error {
	_, err := t.c.InsertManyTx(ctx, t.tx, jobs)
	return err
}

func (t postgresTx) jobState(ctx context.Context, id int64) (rivertype.JobState, error) {
	var state string
	err := t.tx.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1 FOR UPDATE`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return rivertype.JobState(state), err
}

func (t postgresTx) retry(ctx context.Context, id int64) error {
	_, err := t.c.JobRetryTx(ctx, t.tx, id)
	return err
}

// pgResult is a command's tag as database/sql's result.
type pgResult pgconn.CommandTag

func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("PostgreSQL has no last insert id: use RETURNING")
}

func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// jobSQL writes the parts of the queue's statements on River's tables that
// differ between SQLite, where a job's args and metadata are JSON text
// and times text, and PostgreSQL, where they are jsonb and timestamptz.
// Keys are the queue's own constants, never input.
type jobSQL struct{ postgres bool }

// argInt is args' key as a number (NULL when absent).
func (d jobSQL) argInt(key string) string {
	if d.postgres {
		return "(args->>'" + key + "')::bigint"
	}
	return "json_extract(args, '$." + key + "')"
}

// argText is args' key as text (NULL when absent).
func (d jobSQL) argText(key string) string {
	if d.postgres {
		return "(args->>'" + key + "')"
	}
	return "json_extract(args, '$." + key + "')"
}

// argTrue holds when args' key is true.
func (d jobSQL) argTrue(key string) string {
	if d.postgres {
		return "coalesce((args->>'" + key + "')::boolean, false)"
	}
	return "json_extract(args, '$." + key + "') = 1"
}

// args is the whole of args as JSON text.
func (d jobSQL) args() string {
	if d.postgres {
		return "args::text"
	}
	return "json(args)"
}

// metaSet holds when metadata has key.
func (d jobSQL) metaSet(key string) string {
	if d.postgres {
		return "metadata ? '" + key + "'"
	}
	return "json_extract(metadata, '$." + key + "') IS NOT NULL"
}

// now is the database's time now, as River writes its times.
func (d jobSQL) now() string {
	if d.postgres {
		return "now()"
	}
	return "datetime('now', 'subsec')"
}
