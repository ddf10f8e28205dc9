package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are refbot's schema, version by version: migrations[i] takes
// the database from version i to i+1, in one transaction. Never change a
// migration that has shipped; add a new one.
//
// Version 1 is the schema of the releases before versioning, when each
// package created its tables if missing: its statements are idempotent, so
// an old database and a new one both arrive at version 1 the same way.
var migrations = [][]string{
	// 1: deliveries, comments, PR leases, replies, CI restarts, statuses,
	// update views, cooldowns and the reconciler's memory.
	{
		`CREATE TABLE IF NOT EXISTS refbot_delivery (
			id TEXT PRIMARY KEY,
			event TEXT NOT NULL,
			action TEXT NOT NULL,
			received_at TEXT NOT NULL,
			ignored TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE TABLE IF NOT EXISTS refbot_comment (
			comment_id INTEGER PRIMARY KEY,
			pr INTEGER NOT NULL,
			delivery_id TEXT NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS refbot_pr_lease (
			pr INTEGER PRIMARY KEY, owner TEXT NOT NULL, job_id INTEGER NOT NULL, expires_at TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS refbot_reply (
			comment_id INTEGER NOT NULL, verb TEXT NOT NULL, reply_id INTEGER NOT NULL, PRIMARY KEY (comment_id, verb))`,
		`CREATE TABLE IF NOT EXISTS refbot_ci_restart (
			pr INTEGER NOT NULL, build_id TEXT NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (pr, build_id))`,
		`CREATE TABLE IF NOT EXISTS refbot_pending (
			pr INTEGER NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (pr, sha))`,
		`CREATE TABLE IF NOT EXISTS refbot_update_status (
			pr INTEGER PRIMARY KEY, sha TEXT NOT NULL, state TEXT NOT NULL, description TEXT NOT NULL,
			overlaps TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE IF NOT EXISTS refbot_update_view (
			reply_key TEXT NOT NULL, comment_id INTEGER NOT NULL, view TEXT NOT NULL, PRIMARY KEY (comment_id, reply_key))`,
		`CREATE TABLE IF NOT EXISTS refbot_cooldown (
			pr INTEGER NOT NULL, verb TEXT NOT NULL, last_run TEXT NOT NULL, comment_id INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (pr, verb))`,
		`CREATE TABLE IF NOT EXISTS refbot_reconcile (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS refbot_reconcile_pr (pr INTEGER PRIMARY KEY, updated_at TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS refbot_cache_status (pr INTEGER PRIMARY KEY, sha TEXT NOT NULL,
			state TEXT NOT NULL, description TEXT NOT NULL, build TEXT NOT NULL)`,
	},
	// 2: the job model of CI waits and merges as states; named leases;
	// replies created once; heads and when they were seen.
	{
		// Leases by name ("pr:12", "base:master"): one holder at a time,
		// across refbot serve and the CLI.
		`DROP TABLE refbot_pr_lease`,
		`CREATE TABLE refbot_lease (
			name TEXT PRIMARY KEY,
			holder TEXT NOT NULL,
			expires_at TEXT NOT NULL)`,
		// A reply with reply_id 0 is being created: after a crash, the
		// reply may exist and is looked up by its marker.
		`ALTER TABLE refbot_reply ADD COLUMN created_at TEXT NOT NULL DEFAULT ''`,
		// One row per UPDATE command: its steps, so a retried or resumed job
		// goes on from the last one done.
		`CREATE TABLE refbot_update (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			comment_id INTEGER NOT NULL,
			cmd_key TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head TEXT NOT NULL,
			build TEXT NOT NULL,
			author TEXT NOT NULL,
			step TEXT NOT NULL,
			data_commit TEXT NOT NULL DEFAULT '',
			restart_at TEXT NOT NULL DEFAULT '',
			restart_before TEXT NOT NULL DEFAULT '',
			restarts INTEGER NOT NULL DEFAULT 0,
			seen_running INTEGER NOT NULL DEFAULT 0,
			polls INTEGER NOT NULL DEFAULT 0,
			view TEXT NOT NULL DEFAULT '',
			outcome TEXT NOT NULL DEFAULT '',
			reported INTEGER NOT NULL DEFAULT 0,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			UNIQUE (comment_id, cmd_key))`,
		`CREATE INDEX refbot_update_pr ON refbot_update (pr, step)`,
		// What the two tables below held is in refbot_update now; an UPDATE
		// that was running during the upgrade starts its steps again (its
		// push is found done, its CI build restarted once more at most).
		`DROP TABLE refbot_update_view`,
		`DROP TABLE refbot_ci_restart`,
		// The commands of a comment already done, so that a retry after a
		// later command failed does not redo them.
		`CREATE TABLE refbot_command_done (
			comment_id INTEGER NOT NULL, cmd_key TEXT NOT NULL, PRIMARY KEY (comment_id, cmd_key))`,
		// What refbot learnt of each PR's head: sha was the head at seen_at
		// (GitHub's clock), from source.
		`CREATE TABLE refbot_head (
			pr INTEGER NOT NULL, sha TEXT NOT NULL, seen_at TEXT NOT NULL, source TEXT NOT NULL,
			PRIMARY KEY (pr, seen_at, sha))`,
		// One row per merged PR: its promotion, or the wait for the base
		// branch's post-merge build.
		`CREATE TABLE refbot_merge (
			pr INTEGER PRIMARY KEY,
			merge_commit TEXT NOT NULL,
			head TEXT NOT NULL,
			code_base TEXT NOT NULL,
			merged_at TEXT NOT NULL,
			merged_by TEXT NOT NULL,
			step TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			against TEXT NOT NULL DEFAULT '',
			build TEXT NOT NULL DEFAULT '',
			data_commit TEXT NOT NULL DEFAULT '',
			view TEXT NOT NULL DEFAULT '',
			started_at TEXT NOT NULL,
			updated_at TEXT NOT NULL)`,
		// When refbot last answered someone who may not command it.
		`CREATE TABLE refbot_unprivileged_reply (login TEXT PRIMARY KEY, at TEXT NOT NULL, comment_id INTEGER NOT NULL)`,
	},
	// 3: the policy engine's limits beyond the per-PR cooldown (verbs.go).
	{
		// One row per run a comment took: what to give back if the
		// command does nothing (the day's count, the slot and who held it
		// before), and the answer a retried job gets.
		`CREATE TABLE refbot_verb_run (
			verb TEXT NOT NULL,
			comment_id INTEGER NOT NULL,
			pr INTEGER NOT NULL,
			day TEXT NOT NULL,
			slot INTEGER NOT NULL DEFAULT 0,
			taken_at TEXT NOT NULL,
			prev_pr INTEGER NOT NULL DEFAULT 0,
			prev_comment_id INTEGER NOT NULL DEFAULT 0,
			prev_used_at TEXT NOT NULL DEFAULT '',
			prev_held_until TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (verb, comment_id))`,
		// Runs of each verb per UTC day ("2006-01-02"), for the daily cap.
		`CREATE TABLE refbot_verb_day (
			verb TEXT NOT NULL, day TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (verb, day))`,
		// A verb's slots (numbered from 1): the PR whose result is in it,
		// since when, and until when no other PR's run may replace it.
		`CREATE TABLE refbot_verb_slot (
			verb TEXT NOT NULL,
			slot INTEGER NOT NULL,
			pr INTEGER NOT NULL,
			comment_id INTEGER NOT NULL,
			used_at TEXT NOT NULL,
			held_until TEXT NOT NULL,
			PRIMARY KEY (verb, slot))`,
	},
	// 4: WEBSITE requests (website.go).
	{
		`CREATE TABLE refbot_website (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			comment_id INTEGER NOT NULL,
			cmd_key TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head TEXT NOT NULL,
			branch TEXT NOT NULL,
			author TEXT NOT NULL,
			step TEXT NOT NULL,
			until TEXT NOT NULL DEFAULT '',
			reason TEXT NOT NULL DEFAULT '',
			slot INTEGER NOT NULL DEFAULT 0,
			request TEXT NOT NULL DEFAULT '',
			build TEXT NOT NULL DEFAULT '',
			build_url TEXT NOT NULL DEFAULT '',
			triggered_at TEXT NOT NULL DEFAULT '',
			preview_url TEXT NOT NULL DEFAULT '',
			held_until TEXT NOT NULL DEFAULT '',
			detail TEXT NOT NULL DEFAULT '',
			ended_by TEXT NOT NULL DEFAULT '',
			reported INTEGER NOT NULL DEFAULT 0,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			UNIQUE (comment_id, cmd_key))`,
		`CREATE INDEX refbot_website_pr ON refbot_website (pr, step)`,
	},
	// 5: the `refbot serve` replicas sharing a PostgreSQL database
	// (replicas.go); SQLite has one, and records it alike.
	{
		`CREATE TABLE refbot_replica (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, seen_at TEXT NOT NULL)`,
	},
	// 6: the open pull requests as refbot last heard of them, for the
	// index page (openprs.go), and the log lines of jobs, for the job
	// pages (joblog.go).
	migration6,
}

// migration6 is the same in both dialects (postgresMigrations[2]).
var migration6 = []string{
	`CREATE TABLE refbot_open_pr (
		pr INTEGER PRIMARY KEY,
		title TEXT NOT NULL,
		author TEXT NOT NULL,
		head TEXT NOT NULL,
		base TEXT NOT NULL,
		draft INTEGER NOT NULL DEFAULT 0,
		fork INTEGER NOT NULL DEFAULT 0,
		updated_at TEXT NOT NULL)`,
	`CREATE TABLE refbot_job_log (
		job_id INTEGER NOT NULL,
		seq INTEGER NOT NULL,
		attempt INTEGER NOT NULL,
		at TEXT NOT NULL,
		level TEXT NOT NULL,
		message TEXT NOT NULL,
		PRIMARY KEY (job_id, seq))`,
}

// Version is the schema version this refbot brings a database to.
var Version = len(migrations)

// ErrNewerSchema: the database was written by a newer refbot.
var ErrNewerSchema = errors.New("database schema is newer than this refbot")

func (s *Store) migrate(ctx context.Context) error {
	// Already current: nothing is written.
	if v, err := s.SchemaVersion(ctx); err == nil && v == Version {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Replicas starting together on PostgreSQL migrate one after the
		// other: the later ones find the work done.
		if err := s.lockTx(ctx, tx, "migrate"); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS refbot_schema (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("store: schema version table: %w", err)
		}
		v, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if v > Version {
			return fmt.Errorf("store: %s has schema version %d, this refbot knows %d: %w", s.path, v, Version, ErrNewerSchema)
		}
		if v == Version {
			return nil
		}
		steps, err := s.migrationsFrom(v)
		if err != nil {
			return err
		}
		for _, step := range steps {
			for _, stmt := range step.stmts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("store: migrate to version %d: %w", step.to, err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM refbot_schema`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO refbot_schema (version) VALUES ($1)`, Version)
		return err
	})
}

// migrationStep is what takes a database to version to.
type migrationStep struct {
	to    int
	stmts []string
}

// migrationsFrom lists the steps from version v to Version in the store's
// dialect.
func (s *Store) migrationsFrom(v int) ([]migrationStep, error) {
	var steps []migrationStep
	if s.dialect == sqlite {
		for ; v < Version; v++ {
			steps = append(steps, migrationStep{v + 1, migrations[v]})
		}
		return steps, nil
	}
	switch {
	case v == 0:
		steps = append(steps, migrationStep{postgresFrom, postgresSchema(postgresMigrations[0])})
		v = postgresFrom
	case v < postgresFrom:
		return nil, fmt.Errorf("store: %s has schema version %d, older than any refbot on PostgreSQL wrote", s.path, v)
	}
	for ; v < Version; v++ {
		steps = append(steps, migrationStep{v + 1, postgresSchema(postgresMigrations[v-postgresFrom+1])})
	}
	return steps, nil
}

// SchemaVersion returns the database's schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) { return schemaVersion(ctx, s.db) }

// schemaVersion reads the version through q: the database, or a
// transaction migrating it.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT version FROM refbot_schema`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
