package workflow

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis/travistest"
)

const head2 = "2222222222222222222222222222222222222222"

// TestApprovalBoundToReviewedHead: a plain UPDATE takes the data of the
// head its author saw, or nothing. A job runs later than its comment (behind
// others, retried, replayed); a push after the comment makes it refuse,
// naming both heads and asking for UPDATE <sha>; nothing is pushed, no
// status set, no cooldown taken. The same holds for the API's commands.
func TestApprovalBoundToReviewedHead(t *testing.T) {
	tests := []struct {
		name string
		// before runs before the comment is written, after between the
		// comment and its job.
		before, after func(t *testing.T, f *fixture)
		body          string
		trusted       bool
		forget        bool   // refbot saw none of the PR's heads before
		reply         string // a refusal holding this; "" means it ran
	}{
		{name: "no push", body: "BUILDBOT: UPDATE"},
		{name: "pushed before the comment", body: "BUILDBOT: UPDATE",
			before: func(t *testing.T, f *fixture) { f.push(t, head2, false) }},
		{name: "pushed after the comment", body: "BUILDBOT: UPDATE",
			after: func(t *testing.T, f *fixture) { f.push(t, head2, false) },
			reply: "the head of this pull request is now 2222222, but when you commented it was 1111111 (as far as refbot knows); nothing was changed. If you reviewed the outputs of 2222222, say `BUILDBOT: UPDATE 2222222`"},
		{name: "force-pushed after the comment", body: "BUILDBOT: UPDATE",
			after: func(t *testing.T, f *fixture) { f.push(t, head2, true) },
			reply: "now 2222222, but when you commented it was 1111111"},
		{name: "force-pushed away and back after the comment", body: "BUILDBOT: UPDATE",
			after: func(t *testing.T, f *fixture) { f.push(t, head2, true); f.push(t, head, true) },
			reply: "cannot tell that 1111111, the head of this pull request now, was already the head when you commented"},
		{name: "pushed after, missed by the webhook", body: "BUILDBOT: UPDATE",
			after: func(t *testing.T, f *fixture) { f.pushUnseen(t, head2) },
			reply: "now 2222222, but when you commented it was 1111111"},
		{name: "pushed after, refbot new to the PR", body: "BUILDBOT: UPDATE", forget: true,
			after: func(t *testing.T, f *fixture) { f.pushUnseen(t, head2) },
			reply: "refbot cannot tell that 2222222, the head of this pull request now, was already the head when you commented"},
		{name: "the sha after a push", body: "BUILDBOT: UPDATE 2222222",
			after: func(t *testing.T, f *fixture) { f.push(t, head2, false) }},
		{name: "API command, pushed after it", body: "BUILDBOT: UPDATE", trusted: true,
			after: func(t *testing.T, f *fixture) { f.push(t, head2, false) },
			reply: "now 2222222, but when you commented it was 1111111"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if !tc.forget {
				f.seeHead(t, head)
			}
			f.upload(t, head, bChanged)
			b2 := f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: 12, CommitSHA: head2, State: "passed"})
			f.uploadBuild(t, b2.ID, head2, map[string]string{"a.txt": "a\n", "b.txt": "b of 2222222\n", "c.txt": "c\n", "d.txt": "d\n"})
			if tc.before != nil {
				tc.before(t, f)
			}
			commentSeq++
			f.clock.tick(time.Minute)
			w := f.work("alice", tc.body)
			w.Trusted = tc.trusted
			if tc.after != nil {
				tc.after(t, f)
			}
			f.clock.tick(time.Minute) // the job runs later
			if err := f.bot.HandleComment(context.Background(), w); err != nil {
				t.Fatal(err)
			}
			if err := f.settle(t); err != nil {
				t.Fatal(err)
			}
			got := f.gh.lastComment()
			if tc.reply == "" {
				if !strings.Contains(got, "passed with the new data") {
					t.Errorf("the UPDATE did not run: %s", got)
				}
				return
			}
			if !strings.Contains(got, tc.reply) {
				t.Errorf("reply %q lacks %q", got, tc.reply)
			}
			if f.branch(t) != "" {
				t.Error("the data of a head nobody reviewed was pushed")
			}
			if n := len(f.gh.fake.Statuses(head)) + len(f.gh.fake.Statuses(head2)); n != 0 {
				t.Errorf("%d statuses set", n)
			}
			// No cooldown was taken: UPDATE with the sha runs at once.
			if err := f.comment(t, "alice", "BUILDBOT: UPDATE "+f.prHead(t)[:7]); err != nil {
				t.Fatal(err)
			}
			if got := f.gh.lastComment(); !strings.Contains(got, "passed with the new data") {
				t.Errorf("UPDATE <sha> after the refusal: %s", got)
			}
		})
	}
}

// seeHead records what a webhook delivery of the PR would: sha was its
// head now.
func (f *fixture) seeHead(t *testing.T, sha string) {
	t.Helper()
	if err := f.state.RecordHead(context.Background(), 12, sha, f.clock.now(), store.HeadFromWebhook); err != nil {
		t.Fatal(err)
	}
}

// push moves PR 12's head to sha (a force-push when force), as GitHub
// records it, and delivers it as the webhook does.
func (f *fixture) push(t *testing.T, sha string, force bool) {
	t.Helper()
	f.clock.tick(time.Minute)
	f.gh.fake.AddCommit(sha)
	if force {
		f.gh.fake.ForcePush(12, sha)
	} else {
		f.gh.fake.SetHead(12, sha)
	}
	f.seeHead(t, sha)
}

// pushUnseen moves PR 12's head to sha without refbot hearing of it.
func (f *fixture) pushUnseen(t *testing.T, sha string) {
	t.Helper()
	f.clock.tick(time.Minute)
	f.gh.fake.AddCommit(sha)
	f.gh.fake.SetHead(12, sha)
}

func (f *fixture) prHead(t *testing.T) string {
	t.Helper()
	pr, ok := f.gh.fake.PR(12)
	if !ok {
		t.Fatal("no PR 12")
	}
	return pr.HeadSHA
}

// uploadBuild puts CI's outputs of build id, which tested commit, into S3.
func (f *fixture) uploadBuild(t *testing.T, id int64, commit string, files map[string]string) {
	t.Helper()
	if _, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: fmt.Sprint(id),
		Source: s3cache.Source{PR: 12}, Commit: commit, Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
}

// TestNoWorkerWaitsForCI: an UPDATE's job ends once CI is restarted, with
// the status pending and the reply saying CI runs; waiting is the CI wait
// job's, which asks to run again (a snooze) for as long as the build runs,
// and ends with the final reply and status.
func TestNoWorkerWaitsForCI(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	f.travis.SetAdvanceOnPoll(false)
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if st := f.gh.states(); st[len(st)-1] != "pending" {
		t.Errorf("statuses after the job: %v", st)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "refbot will edit this comment when it finishes") {
		t.Errorf("reply after the job: %s", got)
	}
	w, ok := f.jobs.next()
	if !ok {
		t.Fatal("no CI wait scheduled")
	}
	f.travis.Advance(f.build.ID) // the restart lands: created
	for i := range 3 {
		again, err := f.bot.WaitCI(context.Background(), w.pr, w.update)
		if err != nil || again <= 0 {
			t.Fatalf("poll %d while CI runs: again %v, %v", i, again, err)
		}
		f.travis.SetState(f.build.ID, "started")
	}
	f.travis.SetState(f.build.ID, "passed")
	if again, err := f.bot.WaitCI(context.Background(), w.pr, w.update); err != nil || again != 0 {
		t.Fatalf("poll after CI ended: again %v, %v", again, err)
	}
	if st := f.gh.states(); st[len(st)-1] != "success" {
		t.Errorf("final statuses: %v", st)
	}
}

// TestRestartedBuildReadRight: Travis restarts asynchronously; right after
// the restart a build still shows its old final state. refbot takes a
// final state only from the build's new run.
func TestRestartedBuildReadRight(t *testing.T) {
	t.Run("old state failed, new run passes", func(t *testing.T) {
		f := newFixture(t)
		f.travis.SetState(f.build.ID, "failed")
		f.travis.SetRestartLag(3)
		f.upload(t, head, bChanged)
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, "✅ CI build") {
			t.Errorf("reply: %s", got)
		}
		if n := f.travis.Restarts(f.build.ID); n != 1 {
			t.Errorf("%d restarts, want 1", n)
		}
	})
	t.Run("restart answered 500 after it was done", func(t *testing.T) {
		f := newFixture(t)
		f.travis.Inject("POST", fmt.Sprintf("/build/%d/restart", f.build.ID), travistest.Performed(travistest.ServerError(500)))
		f.upload(t, head, bChanged)
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if n := f.travis.Restarts(f.build.ID); n != 1 {
			t.Errorf("%d restarts, want 1: the build did restart", n)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, "✅ CI build") {
			t.Errorf("reply: %s", got)
		}
	})
	t.Run("restart accepted, never carried out", func(t *testing.T) {
		f := newFixture(t)
		f.travis.DropRestarts(true)
		f.bot.cfg.RestartGrace = 5 * time.Second
		f.bot.cfg.CITimeout = 20 * time.Second
		f.upload(t, head, bChanged)
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		// Asked once more, then it gives up waiting: never a result from
		// the old run.
		if n := f.travis.Restarts(f.build.ID); n != 2 {
			t.Errorf("%d restarts, want 2 (one more when the build never restarted)", n)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, "did not finish while refbot waited") {
			t.Errorf("reply: %s", got)
		}
		if st := f.gh.states(); st[len(st)-1] != "error" {
			t.Errorf("statuses: %v", st)
		}
	})
}

// TestUnfinishedBuildRefused: a build that has not ended may be uploading
// its outputs again (a restart reuses the build id): UPDATE waits for it,
// saying so, and keeps no cooldown.
func TestUnfinishedBuildRefused(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	f.travis.SetAdvanceOnPoll(false)
	f.travis.SetState(f.build.ID, "started")
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "is started; its outputs are not final until it ends") {
		t.Errorf("reply: %s", got)
	}
	if f.branch(t) != "" || f.travis.Restarts(f.build.ID) != 0 {
		t.Error("an unfinished build's data was taken")
	}
	f.travis.SetState(f.build.ID, "passed")
	f.travis.SetAdvanceOnPoll(true)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" {
		t.Errorf("after the build ended: %s", f.gh.lastComment())
	}
}

// variantFixture is a data repo with variants linux and macos, and a build
// of the head with a job per variant.
func variantFixture(t *testing.T) (*fixture, travistest.Build) {
	t.Helper()
	f := newFixture(t)
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", f.bare, ".")
	testenv.Git(t, work, "rm", "--quiet", "-r", "data")
	testenv.WriteFiles(work, map[string]string{"data/linux/x.txt": "x linux\n", "data/macos/x.txt": "x macos\n"})
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "--quiet", "-m", "variants")
	testenv.Git(t, work, "push", "--quiet", "origin", "master")
	b := f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: 12, CommitSHA: head, State: "passed",
		Jobs: []travistest.Job{{Name: "linux"}, {Name: "macos"}}})
	return f, b
}

func (f *fixture) uploadVariant(t *testing.T, build int64, variant string, files map[string]string) {
	t.Helper()
	if _, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: fmt.Sprint(build), Variant: variant,
		Source: s3cache.Source{PR: 12}, Commit: head, Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
}

// TestVariantsOfARun: a re-run of a matrix build whose macos job failed
// before uploading leaves that variant's earlier upload in S3; UPDATE takes
// only what the run uploaded, keeps macos's data and names it. A variant
// the data has and the build never uploaded is kept when its job did not
// run, and refused when every job ran.
func TestVariantsOfARun(t *testing.T) {
	t.Run("stale variant of an earlier run", func(t *testing.T) {
		f, b := variantFixture(t)
		f.uploadVariant(t, b.ID, "macos", map[string]string{"x.txt": "x macos, old run\n"})
		// The build runs again after that upload (times in whole seconds).
		time.Sleep(1100 * time.Millisecond)
		f.travis.SetState(b.ID, "started")
		time.Sleep(1100 * time.Millisecond)
		f.uploadVariant(t, b.ID, "linux", map[string]string{"x.txt": "x linux, new run\n"})
		f.travis.SetState(b.ID, "failed")
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE --all"); err != nil {
			t.Fatal(err)
		}
		got := f.gh.lastComment()
		if !strings.Contains(got, "Variant `macos` is left as it was: its outputs are from an earlier run of the build") {
			t.Errorf("reply: %s", got)
		}
		for path, want := range map[string]string{"data/linux/x.txt": "x linux, new run", "data/macos/x.txt": "x macos"} {
			if got := testenv.Git(t, f.bare, "show", "PR12:"+path); got != want {
				t.Errorf("PR12:%s = %q, want %q", path, got, want)
			}
		}
	})
	t.Run("variant whose job did not run", func(t *testing.T) {
		f, b := variantFixture(t)
		f.uploadVariant(t, b.ID, "linux", map[string]string{"x.txt": "x linux, new\n"})
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE --all"); err != nil {
			t.Fatal(err)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, "Variant `macos` is left as it was: its CI job did not run") {
			t.Errorf("reply: %s", got)
		}
		if got := testenv.Git(t, f.bare, "show", "PR12:data/macos/x.txt"); got != "x macos" {
			t.Errorf("macos's data: %q", got)
		}
	})
	t.Run("variant missing though every job ran", func(t *testing.T) {
		f, b := variantFixture(t)
		f.travis.SetState(b.ID, "started") // every job runs …
		f.travis.SetState(b.ID, "passed")  // … and ends
		f.uploadVariant(t, b.ID, "linux", map[string]string{"x.txt": "x linux, new\n"})
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE --all"); err != nil {
			t.Fatal(err)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, "uploaded no outputs for variant `macos` although all its jobs ran") {
			t.Errorf("reply: %s", got)
		}
		if f.branch(t) != "" {
			t.Error("pushed a build missing a variant")
		}
	})
}

// TestRetryAfterPushSkipsToCI: the job fails after its push (a GitHub
// error); meanwhile CI re-runs the build, whose manifest is gone while it
// uploads again. The retry does not look at S3 again: it goes on with the
// CI part, and the reply still says what the push changed.
func TestRetryAfterPushSkipsToCI(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST",
		Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments"})
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err == nil {
		t.Fatal("want the GitHub error to fail the job")
	}
	if f.branch(t) == "" {
		t.Fatal("the first attempt did not push")
	}
	f.pruneBuild(t)
	if err := f.bot.HandleComment(context.Background(), f.work("alice", "BUILDBOT: UPDATE")); err != nil {
		t.Fatal(err)
	}
	if err := f.settle(t); err != nil {
		t.Fatal(err)
	}
	got := f.gh.lastComment()
	if !strings.Contains(got, "modified `data/b.txt`") || !strings.Contains(got, "✅ CI build") {
		t.Errorf("reply after the retry: %s", got)
	}
	if n := f.travis.Restarts(f.build.ID); n != 1 {
		t.Errorf("%d restarts", n)
	}
	// The retry did not set the status back to an earlier step.
	var descs []string
	for _, st := range f.gh.fake.Statuses(head) {
		descs = append(descs, st.State+": "+strings.SplitN(st.Description, ";", 2)[0])
	}
	want := []string{"pending: Updating reference data from build #1 (1001)", "pending: Data pushed", "success: Reference data updated"}
	if diff := cmp.Diff(want, descs); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

// pruneBuild makes the fixture's build's outputs vanish from S3, as a
// re-upload of the build in progress (or a prune) does: a newer build of
// the PR is uploaded, and builds beyond the newest are pruned.
func (f *fixture) pruneBuild(t *testing.T) {
	t.Helper()
	f.uploadBuild(t, f.build.ID+1000, head, bChanged)
	res, err := f.store.Prune(context.Background(), s3cache.Retention{PerPR: 1, PerBranch: 1},
		func(s3cache.BuildInfo) bool { return false }, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || res.Deleted[0].ID != fmt.Sprint(f.build.ID) {
		t.Fatalf("pruned %+v", res.Deleted)
	}
}

// TestReplyCreatedOnce: GitHub creates the reply but its answer is lost
// (a 500 after the write); the retry finds the reply by its marker and
// edits it instead of posting a second.
func TestReplyCreatedOnce(t *testing.T) {
	f := newFixture(t)
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 500, Method: "POST",
		Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments", Applied: true})
	if err := f.post(t, "alice", "BUILDBOT: HELP"); err == nil {
		t.Fatal("want the lost answer to fail the job")
	}
	if n := len(f.gh.replies()); n != 1 {
		t.Fatalf("%d replies after the lost answer, want the one GitHub made", n)
	}
	// Someone quotes the marker in a comment of their own: not a reply.
	f.gh.fake.AddComment(12, "mallory", "look: "+marker(commentSeq, "HELP:1")+" <- this")
	if err := f.bot.HandleComment(context.Background(), f.work("alice", "BUILDBOT: HELP")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.gh.replies()); n != 1 {
		t.Errorf("%d replies after the retry, want 1", n)
	}
}

// TestCommandsOnce: a command written twice runs once; after a later
// command failed, the retry does not run the finished ones again.
func TestCommandsOnce(t *testing.T) {
	t.Run("written twice", func(t *testing.T) {
		f := newFixture(t)
		if err := f.comment(t, "alice", "BUILDBOT: STOP\nBUILDBOT: STOP"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.jobs.cancelled); n != 1 || len(f.gh.replies()) != 1 {
			t.Errorf("STOP ran %d times, %d replies", n, len(f.gh.replies()))
		}
	})
	t.Run("retry after a later command failed", func(t *testing.T) {
		f := newFixture(t)
		f.upload(t, head, bChanged)
		// CI does not answer the UPDATE's search for the head's build.
		for range 4 {
			f.travis.Inject("GET", "/repo/octo-org%2Focto-repo/builds", travistest.ServerError(503))
		}
		if err := f.post(t, "alice", "BUILDBOT: STOP\nBUILDBOT: UPDATE"); err == nil {
			t.Fatal("want the CI outage to fail the job")
		}
		if err := f.bot.HandleComment(context.Background(), f.work("alice", "BUILDBOT: STOP\nBUILDBOT: UPDATE")); err != nil {
			t.Fatal(err)
		}
		if n := len(f.jobs.cancelled); n != 1 {
			t.Errorf("STOP ran %d times over the two attempts", n)
		}
		if f.branch(t) == "" {
			t.Errorf("the UPDATE did not run on the retry: %s", f.gh.lastComment())
		}
	})
}

// TestNewerUpdateSupersedes: a second UPDATE pushes while the first waits
// for CI; the first's reply says so and its wait ends without a word.
func TestNewerUpdateSupersedes(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	f.travis.SetAdvanceOnPoll(false)
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	first, _ := f.jobs.next()
	f.clock.tick(11 * time.Minute) // past the cooldown
	f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b changed again\n", "c.txt": "c\n", "d.txt": "d\n"})
	f.travis.SetState(f.build.ID, "passed")
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	replies := f.gh.replies()
	if len(replies) != 2 || !strings.Contains(replies[0].Body, "A newer UPDATE by @alice replaced this data") {
		t.Fatalf("the first UPDATE's reply: %+v", replies)
	}
	f.travis.SetState(f.build.ID, "passed")
	statuses := len(f.gh.states())
	if again, err := f.bot.WaitCI(context.Background(), first.pr, first.update); err != nil || again != 0 {
		t.Errorf("the superseded wait: %v, %v", again, err)
	}
	if len(f.gh.states()) != statuses || !strings.Contains(f.gh.replies()[0].Body, "replaced this data") {
		t.Error("the superseded wait reported")
	}
}

// TestRefusedUpdateGivesCooldownBack: an UPDATE refused after it took the
// cooldown (the head moved while it worked) gives it back.
func TestRefusedUpdateGivesCooldownBack(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	f.moving.heads = []string{head2, head} // moves after the first read, back after the next
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "moved from 1111111 to 2222222") {
		t.Fatalf("reply: %s", got)
	}
	f.gh.fake.SetHead(12, head)
	f.seeHead(t, head)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); strings.Contains(got, "it can run again in") || f.branch(t) == "" {
		t.Errorf("the next UPDATE: %s", got)
	}
}

// TestRepliesEscapeOutsideValues: file names from a build and a command
// line someone wrote are shown as they are, never as Markdown or HTML, and
// mention nobody.
func TestRepliesEscapeOutsideValues(t *testing.T) {
	f := newFixture(t)
	evil := map[string]string{"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n", "d.txt": "d\n",
		"x`y.txt": "1\n", "<img src=x onerror=alert(1)>.txt": "2\n", "@everyone [link](javascript:x).txt": "3\n"}
	f.upload(t, head, evil)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	got := f.gh.lastComment()
	for _, want := range []string{"``data/x`y.txt``", "`data/<img src=x onerror=alert(1)>.txt`", "`data/@everyone [link](javascript:x).txt`"} {
		if !strings.Contains(got, want) {
			t.Errorf("reply lacks %s:\n%s", want, got)
		}
	}
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE `<b>@team</b>`"); err != nil {
		t.Fatal(err)
	}
	got = f.gh.lastComment()
	if strings.Contains(got, "<b>") || strings.Contains(got, " @team") {
		t.Errorf("a problem reply echoes the line raw:\n%s", got)
	}
}

// TestUnprivilegedAnsweredRarely: someone who may not command refbot gets
// an answer at most once an hour, whatever they write: they cannot spend
// refbot's write quota.
func TestUnprivilegedAnsweredRarely(t *testing.T) {
	f := newFixture(t)
	for _, body := range []string{"BUILDBOT: HELP", "BUILDBOT: HELP", "BUILDBOT: UPDATE", "BUILDBOT: NOPE"} {
		if err := f.comment(t, "bob", body); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.gh.replies()); n != 1 {
		t.Errorf("%d replies to bob, want 1", n)
	}
	f.clock.tick(2 * time.Hour)
	// GitHub fails the reply: the job's retry still gets bob's turn.
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST",
		Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments"})
	if err := f.post(t, "bob", "BUILDBOT: UPDATE"); err == nil {
		t.Fatal("the reply GitHub failed did not fail the job")
	}
	if err := f.bot.HandleComment(context.Background(), f.work("bob", "BUILDBOT: UPDATE")); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); len(f.gh.replies()) != 2 || !strings.Contains(got, "@bob has read permission") {
		t.Errorf("after an hour: %d replies, last %q", len(f.gh.replies()), got)
	}
}

// TestGaveUpGivesCooldownBack: a command whose job ran out of attempts
// before it pushed gives its cooldown back.
func TestGaveUpGivesCooldownBack(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	ctx := context.Background()
	commentSeq++
	w := f.work("alice", "BUILDBOT: UPDATE")
	if ref, err := f.bot.policy.Take(ctx, 12, "UPDATE", w.CommentID); ref != nil || err != nil {
		t.Fatal(ref, err)
	}
	f.bot.GaveUp(ctx, w, 8, fmt.Errorf("travis: 503"))
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" {
		t.Errorf("an UPDATE after one that gave up: %s", f.gh.lastComment())
	}
}

// TestEndToldOnceAfterAFailure: the CI wait ends the update and fails to
// tell it (GitHub refuses the final status); the next run of the wait
// tells it, once.
func TestEndToldOnceAfterAFailure(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	w, _ := f.jobs.next()
	f.travis.SetRestartLag(0)
	f.travis.SetState(f.build.ID, "created")
	f.travis.SetState(f.build.ID, "passed")
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST",
		Route: "/repos/{owner}/{repo}/statuses/{sha}"})
	if _, err := f.bot.WaitCI(context.Background(), w.pr, w.update); err == nil {
		t.Fatal("want the refused status to fail the wait")
	}
	for range 2 { // the retry, and once more: told once
		if again, err := f.bot.WaitCI(context.Background(), w.pr, w.update); err != nil || again != 0 {
			t.Fatalf("the wait's retry: %v, %v", again, err)
		}
	}
	var success int
	for _, st := range f.gh.fake.Statuses(head) {
		if st.State == "success" {
			success++
		}
	}
	if success != 1 || !strings.Contains(f.gh.lastComment(), "✅ CI build") {
		t.Errorf("%d success statuses; reply %s", success, f.gh.lastComment())
	}
}

// restartHook runs before each CI restart refbot asks for.
type restartHook struct {
	CI
	before func()
}

func (h restartHook) Restart(ctx context.Context, id string) error {
	h.before()
	return h.CI.Restart(ctx, id)
}

// TestStopWhileRestarting: STOP comes between refbot recording that it
// restarts the build and asking CI to; the build STOP cancelled restarts
// just after, and the UPDATE's job cancels it again. No CI wait follows.
func TestStopWhileRestarting(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	once := false
	f.bot.ci = restartHook{CI: f.bot.ci, before: func() {
		if !once {
			once = true
			if err := f.post(t, "alice", "BUILDBOT: STOP"); err != nil {
				t.Fatal(err)
			}
		}
	}}
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if n := f.travis.Cancels(f.build.ID); n != 2 {
		t.Errorf("build cancelled %d times, want 2 (by STOP, then after the late restart)", n)
	}
	if _, ok := f.jobs.next(); ok {
		t.Error("a CI wait was scheduled for a stopped update")
	}
	if got := f.gh.replies()[0].Body; !strings.Contains(got, "Stopped by @alice") {
		t.Errorf("the UPDATE's reply: %s", got)
	}
}

// TestUnchangedDataRestartsNothing: an UPDATE whose data the branch holds
// already (the same build again) pushes nothing and restarts nothing.
func TestUnchangedDataRestartsNothing(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	f.clock.tick(11 * time.Minute)
	f.upload(t, head, bChanged) // the build re-uploaded after its restart
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if n := f.travis.Restarts(f.build.ID); n != 1 {
		t.Errorf("%d restarts, want 1", n)
	}
	got := f.gh.lastComment()
	if !strings.Contains(got, "already held exactly this data") || !strings.Contains(got, "was not restarted") {
		t.Errorf("reply: %s", got)
	}
	if st := f.gh.states(); st[len(st)-1] != "success" {
		t.Errorf("statuses: %v", st)
	}
}

// TestPushNotRecorded: a job pushed the data and died before recording the
// push. Its retry finds its own commit on the branch: it is not an
// unchanged UPDATE but this one resumed, so the build is restarted once and
// the reply lists what the push changed; even when the author pushed a new
// head meanwhile (the data was pushed for the head reviewed).
func TestPushNotRecorded(t *testing.T) {
	for _, moved := range []bool{false, true} {
		t.Run(fmt.Sprintf("head moved %v", moved), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			f.upload(t, head, bChanged)
			commentSeq++
			f.clock.tick(time.Second)
			w := f.work("alice", "BUILDBOT: UPDATE")
			cmd := command.Parse(w.Body, "").Commands[0]
			// The first run, up to its push.
			pr, err := f.bot.gh.PullRequest(ctx, 12)
			if err != nil {
				t.Fatal(err)
			}
			build, err := f.bot.ci.NewestBuild(ctx, 12, head)
			if err != nil {
				t.Fatal(err)
			}
			req := f.bot.publishRequest(w, cmd, pr, build, true)
			plan, err := publish.Publish(ctx, f.bot.cache, f.bot.repo, req)
			if err != nil {
				t.Fatal(err)
			}
			u, err := f.state.StartUpdate(ctx, store.Update{CommentID: w.CommentID, Key: replyKey(cmd), PR: 12, Head: head,
				Build: build.ID, Author: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if u.View, err = encodeView(updateView(w, pr, build, plan)); err != nil {
				t.Fatal(err)
			}
			if err := f.state.SaveUpdate(ctx, u); err != nil {
				t.Fatal(err)
			}
			req.DryRun = false
			if _, err := publish.Publish(ctx, f.bot.cache, f.bot.repo, req); err != nil {
				t.Fatal(err)
			}
			if moved {
				f.clock.tick(time.Minute)
				f.gh.fake.AddCommit(head2)
				f.gh.fake.SetHead(12, head2)
			}
			// The retry.
			if err := f.bot.HandleComment(ctx, w); err != nil {
				t.Fatal(err)
			}
			if err := f.settle(t); err != nil {
				t.Fatal(err)
			}
			if n := f.travis.Restarts(f.build.ID); n != 1 {
				t.Errorf("%d restarts, want 1", n)
			}
			got := f.gh.lastComment()
			if strings.Contains(got, "already held exactly this data") || !strings.Contains(got, "`data/b.txt`") {
				t.Errorf("reply: %s", got)
			}
			if u, err := f.state.Update(ctx, w.CommentID, replyKey(cmd)); err != nil || !store.Final(u.Step) {
				t.Errorf("the update did not end: %+v, %v", u, err)
			}
		})
	}
}

// prHook runs f at the at-th read of the PR (the first is the job's own,
// the second the check just before the push).
type prHook struct {
	GitHub
	calls, at int
	f         func() error
}

func (h *prHook) PullRequest(ctx context.Context, n int) (PullRequest, error) {
	h.calls++
	if h.calls == h.at {
		if err := h.f(); err != nil {
			return PullRequest{}, err
		}
	}
	return h.GitHub.PullRequest(ctx, n)
}

// TestStopAroundThePush: STOP comes while an UPDATE publishes. Before the
// push: the job is cancelled, the branch stays as it was, the reply says
// so and the cooldown is given back. During the push (STOP looked before
// it landed): the reply is set right, the data stays pushed, and the
// build is not restarted.
func TestStopAroundThePush(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error // what the check before the push gets: STOP cancelled the job, or it was too late
		pushed bool
		want   string
	}{
		{"before the push", context.Canceled, false, "Stopped by @alice before its data was pushed"},
		{"during the push", nil, true, "the data stays pushed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.upload(t, head, bChanged)
			commentSeq++
			f.clock.tick(time.Second)
			w := f.work("alice", "BUILDBOT: UPDATE")
			orig := f.bot.gh
			h := &prHook{GitHub: orig, at: 2}
			h.f = func() error {
				f.bot.gh = orig
				if err := f.post(t, "alice", "BUILDBOT: STOP"); err != nil {
					t.Fatal(err)
				}
				return tc.err
			}
			f.bot.gh = h
			err := f.bot.HandleComment(context.Background(), w)
			if (err != nil) == tc.pushed {
				t.Fatalf("the UPDATE's job: %v", err)
			}
			if got := f.branch(t) != ""; got != tc.pushed {
				t.Errorf("branch PR12 pushed: %v, want %v", got, tc.pushed)
			}
			if got := f.gh.replies()[0].Body; !strings.Contains(got, tc.want) {
				t.Errorf("the UPDATE's reply lacks %q:\n%s", tc.want, got)
			}
			if n := f.travis.Restarts(f.build.ID); n != 0 {
				t.Errorf("%d restarts after STOP", n)
			}
			if st := f.gh.states(); st[len(st)-1] == "pending" {
				t.Errorf("statuses end pending: %v", st)
			}
			if !tc.pushed {
				if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
					t.Fatal(err)
				}
				if f.branch(t) == "" {
					t.Errorf("an UPDATE right after the stopped one: %s", f.gh.lastComment())
				}
			}
		})
	}
}

// TestUnchangedToldAfterAFailedReply: the reply of an UPDATE that found its
// data there already fails; the job's retry tells it, and the status does
// not stay pending.
func TestUnchangedToldAfterAFailedReply(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	f.clock.tick(11 * time.Minute)
	f.upload(t, head, bChanged)
	before := len(f.gh.replies())
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST",
		Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments"})
	commentSeq++
	f.clock.tick(time.Second)
	w := f.work("alice", "BUILDBOT: UPDATE")
	if err := f.bot.HandleComment(context.Background(), w); err == nil {
		t.Fatal("the reply GitHub failed did not fail the job")
	}
	if err := f.bot.HandleComment(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.replies(); len(got) != before+1 || !strings.Contains(got[len(got)-1].Body, "already held exactly this data") {
		t.Errorf("%d replies after %d: %s", len(got), before, f.gh.lastComment())
	}
	if st := f.gh.states(); st[len(st)-1] != "success" {
		t.Errorf("statuses: %v", st)
	}
}

// TestDeletedReplyPostedOnce: refbot's reply was deleted; posting it again
// is recorded first, so an answer lost after GitHub created it does not
// lead to a second one.
func TestDeletedReplyPostedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	commentSeq++
	w := f.work("alice", "BUILDBOT: HELP")
	if err := f.state.SetReply(ctx, w.CommentID, "HELP:1", 987654); err != nil { // a reply someone deleted
		t.Fatal(err)
	}
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST",
		Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments", Applied: true})
	if err := f.bot.reply(ctx, w, "HELP:1", "hello"); err == nil {
		t.Fatal("GitHub's 502 was not an error")
	}
	if err := f.bot.reply(ctx, w, "HELP:1", "hello again"); err != nil {
		t.Fatal(err)
	}
	if r := f.gh.replies(); len(r) != 1 || !strings.HasPrefix(r[0].Body, "hello again") {
		t.Errorf("%d replies: %+v", len(r), r)
	}
}
