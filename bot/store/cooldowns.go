package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TakeCooldown starts verb's cooldown of length wait on pr for comment at
// now, if the last one has passed, in one step. It returns whether it did, and
// when the last run started. The comment that holds the cooldown taking it
// again (its job retried) is let through without a new start.
func (s *Store) TakeCooldown(ctx context.Context, pr int, verb string, comment int64, now time.Time, wait time.Duration) (taken bool, last time.Time, err error) {
	now = now.UTC()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTx(ctx, tx, cooldownLock(pr, verb)); err != nil {
			return err
		}
		var at string
		var by int64
		switch err := tx.QueryRowContext(ctx, `SELECT last_run, comment_id FROM refbot_cooldown WHERE pr = $1 AND verb = $2`, pr, verb).
			Scan(&at, &by); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read cooldown of %s on #%d: %w", verb, pr, err)
		case by == comment && comment != 0:
			taken, last = true, parseTime(at)
			return nil
		default:
			last = parseTime(at)
			if !last.IsZero() && now.Before(last.Add(wait)) {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_cooldown (pr, verb, last_run, comment_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (pr, verb) DO UPDATE SET last_run = excluded.last_run, comment_id = excluded.comment_id`,
			pr, verb, formatTime(now), comment); err != nil {
			return fmt.Errorf("start cooldown of %s on #%d: %w", verb, pr, err)
		}
		taken, last = true, now
		return nil
	})
	return taken, last, err
}

// ReleaseCooldown ends verb's cooldown on pr early if comment holds it:
// the command took it but then changed nothing (refused, or failed).
func (s *Store) ReleaseCooldown(ctx context.Context, pr int, verb string, comment int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM refbot_cooldown WHERE pr = $1 AND verb = $2 AND comment_id = $3`, pr, verb, comment)
	return err
}

// cooldownLock names the lock of verb's cooldown on pr (see lockTx): two
// replicas reading it at once must not both start it.
func cooldownLock(pr int, verb string) string { return fmt.Sprintf("cooldown:%s:%d", verb, pr) }
