package sandbox

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// TestMissedEvents: refbot is down while a maintainer comments and while the
// PR is merged; each time, the next start catches up, exactly once.
func TestMissedEvents(t *testing.T) {
	ctx, sb := start(t, true)
	waitFor := func(rb *Refbot, what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-ctx.Done():
				log, _ := os.ReadFile(rb.Log)
				t.Fatalf("%s never happened\n%s", what, log)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	// 1. A comment while refbot is down (GitHub's delivery failed). It
	// was up when the PR was opened, and so knows the head reviewed.
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	sb.GitHub.AddComment(PR, Maintainer, "BUILDBOT: UPDATE")
	if rb, err = sb.Serve(ctx, refbotBin); err != nil {
		t.Fatal(err)
	}
	if st, err := sb.WaitUpdateDone(ctx, rb); err != nil || st.State != "success" {
		t.Fatalf("the missed UPDATE: %+v, %v", st, err)
	}
	if err := rb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Started again: the comment is not handled a second time.
	rb, err = sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := rb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
		t.Errorf("CI restarted %d times, want 1", n)
	}
	if n := len(sb.Replies()); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}

	// 2. The PR is merged while refbot is down.
	tip := testenv.Git(t, sb.Bare, "rev-parse", "PR42")
	mergeSHA := sb.GitHub.Merge(PR, Maintainer)
	pm := sb.Travis.AddBuild(travistest.Build{Repo: Repo, Branch: "master", EventType: "push", CommitSHA: mergeSHA, State: "started"})
	rb, err = sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Stop(context.Background())
	// The reply is the merge's last step: wait for it as well as for the
	// branch's deletion, which comes just before it.
	waitFor(rb, "the missed merge's promotion", func() bool {
		out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR42")
		return out == "" && len(sb.Replies()) >= 2
	})
	if got, want := testenv.Git(t, sb.Bare, "rev-parse", "master^{tree}"), testenv.Git(t, sb.Bare, "rev-parse", tip+"^{tree}"); got != want {
		t.Errorf("master's tree = %s, want PR42's %s", got, want)
	}
	if n := sb.Travis.Restarts(pm.ID); n != 1 {
		t.Errorf("post-merge build restarted %d times, want 1", n)
	}
	if r := sb.Replies(); len(r) != 2 || r[1].Body[:10] != "**Merged**" {
		t.Errorf("replies after the merge: %d, last %q", len(r), fmt.Sprint(r[len(r)-1].Body))
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}
