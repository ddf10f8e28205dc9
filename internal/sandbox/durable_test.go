package sandbox

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/refbot/refbot/internal/testenv"
)

// TestAnsweredMeansRecorded: `refbot serve` is killed (SIGKILL) right after
// it answered a delivery 200, and after the restart the UPDATE it asked for
// is done, once. The reconciler, which would otherwise catch up a lost
// delivery from GitHub, is switched off in every run (REFBOT_FAILPOINT_OFF):
// the work can only come from the record committed before the answer. As a
// check that it is off, a STATUS that GitHub never delivered stays
// unanswered, and no reconcile pass is ever recorded.
//
// A SIGKILL leaves the kernel's page cache alone, so this shows the record
// precedes the answer; that the commit is also fsynced (a power cut) is
// store.TestSyncedCommits and queue.TestRecordIsSynced.
func TestAnsweredMeansRecorded(t *testing.T) {
	const noReconciler = "REFBOT_FAILPOINT_OFF=reconcile"
	ctx, sb := start(t, true)
	// refbot was up when the PR was opened (the failpoint "answered"
	// would fire on that delivery).
	rb, err := sb.Serve(ctx, refbotBin, noReconciler)
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if rb, err = sb.Serve(ctx, refbotBin, noReconciler, "REFBOT_FAILPOINT=answered"); err != nil {
		t.Fatal(err)
	}
	sb.GitHub.AddComment(PR, Maintainer, "BUILDBOT: STATUS") // delivery lost
	d, err := sb.Comment(ctx, "BUILDBOT: UPDATE")
	if err != nil || d.Status != http.StatusOK {
		t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
	}
	diesAt(ctx, t, rb, "answered")

	rb, err = sb.Serve(ctx, refbotBin, noReconciler)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Stop(context.Background())
	st, err := sb.WaitUpdateDone(ctx, rb)
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if st.State != "success" {
		t.Errorf("final status %s: %s", st.State, st.Description)
	}
	if n := testenv.Git(t, sb.Bare, "rev-list", "--count", "master..PR42"); n != "1" {
		t.Errorf("PR42 is master + %s commits, want 1", n)
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
		t.Errorf("CI build restarted %d times, want 1", n)
	}
	replies := sb.Replies()
	if len(replies) != 1 {
		log, _ := os.ReadFile(rb.Log)
		t.Errorf("refbot posted %d replies, want 1 (the UPDATE's; the undelivered STATUS is the reconciler's to find)\n%s",
			len(replies), log)
	}
	resp, err := http.Get(sb.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(metrics), "\nrefbot_reconcile_last_success_timestamp_seconds ") {
		t.Error("a reconcile pass ran: the test cannot tell a durable answer from a catch-up")
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}
