package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// OpenPR is an open pull request as the index page lists it: what the
// reconciler's last pass listed, kept current between passes by the
// pull_request deliveries and by jobs that read the PR.
type OpenPR struct {
	PR        int
	Title     string
	Author    string // "" for a deleted account
	Head      string // the head commit
	Base      string // the base branch
	Draft     bool
	Fork      bool
	UpdatedAt time.Time // GitHub's updated_at: which of two views is newer
}

const (
	openPRColumns = `pr, title, author, head, base, draft, fork, updated_at`
	// upsertOpenPR writes a view of a PR unless the row holds a newer one:
	// deliveries, jobs and passes arrive in any order, and an older view
	// must never replace a newer. A view as new as the row's replaces it
	// (an edit within GitHub's second).
	upsertOpenPR = `INSERT INTO refbot_open_pr (` + openPRColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (pr) DO UPDATE SET title = excluded.title, author = excluded.author, head = excluded.head,
			base = excluded.base, draft = excluded.draft, fork = excluded.fork, updated_at = excluded.updated_at
		WHERE refbot_open_pr.updated_at <= excluded.updated_at`
	deleteOpenPR = `DELETE FROM refbot_open_pr WHERE pr = $1`
)

func openPRArgs(p OpenPR) []any {
	return []any{p.PR, p.Title, p.Author, p.Head, p.Base, sqlBool(p.Draft), sqlBool(p.Fork), formatTime(p.UpdatedAt)}
}

// SetOpenPRs makes prs the whole set of open pull requests, in one
// transaction: what a reconciler pass listed. A PR not listed is closed
// (or was when GitHub answered); a listed PR whose row is newer than the
// listing (a delivery came while the pass ran) keeps its row. A PR opened
// or closed while the pass listed may be shown wrongly until the next
// pass, or the PR's next delivery.
func (s *Store) SetOpenPRs(ctx context.Context, prs []OpenPR) error {
	listed := make(map[int]bool, len(prs))
	for _, p := range prs {
		if err := validOpenPR(p); err != nil {
			return err
		}
		listed[p.PR] = true
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT pr FROM refbot_open_pr`)
		known, err := collect(rows, err, func(r *sql.Rows) (int, error) {
			var pr int
			return pr, r.Scan(&pr)
		})
		if err != nil {
			return err
		}
		for _, pr := range known {
			if listed[pr] {
				continue
			}
			if _, err := tx.ExecContext(ctx, deleteOpenPR, pr); err != nil {
				return err
			}
		}
		upsert, err := tx.PrepareContext(ctx, upsertOpenPR)
		if err != nil {
			return err
		}
		defer upsert.Close()
		for _, p := range prs {
			if _, err := upsert.ExecContext(ctx, openPRArgs(p)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record %d open pull requests: %w", len(prs), err)
	}
	return nil
}

// SaveOpenPR records one PR's view (a pull_request delivery, a job that
// read it), unless the store holds a newer one.
func (s *Store) SaveOpenPR(ctx context.Context, p OpenPR) error {
	if err := validOpenPR(p); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, upsertOpenPR, openPRArgs(p)...); err != nil {
		return fmt.Errorf("store: record open pull request #%d: %w", p.PR, err)
	}
	return nil
}

// CloseOpenPR removes pr from the open pull requests.
func (s *Store) CloseOpenPR(ctx context.Context, pr int) error {
	if _, err := s.db.ExecContext(ctx, deleteOpenPR, pr); err != nil {
		return fmt.Errorf("store: record #%d closed: %w", pr, err)
	}
	return nil
}

// OpenPRs returns the open pull requests, the most recently updated first.
func (s *Store) OpenPRs(ctx context.Context) ([]OpenPR, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+openPRColumns+` FROM refbot_open_pr ORDER BY updated_at DESC, pr DESC`)
	out, err := collect(rows, err, func(r *sql.Rows) (OpenPR, error) {
		var p OpenPR
		var draft, fork int
		var at string
		err := r.Scan(&p.PR, &p.Title, &p.Author, &p.Head, &p.Base, &draft, &fork, &at)
		p.Draft, p.Fork, p.UpdatedAt = draft != 0, fork != 0, parseTime(at)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: read open pull requests: %w", err)
	}
	return out, nil
}

// validOpenPR refuses a view that could not be ordered against another.
func validOpenPR(p OpenPR) error {
	if p.PR <= 0 || p.UpdatedAt.IsZero() {
		return fmt.Errorf("store: open pull request #%d without a number or an update time", p.PR)
	}
	return nil
}

// Recording's part: a pull_request delivery's view of its PR, written in
// the delivery's transaction.

// OpenPR records p (see SaveOpenPR) in tx.
func (r *Recording) OpenPR(ctx context.Context, tx Tx, p OpenPR) error {
	if err := validOpenPR(p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, upsertOpenPR, openPRArgs(p)...); err != nil {
		return fmt.Errorf("record open pull request #%d: %w", p.PR, err)
	}
	return nil
}

// ClosedPR removes pr from the open pull requests in tx.
func (r *Recording) ClosedPR(ctx context.Context, tx Tx, pr int) error {
	if _, err := tx.ExecContext(ctx, deleteOpenPR, pr); err != nil {
		return fmt.Errorf("record #%d closed: %w", pr, err)
	}
	return nil
}
