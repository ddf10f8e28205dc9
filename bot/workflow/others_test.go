package workflow

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis/travistest"
)

const head7 = "7777777777777777777777777777777777777777"

// updateOther runs an UPDATE on another PR n, at head sha, whose CI
// produced files.
func (f *fixture) updateOther(t *testing.T, n int, sha string, files map[string]string) {
	t.Helper()
	f.gh.fake.AddCommit(sha)
	f.gh.fake.AddPR(fakegithub.PR{Number: n, HeadSHA: sha, BaseRef: "master"})
	build := f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: n, CommitSHA: sha, State: "passed"})
	if _, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: fmt.Sprint(build.ID),
		Source: s3cache.Source{PR: n}, Commit: sha, Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
	commentSeq++
	f.clock.tick(time.Second)
	if err := f.bot.HandleComment(context.Background(), intake.CommentWork{Repo: "octo-org/octo-repo", PR: n,
		CommentID: commentSeq, Author: "alice", Body: "BUILDBOT: UPDATE", CreatedAt: f.clock.now()}); err != nil {
		t.Fatal(err)
	}
	if err := f.settle(t); err != nil {
		t.Fatal(err)
	}
}

func lastStatus(t *testing.T, f *fixture, sha string) fakegithub.Status {
	t.Helper()
	sts := f.gh.fake.Statuses(sha)
	if len(sts) == 0 {
		t.Fatalf("no status on %s", sha[:7])
	}
	return sts[len(sts)-1]
}

// overlapping gives PR 7 and PR 12 data branches that both change
// data/b.txt, PR 7's first.
func overlapping(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.updateOther(t, 7, head7, map[string]string{"a.txt": "a\n", "b.txt": "b from PR 7\n", "c.txt": "c\n", "d.txt": "d\n"})
	if st := lastStatus(t, f, head7); st.State != "success" || strings.Contains(st.Description, "same files") {
		t.Fatalf("PR 7's status before the overlap: %+v", st)
	}
	f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b from PR 12\n", "c.txt": "c\n", "d.txt": "d\n"})
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if st := lastStatus(t, f, head); st.State != "success" || !strings.HasSuffix(st.Description, "; same files as #7") {
		t.Errorf("PR 12's status: %+v", st)
	}
	return f
}

// TestOverlapStatuses: the other PR's update status says so too, and stops
// saying so when the overlapping PR's branch is gone; when that PR merges
// and the other branch no longer applies, its status asks for an UPDATE.
func TestOverlapStatuses(t *testing.T) {
	t.Run("told", func(t *testing.T) {
		f := overlapping(t)
		st := lastStatus(t, f, head7)
		if st.State != "success" || !strings.HasPrefix(st.Description, "Reference data updated; CI build") ||
			!strings.HasSuffix(st.Description, "; same files as #12") || st.TargetURL != "https://refbot.example.org/pr/7" {
			t.Errorf("PR 7's status after #12's UPDATE: %+v", st)
		}
		// Told once: the same UPDATE again does not post PR 7's status again.
		n := len(f.gh.fake.Statuses(head7))
		commentSeq--
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if got := len(f.gh.fake.Statuses(head7)); got != n {
			t.Errorf("PR 7's status posted %d more times", got-n)
		}
	})
	t.Run("no longer overlapping", func(t *testing.T) {
		f := overlapping(t)
		// #12's next UPDATE (trusted: no cooldown) leaves data/b.txt alone.
		f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c from PR 12\n", "d.txt": "d\n"})
		commentSeq++
		f.clock.tick(time.Second)
		if err := f.bot.HandleComment(context.Background(), intake.CommentWork{Repo: "octo-org/octo-repo", PR: 12,
			CommentID: commentSeq, Author: "release-script", Body: "BUILDBOT: UPDATE", Trusted: true, CreatedAt: f.clock.now()}); err != nil {
			t.Fatal(err)
		}
		if err := f.settle(t); err != nil {
			t.Fatal(err)
		}
		if st := lastStatus(t, f, head7); st.State != "success" || strings.Contains(st.Description, "same files") {
			t.Errorf("PR 7's status after #12 moved off its files: %+v", st)
		}
		if st := lastStatus(t, f, head); strings.Contains(st.Description, "same files") {
			t.Errorf("PR 12's status: %+v", st)
		}
	})
	t.Run("closed without merging", func(t *testing.T) {
		f := overlapping(t)
		f.gh.fake.ClosePR(12)
		f.clock.tick(8 * 24 * time.Hour)
		if _, err := f.bot.DeleteClosedBranch(context.Background(), 12); err != nil {
			t.Fatal(err)
		}
		if st := lastStatus(t, f, head7); st.State != "success" || strings.Contains(st.Description, "same files") {
			t.Errorf("PR 7's status after #12's branch was deleted: %+v", st)
		}
	})
	t.Run("head moved", func(t *testing.T) {
		f := newFixture(t)
		f.updateOther(t, 7, head7, map[string]string{"a.txt": "a\n", "b.txt": "b from PR 7\n", "c.txt": "c\n", "d.txt": "d\n"})
		moved := "7070707070707070707070707070707070707070"
		f.gh.fake.AddCommit(moved)
		f.gh.fake.SetHead(7, moved)
		n := len(f.gh.fake.Statuses(head7))
		f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b from PR 12\n", "c.txt": "c\n", "d.txt": "d\n"})
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if got := len(f.gh.fake.Statuses(head7)); got != n {
			t.Errorf("a status of PR 7's old head was posted again")
		}
		if got := len(f.gh.fake.Statuses(moved)); got != 0 {
			t.Errorf("PR 7's new head got an update status: %+v", f.gh.fake.Statuses(moved))
		}
		if c := f.gh.fake.Comments(7); len(c) != 2 { // PR 7's own reply, and the notice
			t.Errorf("PR 7's comments: %d", len(c))
		}
	})
	t.Run("merged, the other conflicts", func(t *testing.T) {
		f := overlapping(t)
		f.postMergeBuild("passed")
		if err := f.closed(t, true); err != nil {
			t.Fatal(err)
		}
		st := lastStatus(t, f, head7)
		if st.State != "failure" || st.Description != "Data conflicts with #12's, now on master; say BUILDBOT: UPDATE" {
			t.Errorf("PR 7's status after #12 merged: %+v", st)
		}
	})
}

// hookCI calls onBuild with each build refbot polls.
type hookCI struct {
	CI
	onBuild func(Build)
}

func (h hookCI) Build(ctx context.Context, id string) (Build, error) {
	b, err := h.CI.Build(ctx, id)
	if err == nil {
		h.onBuild(b)
	}
	return b, err
}

// TestOverlapWhileWaitingForCI: another PR's UPDATE overlaps this one while
// this one waits for CI; this one's final status names it.
func TestOverlapWhileWaitingForCI(t *testing.T) {
	f := newFixture(t)
	once := false
	f.bot.ci = hookCI{CI: f.bot.ci, onBuild: func(b Build) {
		if b.ID == fmt.Sprint(f.build.ID) && !once {
			once = true
			f.updateOther(t, 7, head7, map[string]string{"a.txt": "a\n", "b.txt": "b from PR 7\n", "c.txt": "c\n", "d.txt": "d\n"})
		}
	}}
	f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b from PR 12\n", "c.txt": "c\n", "d.txt": "d\n"})
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if !once {
		t.Fatal("PR 7's UPDATE never ran")
	}
	if st := lastStatus(t, f, head7); !strings.HasSuffix(st.Description, "; same files as #12") {
		t.Errorf("PR 7's status: %+v", st)
	}
	if st := lastStatus(t, f, head); st.State != "success" || !strings.HasSuffix(st.Description, "; same files as #7") {
		t.Errorf("PR 12's final status: %+v", st)
	}
}

// TestRetryAfterCIEnded: the job fails after CI ended (GitHub refuses the
// final status); its retry finishes without restarting CI again.
func TestRetryAfterCIEnded(t *testing.T) {
	f := newFixture(t)
	injected := false
	f.bot.ci = hookCI{CI: f.bot.ci, onBuild: func(b Build) {
		if b.Finished && !injected {
			injected = true
			f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST",
				Route: "/repos/{owner}/{repo}/statuses/{sha}"})
		}
	}}
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err == nil {
		t.Fatal("want the GitHub error to fail the job")
	}
	commentSeq-- // the retry is the same comment
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if n := f.travis.Restarts(f.build.ID); n != 1 {
		t.Errorf("CI restarted %d times over the two attempts, want 1", n)
	}
	if st := lastStatus(t, f, head); st.State != "success" {
		t.Errorf("final status: %+v", st)
	}
	// Done: nothing of it is left for STOP to cancel.
	if active, _ := f.state.ActiveUpdates(context.Background(), 12, false); len(active) != 0 {
		t.Errorf("%d updates still active after the job", len(active))
	}
}

// TestFinishPendingKeepsLastStatus: finishing a pending status of an older
// head leaves the PR's last status (on its head) the one restated.
func TestFinishPendingKeepsLastStatus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := "1010101010101010101010101010101010101010"
	f.gh.fake.AddCommit(old)
	if err := f.bot.setStatus(ctx, 12, old, "pending", "Updating"); err != nil {
		t.Fatal(err)
	}
	if err := f.bot.setStatus(ctx, 12, head, "success", "Reference data updated"); err != nil {
		t.Fatal(err)
	}
	if err := f.bot.finishPending(ctx, 12, head, "Abandoned: the head of the pull request moved"); err != nil {
		t.Fatal(err)
	}
	if st := lastStatus(t, f, old); st.State != "error" {
		t.Errorf("old head: %+v", st)
	}
	if err := f.bot.restateOverlaps(ctx, 12, func(l []int) []int { return addPR(l, 7) }); err != nil {
		t.Fatal(err)
	}
	if st := lastStatus(t, f, head); st.Description != "Reference data updated; same files as #7" {
		t.Errorf("head: %+v", st)
	}
}
