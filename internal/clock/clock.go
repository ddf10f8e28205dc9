// Package clock holds the one way refbot waits: a sleep that a context
// ends early. The packages that wait (the GitHub and Travis clients, the
// workflows polling CI) take it as a function, so tests replace it.
package clock

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends (then it returns ctx's error). A d of
// zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
