package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
)

// TestStopDeadline: a job still running when Stop's deadline comes is
// cancelled, and Stop returns ErrInterrupted once it has returned (an
// orderly stop: `refbot serve` exits 0). The job's PR lease is released,
// no attempt is spent, and the next start runs the job again, once.
func TestStopDeadline(t *testing.T) {
	ctx := context.Background()
	path := database(t)
	started := make(chan struct{})
	q := open(t, path, Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			close(started)
			<-ctx.Done() // a push that hangs until cancelled
			return ctx.Err()
		},
	})
	if _, err := q.Record(ctx, commentDelivery("d", 7, 70)); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-started
	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := q.Stop(stopCtx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Stop = %v, want ErrInterrupted", err)
	}
	if holder, err := q.st.LeaseHolder(ctx, store.PRLease(7)); err != nil || holder != "" {
		t.Errorf("PR 7's lease held by %q (%v) after Stop, want released", holder, err)
	}
	var state string
	var attempt int
	if err := q.db.QueryRowContext(ctx, `SELECT state, attempt FROM river_job`).Scan(&state, &attempt); err != nil {
		t.Fatal(err)
	}
	if state != "available" || attempt != 0 {
		t.Errorf("the interrupted job is %s after %d attempts, want available after 0", state, attempt)
	}
	q.Close()

	runs := make(chan struct{}, 2)
	q = open(t, path, Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error { runs <- struct{}{}; return nil },
	})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-runs:
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted job did not run after the restart")
	}
	stopCtx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 {
		t.Error("the interrupted job ran twice after the restart")
	}
	q.Close()
}
