package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Reads for refbot's pages (docs/design.md, "Review pages"): the index
// page's cache statuses of every PR in one query, and a PR timeline's
// updates.

// CacheStatuses returns every PR's last cache status, keyed by PR.
func (s *Store) CacheStatuses(ctx context.Context) (map[int]CacheStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pr, sha, state, description, build FROM refbot_cache_status`)
	all, err := collect(rows, err, func(r *sql.Rows) (CacheStatus, error) {
		var c CacheStatus
		return c, r.Scan(&c.PR, &c.SHA, &c.State, &c.Description, &c.Build)
	})
	if err != nil {
		return nil, fmt.Errorf("store: read cache statuses: %w", err)
	}
	out := make(map[int]CacheStatus, len(all))
	for _, c := range all {
		out[c.PR] = c
	}
	return out, nil
}

// UpdatesOfPR returns pr's UPDATEs, newest first (at most limit): each
// with the build it took, the head it was bound to, its step and the data
// commit its push made.
func (s *Store) UpdatesOfPR(ctx context.Context, pr, limit int) ([]Update, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+updateColumns+` FROM refbot_update WHERE pr = $1 ORDER BY id DESC LIMIT $2`, pr, limit)
	out, err := collect(rows, err, func(r *sql.Rows) (Update, error) { return scanUpdate(r) })
	if err != nil {
		return nil, fmt.Errorf("store: read updates of #%d: %w", pr, err)
	}
	return out, nil
}
