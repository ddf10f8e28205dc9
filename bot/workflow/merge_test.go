package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis/travistest"
)

const mergeCommit = "5555555555555555555555555555555555555555"

// updated runs an UPDATE so PR12 has a data branch changing data/b.txt.
func updated(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b from the PR\n", "c.txt": "c\n", "d.txt": "d\n"})
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	return f
}

// postMergeBuild adds master's build of the merge commit to Travis.
func (f *fixture) postMergeBuild(state string) travistest.Build {
	return f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", Branch: "master", EventType: "push",
		CommitSHA: mergeCommit, State: state})
}

// closed runs the job of PR 12's close (merged, or not) now, as the queue
// does: again after each snooze, until it is done.
func (f *fixture) closed(t *testing.T, merged bool) error {
	t.Helper()
	return f.closedAt(t, merged, f.clock.now())
}

func (f *fixture) closedAt(t *testing.T, merged bool, at time.Time) error {
	t.Helper()
	w := intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, Merged: merged, BaseRef: "master", HeadSHA: head,
		MergeCommit: mergeCommit, MergedBy: "alice"}
	if merged {
		w.MergedAt = at
	}
	for polls := 0; ; polls++ {
		again, err := f.bot.HandleClosed(context.Background(), w)
		if err != nil || again == 0 {
			return err
		}
		if polls == 50 {
			t.Fatal("the merge still waits after 50 polls")
		}
		f.clock.tick(time.Second)
	}
}

func (f *fixture) commitOnMaster(t *testing.T, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", f.bare, ".")
	for p, c := range files {
		os.WriteFile(filepath.Join(work, filepath.FromSlash(p)), []byte(c), 0o644)
	}
	testenv.Git(t, work, "commit", "--quiet", "-am", "on master")
	testenv.Git(t, work, "push", "--quiet", "origin", "master")
	return testenv.Git(t, work, "rev-parse", "HEAD")
}

func TestMergePromotes(t *testing.T) {
	f := updated(t)
	tip := testenv.Git(t, f.bare, "rev-parse", "PR12")
	pm := f.postMergeBuild("started")
	f.gh.fake.Merge(12, "alice")
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	// One commit of its own on master, holding the branch's tree.
	if got, want := testenv.Git(t, f.bare, "rev-parse", "master^{tree}"), testenv.Git(t, f.bare, "rev-parse", tip+"^{tree}"); got != want ||
		testenv.Git(t, f.bare, "rev-parse", "master^") != testenv.Git(t, f.bare, "rev-parse", tip+"^") {
		t.Errorf("master's tree %s, want the data branch's %s, on the same base", got, want)
	}
	if f.branch(t) != "" {
		t.Error("PR12 was not deleted")
	}
	if got := testenv.Git(t, f.bare, "for-each-ref", "--format=%(objectname)", "refs/refbot/archive/PR12/"); got != tip {
		t.Errorf("archive ref = %q, want %s", got, tip)
	}
	if n := f.travis.Restarts(pm.ID); n != 1 {
		t.Errorf("post-merge build restarted %d times, want 1", n)
	}
	golden(t, "merged", f.gh.lastComment())

	// The same event again: nothing left to do, nothing said twice.
	replies := len(f.gh.replies())
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	if len(f.gh.replies()) != replies || f.travis.Restarts(pm.ID) != 1 {
		t.Error("a repeated merge event did something")
	}
	// An UPDATE after the merge is refused.
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.gh.lastComment(), "this pull request is merged") {
		t.Errorf("UPDATE after the merge: %q", f.gh.lastComment())
	}
}

func TestMergeOntoMovedBase(t *testing.T) {
	f := updated(t)
	moved := f.commitOnMaster(t, map[string]string{"data/d.txt": "d on master\n"})
	f.postMergeBuild("passed")
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	if parent := testenv.Git(t, f.bare, "rev-parse", "master^"); parent != moved {
		t.Errorf("promotion built on %s, want the moved master %s", parent, moved)
	}
	for path, want := range map[string]string{"data/b.txt": "b from the PR", "data/d.txt": "d on master"} {
		if got := testenv.Git(t, f.bare, "show", "master:"+path); got != want {
			t.Errorf("master:%s = %q, want %q", path, got, want)
		}
	}
	if !strings.Contains(f.gh.lastComment(), "its change applied to the current `master`") {
		t.Errorf("reply: %q", f.gh.lastComment())
	}
}

// TestMergeConflictTakesPostMergeBuild: the base changed the PR's file too;
// refbot takes the base branch's post-merge build's outputs.
func TestMergeConflictTakesPostMergeBuild(t *testing.T) {
	f := updated(t)
	f.commitOnMaster(t, map[string]string{"data/b.txt": "b on master\n"})
	pm := f.postMergeBuild("failed")
	_, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: fmt.Sprint(pm.ID),
		Source: s3cache.Source{Branch: "master"}, Commit: mergeCommit,
		Dir: testenv.Tree(t, map[string]string{"a.txt": "a\n", "b.txt": "b as merged\n", "c.txt": "c\n", "d.txt": "d\n"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Git(t, f.bare, "show", "master:data/b.txt"); got != "b as merged" {
		t.Errorf("master:data/b.txt = %q, want the post-merge build's", got)
	}
	msg := testenv.Git(t, f.bare, "log", "-1", "--format=%B", "master")
	if !strings.Contains(msg, fmt.Sprintf("Refbot-Build: %d", pm.ID)) || !strings.Contains(msg, "Refbot-PR: 12") {
		t.Errorf("commit message:\n%s", msg)
	}
	if n := f.travis.Restarts(pm.ID); n != 1 {
		t.Errorf("post-merge build restarted %d times, want 1", n)
	}
	golden(t, "merged-conflict", f.gh.lastComment())
}

func TestClosedWithoutMerge(t *testing.T) {
	f := updated(t)
	if err := f.closed(t, false); err != nil {
		t.Fatal(err)
	}
	at, ok := f.jobs.deletions[12]
	if !ok || at.Before(time.Now().Add(6*24*time.Hour)) {
		t.Errorf("deletion scheduled %v (%v), want in 7 days", at, ok)
	}
	if f.branch(t) == "" {
		t.Error("the branch was deleted at once")
	}
	// Reopened before the grace ended: kept.
	if _, err := f.bot.DeleteClosedBranch(context.Background(), 12); err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" {
		t.Error("the branch of an open PR was deleted")
	}
	// Closed (again): the grace period counts from this close.
	f.gh.fake.ClosePR(12)
	again, err := f.bot.DeleteClosedBranch(context.Background(), 12)
	if err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" || again < 6*24*time.Hour {
		t.Errorf("deleted before the grace of the last close ended (or waits only %v)", again)
	}
	f.clock.tick(7*24*time.Hour + time.Minute)
	if again, err := f.bot.DeleteClosedBranch(context.Background(), 12); err != nil || again != 0 {
		t.Fatal(again, err)
	}
	if f.branch(t) != "" {
		t.Error("the branch of a closed PR was kept")
	}
}

// TestMergeRebasesOtherPRs: after #12's data is promoted, another PR's
// data branch is rebuilt on the new base; one that changed the same file is
// told it needs a new UPDATE.
func TestMergeRebasesOtherPRs(t *testing.T) {
	f := updated(t) // PR12 changes data/b.txt
	for n, change := range map[int]map[string]string{
		7: {"data/b.txt": "b from PR 7\n"}, // the same file: conflict
		8: {"data/d.txt": "d from PR 8\n"}, // another file: rebuilt
	} {
		f.gh.fake.AddPR(fakegithub.PR{Number: n})
		work := t.TempDir()
		testenv.Git(t, work, "clone", "--quiet", f.bare, ".")
		for p, c := range change {
			os.WriteFile(filepath.Join(work, filepath.FromSlash(p)), []byte(c), 0o644)
		}
		testenv.Git(t, work, "commit", "--quiet", "-am", fmt.Sprintf("PR %d's data", n))
		testenv.Git(t, work, "push", "--quiet", "origin", fmt.Sprintf("HEAD:refs/heads/PR%d", n))
	}
	f.postMergeBuild("passed")
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	master := testenv.Git(t, f.bare, "rev-parse", "master")
	if parent := testenv.Git(t, f.bare, "rev-parse", "PR8^"); parent != master {
		t.Errorf("PR8 built on %s, want the new master %s", parent, master)
	}
	if got := testenv.Git(t, f.bare, "show", "PR8:data/b.txt"); got != "b from the PR" {
		t.Errorf("PR8 does not carry #12's promoted data: %q", got)
	}
	comments := f.gh.fake.Comments(7)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "no longer applies to `master`: both change `data/b.txt`") {
		t.Errorf("PR 7's comments: %+v", comments)
	}
	if len(f.gh.fake.Comments(8)) != 0 {
		t.Error("PR 8 was told something")
	}
	// A repeated merge event says nothing twice.
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	if n := len(f.gh.fake.Comments(7)); n != 1 {
		t.Errorf("PR 7 got %d comments after a repeated event", n)
	}
}

// mergeOther merges PR n (with a data branch changing files) now and runs
// its job to the end.
func (f *fixture) mergeOther(t *testing.T, n int, sha string) {
	t.Helper()
	f.clock.tick(time.Minute)
	w := intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: n, Merged: true, BaseRef: "master", HeadSHA: sha,
		MergeCommit: fmt.Sprintf("%040d", n), MergedBy: "alice", MergedAt: f.clock.now()}
	for polls := 0; ; polls++ {
		again, err := f.bot.HandleClosed(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		if again == 0 {
			return
		}
		if polls == 50 {
			t.Fatalf("#%d's merge still waits", n)
		}
		f.clock.tick(time.Second)
	}
}

// uploadPostMerge puts master's post-merge build of mergeCommit and its
// outputs into Travis and S3.
func (f *fixture) uploadPostMerge(t *testing.T, files map[string]string) travistest.Build {
	t.Helper()
	pm := f.postMergeBuild("passed")
	if _, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: fmt.Sprint(pm.ID),
		Source: s3cache.Source{Branch: "master"}, Commit: mergeCommit, Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestPostMergeBuildNeverReverts is the sequence that used to wipe data:
// PR 12's data conflicts with master, so its merge waits for master's
// post-merge build; meanwhile PR 7 merges and its data is promoted; then
// PR 12's post-merge build (made before PR 7's code and data) is applied,
// as a change against master as it was at PR 12's merge. PR 7's data
// stays. A post-merge build that changes PR 7's file too is a conflict,
// named, and changes nothing.
func TestPostMergeBuildNeverReverts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outputs  map[string]string
		conflict bool
		// late: PR 12's merge job first runs after PR 7's promotion,
		// which came after PR 12's merge.
		late bool
	}{
		{name: "other files", outputs: map[string]string{"a.txt": "a\n", "b.txt": "b as merged\n", "c.txt": "c\n", "d.txt": "d\n"}},
		{name: "other files, merge job late", late: true,
			outputs: map[string]string{"a.txt": "a\n", "b.txt": "b as merged\n", "c.txt": "c\n", "d.txt": "d\n"}},
		{name: "PR 7's file too", outputs: map[string]string{"a.txt": "a\n", "b.txt": "b as merged\n", "c.txt": "c\n", "d.txt": "d by #12\n"},
			conflict: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := updated(t) // PR 12 changes data/b.txt
			f.commitOnMaster(t, map[string]string{"data/b.txt": "b on master\n"})
			f.clock.tick(time.Minute)
			w := intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, Merged: true, BaseRef: "master", HeadSHA: head,
				MergeCommit: mergeCommit, MergedBy: "alice", MergedAt: f.clock.now()}
			wait := func() {
				t.Helper()
				again, err := f.bot.HandleClosed(context.Background(), w)
				if err != nil || again == 0 {
					t.Fatalf("PR 12's merge does not wait for the post-merge build: %v, %v", again, err)
				}
				if got := f.gh.reply(-12, "merged"); !strings.Contains(got, "waiting for that build") {
					t.Errorf("PR 12's reply while it waits: %s", got)
				}
			}
			if !tc.late {
				wait()
			}
			// PR 7 changes data/d.txt and is merged, promoted, meanwhile.
			f.updateOther(t, 7, head7, map[string]string{"a.txt": "a\n", "b.txt": "b on master\n", "c.txt": "c\n", "d.txt": "d from PR 7\n"})
			f.gh.fake.Merge(7, "alice")
			f.mergeOther(t, 7, head7)
			if got := testenv.Git(t, f.bare, "show", "master:data/d.txt"); got != "d from PR 7" {
				t.Fatalf("PR 7 was not promoted: %q", got)
			}
			if tc.late {
				wait()
			}
			before := testenv.Git(t, f.bare, "rev-parse", "master")
			f.uploadPostMerge(t, tc.outputs)
			if err := f.closedAt(t, true, w.MergedAt); err != nil {
				t.Fatal(err)
			}
			got := f.gh.reply(-12, "merged")
			if tc.conflict {
				if after := testenv.Git(t, f.bare, "rev-parse", "master"); after != before {
					t.Error("a conflicting post-merge build changed master")
				}
				if !strings.Contains(got, "these files changed on both sides: `data/d.txt`") {
					t.Errorf("reply: %s", got)
				}
				return
			}
			for path, want := range map[string]string{"data/b.txt": "b as merged", "data/d.txt": "d from PR 7"} {
				if got := testenv.Git(t, f.bare, "show", "master:"+path); got != want {
					t.Errorf("master:%s = %q, want %q", path, got, want)
				}
			}
			if !strings.Contains(got, "applied as a change against `master` as it was at the merge") {
				t.Errorf("reply: %s", got)
			}
		})
	}
}

// TestMergePromotesOnlyTheMergedHeadsData: a data branch made for an older
// head is not promoted; the post-merge build's outputs are taken, and the
// reply says why.
func TestMergePromotesOnlyTheMergedHeadsData(t *testing.T) {
	f := updated(t) // the data branch was made for head 1111111
	f.push(t, head2, false)
	f.uploadPostMerge(t, map[string]string{"a.txt": "a\n", "b.txt": "b of the merged head\n", "c.txt": "c\n", "d.txt": "d\n"})
	w := intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, Merged: true, BaseRef: "master", HeadSHA: head2,
		MergeCommit: mergeCommit, MergedBy: "alice", MergedAt: f.clock.now()}
	for polls := 0; ; polls++ {
		again, err := f.bot.HandleClosed(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		if again == 0 {
			break
		}
		if polls == 50 {
			t.Fatal("still waiting")
		}
	}
	if got := testenv.Git(t, f.bare, "show", "master:data/b.txt"); got != "b of the merged head" {
		t.Errorf("master:data/b.txt = %q: the data of an older head was promoted", got)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "was made for `1111111`, not for the merged head `2222222`") {
		t.Errorf("reply: %s", got)
	}
}

// TestMergeReplyAtPromotion: with no post-merge build started yet, the
// reply comes with the promotion, and says nothing was restarted (the
// build, when it runs, tests the new data).
func TestMergeReplyAtPromotion(t *testing.T) {
	f := updated(t)
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	got := f.gh.lastComment()
	if !strings.Contains(got, "is now on `master`") || !strings.Contains(got, "No post-merge build had started yet, so none was restarted") {
		t.Errorf("reply: %s", got)
	}
}

// TestMergeWaitEnds: a merge that needs the post-merge build, which never
// comes, ends with a reply saying so after the wait, keeping the branch.
func TestMergeWaitEnds(t *testing.T) {
	f := updated(t)
	f.commitOnMaster(t, map[string]string{"data/b.txt": "b on master\n"})
	f.bot.cfg.MergeWait = 10 * time.Second
	if err := f.closed(t, true); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "no post-merge build of `5555555` finished within 10s") ||
		!strings.Contains(got, "Branch `PR12` is kept") {
		t.Errorf("reply: %s", got)
	}
	if f.branch(t) == "" {
		t.Error("the data branch was deleted")
	}
}

// appliedByAnEarlierRun leaves PR 12's merge as a run that died would: the
// data promoted and the post-merge build's restart recorded, the branch
// not yet deleted, nothing said.
func appliedByAnEarlierRun(t *testing.T) (*fixture, travistest.Build) {
	t.Helper()
	ctx := context.Background()
	f := updated(t)
	pm := f.postMergeBuild("started")
	f.gh.fake.Merge(12, "alice")
	m, err := f.state.StartMerge(ctx, store.Merge{PR: 12, MergeCommit: mergeCommit, Head: head, CodeBase: "master",
		MergedAt: f.clock.now(), MergedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.bot.repo.Promote(ctx, "PR12", false)
	if err != nil {
		t.Fatal(err)
	}
	build, err := f.bot.ci.Build(ctx, fmt.Sprint(pm.ID))
	if err != nil {
		t.Fatal(err)
	}
	v := f.bot.mergeView(m)
	v.Commit, v.RestartAsked, v.RestartBefore, v.RestartAt = res.Commit.String(), build.ID, snapshot(build), f.clock.now().UTC()
	m.Step, m.DataCommit = store.MergeApplied, res.Commit.String()
	if err := f.bot.saveMerge(ctx, m, v); err != nil {
		t.Fatal(err)
	}
	return f, pm
}

// A restart recorded before it was asked for is asked for once, whether
// the run that recorded it died before asking or after.
func TestMergeRestartAskedOnce(t *testing.T) {
	t.Run("died after asking", func(t *testing.T) {
		f, pm := appliedByAnEarlierRun(t)
		f.travis.SetRestartLag(0)
		if err := f.bot.ci.Restart(context.Background(), fmt.Sprint(pm.ID)); err != nil {
			t.Fatal(err)
		}
		if err := f.closed(t, true); err != nil {
			t.Fatal(err)
		}
		if n := f.travis.Restarts(pm.ID); n != 1 {
			t.Errorf("post-merge build restarted %d times, want 1", n)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, fmt.Sprintf("post-merge build %d was restarted", pm.ID)) {
			t.Errorf("reply: %s", got)
		}
		if f.branch(t) != "" {
			t.Error("PR12 was not deleted")
		}
	})
	t.Run("died before asking", func(t *testing.T) {
		f, pm := appliedByAnEarlierRun(t)
		// It is looked at until the grace a restart is given is over:
		// only then is it known never to have been asked.
		f.bot.cfg.RestartGrace = 5 * time.Second
		again, err := f.bot.HandleClosed(context.Background(), intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12,
			Merged: true, BaseRef: "master", HeadSHA: head, MergeCommit: mergeCommit, MergedBy: "alice", MergedAt: f.clock.now()})
		if err != nil || again <= 0 || again > 5*time.Second {
			t.Fatalf("first look: again %s, %v; want a wait within the grace", again, err)
		}
		if n := f.travis.Restarts(pm.ID); n != 0 {
			t.Fatalf("restarted %d times within the grace", n)
		}
		if err := f.closed(t, true); err != nil {
			t.Fatal(err)
		}
		if n := f.travis.Restarts(pm.ID); n != 1 {
			t.Errorf("post-merge build restarted %d times, want 1", n)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, fmt.Sprintf("post-merge build %d was restarted", pm.ID)) {
			t.Errorf("reply: %s", got)
		}
	})
}

// A merge that gave up after its data reached the base says so, and says
// what is left to do by hand: not that the data was lost.
func TestMergeGaveUpAfterApplying(t *testing.T) {
	f, _ := appliedByAnEarlierRun(t)
	w := intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, Merged: true, BaseRef: "master", HeadSHA: head,
		MergeCommit: mergeCommit, MergedBy: "alice"}
	f.bot.MergeGaveUp(context.Background(), w, 5, outage("delete the merged pull request's data branch", fmt.Errorf("git server down")))
	got := f.gh.lastComment()
	for _, want := range []string{"is now on `master`", "Branch `PR12` could not be deleted", "could not confirm"} {
		if !strings.Contains(got, want) {
			t.Errorf("reply lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "could not take") {
		t.Errorf("reply says the data was not taken:\n%s", got)
	}
	m, err := f.state.Merge(context.Background(), 12)
	if err != nil || m.Step != store.MergeDone {
		t.Errorf("merge record %+v, %v; want done", m, err)
	}
}

// A merge that gave up after deleting the branch (its reply failed) does
// not ask for the branch to be deleted by hand.
func TestMergeGaveUpAfterDeleting(t *testing.T) {
	ctx := context.Background()
	f, _ := appliedByAnEarlierRun(t)
	m, err := f.state.Merge(ctx, 12)
	if err != nil {
		t.Fatal(err)
	}
	v := f.bot.mergeView(m)
	v.BranchDeleted, v.Restarted = true, v.RestartAsked
	if _, err := f.bot.repo.DeleteBranch(ctx, "PR12"); err != nil {
		t.Fatal(err)
	}
	if err := f.bot.saveMerge(ctx, m, v); err != nil {
		t.Fatal(err)
	}
	w := intake.PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, Merged: true, BaseRef: "master", HeadSHA: head,
		MergeCommit: mergeCommit, MergedBy: "alice"}
	f.bot.MergeGaveUp(ctx, w, 5, outage("post refbot's reply", fmt.Errorf("github down")))
	got := f.gh.lastComment()
	if !strings.Contains(got, "Branch `PR12` was deleted") || strings.Contains(got, "could not be deleted") {
		t.Errorf("reply:\n%s", got)
	}
}
