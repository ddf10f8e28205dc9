package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A replica is one `refbot serve` sharing the database. Each records
// itself at start and renews its record while it runs (Heartbeat); one
// whose record has not been renewed for a while died without stopping
// (SIGKILL, a lost machine), and another replica takes over what it held
// (TakeOverReplica): its leases, and the jobs it was running (the queue's
// part). The clocks of the replicas' machines must agree within a small
// part of that while, as they must for leases.

// Replica is a replica's record.
type Replica struct {
	ID      string
	Started time.Time
	Seen    time.Time // last renewed
}

// RegisterReplica records replica id, seen now.
func (s *Store) RegisterReplica(ctx context.Context, id string) error {
	now := formatTime(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_replica (id, started_at, seen_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, id, now, now)
	if err != nil {
		return fmt.Errorf("record replica %s: %w", id, err)
	}
	return nil
}

// Heartbeat renews replica id's record. It returns false when the record
// is gone: another replica found it stale and took over what it held,
// which is no longer id's to finish.
func (s *Store) Heartbeat(ctx context.Context, id string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE refbot_replica SET seen_at = $1 WHERE id = $2`, formatTime(s.now()), id)
	if err != nil {
		return false, fmt.Errorf("renew replica %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// RemoveReplica forgets replica id at the end of a clean stop, after it
// has let go of its leases and its jobs are done or handed back.
func (s *Store) RemoveReplica(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM refbot_replica WHERE id = $1`, id)
	return err
}

// Replicas lists the recorded replicas, oldest first.
func (s *Store) Replicas(ctx context.Context) ([]Replica, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, started_at, seen_at FROM refbot_replica ORDER BY started_at, id`)
	return collect(rows, err, func(r *sql.Rows) (Replica, error) {
		var v Replica
		var started, seen string
		err := r.Scan(&v.ID, &started, &seen)
		v.Started, v.Seen = parseTime(started), parseTime(seen)
		return v, err
	})
}

// TakeOverReplica forgets replica id if its record was last renewed before
// before, releasing its leases (those it holds as id, or as "id/…" for its
// jobs), and runs also (the queue hands the replica's jobs back) in the
// same transaction. It returns false, changing nothing, when the replica
// renewed its record since or another replica took it over first: exactly
// one takes a dead replica over.
func (s *Store) TakeOverReplica(ctx context.Context, id string, before time.Time, also func(ctx context.Context, tx *sql.Tx) error) (bool, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM refbot_replica WHERE id = $1 AND seen_at < $2`, id, formatTime(before))
		if err != nil {
			return fmt.Errorf("take over replica %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errRollback
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM refbot_lease WHERE holder = $1 OR substr(holder, 1, $2) = $3`,
			id, len(id)+1, id+"/"); err != nil {
			return fmt.Errorf("release the leases of replica %s: %w", id, err)
		}
		if also != nil {
			return also(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return false, nil
	}
	return err == nil, err
}
