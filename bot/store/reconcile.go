package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// LastPass returns when the reconciler's last complete pass started (zero
// if none).
func (s *Store) LastPass(ctx context.Context) (time.Time, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM refbot_reconcile WHERE key = 'last_pass'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return parseTime(v), err
}

// SetLastPass records that a complete pass started at t.
func (s *Store) SetLastPass(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_reconcile (key, value) VALUES ('last_pass', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, formatTime(t))
	return err
}

// SeenPRs returns each open PR's updatedAt as GitHub gave it when the
// reconciler last read the PR.
func (s *Store) SeenPRs(ctx context.Context) (map[int]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pr, updated_at FROM refbot_reconcile_pr`)
	type seen struct {
		pr int
		at time.Time
	}
	all, err := collect(rows, err, func(r *sql.Rows) (seen, error) {
		var v seen
		var at string
		err := r.Scan(&v.pr, &at)
		v.at = parseTime(at)
		return v, err
	})
	out := make(map[int]time.Time, len(all))
	for _, v := range all {
		if !v.at.IsZero() {
			out[v.pr] = v.at
		}
	}
	return out, err
}

// MarkPRSeen records a PR's updatedAt as the reconciler read it.
func (s *Store) MarkPRSeen(ctx context.Context, pr int, updated time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_reconcile_pr (pr, updated_at) VALUES ($1, $2)
		ON CONFLICT (pr) DO UPDATE SET updated_at = excluded.updated_at`, pr, formatTime(updated))
	return err
}

// CacheStatus is the cache status refbot last set on a PR's head.
type CacheStatus struct {
	PR          int
	SHA         string
	State       string
	Description string
	Build       string // the CI build it is about
}

// CacheStatus returns pr's last cache status, or nil.
func (s *Store) CacheStatus(ctx context.Context, pr int) (*CacheStatus, error) {
	c := CacheStatus{PR: pr}
	err := s.db.QueryRowContext(ctx, `SELECT sha, state, description, build FROM refbot_cache_status WHERE pr = $1`, pr).
		Scan(&c.SHA, &c.State, &c.Description, &c.Build)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &c, err
}

// SaveCacheStatus remembers c as its PR's last cache status.
func (s *Store) SaveCacheStatus(ctx context.Context, c CacheStatus) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_cache_status (pr, sha, state, description, build) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (pr) DO UPDATE SET sha = excluded.sha, state = excluded.state, description = excluded.description,
		build = excluded.build`, c.PR, c.SHA, c.State, c.Description, c.Build)
	return err
}

// CachedBuilds returns the builds the open PRs' cache statuses point at,
// for prune to keep.
func (s *Store) CachedBuilds(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT build FROM refbot_cache_status WHERE build != ''`)
	all, err := collect(rows, err, func(r *sql.Rows) (string, error) {
		var b string
		return b, r.Scan(&b)
	})
	out := make(map[string]bool, len(all))
	for _, b := range all {
		out[b] = true
	}
	return out, err
}
