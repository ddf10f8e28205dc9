package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Recording writes deliveries in the transactions of the queue's group
// commit. Its statements are prepared once: the SQLite driver would
// prepare them on every call, which costs more than running them.
type Recording struct {
	delivery, comment, head, pruneHeads *sql.Stmt
}

// PrepareRecording prepares the statements of a Recording.
func (s *Store) PrepareRecording(ctx context.Context) (*Recording, error) {
	var r Recording
	var err error
	if r.delivery, err = s.db.PrepareContext(ctx, `INSERT INTO refbot_delivery (id, event, action, received_at, ignored)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`); err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	if r.comment, err = s.db.PrepareContext(ctx, `INSERT INTO refbot_comment (comment_id, pr, delivery_id)
		VALUES (?, ?, ?) ON CONFLICT (comment_id) DO NOTHING`); err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	if r.head, err = s.db.PrepareContext(ctx, insertHead); err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	if r.pruneHeads, err = s.db.PrepareContext(ctx, pruneHeads); err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	return &r, nil
}

// Delivery records a webhook delivery by its id; false if the id was
// recorded before (a redelivery).
func (r *Recording) Delivery(ctx context.Context, tx *sql.Tx, id, event, action string, received time.Time, ignored string) (bool, error) {
	res, err := tx.StmtContext(ctx, r.delivery).ExecContext(ctx, id, event, action, formatTime(received), ignored)
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Comment records that a comment's work is queued; false if it was
// recorded before, under any delivery.
func (r *Recording) Comment(ctx context.Context, tx *sql.Tx, comment int64, pr int, delivery string) (bool, error) {
	res, err := tx.StmtContext(ctx, r.comment).ExecContext(ctx, comment, pr, delivery)
	if err != nil {
		return false, fmt.Errorf("record comment %d: %w", comment, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Head records that sha was pr's head at seen (see HeadsSeen).
func (r *Recording) Head(ctx context.Context, tx *sql.Tx, pr int, sha string, seen time.Time, source string) error {
	if err := recordHead(ctx, tx.StmtContext(ctx, r.head), tx.StmtContext(ctx, r.pruneHeads), HeadSeen{pr, sha, seen, source}); err != nil {
		return fmt.Errorf("record head of #%d: %w", pr, err)
	}
	return nil
}

// Close releases the statements.
func (r *Recording) Close() {
	for _, st := range []*sql.Stmt{r.delivery, r.comment, r.head, r.pruneHeads} {
		if st != nil {
			st.Close()
		}
	}
}
