package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Sources of what refbot knows of a PR's heads.
const (
	HeadFromWebhook    = "webhook"    // a pull_request delivery
	HeadFromReconciler = "reconciler" // the list of open PRs
	HeadFromJob        = "job"        // a job reading the PR
	HeadFromTimeline   = "timeline"   // a force-push in the PR's timeline
)

// HeadSeen says that SHA was pull request PR's head at At, GitHub's clock.
type HeadSeen struct {
	PR     int
	SHA    string
	At     time.Time
	Source string
}

// RecordHead remembers that sha was pr's head at at. What refbot knew
// before is kept: the rows together are the PR's history as far as refbot
// saw it. The oldest rows of a PR beyond keepHeads are dropped.
func (s *Store) RecordHead(ctx context.Context, pr int, sha string, at time.Time, source string) error {
	return s.RecordHeads(ctx, []HeadSeen{{PR: pr, SHA: sha, At: at, Source: source}})
}

// RecordHeads is RecordHead for several, in one transaction.
func (s *Store) RecordHeads(ctx context.Context, heads []HeadSeen) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		insert, err := tx.PrepareContext(ctx, insertHead)
		if err != nil {
			return err
		}
		defer insert.Close()
		prune, err := tx.PrepareContext(ctx, pruneHeads)
		if err != nil {
			return err
		}
		defer prune.Close()
		for _, h := range heads {
			if err := recordHead(ctx, insert, prune, h); err != nil {
				return err
			}
		}
		return nil
	})
}

const (
	insertHead = `INSERT INTO refbot_head (pr, sha, seen_at, source) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	pruneHeads = `DELETE FROM refbot_head WHERE pr = $1 AND seen_at < (
		SELECT seen_at FROM refbot_head WHERE pr = $2 ORDER BY seen_at DESC LIMIT 1 OFFSET $3)`
)

// recordHead inserts h and, when it is new, drops the PR's oldest heads
// beyond keepHeads: every way a head is recorded keeps the bound.
func recordHead(ctx context.Context, insert, prune statement, h HeadSeen) error {
	if h.SHA == "" || h.At.IsZero() {
		return nil
	}
	res, err := insert.ExecContext(ctx, h.PR, h.SHA, formatTime(h.At), h.Source)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = prune.ExecContext(ctx, h.PR, h.PR, keepHeads-1)
	return err
}

// keepHeads bounds the history kept per PR.
const keepHeads = 200

// HeadsSeen returns what refbot knows of pr's heads, oldest first.
func (s *Store) HeadsSeen(ctx context.Context, pr int) ([]HeadSeen, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha, seen_at, source FROM refbot_head WHERE pr = $1 ORDER BY seen_at, sha`, pr)
	return collect(rows, err, func(r *sql.Rows) (HeadSeen, error) {
		h := HeadSeen{PR: pr}
		var at string
		err := r.Scan(&h.SHA, &at, &h.Source)
		h.At = parseTime(at)
		return h, err
	})
}

// KnowsPR says whether refbot has heard of pull request pr: seen its head,
// listed it, cached its build or worked on it. The review pages answer 404
// for the rest without asking GitHub, so that anyone requesting pages of
// made-up numbers cannot spend refbot's API quota.
func (s *Store) KnowsPR(ctx context.Context, pr int) (bool, error) {
	var known bool
	err := s.db.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM refbot_head WHERE pr = $1) OR
		EXISTS (SELECT 1 FROM refbot_reconcile_pr WHERE pr = $2) OR
		EXISTS (SELECT 1 FROM refbot_cache_status WHERE pr = $3) OR
		EXISTS (SELECT 1 FROM refbot_update WHERE pr = $4) OR
		EXISTS (SELECT 1 FROM refbot_merge WHERE pr = $5)`, pr, pr, pr, pr, pr).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("store: look up #%d: %w", pr, err)
	}
	return known, nil
}
