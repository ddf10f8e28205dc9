package workflow

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/reconcile"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis/travistest"
)

const testWorkflow = ".github/workflows/test.yaml"

// artifactZip is what a fork's workflow uploads: the outputs laid out by
// PrepareArtifact (as `refbot upload --artifact` does), zipped the way
// actions/upload-artifact zips a folder. extra entries (name → content)
// are added as they are, to make a hostile artifact.
func artifactZip(t *testing.T, files map[string]string, extra map[string]string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "artifact")
	if _, err := s3cache.PrepareArtifact(context.Background(), s3cache.PrepareRequest{Dir: testenv.Tree(t, files), Out: out,
		Build: "1", Commit: head, PR: 999, Repo: "evil/lies"}); err != nil {
		t.Fatal(err)
	}
	zipped, err := testenv.ZipFolder(out, extra)
	if err != nil {
		t.Fatal(err)
	}
	return zipped
}

// finishedRun adds a run of PR 12's head that ended with conclusion and
// uploaded zip as its artifact (none when zip is nil).
func (f *fixture) finishedRun(t *testing.T, zip []byte, conclusion string) fakegithub.Run {
	t.Helper()
	fake := f.gh.fake
	run := fake.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 12})
	fake.StartRun(run.ID)
	if zip != nil {
		fake.AddArtifact(run.ID, "refbot-outputs", zip)
	}
	fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: conclusion})
	run, _ = fake.Run(run.ID)
	return run
}

// A fork's PR on GitHub Actions, from the artifact to the data branch: the
// cache status takes the artifact into S3 with the API's provenance (not
// the artifact's lies), UPDATE pushes it and re-runs the run, and the CI
// wait reads the old attempt's final state as old until the re-run shows.
func TestActionsForkUpdateFromArtifact(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
	ctx := context.Background()
	fake := f.gh.fake
	run := f.finishedRun(t, artifactZip(t, bChanged, nil), "failure")
	id := strconv.FormatInt(run.ID, 10)

	st, build, err := f.bot.CacheStatus(ctx, 12, head, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "success" || build != id || !strings.Contains(st.Description, "are cached") {
		t.Errorf("cache status = %+v for build %q, want success for run %s", st, build, id)
	}
	got, err := f.store.Open(ctx, id, s3cache.Want{Source: s3cache.Source{PR: 12}, Commit: head})
	if err != nil {
		t.Fatalf("the run's outputs are not in S3: %v", err)
	}
	m := got.Manifests[""]
	if m.Repo != "octo-org/octo-repo" || m.PR != 12 || m.Commit != head || m.Attempt != 1 || m.Provider != "github-actions" || m.Build != id {
		t.Errorf("manifest provenance = repo %q pr %d commit %q attempt %d provider %q build %q, want the API's",
			m.Repo, m.PR, m.Commit, m.Attempt, m.Provider, m.Build)
	}
	downloads := fake.Downloads()
	if _, _, err := f.bot.CacheStatus(ctx, 12, head, true, false); err != nil {
		t.Fatal(err)
	}
	if fake.Downloads() != downloads {
		t.Error("the artifact was downloaded again although S3 holds this attempt's outputs")
	}

	fake.SetRerunLag(3)
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" {
		t.Fatalf("nothing pushed; the reply:\n%s", f.gh.lastComment())
	}
	if got := testenv.Git(t, f.bare, "show", "PR12:data/b.txt"); got != "b changed" {
		t.Errorf("data/b.txt on PR12 = %q", got)
	}
	if got := fake.Reruns(run.ID); !slices.Equal(got, []string{"all"}) {
		t.Errorf("re-runs asked = %v, want [all]", got)
	}
	w, ok := f.jobs.next()
	if !ok {
		t.Fatal("no CI wait scheduled")
	}
	// GitHub has not carried the re-run out yet: the run still shows the
	// first attempt, failed. That is not the re-run's result.
	for range 2 {
		again, err := f.bot.WaitCI(ctx, w.pr, w.update)
		if err != nil || again == 0 {
			t.Fatalf("WaitCI = %v, %v; want to wait for the re-run", again, err)
		}
	}
	fake.StartRun(run.ID)
	fake.AddArtifact(run.ID, "refbot-outputs", artifactZip(t, bChanged, nil))
	fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: "success"})
	if again, err := f.bot.WaitCI(ctx, w.pr, w.update); err != nil || again != 0 {
		t.Fatalf("WaitCI after the re-run = %v, %v; want done", again, err)
	}
	if states := f.gh.states(); states[len(states)-1] != "success" {
		t.Errorf("update statuses %v, want the last success", states)
	}
	reply := f.gh.lastComment()
	if !strings.Contains(reply, "attempt 2") || !strings.Contains(reply, "passed") {
		t.Errorf("reply does not say attempt 2 passed:\n%s", reply)
	}
	checks := fake.CheckRuns(head)
	if len(checks) != 1 || checks[0].Conclusion != "success" || checks[0].ExternalID == "" || !strings.Contains(checks[0].Summary, "Added") {
		t.Errorf("check runs = %+v, want one, completed success, with the summary", checks)
	}
}

// What the cache status says when a fork's run left nothing refbot can
// take: never to re-run a build that cannot upload, and an unsafe artifact
// is refused before anything reaches S3.
func TestActionsArtifactProblems(t *testing.T) {
	tests := []struct {
		name        string
		zip         func(t *testing.T) []byte
		expire      bool
		state, says string
		reply       string // what STATUS says
	}{
		{name: "no artifact", zip: func(*testing.T) []byte { return nil }, state: "failure",
			says: "no refbot-outputs artifact; the workflow must upload one", reply: "uploaded no `refbot-outputs` artifact"},
		{name: "expired", zip: func(t *testing.T) []byte { return artifactZip(t, bChanged, nil) }, expire: true, state: "failure",
			says: "artifact expired; re-run it", reply: "has expired"},
		{name: "zip slip", zip: func(t *testing.T) []byte { return artifactZip(t, bChanged, map[string]string{"../../etc/x": "x"}) },
			state: "failure", says: "unusable: a path refbot never writes", reply: "hold a path refbot never writes"},
		{name: "a file the manifest lacks", zip: func(t *testing.T) []byte { return artifactZip(t, bChanged, map[string]string{"data/extra.txt": "x"}) },
			state: "failure", says: "unusable", reply: "extra.txt\" is in the zip but not in MANIFEST.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
			ctx := context.Background()
			fake := f.gh.fake
			run := fake.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 12})
			fake.StartRun(run.ID)
			if z := tc.zip(t); z != nil {
				a := fake.AddArtifact(run.ID, "refbot-outputs", z)
				if tc.expire {
					fake.ExpireArtifact(a.ID)
				}
			}
			fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: "failure"})
			st, _, err := f.bot.CacheStatus(ctx, 12, head, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tc.state || !strings.Contains(st.Description, tc.says) || strings.Contains(st.Description, "re-run it") != tc.expire {
				t.Errorf("cache status = %s %q, want %s saying %q", st.State, st.Description, tc.state, tc.says)
			}
			if _, err := f.store.Open(ctx, strconv.FormatInt(run.ID, 10), s3cache.Want{}); !strings.Contains(errString(err), "not found") {
				t.Errorf("S3 holds something of the run: %v", err)
			}
			// STATUS says the same, in words.
			if err := f.comment(t, "alice", "BUILDBOT: STATUS"); err != nil {
				t.Fatal(err)
			}
			if reply := f.gh.lastComment(); !strings.Contains(reply, tc.reply) {
				t.Errorf("STATUS reply does not say %q:\n%s", tc.reply, reply)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// On Travis (outputs through S3 only), a fork's PR whose build uploaded
// nothing is told why, not to re-run it.
func TestForkCannotUploadToS3(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo"})
	f.bot.cfg.OutputsFromS3Only = true
	failed := "3333333333333333333333333333333333333333"
	f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: 12, CommitSHA: failed, State: "failed"})
	st, _, err := f.bot.CacheStatus(context.Background(), 12, failed, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "failure" || !strings.Contains(st.Description, "fork's CI cannot upload") || strings.Contains(st.Description, "re-run") {
		t.Errorf("cache status = %s %q", st.State, st.Description)
	}
}

// A workflow_run delivery of a fork's run names no pull request: the PR is
// found from the head repository, branch and commit, its CI wait woken and
// its cache status set; when two open PRs share that head, refbot does
// nothing rather than guess.
func TestCIEventFindsTheForkPR(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true})
	ctx := context.Background()
	run := f.finishedRun(t, nil, "success")
	type set struct {
		pr   int
		head string
		fork bool
	}
	var sets []set
	setStatus := func(_ context.Context, pr int, head string, fork bool) error {
		sets = append(sets, set{pr, head, fork})
		return nil
	}
	ev := intake.CIEvent{RunID: run.ID, Attempt: 1, Workflow: testWorkflow, RunEvent: "pull_request", HeadSHA: head,
		HeadBranch: "fix-plots", HeadRepo: "carol/octo-repo"}
	if err := f.bot.HandleCIEvent(ctx, ev, setStatus); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sets, []set{{12, head, true}}) || !slices.Equal(f.jobs.woken, []int{12}) {
		t.Errorf("statuses set %v, waits woken %v; want #12's", sets, f.jobs.woken)
	}

	// Another open PR from the same fork branch: ambiguous.
	f.gh.fake.AddPR(fakegithub.PR{Number: 14, HeadSHA: head, BaseRef: "release", HeadRepo: "carol/octo-repo", HeadRef: "fix-plots"})
	sets, f.jobs.woken = nil, nil
	if err := f.bot.HandleCIEvent(ctx, ev, setStatus); err != nil {
		t.Fatal(err)
	}
	if len(sets) != 0 || len(f.jobs.woken) != 0 {
		t.Errorf("acted on an ambiguous run: statuses %v, woken %v", sets, f.jobs.woken)
	}

	// A head move told by pull_request: the status at once.
	sets = nil
	if err := f.bot.HandleCIEvent(ctx, intake.CIEvent{PR: 12, HeadSHA: head, Fork: true}, setStatus); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sets, []set{{12, head, true}}) {
		t.Errorf("statuses set %v", sets)
	}
}

// nullRecorder takes what a reconcile pass records and queues nothing.
type nullRecorder struct{}

func (nullRecorder) Record(context.Context, intake.Delivery) (intake.Outcome, error) {
	return intake.Recorded, nil
}

// TestActionsRequestCounts measures, at the fake GitHub, what refbot asks of
// GitHub with Actions as the CI provider: a reconcile pass over 500 open
// PRs whose runs passed (the first pass, which sets every cache status, and
// a quiet one after it), and one UPDATE of a fork's PR from its artifact to
// the end of its CI wait. It fails when a quiet pass grows past the
// figures docs/design.md gives; the counts are logged (go test -v).
func TestActionsRequestCounts(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true})
	ctx := context.Background()
	fake := f.gh.fake
	for n := 100; n < 599; n++ {
		sha := strings.Repeat("0", 40-len(strconv.Itoa(n))) + strconv.Itoa(n)
		fake.AddCommit(sha)
		fake.AddPR(fakegithub.PR{Number: n, HeadSHA: sha, BaseRef: "master"})
		run := fake.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: n})
		fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: "success"})
	}
	forkRun := f.finishedRun(t, artifactZip(t, bChanged, nil), "failure") // PR 12, the fork's
	client, err := ghclient.New(ctx, ghclient.Options{APIURL: fake.APIURL(), GraphQLURL: fake.GraphQLURL(),
		Repo: "octo-org/octo-repo", Token: fake.Token(), MutationInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(reconcile.Options{Repo: "octo-org/octo-repo", BotLogin: "refbot", GitHub: client, Recorder: nullRecorder{},
		Store: f.state, HasCommand: func(string) bool { return false },
		DataBranches: func(context.Context) (map[int]bool, error) { return map[int]bool{}, nil },
		CacheStatus: func(ctx context.Context, pr ghclient.PRSummary, hasBranch bool) (ghclient.Status, string, error) {
			st, build, err := f.bot.CacheStatus(ctx, pr.Number, pr.HeadSHA, pr.IsFork, hasBranch)
			return ghclient.Status(st), build, err
		}})
	count := func(what string, do func()) int {
		fake.ResetRequests()
		do()
		n := fake.RequestCount()
		byRoute := map[string]int{}
		for _, r := range fake.Requests() {
			byRoute[r.Method+" "+r.Route]++
		}
		t.Logf("%s: %d requests to GitHub %v", what, n, byRoute)
		return n
	}
	pass := func() {
		if _, err := rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first := count("first reconcile pass over 500 open PRs (every cache status set)", pass)
	quiet := count("quiet reconcile pass over 500 open PRs", pass)
	if quiet > 6 {
		t.Errorf("a quiet pass cost %d requests, more than the 6 docs/design.md gives", quiet)
	}
	// A head never seen: its run, its jobs, its artifacts, the status; and
	// the comments of a PR the reconciler had not read yet.
	if first > 500*5+20 {
		t.Errorf("the first pass cost %d requests, more than 5 a PR", first)
	}
	update := count("one UPDATE of a fork's PR, from its artifact to the end of the CI wait", func() {
		if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		// GitHub runs the re-run; the fork's CI passes and uploads again.
		fake.StartRun(forkRun.ID)
		fake.AddArtifact(forkRun.ID, "refbot-outputs", artifactZip(t, bChanged, nil))
		fake.CompleteRun(forkRun.ID, fakegithub.Job{Name: "test", Conclusion: "success"})
		if err := f.settle(t); err != nil {
			t.Fatal(err)
		}
	})
	if update > 40 {
		t.Errorf("one UPDATE cost %d requests", update)
	}
}

// Anyone can push PR 12's head commit to a fork of their own and open a PR
// of it: that fork's newer run is not PR 12's build, and its artifact never
// becomes PR 12's outputs.
func TestActionsAnotherForksRunIsNotThePRs(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
	ctx := context.Background()
	fake := f.gh.fake
	carols := f.finishedRun(t, artifactZip(t, bChanged, nil), "failure")
	fake.AddPR(fakegithub.PR{Number: 14, HeadSHA: head, BaseRef: "master", HeadRepo: "mallory/octo-repo", HeadRef: "evil"})
	mallorys := fake.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 14})
	fake.StartRun(mallorys.ID)
	fake.AddArtifact(mallorys.ID, "refbot-outputs", artifactZip(t, map[string]string{"a.txt": "owned\n"}, nil))
	fake.CompleteRun(mallorys.ID, fakegithub.Job{Name: "test", Conclusion: "failure"})

	st, build, err := f.bot.CacheStatus(ctx, 12, head, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(carols.ID, 10); build != want || st.State != "success" {
		t.Errorf("cache status of #12 is about build %q (%s %q), want carol's run %s", build, st.State, st.Description, want)
	}
	if _, err := f.store.Open(ctx, strconv.FormatInt(mallorys.ID, 10), s3cache.Want{}); err == nil {
		t.Error("mallory's artifact was taken into S3")
	}
	// #14's own build is mallory's run.
	if _, build, _ := f.bot.CacheStatus(ctx, 14, head, true, false); build != strconv.FormatInt(mallorys.ID, 10) {
		t.Errorf("#14's build = %q, want mallory's run %d", build, mallorys.ID)
	}
}

// An earlier attempt's outputs in S3 are not the re-run's: a re-run that
// uploaded no artifact is said to lack one, not to be cached; and several
// asking at once (the cache status, a CI event, STATUS) all find one copy.
func TestActionsAttemptsAndConcurrentFetches(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
	ctx := context.Background()
	fake := f.gh.fake
	run := f.finishedRun(t, artifactZip(t, bChanged, nil), "failure")
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, err := f.bot.CacheStatus(ctx, 12, head, true, false)
			if err != nil || st.State != "success" {
				errs <- fmt.Sprintf("%s %q %v", st.State, st.Description, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a concurrent cache status: %s", e)
	}
	if n := fake.Downloads(); n != 1 {
		t.Errorf("the artifact was downloaded %d times, want once", n)
	}

	// A re-run whose job uploads nothing, seconds later.
	f.clock.tick(5 * time.Second)
	if err := f.bot.ci.Restart(ctx, strconv.FormatInt(run.ID, 10)); err != nil {
		t.Fatal(err)
	}
	fake.StartRun(run.ID)
	fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: "failure"})
	st, _, err := f.bot.CacheStatus(ctx, 12, head, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "failure" || !strings.Contains(st.Description, "attempt 2: no refbot-outputs artifact") {
		t.Errorf("cache status after a re-run without artifact = %s %q", st.State, st.Description)
	}
}

// The check run's summary is a table of folders named by the build: a "|"
// in a name stays in its cell.
func TestCheckSummaryEscapes(t *testing.T) {
	v := updateData{Branch: "PR12", Commit: head, Build: Build{ID: "7", URL: "https://ci.example/x) [y](z"},
		Changes: changeSummary{Total: 1, Dirs: []dirChange{{Dir: "a|999|0|0", Added: 1}}}}
	got := checkSummary("https://github.com/o/data", v)
	if !strings.Contains(got, "| `a\\|999\\|0\\|0` | 1 | 0 | 0 |") {
		t.Errorf("the folder's pipes are not escaped:\n%s", got)
	}
	if strings.Contains(got, "x) [y](z") {
		t.Errorf("the build's URL is not encoded:\n%s", got)
	}
}

// A check run whose creation GitHub carried out but answered with an
// error is found by its external id, not made twice; and a check run GitHub
// refuses never holds the update back.
func TestCheckRunCreatedOnce(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
	fake := f.gh.fake
	run := f.finishedRun(t, artifactZip(t, bChanged, nil), "failure")
	fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST", Route: "/repos/{owner}/{repo}/check-runs", Applied: true})
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	fake.StartRun(run.ID)
	fake.AddArtifact(run.ID, "refbot-outputs", artifactZip(t, bChanged, nil))
	fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: "success"})
	if err := f.settle(t); err != nil {
		t.Fatal(err)
	}
	checks := fake.CheckRuns(head)
	if len(checks) != 1 || checks[0].Conclusion != "success" {
		t.Errorf("check runs %+v, want one, success", checks)
	}
	if states := f.gh.states(); states[len(states)-1] != "success" {
		t.Errorf("update statuses %v", states)
	}
}

// TestActionsRerunDoneButAnswered5xx: GitHub re-runs the run and then
// answers 502. The re-run is not asked for again: its new attempt is what
// the CI wait follows, and the UPDATE ends with its result, one re-run,
// one reply.
func TestActionsRerunDoneButAnswered5xx(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
	ctx := context.Background()
	fake := f.gh.fake
	run := f.finishedRun(t, artifactZip(t, bChanged, nil), "failure")
	fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: http.StatusBadGateway, Method: "POST",
		Route: "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun", Applied: true})
	// The error is logged, not the job's: the wait finds out what GitHub
	// did.
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" {
		t.Fatalf("nothing pushed; the reply:\n%s", f.gh.lastComment())
	}
	w, ok := f.jobs.next()
	if !ok {
		t.Fatal("no CI wait scheduled")
	}
	fake.StartRun(run.ID)
	fake.AddArtifact(run.ID, "refbot-outputs", artifactZip(t, bChanged, nil))
	fake.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: "success"})
	if again, err := f.bot.WaitCI(ctx, w.pr, w.update); err != nil || again != 0 {
		t.Fatalf("WaitCI after the re-run = %v, %v; want done", again, err)
	}
	if got := fake.Reruns(run.ID); !slices.Equal(got, []string{"all"}) {
		t.Errorf("re-runs asked = %v, want one: GitHub had carried the first out", got)
	}
	if states := f.gh.states(); states[len(states)-1] != "success" {
		t.Errorf("update statuses %v, want the last success", states)
	}
	if r := f.gh.replies(); len(r) != 1 || !strings.Contains(f.gh.lastComment(), "attempt 2") {
		t.Errorf("%d replies, the last:\n%s", len(r), f.gh.lastComment())
	}
}
