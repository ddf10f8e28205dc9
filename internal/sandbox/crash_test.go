package sandbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// TestCrashAtEveryStep kills `refbot serve` with SIGKILL at each step of an
// UPDATE and starts it again. Each time the update completes exactly once:
// PR42 is master plus one commit with the build's data, refbot posted one
// reply, the CI build was restarted once (a crash between recording the
// restart and asking for it is made good by the CI wait, which asks when
// the build never restarts), and the final status is success.
func TestCrashAtEveryStep(t *testing.T) {
	for _, point := range []string{"answered", "downloaded", "pushed", "recorded", "restarting", "restarted"} {
		t.Run("after "+point, func(t *testing.T) {
			ctx, sb := start(t, true)
			// refbot was up when the PR was opened (the failpoint
			// "answered" would fire on that delivery).
			rb, err := sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			if err := rb.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if rb, err = sb.Serve(ctx, refbotBin, "REFBOT_FAILPOINT="+point); err != nil {
				t.Fatal(err)
			}
			// Even when refbot dies right after answering, GitHub gets the
			// whole answer first.
			d, err := sb.Comment(ctx, "BUILDBOT: UPDATE")
			if err != nil || d.Status != 200 {
				t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
			}
			diesAt(ctx, t, rb, point)

			rb, err = sb.Serve(ctx, refbotBin)
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
			if got := testenv.Git(t, sb.Bare, "show", "PR42:data/plots/hist.png"); got != DemoOutputs["plots/hist.png"] {
				t.Errorf("PR42 lacks the build's data: %q", got)
			}
			if n := len(sb.Replies()); n != 1 {
				t.Errorf("refbot posted %d replies, want 1", n)
			}
			restarts := sb.Travis.Restarts(sb.BuildID)
			if restarts != 1 {
				t.Errorf("CI build restarted %d times, want 1", restarts)
			}
			for _, v := range sb.GitHub.Violations() {
				t.Errorf("GitHub API description violated: %s", v)
			}
			t.Logf("crash after %s: %d CI restart(s), %d statuses", point, restarts, len(sb.GitHub.Statuses(sb.Head)))
		})
	}
}

// TestCrashDuringMerge kills `refbot serve` at each step of a merge's
// promotion and starts it again. Each time master gets the PR's data in
// one commit, the post-merge build (already running on the old data) is
// restarted once, PR42 is deleted and the merge is reported once.
func TestCrashDuringMerge(t *testing.T) {
	for _, point := range []string{"promoted", "merge-restarting", "merge-restarted"} {
		t.Run("after "+point, func(t *testing.T) {
			ctx, sb := start(t, true)
			rb, err := sb.Serve(ctx, refbotBin, "REFBOT_FAILPOINT="+point)
			if err != nil {
				t.Fatal(err)
			}
			if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != 200 {
				t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
			}
			if st, err := sb.WaitUpdateDone(ctx, rb); err != nil || st.State != "success" {
				t.Fatalf("UPDATE: %+v, %v", st, err)
			}
			before := testenv.Git(t, sb.Bare, "rev-parse", "master")

			mergeSHA := sb.GitHub.Merge(PR, Maintainer)
			post := sb.Travis.AddBuild(travistest.Build{Repo: Repo, Branch: "master", EventType: "push", CommitSHA: mergeSHA,
				State: "started", StartedAt: time.Now().Add(-time.Minute)})
			payload := sb.GitHub.PullRequestPayload(PR, "closed", Maintainer)
			if d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, "pull_request", payload); err != nil || d.Status != 200 {
				t.Fatalf("merge delivery: status %d, %v; want 200", d.Status, err)
			}
			diesAt(ctx, t, rb, point)

			rb, err = sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			defer rb.Stop(context.Background())
			deadline := time.Now().Add(60 * time.Second)
			for len(sb.Replies()) < 2 || !strings.Contains(sb.Replies()[1].Body, "was deleted") {
				if time.Now().After(deadline) {
					log, _ := os.ReadFile(rb.Log)
					t.Fatalf("no merge report after the restart: %+v\n%s", sb.Replies(), log)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if n := testenv.Git(t, sb.Bare, "rev-list", "--count", before+"..master"); n != "1" {
				t.Errorf("master got %s commits, want 1", n)
			}
			if got := testenv.Git(t, sb.Bare, "show", "master:data/plots/hist.png"); got != DemoOutputs["plots/hist.png"] {
				t.Errorf("master lacks the PR's data: %q", got)
			}
			if out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR42"); out != "" {
				t.Error("PR42 was not deleted")
			}
			if n := len(sb.Replies()); n != 2 {
				t.Errorf("refbot posted %d replies, want 2 (the UPDATE's, the merge's)", n)
			}
			if n := sb.Travis.Restarts(post.ID); n != 1 {
				t.Errorf("post-merge build restarted %d times, want 1", n)
			}
			if !strings.Contains(sb.Replies()[1].Body, fmt.Sprintf("post-merge build %d was restarted", post.ID)) {
				t.Errorf("merge reply: %s", sb.Replies()[1].Body)
			}
			for _, v := range sb.GitHub.Violations() {
				t.Errorf("GitHub API description violated: %s", v)
			}
		})
	}
}

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
