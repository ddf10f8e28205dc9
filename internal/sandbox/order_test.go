package sandbox

// Concurrency and order, end to end (issue 12 §6): deliveries that race or
// arrive out of order, a CI that answers a restart it performed with a
// 500, and a GitHub rate limit that outlasts a job's deadline, each through
// `refbot serve`, its queue and the fakes.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite", to read refbot's jobs

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// TestTwoUpdatesTenMillisecondsApart: two UPDATE deliveries on one PR, 10
// ms apart. The PR's jobs run one at a time; the data branch gets one
// commit, holding what the later request asked for; CI is restarted once
// for it; each command gets one reply saying what became of it.
func TestTwoUpdatesTenMillisecondsApart(t *testing.T) {
	t.Run("same head", func(t *testing.T) {
		ctx, sb := start(t, true)
		keepReflogs(t, sb)
		rb := serveFor(ctx, t, sb)
		first := sb.GitHub.Comment(PR, Maintainer, "BUILDBOT: UPDATE")
		second := sb.GitHub.Comment(PR, Maintainer, "BUILDBOT: UPDATE")
		deliverApart(ctx, t, sb, 10*time.Millisecond, first, second)
		ids := commandIDs(sb, PR)
		eventually(ctx, t, rb, "both UPDATEs answered and the update over", func() bool {
			st, ok := sb.UpdateStatus()
			return ok && st.State != "pending" && answered(sb, PR, ids...)
		})
		if err := rb.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}

		checkOneCommit(t, sb, DemoOutputs)
		if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
			t.Errorf("CI restarted %d times, want 1 (one distinct commit)", n)
		}
		checkOneAtATime(t, riverJobsOfKind(t, sb, PR, "comment"))
		ran := 0
		for _, id := range ids {
			r := repliesTo(sb, PR, id)
			if len(r) != 1 {
				t.Fatalf("comment %d has %d replies, want 1: %+v", id, len(r), r)
			}
			if strings.Contains(r[0].Body, "✅ CI build") {
				ran++
			}
			t.Logf("reply to comment %d: %s", id, firstLine(r[0].Body))
		}
		if ran != 1 {
			t.Errorf("%d of the two UPDATEs say they updated the data, want 1 (the other superseded or refused)", ran)
		}
		if st, _ := sb.UpdateStatus(); st.State != "success" {
			t.Errorf("final status %s: %s", st.State, st.Description)
		}
		checkGitHubAPI(t, sb)
	})

	// The head moved between the comments: the earlier one approved data
	// nobody will see; the later one's build is what the branch holds.
	t.Run("head moved between them", func(t *testing.T) {
		ctx, sb := start(t, true)
		keepReflogs(t, sb)
		rb := serveFor(ctx, t, sb)
		first := sb.GitHub.Comment(PR, Maintainer, "BUILDBOT: UPDATE")
		nextSecond() // the push comes after the first comment, in GitHub's whole seconds
		headB := randomSHA()
		sb.GitHub.SetHead(PR, headB)
		later := map[string]string{}
		for k, v := range DemoOutputs {
			later[k] = v
		}
		later["plots/hist.png"] = "\x89PNG histogram of the second head"
		buildB := sb.Travis.AddBuild(travistest.Build{Repo: Repo, PullRequestNumber: PR, CommitSHA: headB, State: "failed", Outcome: "passed"})
		if _, err := sb.upload(ctx, refbotBin, PR, buildB.ID, headB, later); err != nil {
			t.Fatal(err)
		}
		if d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, "pull_request",
			sb.GitHub.PullRequestPayload(PR, "synchronize", "contributor")); err != nil || d.Status != http.StatusOK {
			t.Fatalf("synchronize: %d, %v", d.Status, err)
		}
		nextSecond() // refbot saw the new head before the second comment
		second := sb.GitHub.Comment(PR, Maintainer, "BUILDBOT: UPDATE")
		deliverApart(ctx, t, sb, 10*time.Millisecond, first, second)
		ids := commandIDs(sb, PR)
		eventually(ctx, t, rb, "both UPDATEs answered and the update over", func() bool {
			st, ok := sb.Status(headB, "refbot/update")
			return ok && st.State != "pending" && answered(sb, PR, ids...)
		})
		if err := rb.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}

		checkOneCommit(t, sb, later)
		if a, b := sb.Travis.Restarts(sb.BuildID), sb.Travis.Restarts(buildB.ID); a != 0 || b != 1 {
			t.Errorf("CI restarts: first head's build %d, second's %d; want 0 and 1", a, b)
		}
		checkOneAtATime(t, riverJobsOfKind(t, sb, PR, "comment"))
		r1, r2 := repliesTo(sb, PR, ids[0]), repliesTo(sb, PR, ids[1])
		if len(r1) != 1 || len(r2) != 1 {
			t.Fatalf("replies: %d to the first comment, %d to the second; want 1 each", len(r1), len(r2))
		}
		if body := r1[0].Body; !strings.Contains(body, "a newer UPDATE") && !strings.Contains(body, short(headB)) {
			t.Errorf("the first UPDATE's reply says neither that it was superseded nor that the head moved:\n%s", body)
		}
		if !strings.Contains(r2[0].Body, "✅ CI build") {
			t.Errorf("the second UPDATE's reply:\n%s", r2[0].Body)
		}
		if st, _ := sb.Status(headB, "refbot/update"); st.State != "success" {
			t.Errorf("final status on the new head %s: %s", st.State, st.Description)
		}
		if st, ok := sb.UpdateStatus(); ok && st.State == "success" {
			t.Errorf("the first head got a success status: %s", st.Description)
		}
		checkGitHubAPI(t, sb)
	})
}

// TestMergeDeliveredBeforeItsUpdate: a maintainer says UPDATE and then
// merges, and GitHub delivers the merge first. The PR is merged when the
// UPDATE's job runs, so it is refused (docs/design.md, "Flows": the PR must
// be open), and since no data branch was made before the merge, the reply
// says that the base keeps its data rather than that it was promoted; the
// base branch is unchanged and nothing is left behind.
func TestMergeDeliveredBeforeItsUpdate(t *testing.T) {
	ctx, sb := start(t, true)
	rb := serveFor(ctx, t, sb)
	before := testenv.Git(t, sb.Bare, "rev-parse", "master")
	update := sb.GitHub.Comment(PR, Maintainer, "BUILDBOT: UPDATE")
	sb.GitHub.Merge(PR, Maintainer)
	merged := sb.GitHub.PullRequestPayload(PR, "closed", Maintainer)
	for _, d := range []struct{ event, what string }{{"pull_request", "merge"}, {"issue_comment", "UPDATE"}} {
		payload := merged
		if d.event == "issue_comment" {
			payload = update
		}
		if got, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, d.event, payload); err != nil || got.Status != http.StatusOK {
			t.Fatalf("%s delivery: %d, %v", d.what, got.Status, err)
		}
	}
	ids := commandIDs(sb, PR)
	eventually(ctx, t, rb, "the UPDATE answered and the merge handled", func() bool {
		return answered(sb, PR, ids...) && jobsSettled(t, sb, PR)
	})
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	r := repliesTo(sb, PR, ids[0])
	if len(r) != 1 {
		t.Fatalf("%d replies to the UPDATE, want 1", len(r))
	}
	if body := r[0].Body; !strings.Contains(body, "is merged") || !strings.Contains(body, "keeps its reference data") {
		t.Errorf("the UPDATE's reply does not say that the PR is merged and master keeps its data:\n%s", body)
	}
	if n := len(sb.Replies()); n != 1 {
		t.Errorf("%d replies on the PR, want 1 (the UPDATE's; the merge had nothing to promote)", n)
	}
	if after := testenv.Git(t, sb.Bare, "rev-parse", "master"); after != before {
		t.Errorf("master moved from %s to %s", before, after)
	}
	if out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR42"); out != "" {
		t.Error("a data branch was made for a merged PR")
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 0 {
		t.Errorf("CI restarted %d times for a merged PR", n)
	}
	for _, j := range riverJobs(t, sb, PR) {
		if j.State != "completed" || j.Attempt != 1 {
			t.Errorf("job %d (%s): %s after %d attempts, want completed after 1", j.ID, j.Kind, j.State, j.Attempt)
		}
	}
	checkGitHubAPI(t, sb)
}

// TestCloseReopenCloseWithinASecond: a PR closed, reopened and closed again
// within a second, another closed, reopened, closed and reopened. The first
// one's data branch is deleted once, not before the grace period of its
// last close as GitHub reports it; the second's, open at the end, is kept.
// Every close and deletion job ends at its first attempt: no deletion
// fails because another deleted first.
func TestCloseReopenCloseWithinASecond(t *testing.T) {
	const grace = 3 * time.Second
	const other = PR + 1
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb, err := StartWith(ctx, t.TempDir(), Options{ClosedGrace: grace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.GitHub.AddPR(fakegithub.PR{Number: other, HeadSHA: randomSHA(), BaseRef: "master", Author: "contributor",
		Title: "Another change", CreatedAt: openedAt()})
	sb.prs = append(sb.prs, other)
	for _, n := range []int{PR, other} {
		pushDataBranch(t, sb, n)
	}
	rb := serveFor(ctx, t, sb)

	deliver := func(n int, action string) {
		t.Helper()
		switch action {
		case "closed":
			sb.GitHub.ClosePR(n)
		case "reopened":
			sb.GitHub.ReopenPR(n)
		}
		d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, "pull_request", sb.GitHub.PullRequestPayload(n, action, Maintainer))
		if err != nil || d.Status != http.StatusOK {
			t.Fatalf("%s #%d: %d, %v", action, n, d.Status, err)
		}
	}
	// The first close in the middle of a second, the last just after the
	// next one began: GitHub's closed_at of the last close is a second
	// later than the first's.
	for time.Now().Nanosecond() < 400e6 || time.Now().Nanosecond() > 600e6 {
		time.Sleep(10 * time.Millisecond)
	}
	first := time.Now()
	deliver(PR, "closed")
	deliver(other, "closed")
	deliver(PR, "reopened")
	deliver(other, "reopened")
	nextSecond()
	deliver(PR, "closed")
	deliver(other, "closed")
	deliver(other, "reopened")
	t.Logf("closed, reopened and closed within %s", time.Since(first).Round(time.Millisecond))
	lastClose, _ := sb.GitHub.PR(PR)
	due := lastClose.ClosedAt.Truncate(time.Second).Add(grace)

	var gone time.Time
	eventually(ctx, t, rb, "#42's data branch deleted", func() bool {
		if !branchExists(sb, PR) {
			gone = time.Now()
			return true
		}
		return false
	})
	if gone.Before(due) {
		t.Errorf("#42's data branch deleted by %s, before the grace period of its last close ended (%s)",
			gone.Format(time.StampMilli), due.Format(time.StampMilli))
	}
	eventually(ctx, t, rb, "every close and deletion job over", func() bool {
		return jobsSettled(t, sb, PR) && jobsSettled(t, sb, other) && len(riverJobsOfKind(t, sb, other, "delete_branch")) > 0
	})
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !branchExists(sb, other) {
		t.Errorf("#%d's data branch was deleted, though the PR is open", other)
	}
	archives := testenv.Git(t, sb.Bare, "for-each-ref", "--format=%(refname)", "refs/refbot/archive/")
	if n := strings.Count(archives, "PR42"); n != 1 {
		t.Errorf("#42's branch archived %d times, want 1:\n%s", n, archives)
	}
	for _, n := range []int{PR, other} {
		for _, j := range riverJobs(t, sb, n) {
			if j.State != "completed" || j.Attempt != 1 || j.Errors != "" {
				t.Errorf("#%d's job %d (%s): %s after %d attempts, errors %s", n, j.ID, j.Kind, j.State, j.Attempt, j.Errors)
			}
		}
		if r := sb.RepliesOn(n); len(r) != 0 {
			t.Errorf("#%d got replies: %+v", n, r)
		}
	}
	log, _ := os.ReadFile(rb.Log)
	for line := range strings.Lines(string(log)) {
		if (strings.Contains(line, "\tERROR\t") || strings.Contains(line, "\tWARN\t")) && strings.Contains(line, "delet") {
			t.Errorf("refbot logged: %s", line)
		}
	}
	checkGitHubAPI(t, sb)
}

// TestRestartPerformedButAnswered500: Travis restarts the build and
// answers the restart with a 500. refbot does not ask again while the build
// shows it restarted: one restart, and the update completes.
func TestRestartPerformedButAnswered500(t *testing.T) {
	ctx, sb := start(t, true)
	keepReflogs(t, sb)
	sb.Travis.Inject("POST", fmt.Sprintf("/build/%d/restart", sb.BuildID), travistest.Performed(travistest.ServerError(500)))
	rb := serveFor(ctx, t, sb)
	if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
		t.Fatalf("UPDATE: %d, %v", d.Status, err)
	}
	st, err := sb.WaitUpdateDone(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if st.State != "success" {
		t.Errorf("final status %s: %s", st.State, st.Description)
	}
	var restarts []int
	for i, r := range sb.Travis.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/restart") {
			restarts = append(restarts, i)
		}
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 1 || len(restarts) != 1 {
		t.Errorf("build restarted %d times, %d restart requests; want 1 and 1 (the 500 came after the restart)", n, len(restarts))
	}
	checkOneCommit(t, sb, DemoOutputs)
	if r := sb.Replies(); len(r) != 1 || !strings.Contains(r[0].Body, "✅ CI build") {
		t.Errorf("replies: %+v", r)
	}
	checkGitHubAPI(t, sb)
}

// TestRateLimitOutlastsTheJob: GitHub refuses the UPDATE's reply with a
// rate limit that resets after the job's own deadline (jobs.timeout). The
// job is put off until the reset (snoozed: not failed, no attempt used up)
// and then completes from the step it had reached: no second push, no
// second restart. No request reaches GitHub between the refusal and the
// reset.
func TestRateLimitOutlastsTheJob(t *testing.T) {
	const jobTimeout = 8 * time.Second
	for _, tc := range []struct {
		name      string
		kind      fakegithub.FaultKind
		status    int
		secondary bool
	}{
		{"primary, 403 until x-ratelimit-reset", fakegithub.PrimaryRateLimit, http.StatusForbidden, false},
		{"secondary, 429 with retry-after", fakegithub.SecondaryRateLimit, http.StatusTooManyRequests, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			sb, err := StartWith(ctx, t.TempDir(), Options{JobTimeout: jobTimeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sb.Close)
			if _, err := sb.Upload(ctx, refbotBin, DemoOutputs); err != nil {
				t.Fatal(err)
			}
			keepReflogs(t, sb)
			rb := serveFor(ctx, t, sb)
			// The limit lasts longer than a whole run of the job may,
			// whenever in the run the refusal comes: the first reply is
			// created after the push and the CI restart.
			fault := fakegithub.Fault{Kind: tc.kind, Status: tc.status, Method: "POST",
				Route: "/repos/{owner}/{repo}/issues/{issue_number}/comments"}
			reset := time.Now().Add(jobTimeout + 4*time.Second).Truncate(time.Second) // x-ratelimit-reset is in seconds
			if tc.secondary {
				fault.RetryAfter = jobTimeout + 4*time.Second // whole seconds, as the header says it
			} else {
				fault.Reset = reset
			}
			sb.GitHub.Inject(fault)
			if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
				t.Fatalf("UPDATE: %d, %v", d.Status, err)
			}
			st, err := sb.WaitUpdateDone(ctx, rb)
			if err != nil {
				t.Fatal(err)
			}
			if err := rb.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
			if st.State != "success" {
				t.Errorf("final status %s: %s", st.State, st.Description)
			}

			reqs := sb.GitHub.Requests()
			refused := -1
			for i, r := range reqs {
				if r.Status == tc.status {
					refused = i
					break
				}
			}
			if refused < 0 {
				t.Fatal("GitHub never refused a request: the fault was not hit")
			}
			if tc.secondary {
				reset = reqs[refused].Time.Add(fault.RetryAfter)
			}
			if d := reset.Sub(reqs[refused].Time); d <= jobTimeout {
				t.Fatalf("the limit lasted %s from the refusal, not longer than the job's timeout %s", d, jobTimeout)
			}
			for _, r := range reqs[refused+1:] {
				// A primary limit is its resource's (GraphQL has its
				// own); a secondary one holds every request.
				if r.Login != "" && r.Time.Before(reset) && (tc.secondary || r.Route != "graphql") {
					t.Errorf("%s %s sent at %s, before the limit's end at %s", r.Method, r.Path, r.Time.Format(time.StampMilli),
						reset.Format(time.StampMilli))
				}
			}
			t.Logf("refused at %s; next request at %s; limit ended at %s", reqs[refused].Time.Format(time.StampMilli),
				reqs[min(refused+1, len(reqs)-1)].Time.Format(time.StampMilli), reset.Format(time.StampMilli))
			jobs := riverJobsOfKind(t, sb, PR, "comment")
			if len(jobs) != 1 {
				t.Fatalf("%d comment jobs, want 1: %+v", len(jobs), jobs)
			}
			if j := jobs[0]; j.State != "completed" || j.Attempt != 1 || j.Errors != "" {
				t.Errorf("the UPDATE's job: %s after %d attempts, errors %s; want completed after 1, no error", j.State, j.Attempt, j.Errors)
			}
			checkOneCommit(t, sb, DemoOutputs)
			if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
				t.Errorf("CI restarted %d times, want 1", n)
			}
			if r := sb.Replies(); len(r) != 1 || !strings.Contains(r[0].Body, "✅ CI build") {
				t.Errorf("replies: %+v", r)
			}
			checkGitHubAPI(t, sb)
		})
	}
}

// serveFor starts refbot serve for the test, stopped at its end.
func serveFor(ctx context.Context, t *testing.T, sb *Sandbox) *Refbot {
	t.Helper()
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if rb.Cmd.ProcessState == nil { // not stopped by the test
			rb.Stop(context.Background())
		}
	})
	return rb
}

// eventually waits until ok, checking every 20 ms; when ctx ends first the
// test fails with refbot's log.
func eventually(ctx context.Context, t *testing.T, rb *Refbot, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(rb.Log)
			t.Fatalf("%s: never happened\n%s", what, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// nextSecond sleeps into the next wall-clock second: GitHub's times are
// whole seconds, and refbot orders what it learns by them.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
}

// deliverApart sends issue_comment payloads to refbot, each gap after the
// one before was sent (not answered), and checks that each was accepted.
func deliverApart(ctx context.Context, t *testing.T, sb *Sandbox, gap time.Duration, payloads ...[]byte) {
	t.Helper()
	var wg sync.WaitGroup
	got := make([]fakegithub.Delivery, len(payloads))
	errs := make([]error, len(payloads))
	for i, p := range payloads {
		if i > 0 {
			time.Sleep(gap)
		}
		wg.Go(func() {
			got[i], errs[i] = sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, "issue_comment", p)
		})
	}
	wg.Wait()
	for i := range payloads {
		if errs[i] != nil || got[i].Status != http.StatusOK {
			t.Fatalf("delivery %d: %d, %v", i+1, got[i].Status, errs[i])
		}
	}
}

// commandIDs are the ids of the maintainer's comments on pr, oldest first.
func commandIDs(sb *Sandbox, pr int) []int64 {
	var ids []int64
	for _, c := range sb.GitHub.Comments(pr) {
		if c.User == Maintainer {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// repliesTo returns refbot's replies to comment id: they end with a marker
// naming it.
func repliesTo(sb *Sandbox, pr int, id int64) []fakegithub.Comment {
	var out []fakegithub.Comment
	for _, c := range sb.RepliesOn(pr) {
		if strings.Contains(c.Body, fmt.Sprintf("<!-- refbot:reply %d ", id)) {
			out = append(out, c)
		}
	}
	return out
}

// answered says whether each comment has a reply that is not waiting for
// CI.
func answered(sb *Sandbox, pr int, ids ...int64) bool {
	for _, id := range ids {
		r := repliesTo(sb, pr, id)
		if len(r) == 0 || strings.Contains(r[len(r)-1].Body, "refbot will edit this comment when it finishes") {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func short(sha string) string { return sha[:7] }

// keepReflogs makes the data repo log every update of its refs, so that a
// test can count the commits a branch held.
func keepReflogs(t *testing.T, sb *Sandbox) {
	t.Helper()
	testenv.Git(t, sb.Bare, "config", "core.logAllRefUpdates", "always")
}

// checkOneCommit checks that PR42 was pushed once and is master plus one
// commit holding files (as refbot upload took them, under data/).
func checkOneCommit(t *testing.T, sb *Sandbox, files map[string]string) {
	t.Helper()
	if n := testenv.Git(t, sb.Bare, "rev-list", "--count", "master..PR42"); n != "1" {
		t.Errorf("PR42 is master + %s commits, want 1", n)
	}
	if log := testenv.Git(t, sb.Bare, "reflog", "show", "--format=%H", "refs/heads/PR42"); len(strings.Fields(log)) != 1 {
		t.Errorf("PR42 held %d commits, want 1 (one per distinct content):\n%s", len(strings.Fields(log)), log)
	}
	for name, want := range files {
		if got := testenv.Git(t, sb.Bare, "show", "PR42:data/"+name); got != strings.TrimRight(want, "\n") {
			t.Errorf("PR42:data/%s = %q, want %q", name, got, want)
		}
	}
}

// checkOneAtATime checks that the last runs of jobs, which hold the same
// PR's lease, did not overlap.
func checkOneAtATime(t *testing.T, jobs []riverJob) {
	t.Helper()
	if len(jobs) < 2 {
		t.Fatalf("%d jobs, want 2 or more: %+v", len(jobs), jobs)
	}
	for i, a := range jobs {
		for _, b := range jobs[i+1:] {
			if a.AttemptedAt.Before(b.FinalizedAt) && b.AttemptedAt.Before(a.FinalizedAt) {
				t.Errorf("jobs %d and %d of one PR ran at once: %s–%s and %s–%s", a.ID, b.ID,
					a.AttemptedAt.Format(time.StampMilli), a.FinalizedAt.Format(time.StampMilli),
					b.AttemptedAt.Format(time.StampMilli), b.FinalizedAt.Format(time.StampMilli))
			}
		}
	}
}

// checkGitHubAPI checks that refbot kept to GitHub's API description.
func checkGitHubAPI(t *testing.T, sb *Sandbox) {
	t.Helper()
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}

func branchExists(sb *Sandbox, pr int) bool {
	out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", fmt.Sprintf("refs/heads/PR%d", pr))
	return out != ""
}

// pushDataBranch gives pr a data branch, as an UPDATE would have: master
// plus one commit.
func pushDataBranch(t *testing.T, sb *Sandbox, pr int) {
	t.Helper()
	work := t.TempDir()
	env := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org"}
	for _, args := range [][]string{
		{"clone", "--quiet", sb.Bare, "."},
		{"checkout", "--quiet", "-b", fmt.Sprintf("PR%d", pr)},
	} {
		if out, err := testenv.GitEnv(work, env, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "data", "plots", "line.png"), []byte(fmt.Sprintf("\x89PNG line plot of #%d", pr)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"commit", "--quiet", "-am", fmt.Sprintf("Update reference data for PR #%d", pr)},
		{"push", "--quiet", "origin", fmt.Sprintf("PR%d", pr)},
	} {
		if out, err := testenv.GitEnv(work, env, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

// riverJob is one of refbot's jobs as River keeps it.
type riverJob struct {
	ID      int64
	Kind    string
	State   string
	Attempt int
	Errors  string // River's errors column; "" when none
	// The start of its last run, and its end.
	AttemptedAt, FinalizedAt time.Time
}

// riverJobs returns pr's jobs, read from refbot's database (SQLite lets a
// reader in while refbot serve holds it).
func riverJobs(t *testing.T, sb *Sandbox, pr int) []riverJob {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(sb.Work, "state", "refbot.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, kind, state, attempt, COALESCE(json(errors), ''), attempted_at, finalized_at FROM river_job
		WHERE json_extract(args, '$.pr') = ? ORDER BY id`, pr)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []riverJob
	for rows.Next() {
		var j riverJob
		var attempted, finalized any
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &j.Attempt, &j.Errors, &attempted, &finalized); err != nil {
			t.Fatal(err)
		}
		j.AttemptedAt, j.FinalizedAt = sqliteTime(t, attempted), sqliteTime(t, finalized)
		if j.Errors == "[]" || j.Errors == "null" {
			j.Errors = ""
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sqliteTime reads a time River wrote in SQLite (NULL: the zero time).
func sqliteTime(t *testing.T, v any) time.Time {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return v
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"} {
			if at, err := time.Parse(layout, v); err == nil {
				return at
			}
		}
	}
	t.Fatalf("River's time %v (%T) is not one this test can read", v, v)
	return time.Time{}
}

func riverJobsOfKind(t *testing.T, sb *Sandbox, pr int, kind string) []riverJob {
	t.Helper()
	var out []riverJob
	for _, j := range riverJobs(t, sb, pr) {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

// jobsSettled says whether every job of pr has ended.
func jobsSettled(t *testing.T, sb *Sandbox, pr int) bool {
	t.Helper()
	jobs := riverJobs(t, sb, pr)
	for _, j := range jobs {
		switch j.State {
		case "completed", "cancelled", "discarded":
		default:
			return false
		}
	}
	return len(jobs) > 0
}
