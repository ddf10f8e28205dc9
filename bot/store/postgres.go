package store

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// defaultPoolSize is the connections one refbot serve opens to
// PostgreSQL unless the URL says otherwise (pool_max_conns): River's
// listener keeps one, its producers and the workers' jobs share the rest,
// and WithLock holds one while its caller runs.
const defaultPoolSize = 20

// openPostgres opens the PostgreSQL database rawURL names: one pgx pool,
// which River's pgx driver uses directly and the store through
// database/sql (pgx's stdlib).
func openPostgres(ctx context.Context, rawURL string, o Options) (*Store, error) {
	name := postgresName(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's message may quote the URL: say what is wrong without it.
		return nil, fmt.Errorf("store: %s is not a PostgreSQL URL pgx understands", name)
	}
	if !strings.Contains(rawURL, "pool_max_conns=") {
		cfg.MaxConns = defaultPoolSize
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "refbot"
	}
	if o.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &Store{db: db, pool: pool, dialect: postgres, path: name, now: o.Now}
	if err := db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", name, err)
	}
	if o.ReadOnly {
		return s, nil
	}
	// Replicas share the database: each migrates under lockTx, and a
	// CLI command may too (what a migration adds, the running replicas
	// of the version before it do not read).
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// postgresName is how messages name the database of rawURL: its server
// and database, without user or password.
func postgresName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the PostgreSQL database"
	}
	return fmt.Sprintf("postgres://%s%s", u.Host, u.Path)
}

// postgresFrom is the first schema version refbot writes on PostgreSQL:
// postgresMigrations[0] creates it at once in an empty database, and
// postgresMigrations[i] takes the database from version postgresFrom+i-1
// to postgresFrom+i, as migrations does for SQLite. Each version's tables
// are the same in both; the types differ (postgresSchema).
const postgresFrom = 4

var postgresMigrations = [][]string{
	// 1 to 4, as one: what migrations' first four versions leave.
	{
		`CREATE TABLE refbot_delivery (
			id TEXT PRIMARY KEY,
			event TEXT NOT NULL,
			action TEXT NOT NULL,
			received_at TEXT NOT NULL,
			ignored TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE refbot_comment (comment_id INTEGER PRIMARY KEY, pr INTEGER NOT NULL, delivery_id TEXT NOT NULL)`,
		`CREATE TABLE refbot_reply (
			comment_id INTEGER NOT NULL, verb TEXT NOT NULL, reply_id INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (comment_id, verb))`,
		`CREATE TABLE refbot_pending (pr INTEGER NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (pr, sha))`,
		`CREATE TABLE refbot_update_status (
			pr INTEGER PRIMARY KEY, sha TEXT NOT NULL, state TEXT NOT NULL, description TEXT NOT NULL,
			"overlaps" TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE refbot_cooldown (
			pr INTEGER NOT NULL, verb TEXT NOT NULL, last_run TEXT NOT NULL, comment_id INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (pr, verb))`,
		`CREATE TABLE refbot_reconcile (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE refbot_reconcile_pr (pr INTEGER PRIMARY KEY, updated_at TEXT NOT NULL)`,
		`CREATE TABLE refbot_cache_status (pr INTEGER PRIMARY KEY, sha TEXT NOT NULL,
			state TEXT NOT NULL, description TEXT NOT NULL, build TEXT NOT NULL)`,
		`CREATE TABLE refbot_lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL)`,
		`CREATE TABLE refbot_update (
			id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
		`CREATE TABLE refbot_command_done (
			comment_id INTEGER NOT NULL, cmd_key TEXT NOT NULL, PRIMARY KEY (comment_id, cmd_key))`,
		`CREATE TABLE refbot_head (
			pr INTEGER NOT NULL, sha TEXT NOT NULL, seen_at TEXT NOT NULL, source TEXT NOT NULL,
			PRIMARY KEY (pr, seen_at, sha))`,
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
		`CREATE TABLE refbot_unprivileged_reply (login TEXT PRIMARY KEY, at TEXT NOT NULL, comment_id INTEGER NOT NULL)`,
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
		`CREATE TABLE refbot_verb_day (verb TEXT NOT NULL, day TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (verb, day))`,
		`CREATE TABLE refbot_verb_slot (
			verb TEXT NOT NULL,
			slot INTEGER NOT NULL,
			pr INTEGER NOT NULL,
			comment_id INTEGER NOT NULL,
			used_at TEXT NOT NULL,
			held_until TEXT NOT NULL,
			PRIMARY KEY (verb, slot))`,
		`CREATE TABLE refbot_website (
			id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
	// 5: as migrations[4].
	{
		`CREATE TABLE refbot_replica (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, seen_at TEXT NOT NULL)`,
	},
	// 6: as migrations[5].
	migration6,
}

var (
	sqlText    = regexp.MustCompile(`\bTEXT\b`)
	sqlInteger = regexp.MustCompile(`\bINTEGER\b`)
)

// postgresSchema turns statements written with SQLite's types into
// PostgreSQL's: an INTEGER is 64 bits in SQLite (GitHub's ids need them),
// and TEXT compares byte by byte ("C"), as SQLite's does. refbot keeps
// times as text that sorts as time does (formatTime), which a locale's
// collation might not.
func postgresSchema(stmts []string) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		s = sqlText.ReplaceAllString(s, `TEXT COLLATE "C"`)
		out[i] = sqlInteger.ReplaceAllString(s, "BIGINT")
	}
	return out
}

// sqlBool is b as both dialects store a flag: PostgreSQL's driver does not
// write a Go bool into an integer column.
func sqlBool(b bool) int {
	if b {
		return 1
	}
	return 0
}
