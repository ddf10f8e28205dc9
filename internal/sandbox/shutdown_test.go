package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/testenv"
)

// heldPush holds the first push to the data repo at the git server until
// released, refused or let through.
type heldPush struct {
	arrived chan struct{} // closed when the push is held
	release chan bool     // true: on to git; false: refused, as a proxy would answer when its client left
	once    sync.Once
}

func holdPush(t *testing.T, sb *Sandbox) *heldPush {
	h := &heldPush{arrived: make(chan struct{}), release: make(chan bool, 1)}
	t.Cleanup(func() {
		select {
		case h.release <- false: // a test that failed first
		default:
		}
	})
	sb.Git.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			return false
		}
		first := false
		h.once.Do(func() { first = true })
		if !first {
			return false
		}
		close(h.arrived)
		if !<-h.release {
			http.Error(w, "the client went away", http.StatusBadGateway)
			return true
		}
		return false
	})
	return h
}

// waitArrived waits for the push to be held.
func (h *heldPush) waitArrived(ctx context.Context, t *testing.T, rb *Refbot) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-ctx.Done():
		log, _ := os.ReadFile(rb.Log)
		t.Fatalf("refbot never pushed\n%s", log)
	}
}

// stopsTakingDeliveries waits until refbot's webhook refuses connections.
func stopsTakingDeliveries(ctx context.Context, t *testing.T, sb *Sandbox) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sb.URL()+"/webhook", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if ctx.Err() != nil {
			t.Fatal("refbot serve kept taking deliveries after SIGTERM")
		}
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exitCode waits for refbot to exit and returns its exit code.
func exitCode(ctx context.Context, t *testing.T, rb *Refbot) int {
	t.Helper()
	err := rb.Wait(ctx)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	log, _ := os.ReadFile(rb.Log)
	t.Fatalf("refbot serve did not exit: %v\n%s", err, log)
	return -1
}

// TestShutdownDuringPush sends refbot serve SIGTERM while an UPDATE's push
// is in flight (held at the git server). refbot stops taking deliveries at
// once; the push is let through, the job finishes (pushed, CI restarted,
// the reply posted) and refbot exits 0; started again, it follows CI to
// the end. Exactly one push, one CI restart and one reply in all.
func TestShutdownDuringPush(t *testing.T) {
	ctx, sb := start(t, true)
	testenv.Git(t, sb.Bare, "config", "core.logAllRefUpdates", "always")
	push := holdPush(t, sb)
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != 200 {
		t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
	}
	push.waitArrived(ctx, t, rb)
	rb.Cmd.Process.Signal(syscall.SIGTERM)
	stopsTakingDeliveries(ctx, t, sb)
	push.release <- true
	if code := exitCode(ctx, t, rb); code != 0 {
		log, _ := os.ReadFile(rb.Log)
		t.Fatalf("refbot serve exited %d after SIGTERM, want 0\n%s", code, log)
	}
	// The job finished its steps before refbot exited.
	if n := pushes(t, sb, "refs/heads/PR42"); n != 1 {
		t.Errorf("PR42 pushed %d times before the restart, want 1", n)
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
		t.Errorf("CI build restarted %d times before the restart, want 1", n)
	}
	if r := sb.Replies(); len(r) != 1 || !strings.Contains(r[0].Body, "refbot will edit this comment when it finishes") {
		t.Errorf("replies before the restart: %+v, want the one saying CI runs", r)
	}

	rb, err = sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Stop(context.Background())
	checkDoneOnce(ctx, t, sb, rb)
}

// TestShutdownDeadline sends refbot serve SIGTERM while an UPDATE's push
// is held at the git server longer than refbot lets running jobs finish
// (queue.StopTimeout, cut to 1s here). The job is cancelled: refbot exits
// 0, its PR lease released, the job left to run again. Then the held push
// is refused (the client left), or goes through late (the server had the
// whole pack): either way, started again, refbot finishes the UPDATE once.
func TestShutdownDeadline(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := "push not made"
		if late {
			name = "push made after refbot left"
		}
		t.Run(name, func(t *testing.T) {
			ctx, sb := start(t, true)
			testenv.Git(t, sb.Bare, "config", "core.logAllRefUpdates", "always")
			push := holdPush(t, sb)
			rb, err := sb.Serve(ctx, refbotBin, "REFBOT_FAILPOINT_STOP_TIMEOUT=1s")
			if err != nil {
				t.Fatal(err)
			}
			if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != 200 {
				t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
			}
			push.waitArrived(ctx, t, rb)
			rb.Cmd.Process.Signal(syscall.SIGTERM)
			stopsTakingDeliveries(ctx, t, sb)
			code := exitCode(ctx, t, rb)
			log, _ := os.ReadFile(rb.Log)
			if code != 0 {
				t.Errorf("refbot serve exited %d when its stop deadline ran out, want 0\n%s", code, log)
			}
			lease, job := afterExit(ctx, t, sb)
			t.Logf("after the deadline: PR lease held by %q; the UPDATE job %s", lease, job)
			if lease != "" {
				t.Errorf("PR42's lease is still held by %s", lease)
			}
			if !strings.Contains(string(log), "jobs interrupted") {
				t.Errorf("the log does not say jobs were interrupted:\n%s", log)
			}

			push.release <- late
			if late {
				waitBranch(ctx, t, sb)
			}
			if r := sb.Replies(); len(r) != 0 {
				t.Errorf("replies before the restart: %+v, want none", r)
			}
			rb, err = sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			defer rb.Stop(context.Background())
			checkDoneOnce(ctx, t, sb, rb)
		})
	}
}

// afterExit reads refbot's database once it has exited: who holds PR42's
// lease, and the state of the UPDATE's job.
func afterExit(ctx context.Context, t *testing.T, sb *Sandbox) (lease, job string) {
	t.Helper()
	st, err := store.Open(ctx, filepath.Join(sb.Work, "state", "refbot.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if lease, err = st.LeaseHolder(ctx, store.PRLease(PR)); err != nil {
		t.Fatal(err)
	}
	var state string
	var attempt int
	if err := st.DB().QueryRowContext(ctx, `SELECT state, attempt FROM river_job WHERE queue = 'updates' ORDER BY id DESC LIMIT 1`).
		Scan(&state, &attempt); err != nil {
		t.Fatal(err)
	}
	return lease, fmt.Sprintf("is %s after %d attempt(s)", state, attempt)
}

// waitBranch waits for PR42 to exist in the data repo.
func waitBranch(ctx context.Context, t *testing.T, sb *Sandbox) {
	t.Helper()
	for {
		if out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR42"); out != "" {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the held push never reached the data repo")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkDoneOnce waits for the UPDATE to end and checks it was done once.
func checkDoneOnce(ctx context.Context, t *testing.T, sb *Sandbox, rb *Refbot) {
	t.Helper()
	st, err := sb.WaitUpdateDone(ctx, rb)
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if st.State != "success" {
		t.Errorf("final status %s: %s", st.State, st.Description)
	}
	if n := pushes(t, sb, "refs/heads/PR42"); n != 1 {
		t.Errorf("PR42 pushed %d times, want 1", n)
	}
	if got := testenv.Git(t, sb.Bare, "show", "PR42:data/plots/hist.png"); got != DemoOutputs["plots/hist.png"] {
		t.Errorf("PR42 lacks the build's data: %q", got)
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
		t.Errorf("CI build restarted %d times, want 1", n)
	}
	if n := len(sb.Replies()); n != 1 {
		t.Errorf("refbot posted %d replies, want 1", n)
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}
