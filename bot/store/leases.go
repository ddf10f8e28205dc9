package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PRLease is the name of pull request pr's lease: every job that changes
// the PR's data branch, replies or statuses holds it.
func PRLease(pr int) string { return fmt.Sprintf("pr:%d", pr) }

// BaseLease is the name of a base branch's lease: every change to the base
// branch of the data repo (promotion, post-merge build, a forced rebuild,
// rebasing the other PRs' branches onto it) holds it, one at a time.
func BaseLease(base string) string { return "base:" + base }

// TakeLeases takes every lease in names for holder until ttl from now, all
// or none: it returns false, taking nothing, if another holder has one of
// them that has not expired. A holder taking a lease it holds renews it.
func (s *Store) TakeLeases(ctx context.Context, names []string, holder string, ttl time.Duration) (bool, error) {
	now := s.now().UTC()
	// In one order, so that two holders taking overlapping sets on
	// PostgreSQL wait for each other instead of deadlocking.
	names = slices.Sorted(slices.Values(names))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, name := range names {
			res, err := tx.ExecContext(ctx, `INSERT INTO refbot_lease (name, holder, expires_at) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
				WHERE refbot_lease.expires_at < $4 OR refbot_lease.holder = excluded.holder`,
				name, holder, formatTime(now.Add(ttl)), formatTime(now))
			if err != nil {
				return fmt.Errorf("take lease %s: %w", name, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errRollback
			}
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return false, nil
	}
	return err == nil, err
}

// ReleaseLeases lets go of holder's leases among names, in one statement.
func (s *Store) ReleaseLeases(ctx context.Context, names []string, holder string) error {
	if len(names) == 0 {
		return nil
	}
	args, params := []any{holder}, make([]string, len(names))
	for i, name := range names {
		args = append(args, name)
		params[i] = fmt.Sprintf("$%d", i+2)
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM refbot_lease WHERE holder = $1 AND name IN (`+strings.Join(params, ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("release leases %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// ReleaseLeasesHeldBy lets go of every lease whose holder starts with
// prefix: what a process that died left behind (refbot serve at start
// clears its predecessors', never a CLI command's).
func (s *Store) ReleaseLeasesHeldBy(ctx context.Context, prefix string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM refbot_lease WHERE substr(holder, 1, $1) = $2`, len(prefix), prefix)
	return err
}

// LeaseHolder returns who holds lease name now ("" if nobody).
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, error) {
	var holder string
	err := s.db.QueryRowContext(ctx, `SELECT holder FROM refbot_lease WHERE name = $1 AND expires_at >= $2`,
		name, formatTime(s.now())).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return holder, err
}
