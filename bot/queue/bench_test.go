package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/refbot/refbot/bot/store"
)

// BenchmarkRecord is the durable part of webhook intake: one delivery with
// its comment and its job, in one transaction.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "refbot.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	q, err := Open(ctx, Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	b.ResetTimer()
	for i := range b.N {
		if _, err := q.Record(ctx, commentDelivery(fmt.Sprint("d", i), 12, int64(i))); err != nil {
			b.Fatal(err)
		}
	}
}
