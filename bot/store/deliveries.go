package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Tx is a transaction Recording writes in: a *sql.Tx on the store's
// database, or one the job queue opened through River's PostgreSQL driver,
// so that a delivery and its job are committed together.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Recording writes deliveries in the transactions of the queue's group
// commit. With SQLite its statements are prepared once: the driver would
// prepare them on every call, which costs more than running them.
// PostgreSQL's driver keeps each connection's prepared statements itself.
type Recording struct {
	delivery, comment, head, pruneHeads *sql.Stmt
}

const (
	insertDelivery = `INSERT INTO refbot_delivery (id, event, action, received_at, ignored)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`
	insertComment = `INSERT INTO refbot_comment (comment_id, pr, delivery_id)
		VALUES ($1, $2, $3) ON CONFLICT (comment_id) DO NOTHING`
)

// PrepareRecording prepares the statements of a Recording.
func (s *Store) PrepareRecording(ctx context.Context) (*Recording, error) {
	var r Recording
	if s.dialect != sqlite {
		return &r, nil
	}
	for _, st := range []struct {
		to    **sql.Stmt
		query string
	}{{&r.delivery, insertDelivery}, {&r.comment, insertComment}, {&r.head, insertHead}, {&r.pruneHeads, pruneHeads}} {
		var err error
		if *st.to, err = s.db.PrepareContext(ctx, st.query); err != nil {
			r.Close()
			return nil, fmt.Errorf("store: prepare: %w", err)
		}
	}
	return &r, nil
}

// stmt runs query in tx: prepared already when it is one of the store's
// own transactions and prepared is not nil.
func stmt(ctx context.Context, tx Tx, prepared *sql.Stmt, query string) statement {
	if t, ok := tx.(*sql.Tx); ok && prepared != nil {
		return t.StmtContext(ctx, prepared)
	}
	return boundStatement{tx, query}
}

// statement is a *sql.Stmt, or a query bound to a Tx.
type statement interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
}

type boundStatement struct {
	tx    Tx
	query string
}

func (b boundStatement) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return b.tx.ExecContext(ctx, b.query, args...)
}

// Delivery records a webhook delivery by its id; false if the id was
// recorded before (a redelivery, perhaps to another replica).
func (r *Recording) Delivery(ctx context.Context, tx Tx, id, event, action string, received time.Time, ignored string) (bool, error) {
	res, err := stmt(ctx, tx, r.delivery, insertDelivery).ExecContext(ctx, id, event, action, formatTime(received), ignored)
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Comment records that a comment's work is queued; false if it was
// recorded before, under any delivery.
func (r *Recording) Comment(ctx context.Context, tx Tx, comment int64, pr int, delivery string) (bool, error) {
	res, err := stmt(ctx, tx, r.comment, insertComment).ExecContext(ctx, comment, pr, delivery)
	if err != nil {
		return false, fmt.Errorf("record comment %d: %w", comment, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Head records that sha was pr's head at seen (see HeadsSeen).
func (r *Recording) Head(ctx context.Context, tx Tx, pr int, sha string, seen time.Time, source string) error {
	if err := recordHead(ctx, stmt(ctx, tx, r.head, insertHead), stmt(ctx, tx, r.pruneHeads, pruneHeads), HeadSeen{pr, sha, seen, source}); err != nil {
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
