package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkRecord is the durable part of webhook intake: one delivery with
// its comment and its job, in one transaction.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	q, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "refbot.db")})
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
