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
		var at string
		var by int64
		switch err := tx.QueryRowContext(ctx, `SELECT last_run, comment_id FROM refbot_cooldown WHERE pr = ? AND verb = ?`, pr, verb).
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_cooldown (pr, verb, last_run, comment_id) VALUES (?, ?, ?, ?)
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
	_, err := s.db.ExecContext(ctx, `DELETE FROM refbot_cooldown WHERE pr = ? AND verb = ? AND comment_id = ?`, pr, verb, comment)
	return err
}
