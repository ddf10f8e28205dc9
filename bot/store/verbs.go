package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// VerbState is what the policy engine decides a command on: one verb's
// state for one PR and comment, as the deciding transaction sees it.
type VerbState struct {
	// Run is the run this comment took already (its job retried); nil if
	// none.
	Run *VerbRun
	// LastRun is when verb's cooldown on the PR started, and LastComment
	// the comment that started it; zero if there is none.
	LastRun     time.Time
	LastComment int64
	// Today is how many runs of verb the day asked for counted.
	Today int
	// Slots are the verb's slots that have been used, by number.
	Slots []VerbSlot
}

// VerbRun is a run a comment took.
type VerbRun struct {
	Verb    string
	Comment int64
	PR      int
	Day     string // UTC, "2006-01-02"
	Slot    int    // 0: none
	TakenAt time.Time
}

// VerbSlot is one of a verb's slots: PR's result is in it since UsedAt,
// and no other PR's run may replace it before HeldUntil.
type VerbSlot struct {
	Slot      int
	PR        int
	Comment   int64
	UsedAt    time.Time
	HeldUntil time.Time
}

// VerbTake is what a decision takes, all in the deciding transaction.
type VerbTake struct {
	Cooldown bool // start verb's cooldown on the PR
	// Run records the run under its comment and counts it on the day; a
	// comment of 0 (none) is counted but not recorded, so it cannot be
	// given back.
	Run bool
	// Slot, when not 0, is the slot the run takes, held until HeldUntil
	// (see HoldVerbSlot for the hold of a published result).
	Slot      int
	HeldUntil time.Time
}

// keepVerbRuns is how long a run's record stays: a retried job or a
// Release comes within hours, never weeks.
const keepVerbRuns = 30 * 24 * time.Hour

// TakeVerb reads verb's state for pr and comment on day (UTC), asks decide,
// and writes what it takes, in one transaction: two commands deciding at
// once never both take the last run of a day or the same slot. decide
// returning nil takes nothing.
func (s *Store) TakeVerb(ctx context.Context, verb string, pr int, comment int64, day string, now time.Time,
	decide func(VerbState) (*VerbTake, error)) error {
	now = now.UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The verb's day counts and slots, then the PR's cooldown: in that
		// order wherever both are locked.
		if err := s.lockTx(ctx, tx, verbLock(verb)); err != nil {
			return err
		}
		if err := s.lockTx(ctx, tx, cooldownLock(pr, verb)); err != nil {
			return err
		}
		st, err := verbState(ctx, tx, verb, pr, comment, day)
		if err != nil {
			return err
		}
		take, err := decide(st)
		if err != nil || take == nil {
			return err
		}
		if take.Cooldown {
			if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_cooldown (pr, verb, last_run, comment_id) VALUES ($1, $2, $3, $4)
				ON CONFLICT (pr, verb) DO UPDATE SET last_run = excluded.last_run, comment_id = excluded.comment_id`,
				pr, verb, formatTime(now), comment); err != nil {
				return fmt.Errorf("start cooldown of %s on #%d: %w", verb, pr, err)
			}
		}
		if !take.Run {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_verb_day (verb, day, runs) VALUES ($1, $2, 1)
			ON CONFLICT (verb, day) DO UPDATE SET runs = refbot_verb_day.runs + 1`, verb, day); err != nil {
			return fmt.Errorf("count a run of %s on %s: %w", verb, day, err)
		}
		var prev VerbSlot
		if take.Slot > 0 {
			for _, sl := range st.Slots {
				if sl.Slot == take.Slot {
					prev = sl
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_verb_slot (verb, slot, pr, comment_id, used_at, held_until)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (verb, slot) DO UPDATE SET pr = excluded.pr, comment_id = excluded.comment_id,
					used_at = excluded.used_at, held_until = excluded.held_until`,
				verb, take.Slot, pr, comment, formatTime(now), formatTime(take.HeldUntil)); err != nil {
				return fmt.Errorf("take slot %d of %s for #%d: %w", take.Slot, verb, pr, err)
			}
		}
		if comment == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM refbot_verb_run WHERE taken_at < $1`, formatTime(now.Add(-keepVerbRuns))); err != nil {
			return fmt.Errorf("forget old runs: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_verb_run (verb, comment_id, pr, day, slot, taken_at,
				prev_pr, prev_comment_id, prev_used_at, prev_held_until)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			verb, comment, pr, day, take.Slot, formatTime(now),
			prev.PR, prev.Comment, formatTime(prev.UsedAt), formatTime(prev.HeldUntil)); err != nil {
			return fmt.Errorf("record the run of %s for comment %d: %w", verb, comment, err)
		}
		return nil
	})
}

func verbState(ctx context.Context, tx *sql.Tx, verb string, pr int, comment int64, day string) (VerbState, error) {
	var st VerbState
	if comment != 0 {
		run := VerbRun{Verb: verb, Comment: comment}
		var at string
		switch err := tx.QueryRowContext(ctx, `SELECT pr, day, slot, taken_at FROM refbot_verb_run WHERE verb = $1 AND comment_id = $2`,
			verb, comment).Scan(&run.PR, &run.Day, &run.Slot, &at); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return st, fmt.Errorf("read the run of %s for comment %d: %w", verb, comment, err)
		default:
			run.TakenAt = parseTime(at)
			st.Run = &run
		}
	}
	var at string
	switch err := tx.QueryRowContext(ctx, `SELECT last_run, comment_id FROM refbot_cooldown WHERE pr = $1 AND verb = $2`, pr, verb).
		Scan(&at, &st.LastComment); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("read cooldown of %s on #%d: %w", verb, pr, err)
	default:
		st.LastRun = parseTime(at)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(runs), 0) FROM refbot_verb_day WHERE verb = $1 AND day = $2`, verb, day).
		Scan(&st.Today); err != nil {
		return st, fmt.Errorf("read the runs of %s on %s: %w", verb, day, err)
	}
	slots, err := verbSlots(ctx, tx, verb)
	if err != nil {
		return st, err
	}
	st.Slots = slots
	return st, nil
}

func verbSlots(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, verb string) ([]VerbSlot, error) {
	rows, err := q.QueryContext(ctx, `SELECT slot, pr, comment_id, used_at, held_until FROM refbot_verb_slot WHERE verb = $1 ORDER BY slot`, verb)
	slots, err := collect(rows, err, func(r *sql.Rows) (VerbSlot, error) {
		var sl VerbSlot
		var used, held string
		err := r.Scan(&sl.Slot, &sl.PR, &sl.Comment, &used, &held)
		sl.UsedAt, sl.HeldUntil = parseTime(used), parseTime(held)
		return sl, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the slots of %s: %w", verb, err)
	}
	return slots, nil
}

// ReleaseVerb gives back what comment took for verb on pr: its cooldown,
// its run's count on the day it was taken, and its slot, which goes back
// to the PR that had it before (unless another run took it since). What
// another comment took is left alone. Released, the comment may take a run
// again.
func (s *Store) ReleaseVerb(ctx context.Context, verb string, pr int, comment int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTx(ctx, tx, verbLock(verb)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM refbot_cooldown WHERE pr = $1 AND verb = $2 AND comment_id = $3`, pr, verb, comment); err != nil {
			return fmt.Errorf("release cooldown of %s on #%d: %w", verb, pr, err)
		}
		var day string
		var slot, prevPR int
		var prevComment int64
		var prevUsed, prevHeld string
		switch err := tx.QueryRowContext(ctx, `SELECT day, slot, prev_pr, prev_comment_id, prev_used_at, prev_held_until
			FROM refbot_verb_run WHERE verb = $1 AND comment_id = $2 AND pr = $3`, verb, comment, pr).
			Scan(&day, &slot, &prevPR, &prevComment, &prevUsed, &prevHeld); {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("read the run of %s for comment %d: %w", verb, comment, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refbot_verb_day SET runs = runs - 1 WHERE verb = $1 AND day = $2 AND runs > 0`, verb, day); err != nil {
			return fmt.Errorf("uncount a run of %s on %s: %w", verb, day, err)
		}
		if err := giveSlotBack(ctx, tx, verb, comment, slot, prevPR, prevComment, prevUsed, prevHeld); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM refbot_verb_run WHERE verb = $1 AND comment_id = $2`, verb, comment); err != nil {
			return fmt.Errorf("forget the run of %s for comment %d: %w", verb, comment, err)
		}
		return nil
	})
}

// ReleaseVerbSlot gives back only the slot comment's run of verb on pr
// took, to whoever held it before: the run went ahead (its day's count and
// cooldown stay taken) but put no result in it, so the result before it is
// still there and keeps its hold.
func (s *Store) ReleaseVerbSlot(ctx context.Context, verb string, pr int, comment int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTx(ctx, tx, verbLock(verb)); err != nil {
			return err
		}
		var slot, prevPR int
		var prevComment int64
		var prevUsed, prevHeld string
		switch err := tx.QueryRowContext(ctx, `SELECT slot, prev_pr, prev_comment_id, prev_used_at, prev_held_until
			FROM refbot_verb_run WHERE verb = $1 AND comment_id = $2 AND pr = $3`, verb, comment, pr).
			Scan(&slot, &prevPR, &prevComment, &prevUsed, &prevHeld); {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("read the run of %s for comment %d: %w", verb, comment, err)
		}
		if err := giveSlotBack(ctx, tx, verb, comment, slot, prevPR, prevComment, prevUsed, prevHeld); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE refbot_verb_run SET slot = 0 WHERE verb = $1 AND comment_id = $2`, verb, comment)
		return err
	})
}

// giveSlotBack hands slot back from comment's run to the run that held it
// before (none: the slot is free again), if comment's run still holds it.
// If a later run took the slot since, that run's "before" was comment's
// run, which put nothing in the slot: it becomes comment's own "before",
// so that the later run, given back in turn, hands the slot to the result
// that is really there.
func giveSlotBack(ctx context.Context, tx *sql.Tx, verb string, comment int64, slot, prevPR int, prevComment int64, prevUsed, prevHeld string) error {
	if slot <= 0 {
		return nil
	}
	var res sql.Result
	var err error
	if prevUsed == "" {
		res, err = tx.ExecContext(ctx, `DELETE FROM refbot_verb_slot WHERE verb = $1 AND slot = $2 AND comment_id = $3`, verb, slot, comment)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE refbot_verb_slot SET pr = $1, comment_id = $2, used_at = $3, held_until = $4
			WHERE verb = $5 AND slot = $6 AND comment_id = $7`, prevPR, prevComment, prevUsed, prevHeld, verb, slot, comment)
	}
	if err != nil {
		return fmt.Errorf("give slot %d of %s back: %w", slot, verb, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refbot_verb_run SET prev_pr = $1, prev_comment_id = $2, prev_used_at = $3, prev_held_until = $4
		WHERE verb = $5 AND slot = $6 AND prev_comment_id = $7 AND comment_id != $8`,
		prevPR, prevComment, prevUsed, prevHeld, verb, slot, comment, comment); err != nil {
		return fmt.Errorf("pass slot %d of %s's earlier result on: %w", slot, verb, err)
	}
	return nil
}

// HoldVerbSlot holds the slot that comment's run of verb on pr took until
// until: its result was published. It returns false, changing nothing,
// when the run holds no slot (none taken, given back, or taken by another
// run since).
func (s *Store) HoldVerbSlot(ctx context.Context, verb string, pr int, comment int64, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE refbot_verb_slot SET held_until = $1 WHERE verb = $2 AND pr = $3 AND comment_id = $4`,
		formatTime(until), verb, pr, comment)
	if err != nil {
		return false, fmt.Errorf("hold the slot of %s for #%d: %w", verb, pr, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// VerbDay returns how many runs of verb were counted on day (UTC,
// "2006-01-02"), and its slots that have been used, by number.
func (s *Store) VerbDay(ctx context.Context, verb, day string) (runs int, slots []VerbSlot, err error) {
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(runs), 0) FROM refbot_verb_day WHERE verb = $1 AND day = $2`, verb, day).
		Scan(&runs); err != nil {
		return 0, nil, fmt.Errorf("read the runs of %s on %s: %w", verb, day, err)
	}
	slots, err = verbSlots(ctx, s.db, verb)
	return runs, slots, err
}

// verbLock names the lock of verb's day counts and slots (see lockTx):
// two commands deciding at once on different replicas must not both take
// the day's last run or the same slot.
func verbLock(verb string) string { return "verb:" + verb }
