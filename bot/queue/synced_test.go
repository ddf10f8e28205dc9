package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/intake"
)

// syncWatch is River's client with the queue's synced transactions
// watched: how many ran, and (SQLite) at which synchronous level.
type syncWatch struct {
	riverClient
	synced atomic.Int32
	level  atomic.Int32 // SQLite's PRAGMA synchronous in the last one
}

func (w *syncWatch) inSyncedTx(ctx context.Context, f func(tx riverTx) error) error {
	w.synced.Add(1)
	return w.riverClient.inSyncedTx(ctx, func(tx riverTx) error {
		if t, ok := tx.(sqliteTx); ok {
			var n int32
			if err := t.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
				return err
			}
			w.level.Store(n)
		}
		return f(tx)
	})
}

// TestRecordIsSynced: Record commits deliveries through the synced
// transaction (store.SyncedTx: on SQLite at synchronous=FULL, the WAL
// fsynced before Record returns), for those with work and those without.
func TestRecordIsSynced(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{})
	defer q.Close()
	w := &syncWatch{riverClient: q.river}
	q.river = w
	for _, d := range []intake.Delivery{
		commentDelivery("d1", 3, 100),
		{ID: "d2", Event: "ping", Received: time.Now(), Ignored: "ping"},
	} {
		if got, err := q.Record(ctx, d); err != nil || got != intake.Recorded {
			t.Fatalf("Record(%s) = %v, %v", d.ID, got, err)
		}
	}
	if n := w.synced.Load(); n != 2 {
		t.Errorf("%d synced transactions for 2 deliveries recorded one after the other, want 2", n)
	}
	if _, ok := w.riverClient.(sqliteRiver); ok {
		if n := w.level.Load(); n != 2 {
			t.Errorf("the delivery was committed at synchronous=%d, want 2 (FULL)", n)
		}
	}
}
