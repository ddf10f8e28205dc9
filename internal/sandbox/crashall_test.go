package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// crashPoints are the failpoints (internal/failpoint) of every job kind,
// in the order a job reaches them, each with the scenario that reaches it.
var crashPoints = []struct {
	point    string
	scenario *crashScenario
}{
	// UPDATE.
	{"answered", crashUpdate},           // the delivery's 200 written, before its job ran
	{"downloaded", crashUpdate},         // outputs downloaded, before the commit is made
	{"update-committed", crashUpdate},   // refdata: the commit made locally, before the push
	{"data-pushed", crashUpdate},        // refdata: pushed, before the local cache knows it
	{"pushed", crashUpdate},             // pushed, before the push is recorded
	{"recorded", crashUpdate},           // the push recorded, before CI is restarted
	{"restarting", crashUpdateCI},       // the restart recorded, before CI is asked
	{"restarted", crashUpdateCI},        // CI asked, before that is recorded
	{"update-ended", crashUpdateCI},     // CI's result recorded, before the final reply
	{"final-replied", crashUpdateCI},    // the final reply, before the final status
	{"reconcile-recorded", crashMissed}, // a missed comment recorded by the pass
	{"reconcile-passing", crashMissed},  // the pass done, before it is recorded
	// Merge: promotion, then the other PRs' branches rebased.
	{"promote-committed", crashMerge}, // refdata: the promotion commit made, before the push
	{"promoted", crashMerge},          // pushed to master, before it is recorded
	{"merge-restarting", crashMerge},  // the post-merge build's restart recorded, before CI is asked
	{"merge-restarted", crashMerge},   // CI asked, before that is recorded
	{"branch-deleted", crashMerge},    // the PR's data branch deleted, before that is recorded
	{"merge-replied", crashMerge},     // the merge reply, before the other branches are rebased
	{"rebase-committed", crashMerge},  // refdata: another PR's branch rebased locally, before the push
	{"rebased", crashMerge},           // that branch pushed, before the merge is recorded done
	// WEBSITE.
	{"website-triggering", crashWebsite}, // the slot taken, before CI is asked for the docs build
	{"website-triggered", crashWebsite},  // CI accepted the request, before it is recorded
	{"website-publishing", crashWebsite}, // the docs build passed, before the copy to the preview
	{"publish-copying", crashWebsite},    // s3cache: in the middle of the copy
	{"publish-marked", crashWebsite},     // s3cache: the marker written, before the old pages go
	{"website-published", crashWebsite},  // published and recorded, before the reply
}

// crashScenario is a job refbot is killed in: it starts from a sandbox
// shared by the scenario's points (each runs on a pull request of its own)
// and checks that after the restart the job was done exactly once.
type crashScenario struct {
	name    string
	options Options
	// patch, if set, is made to the sandbox's configuration.
	patch [2]string
	run   func(ctx context.Context, t *testing.T, c *crashSandbox, pr int, point string)
}

var (
	crashUpdate = &crashScenario{name: "UPDATE", run: runCrashUpdate}
	// The same, in a sandbox of its own to run beside the first points.
	crashUpdateCI = &crashScenario{name: "UPDATE CI", run: runCrashUpdate}
	crashMissed   = &crashScenario{name: "missed UPDATE", run: runCrashUpdate}
	crashMerge    = &crashScenario{name: "merge", run: runCrashMerge}
	crashWebsite  = &crashScenario{name: "WEBSITE", options: Options{WebsiteHold: time.Second},
		// No hold and no daily cap: each point's WEBSITE runs at once.
		patch: [2]string{"WEBSITE: {hold: 1s}", "WEBSITE: {hold: 0s, max_per_day: 0}"}, run: runCrashWebsite}
)

// crashSandbox is a sandbox that the points of one scenario share, one
// after another.
type crashSandbox struct {
	*Sandbox
	patch [2]string
}

// TestCrashAtEachFailpoint kills `refbot serve` with SIGKILL at each
// failpoint (crashPoints) and starts it again; each time the job is done
// exactly once: one push of the data (the data repo's reflog), at most one
// CI restart per approval, one reply per command, the right final status.
// The points of one scenario share a sandbox, each on a PR of its own;
// the scenarios run at once, whatever -parallel says: they wait on timers
// (GitHub's pacing of writes, CI polls), hardly on the CPU.
func TestCrashAtEachFailpoint(t *testing.T) {
	var scenarios []*crashScenario
	points := map[*crashScenario][]string{}
	for _, p := range crashPoints {
		if points[p.scenario] == nil {
			scenarios = append(scenarios, p.scenario)
		}
		points[p.scenario] = append(points[p.scenario], p.point)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, s := range scenarios {
		wg.Go(func() { t.Run(s.name, func(t *testing.T) { runCrashScenario(t, s, 100*(i+1), points[s]) }) })
	}
}

// runCrashScenario runs scenario s at each of points, on PRs first, first+1 ….
func runCrashScenario(t *testing.T, s *crashScenario, first int, points []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := StartWith(ctx, t.TempDir(), s.options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	// Every ref update of the data repo is logged: the pushes
	// are counted.
	testenv.Git(t, sb.Bare, "config", "core.logAllRefUpdates", "always")
	c := &crashSandbox{Sandbox: sb, patch: s.patch}
	for j, point := range points {
		t.Run(point, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s.run(ctx, t, c, first+j, point)
		})
	}
}

// serve starts refbot serve with the scenario's configuration.
func (c *crashSandbox) serve(ctx context.Context, t *testing.T, env ...string) *Refbot {
	t.Helper()
	for {
		if err := c.patchConfig(); err != nil {
			t.Fatal(err)
		}
		rb, err := c.Serve(ctx, refbotBin, env...)
		if err != nil {
			t.Fatal(err)
		}
		if c.patched() {
			return rb
		}
		// Serve chose another port and wrote the configuration anew.
		if err := rb.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *crashSandbox) patchConfig() error {
	if c.patch[0] == "" || c.patched() {
		return nil
	}
	b, err := os.ReadFile(c.Config)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), c.patch[0]) {
		return fmt.Errorf("the configuration has no %q to patch:\n%s", c.patch[0], b)
	}
	return os.WriteFile(c.Config, []byte(strings.Replace(string(b), c.patch[0], c.patch[1], 1)), 0o600)
}

func (c *crashSandbox) patched() bool {
	b, _ := os.ReadFile(c.Config)
	return c.patch[0] == "" || strings.Contains(string(b), c.patch[1])
}

// armed starts refbot serve armed with point, having told the refbot
// before it of every PR (their openings are deliveries too).
func (c *crashSandbox) armed(ctx context.Context, t *testing.T, point string) *Refbot {
	t.Helper()
	rb := c.serve(ctx, t)
	if err := rb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return c.serve(ctx, t, "REFBOT_FAILPOINT="+point)
}

// restart starts refbot serve again once its failpoint point killed it,
// and stops it when the test ends.
func (c *crashSandbox) restart(ctx context.Context, t *testing.T, rb *Refbot, point string) *Refbot {
	t.Helper()
	diesAt(ctx, t, rb, point)
	// diesAt received the end of the process: its state is set.
	if ws, ok := rb.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		log, _ := os.ReadFile(rb.Log)
		t.Fatalf("refbot serve ended (%v), not killed at %s\n%s", rb.Cmd.ProcessState, point, log)
	}
	rb = c.serve(ctx, t)
	t.Cleanup(func() {
		if err := rb.Stop(context.Background()); err != nil {
			t.Errorf("refbot serve did not stop cleanly: %v", err)
		}
	})
	return rb
}

// waitUntil waits until ok, or fails the test with what and refbot's log.
func waitUntil(ctx context.Context, t *testing.T, rb *Refbot, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(rb.Log)
			t.Fatalf("%s never happened\n%s", what, log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// finalStatus waits for sha's newest status of context to be final.
func (c *crashSandbox) finalStatus(ctx context.Context, t *testing.T, rb *Refbot, sha, context string) fakegithub.Status {
	t.Helper()
	var st fakegithub.Status
	waitUntil(ctx, t, rb, "a final "+context+" status", func() bool {
		var ok bool
		st, ok = c.Status(sha, context)
		return ok && st.State != "pending"
	})
	return st
}

// pushes counts the updates of ref in the data repo (its reflog, which
// the test turned on).
func pushes(t *testing.T, sb *Sandbox, ref string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sb.Bare, "logs", ref))
	if os.IsNotExist(err) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// checkGitHub fails the test on each breach of GitHub's API description.
func (c *crashSandbox) checkGitHub(t *testing.T) {
	t.Helper()
	for _, v := range c.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}

// crashOutputs are the outputs of pr's build: the reference data as it
// is, plus a plot of the PR's own (a file no other PR touches, so that
// the PRs sharing a sandbox do not overlap).
func crashOutputs(pr int) map[string]string {
	out := map[string]string{prPlot(pr): fmt.Sprintf("\x89PNG plot of #%d", pr)}
	for p, content := range DemoData {
		if rest, ok := strings.CutPrefix(p, "data/"); ok {
			out[rest] = content
		}
	}
	return out
}

func prPlot(pr int) string { return fmt.Sprintf("plots/pr%d.png", pr) }

// runCrashUpdate: an UPDATE on pr, delivered by the webhook or, for the
// reconciler's points, commented while refbot was down and found by the
// reconcile pass at start.
func runCrashUpdate(ctx context.Context, t *testing.T, c *crashSandbox, pr int, point string) {
	build, err := c.AddPR(ctx, refbotBin, pr, crashOutputs(pr))
	if err != nil {
		t.Fatal(err)
	}
	missed := strings.HasPrefix(point, "reconcile-")
	rb := c.serve(ctx, t)
	if err := rb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if missed {
		c.GitHub.AddComment(pr, Maintainer, "BUILDBOT: UPDATE")
	}
	rb = c.serve(ctx, t, "REFBOT_FAILPOINT="+point)
	if !missed {
		// Even when refbot dies right after answering, GitHub gets the
		// whole answer first.
		if d, err := c.CommentOn(ctx, pr, "BUILDBOT: UPDATE"); err != nil || d.Status != 200 {
			t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
		}
	}
	rb = c.restart(ctx, t, rb, point)

	if st := c.finalStatus(ctx, t, rb, build.CommitSHA, "refbot/update"); st.State != "success" {
		t.Errorf("final status %s: %s", st.State, st.Description)
	}
	branch := fmt.Sprintf("PR%d", pr)
	if n := testenv.Git(t, c.Bare, "rev-list", "--count", "master.."+branch); n != "1" {
		t.Errorf("%s is master + %s commits, want 1", branch, n)
	}
	if got, want := testenv.Git(t, c.Bare, "show", branch+":data/"+prPlot(pr)), crashOutputs(pr)[prPlot(pr)]; got != want {
		t.Errorf("%s lacks the build's data: %q", branch, got)
	}
	if n := pushes(t, c.Sandbox, "refs/heads/"+branch); n != 1 {
		t.Errorf("%s was pushed %d times, want 1", branch, n)
	}
	if n := c.Travis.Restarts(build.ID); n != 1 {
		t.Errorf("CI build restarted %d times, want 1", n)
	}
	if r := c.RepliesOn(pr); len(r) != 1 {
		t.Errorf("refbot posted %d replies, want 1: %+v", len(r), r)
	} else if !strings.Contains(r[0].Body, "passed") {
		t.Errorf("the reply does not tell CI's result:\n%s", r[0].Body)
	}
	c.checkGitHub(t)
}

// runCrashMerge: pr, whose data branch holds one new plot, is merged while
// its post-merge build runs; another PR (pr+50) has a data branch that the
// promotion leaves behind master, to be rebased.
func runCrashMerge(ctx context.Context, t *testing.T, c *crashSandbox, pr int, point string) {
	other := pr + 50
	for _, n := range []int{pr, other} {
		head := randomSHA()
		c.GitHub.AddCommit(head)
		c.GitHub.AddPR(fakegithub.PR{Number: n, HeadSHA: head, BaseRef: "master", Author: "contributor",
			Title: fmt.Sprintf("Change %d", n), CreatedAt: openedAt()})
		c.dataBranch(t, n, head)
	}
	branch, otherBranch := fmt.Sprintf("PR%d", pr), fmt.Sprintf("PR%d", other)
	before := testenv.Git(t, c.Bare, "rev-parse", "master")
	masterPushes, otherPushes := pushes(t, c.Sandbox, "refs/heads/master"), pushes(t, c.Sandbox, "refs/heads/"+otherBranch)
	rb := c.serve(ctx, t, "REFBOT_FAILPOINT="+point)
	mergeSHA := c.GitHub.Merge(pr, Maintainer)
	post := c.Travis.AddBuild(travistest.Build{Repo: Repo, Branch: "master", EventType: "push", CommitSHA: mergeSHA,
		State: "started", StartedAt: time.Now().Add(-time.Minute)})
	payload := c.GitHub.PullRequestPayload(pr, "closed", Maintainer)
	if d, err := c.GitHub.Deliver(ctx, c.URL()+"/webhook", WebhookSecret, "pull_request", payload); err != nil || d.Status != 200 {
		t.Fatalf("merge delivery: status %d, %v; want 200", d.Status, err)
	}
	rb = c.restart(ctx, t, rb, point)

	// The reply comes before the rebase: wait for both.
	waitUntil(ctx, t, rb, "the merge's reply and the other branch's rebase", func() bool {
		r := c.RepliesOn(pr)
		out, _ := testenv.GitEnv(c.Bare, nil, "rev-parse", otherBranch+"^", "master")
		parent, master, _ := strings.Cut(out, "\n")
		return len(r) > 0 && strings.Contains(r[len(r)-1].Body, "was deleted") && parent == master
	})
	if n := testenv.Git(t, c.Bare, "rev-list", "--count", before+"..master"); n != "1" {
		t.Errorf("master got %s commits, want 1", n)
	}
	if n := pushes(t, c.Sandbox, "refs/heads/master") - masterPushes; n != 1 {
		t.Errorf("master was pushed %d times, want 1", n)
	}
	if got, want := testenv.Git(t, c.Bare, "show", "master:data/"+prPlot(pr)), fmt.Sprintf("plot of #%d", pr); got != want {
		t.Errorf("master lacks the PR's data: %q", got)
	}
	if out, _ := testenv.GitEnv(c.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); out != "" {
		t.Errorf("%s was not deleted", branch)
	}
	if n := pushes(t, c.Sandbox, "refs/heads/"+otherBranch) - otherPushes; n != 1 {
		t.Errorf("%s was rebased %d times, want 1", otherBranch, n)
	}
	if n := testenv.Git(t, c.Bare, "rev-list", "--count", "master.."+otherBranch); n != "1" {
		t.Errorf("%s is master + %s commits, want 1", otherBranch, n)
	}
	if n := c.Travis.Restarts(post.ID); n != 1 {
		t.Errorf("post-merge build restarted %d times, want 1", n)
	}
	if r := c.RepliesOn(pr); len(r) != 1 {
		t.Errorf("refbot posted %d replies on the merged PR, want 1: %+v", len(r), r)
	} else if !strings.Contains(r[0].Body, fmt.Sprintf("post-merge build %d was restarted", post.ID)) {
		t.Errorf("merge reply:\n%s", r[0].Body)
	}
	if r := c.RepliesOn(other); len(r) != 0 {
		t.Errorf("refbot posted %d replies on the other PR, want none: %+v", len(r), r)
	}
	c.checkGitHub(t)
}

// dataBranch makes pr's data branch by hand, as an UPDATE of head would
// have: master plus one commit adding the PR's plot.
func (c *crashSandbox) dataBranch(t *testing.T, pr int, head string) {
	t.Helper()
	file := filepath.Join(c.Work, fmt.Sprintf("plot-%d", pr))
	if err := os.WriteFile(file, []byte(fmt.Sprintf("plot of #%d", pr)), 0o644); err != nil {
		t.Fatal(err)
	}
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(c.Work, fmt.Sprintf("index-%d", pr))}
	git := func(args ...string) string {
		t.Helper()
		out, err := testenv.GitEnv(c.Bare, index, args...)
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	blob := git("hash-object", "-w", file)
	git("read-tree", "master")
	git("update-index", "--add", "--cacheinfo", "100644,"+blob+",data/"+prPlot(pr))
	tree := git("write-tree")
	msg := fmt.Sprintf("Update reference data for PR #%d from build 1\n\nRefbot-PR: %d\nRefbot-Build: 1\nRefbot-Commit: %s\nRefbot-Approved-By: %s\n",
		pr, pr, head, Maintainer)
	commit := git("commit-tree", tree, "-p", "master", "-m", msg)
	git("update-ref", fmt.Sprintf("refs/heads/PR%d", pr), commit)
}

// runCrashWebsite: a WEBSITE on pr; the project's CI makes the docs
// build once refbot asked for it (for the points before the request is
// recorded, only after the restart: Travis makes a build of a request a
// while after accepting it).
func runCrashWebsite(ctx context.Context, t *testing.T, c *crashSandbox, pr int, point string) {
	build, err := c.AddPR(ctx, refbotBin, pr, crashOutputs(pr))
	if err != nil {
		t.Fatal(err)
	}
	site := map[string]string{"index.html": fmt.Sprintf("<h1>docs of #%d</h1>", pr), "_static/style.css": "h1 {}\n"}
	n := len(c.Travis.Triggers()) + 1 // this WEBSITE's docs build request
	docs := make(chan error, 1)
	docsBuild := func() {
		go func() {
			_, err := c.DocsBuild(ctx, refbotBin, n, site)
			docs <- err
		}()
	}
	rb := c.armed(ctx, t, point)
	if d, err := c.CommentOn(ctx, pr, "BUILDBOT: WEBSITE"); err != nil || d.Status != 200 {
		t.Fatalf("delivery: status %d, %v; want 200", d.Status, err)
	}
	early := point == "website-triggering" || point == "website-triggered"
	if !early {
		docsBuild()
	}
	rb = c.restart(ctx, t, rb, point)
	if early {
		// CI makes the build once refbot, back, has looked for it.
		waitUntil(ctx, t, rb, "the restarted refbot following the docs build", func() bool {
			log, _ := os.ReadFile(rb.Log)
			return strings.Contains(string(log), "website: follow the docs build")
		})
		if got := len(c.Travis.Triggers()); got != n {
			t.Fatalf("%d docs build requests for this WEBSITE, want 1", got-n+1)
		}
		docsBuild()
	}
	if err := <-docs; err != nil {
		t.Fatal(err)
	}

	if st := c.finalStatus(ctx, t, rb, build.CommitSHA, "refbot/website"); st.State != "success" {
		t.Errorf("final status %s: %s", st.State, st.Description)
	}
	checkSite(t, c.Sandbox, site)
	if got := len(c.Travis.Triggers()); got != n {
		t.Errorf("%d docs build requests for this WEBSITE, want 1", got-n+1)
	}
	if r := c.RepliesOn(pr); len(r) != 1 {
		t.Errorf("refbot posted %d replies, want 1: %+v", len(r), r)
	} else if !strings.Contains(r[0].Body, "published at **") {
		t.Errorf("reply:\n%s", r[0].Body)
	}
	c.checkGitHub(t)
}
