package sandbox

import (
	"context"
	"os"
	"testing"
	"time"
)

// The SIGKILL tests of every step of every job kind are in
// crashall_test.go (TestCrashAtEachFailpoint).

// diesAt waits for refbot to be killed by its failpoint point.
func diesAt(ctx context.Context, t *testing.T, rb *Refbot, point string) {
	t.Helper()
	waitCtx, waitCancel := context.WithTimeout(ctx, 60*time.Second)
	defer waitCancel()
	err := rb.Wait(waitCtx)
	if err == nil || waitCtx.Err() == context.DeadlineExceeded {
		log, _ := os.ReadFile(rb.Log)
		t.Fatalf("refbot did not die at %q (exit: %v)\n%s", point, err, log)
	}
}
