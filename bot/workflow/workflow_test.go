package workflow

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis"
	"github.com/refbot/refbot/travis/travistest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// movingHead is the GitHub client with a PR head that moves to the next of
// heads after each read: a force-push while refbot works.
type movingHead struct {
	GitHubClient
	fake  *fakegithub.Server
	mu    sync.Mutex
	heads []string
}

func (m *movingHead) PullRequest(ctx context.Context, n int) (PullRequest, error) {
	pr, err := m.GitHubClient.PullRequest(ctx, n)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.heads) > 0 {
		m.fake.AddCommit(m.heads[0])
		m.fake.SetHead(n, m.heads[0])
		m.heads = m.heads[1:]
	}
	return pr, err
}

// ghView reads back what refbot did on the fake GitHub.
type ghView struct {
	fake *fakegithub.Server
	head string
}

// replies are refbot's comments on PR 12, oldest first.
func (g ghView) replies() []fakegithub.Comment {
	var out []fakegithub.Comment
	for _, c := range g.fake.Comments(12) {
		if c.User == "refbot" {
			out = append(out, c)
		}
	}
	return out
}

// reply returns refbot's reply to (comment, key) on PR 12.
func (g ghView) reply(comment int64, key string) string {
	for _, c := range g.replies() {
		if strings.Contains(c.Body, marker(comment, key)) {
			return c.Body
		}
	}
	return ""
}

func (g ghView) lastComment() string {
	r := g.replies()
	if len(r) == 0 {
		return ""
	}
	return r[len(r)-1].Body
}

func (g ghView) states() []string {
	var out []string
	for _, s := range g.fake.Statuses(g.head) {
		out = append(out, s.State)
	}
	return out
}

const head = "1111111111111111111111111111111111111111"

type fixture struct {
	bot    *Bot
	gh     ghView
	moving *movingHead
	travis *travistest.Server
	store  *s3cache.Store
	state  *store.Store
	bare   string
	gs     *testenv.GitServer
	build  travistest.Build
	jobs   *fakeJobs
	clock  *testClock
	site   *siteParts // with fixtureOptions.Website
}

// testClock is the time of the fake GitHub and of refbot in a test: real
// time, moved on by tick, so that events a test orders (a push, a comment)
// are seconds apart as GitHub records them.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) tick(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// fakeJobs stands in for the queue, whose CancelPR and scheduling have
// their own tests; settle runs the CI waits it was given, as the queue
// would.
type fakeJobs struct {
	mu        sync.Mutex
	cancelled []int
	deletions map[int]time.Time
	newer     []intake.CommentWork // what NewerSupersedable returns
	waits     []ciWait
	woken     []int // PRs whose CI waits were woken
	websites  []websiteJob
}

// websiteJob is a scheduled website job.
type websiteJob struct {
	pr int
	id int64
	at time.Time
}

func (f *fakeJobs) ScheduleWebsite(_ context.Context, pr int, id int64, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.websites {
		if w.id == id {
			return nil // unique while waiting
		}
	}
	f.websites = append(f.websites, websiteJob{pr, id, at})
	return nil
}

type ciWait struct {
	pr     int
	update int64
}

func (f *fakeJobs) NewerSupersedable(_ context.Context, pr int, comment int64, _ time.Time) ([]intake.CommentWork, error) {
	return f.newer, nil
}

func (f *fakeJobs) ScheduleBranchDeletion(_ context.Context, pr int, at time.Time) error {
	if f.deletions == nil {
		f.deletions = map[int]time.Time{}
	}
	f.deletions[pr] = at
	return nil
}

func (f *fakeJobs) ScheduleCIWait(_ context.Context, pr int, update int64, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.waits {
		if w.update == update {
			return nil // unique while waiting
		}
	}
	f.waits = append(f.waits, ciWait{pr, update})
	return nil
}

func (f *fakeJobs) WakeCIWaits(_ context.Context, pr int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waits {
		if w.pr == pr {
			n++
		}
	}
	f.woken = append(f.woken, pr)
	return n, nil
}

func (f *fakeJobs) WakeMergeWaits(context.Context) (int, error) { return 0, nil }

func (f *fakeJobs) CancelPR(_ context.Context, pr int, keep int64) ([]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, pr)
	var kept []ciWait
	for _, w := range f.waits {
		if w.pr != pr {
			kept = append(kept, w)
		}
	}
	f.waits = kept
	var keptSites []websiteJob
	for _, w := range f.websites {
		if w.pr != pr {
			keptSites = append(keptSites, w)
		}
	}
	f.websites = keptSites
	return []int64{41}, nil
}

func (f *fakeJobs) next() (ciWait, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waits) == 0 {
		return ciWait{}, false
	}
	w := f.waits[0]
	f.waits = f.waits[1:]
	return w, true
}

// settle runs the CI waits scheduled so far until each says it is done,
// as the queue's snoozes would, and returns the first error. It gives up
// after maxPolls polls of one wait.
func (f *fixture) settle(t *testing.T) error {
	t.Helper()
	const maxPolls = 50
	for {
		w, ok := f.jobs.next()
		if !ok {
			return nil
		}
		for polls := 0; ; polls++ {
			again, err := f.bot.WaitCI(context.Background(), w.pr, w.update)
			if err != nil {
				return err
			}
			if again == 0 {
				break
			}
			if polls == maxPolls {
				t.Fatalf("the CI wait of update %d still waits after %d polls", w.update, maxPolls)
			}
			f.clock.tick(time.Second)
		}
	}
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, fixtureOptions{}) }

// fixtureOptions change the fixture: PR 12 from a fork (HeadRepo), and
// GitHub Actions as the CI (the workflow test.yaml) with outputs taken
// from artifacts (ArtifactOutputs) instead of Travis.
type fixtureOptions struct {
	HeadRepo string
	Actions  bool
	Outputs  string // with Actions: artifacts or either (default either)
	// Website sets WEBSITE up (website_test.go) with these limits.
	Website *policy.Limits
	// StopCommand is the docs builder's stop command.
	StopCommand []string
}

func newFixtureWith(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	mc := testenv.MinIO(t)
	cache, err := s3cache.New(ctx, s3cache.Options{Bucket: mc.BucketName(t), Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	gs := testenv.NewGitServer(t)
	bare := gs.CreateSeededRepo(t, "data.git", map[string]string{"data/a.txt": "a\n", "data/b.txt": "b\n", "data/c.txt": "c\n", "data/d.txt": "d\n"})
	clock := &testClock{}
	repo, err := refdata.Open(refdata.Options{URL: gs.URL("data.git"), Token: gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache"),
		Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}

	tv := travistest.NewServer(t)
	tv.AddRepo("octo-org/octo-repo")
	tv.SetAdvanceOnPoll(true)
	build := tv.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: 12, CommitSHA: head, State: "passed"})
	tc, err := travis.New(tv.URL, tv.Token, tv.Client(), travis.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := fakegithub.New(t, fakegithub.WithRepo("octo-org/octo-repo"), fakegithub.WithClock(clock.now))
	fake.AddCommit(head)
	fake.AddPR(fakegithub.PR{Number: 12, HeadSHA: head, BaseRef: "master", Author: "carol", HeadRepo: o.HeadRepo, HeadRef: "fix-plots"})
	fake.SetPermission("alice", "write")
	fake.SetPermission("bob", "read")
	client, err := ghclient.New(ctx, ghclient.Options{APIURL: fake.APIURL(), GraphQLURL: fake.GraphQLURL(),
		Repo: "octo-org/octo-repo", Token: fake.Token(), MutationInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	pc := policy.Config{Cooldowns: map[string]time.Duration{"UPDATE": 10 * time.Minute}}
	if o.Website != nil {
		pc.Verbs = map[string]policy.Limits{"WEBSITE": *o.Website}
	}
	pol := policy.New(pc, client, st, clock.now)
	moving := &movingHead{GitHubClient: GitHubClient{client}, fake: fake}
	jobs := &fakeJobs{}
	var ci CI = TravisCI{Client: tc, Repo: "octo-org/octo-repo"}
	var outputs Outputs
	var checks Checks
	if o.Actions {
		fake.AddWorkflow(".github/workflows/test.yaml", "test")
		ci = ActionsCI{Client: client, Workflows: []string{"test.yaml"}}
		outputs = &ArtifactOutputs{GitHub: client, Store: cache, Repo: "octo-org/octo-repo", Name: "refbot-outputs",
			Either: o.Outputs != "artifacts", WorkDir: t.TempDir()}
		// Check runs are an App's: refbot as the App "refbot-app".
		app, err := fake.AddApp("refbot-app")
		if err != nil {
			t.Fatal(err)
		}
		appClient, err := ghclient.New(ctx, ghclient.Options{APIURL: fake.APIURL(), GraphQLURL: fake.GraphQLURL(),
			Repo: "octo-org/octo-repo", MutationInterval: -1,
			App: &ghclient.App{ID: app.ID, InstallationID: app.InstallationID, PrivateKey: app.PrivateKey}})
		if err != nil {
			t.Fatal(err)
		}
		checks = appClient
	}
	var sp *siteParts
	if o.Website != nil {
		sp = newSiteParts(t, mc, ci, o, fake, tv, clock)
	}
	deps := Deps{GitHub: moving, CI: ci, Outputs: outputs, Checks: checks, Store: cache, Repo: repo, Policy: pol, Jobs: jobs, State: st}
	if sp != nil {
		deps.Site = sp.site
	}
	bot, err := New(Config{WorkDir: t.TempDir(), PollInterval: time.Millisecond, PublicURL: "https://refbot.example.org",
		BotLogin: "refbot"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	bot.now = clock.now
	// The comments of the tests come after the PR was opened, as GitHub
	// records time.
	clock.tick(10 * time.Second)
	gh := ghView{fake: fake, head: head}
	return &fixture{bot: bot, gh: gh, moving: moving, travis: tv, store: cache, state: st, bare: bare, gs: gs, build: build,
		jobs: jobs, clock: clock, site: sp}
}

// bChanged is CI's outputs with one file changed against the data repo.
var bChanged = map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "c.txt": "c\n", "d.txt": "d\n"}

// upload puts CI's outputs for the fixture's build into S3.
func (f *fixture) upload(t *testing.T, commit string, files map[string]string) {
	t.Helper()
	_, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: fmt.Sprint(f.build.ID),
		Source: s3cache.Source{PR: 12}, Commit: commit, Dir: testenv.Tree(t, files)})
	if err != nil {
		t.Fatal(err)
	}
}

var commentSeq int64 = 1000

// comment has user write body on PR 12 now and runs its job, and the CI
// waits it schedules, to the end.
func (f *fixture) comment(t *testing.T, user, body string) error {
	t.Helper()
	if err := f.post(t, user, body); err != nil {
		return err
	}
	return f.settle(t)
}

// post runs the job of a comment user writes on PR 12 now, only.
func (f *fixture) post(t *testing.T, user, body string) error {
	t.Helper()
	commentSeq++
	f.clock.tick(time.Second)
	return f.bot.HandleComment(context.Background(), f.work(user, body))
}

// work is the comment commentSeq by user on PR 12, written now.
func (f *fixture) work(user, body string) intake.CommentWork {
	return intake.CommentWork{Repo: "octo-org/octo-repo", PR: 12, CommentID: commentSeq, Author: user, Body: body,
		URL: fmt.Sprintf("https://github.com/octo-org/octo-repo/pull/12#issuecomment-%d", commentSeq), CreatedAt: f.clock.now()}
}

func (f *fixture) branch(t *testing.T) string {
	out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR12")
	return out
}

var volatile = regexp.MustCompile("`[0-9a-f]{7}`|build `?[0-9]+`?|#[0-9]+ \\([0-9]+\\)")

// replyMarker is the hidden line every reply ends with.
var replyMarker = regexp.MustCompile(`\n\n<!-- refbot:reply -?[0-9]+ [^ ]+ -->\n$`)

// golden compares a rendered reply with testdata/NAME.md (-update rewrites
// it). Commit shas and build ids vary between runs and are masked; the
// hidden marker is checked, then left out.
func golden(t *testing.T, name, got string) {
	t.Helper()
	if !replyMarker.MatchString(got) {
		t.Errorf("reply %s does not end with its marker:\n%s", name, got)
	}
	got = replyMarker.ReplaceAllString(got, "\n")
	got = volatile.ReplaceAllStringFunc(got, func(s string) string {
		switch {
		case strings.HasPrefix(s, "`"):
			return "`SHA`"
		case strings.HasPrefix(s, "build"):
			return "build ID"
		}
		return "#N (ID)"
	})
	path := filepath.Join("testdata", name+".md")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("reply %s (-want +got):\n%s", name, diff)
	}
}

func TestUpdateHappyPath(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "c.txt": "c\n", "d.txt": "d\n", "plots/new.png": "\x89PNG"})
	if err := f.comment(t, "alice", "Looks right.\n\nBUILDBOT: UPDATE\n"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pending", "pending", "success"}, f.gh.states()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := len(f.gh.replies()); n != 1 {
		t.Errorf("%d replies posted, want one (edited in place)", n)
	}
	golden(t, "update-passed", f.gh.lastComment())
	if n := f.travis.Restarts(f.build.ID); n != 1 {
		t.Errorf("CI build restarted %d times, want 1", n)
	}
	msg := testenv.Git(t, f.bare, "log", "-1", "--format=%B", "PR12")
	for _, want := range []string{"Refbot-PR: 12", "Refbot-Commit: " + head, "Refbot-Approved-By: alice", "Refbot-Comment: https://github.com/octo-org/octo-repo/pull/12#issuecomment-"} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message lacks %q:\n%s", want, msg)
		}
	}
	if got := testenv.Git(t, f.bare, "show", "PR12:data/b.txt"); got != "b changed" {
		t.Errorf("data/b.txt on PR12 = %q", got)
	}

	// The same comment again (its job retried after it finished): nothing
	// is done twice.
	commentSeq--
	if err := f.comment(t, "alice", "Looks right.\n\nBUILDBOT: UPDATE\n"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.gh.replies()); n != 1 {
		t.Errorf("a retried job posted another reply (%d)", n)
	}
	if n := f.travis.Restarts(f.build.ID); n != 1 {
		t.Errorf("restarts after a retry = %d, want 1: the command was done", n)
	}

	// A new UPDATE within ten minutes is refused with the time to wait.
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "UPDATE did not run: UPDATE ran on this PR") || !strings.Contains(got, "it can run again in") {
		t.Errorf("cooldown reply = %q", got)
	}
}

func TestUpdateRefusals(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *fixture)
		user   string
		body   string
		golden string
		reply  string // or: text the reply must hold
		// status is the last status, if any: a refusal before the update
		// set its own pending status leaves the head's status alone.
		status  string
		pushed  bool
		restart int
	}{
		{name: "no permission", user: "bob", body: "BUILDBOT: UPDATE", golden: "refusal-permission"},
		{name: "sha is not the head", user: "alice", body: "BUILDBOT: UPDATE abcdef0", reply: "you asked for abcdef0, but the head of this pull request is now 1111111"},
		{name: "closed PR", user: "alice", body: "BUILDBOT: UPDATE", setup: func(t *testing.T, f *fixture) {
			f.gh.fake.Merge(12, "alice")
		}, reply: "this pull request is merged"},
		{name: "no CI build of the head", user: "alice", body: "BUILDBOT: UPDATE", setup: func(t *testing.T, f *fixture) {
			f.gh.fake.AddCommit(strings.Repeat("2", 40))
			f.gh.fake.SetHead(12, strings.Repeat("2", 40))
		}, reply: "CI has no build of the head commit 2222222 yet"},
		{name: "artifacts not uploaded", user: "alice", body: "BUILDBOT: UPDATE", setup: func(t *testing.T, f *fixture) {},
			reply: "has no outputs in the cache"},
		{name: "artifacts of another commit", user: "alice", body: "BUILDBOT: UPDATE", setup: func(t *testing.T, f *fixture) {
			f.upload(t, strings.Repeat("3", 40), map[string]string{"a.txt": "x"})
		}, reply: "it tested commit 333333333333, not 111111111111"},
		{name: "large change", user: "alice", body: "BUILDBOT: UPDATE", setup: func(t *testing.T, f *fixture) {
			f.upload(t, head, map[string]string{"a.txt": "only this\n"})
		}, golden: "refusal-large"},
		{name: "large change confirmed", user: "alice", body: "BUILDBOT: UPDATE --all", setup: func(t *testing.T, f *fixture) {
			f.upload(t, head, map[string]string{"a.txt": "only this\n"})
		}, reply: "passed with the new data", status: "success", pushed: true, restart: 1},
		{name: "head moves while the job runs", user: "alice", body: "BUILDBOT: UPDATE", setup: func(t *testing.T, f *fixture) {
			f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "new\n", "c.txt": "c\n", "d.txt": "d\n"})
			f.moving.heads = []string{strings.Repeat("4", 40)} // after the first read
		}, reply: "the head of the pull request moved from 1111111 to 4444444", status: "failure"},
		{name: "no such variant", user: "alice", body: "BUILDBOT: UPDATE variant=windows", setup: func(t *testing.T, f *fixture) {
			f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "new\n", "c.txt": "c\n", "d.txt": "d\n"})
		}, reply: "has no variant `windows` (it has no variants)"},
		{name: "unknown verb and bad arguments", user: "alice", body: "BUILDBOT: DEPLOY\nBUILDBOT: UPDATE please", golden: "problems"},
		{name: "help", user: "bob", body: "buildbot: help", golden: "help"},
		{name: "website not set up", user: "alice", body: "BUILDBOT: WEBSITE", reply: "WEBSITE is not set up for this repository (refbot's configuration has no website section)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			if err := f.comment(t, tc.user, tc.body); err != nil {
				t.Fatalf("HandleComment: %v", err)
			}
			got := f.gh.lastComment()
			if tc.golden != "" {
				golden(t, tc.golden, got)
			}
			if !strings.Contains(got, tc.reply) {
				t.Errorf("reply %q lacks %q", got, tc.reply)
			}
			states := f.gh.states()
			last := ""
			if len(states) > 0 {
				last = states[len(states)-1]
			}
			if last != tc.status {
				t.Errorf("last status %q, want %q (all: %v)", last, tc.status, states)
			}
			if pushed := f.branch(t) != ""; pushed != tc.pushed {
				t.Errorf("PR12 pushed = %v, want %v", pushed, tc.pushed)
			}
			if n := f.travis.Restarts(f.build.ID); n != tc.restart {
				t.Errorf("restarts = %d, want %d", n, tc.restart)
			}
		})
	}
}

func TestPlanChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "c.txt": "c\n", "plots/new.png": "\x89PNG"})
	if err := f.comment(t, "alice", "BUILDBOT: PLAN"); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan", f.gh.lastComment())
	if f.branch(t) != "" || len(f.gh.states()) != 0 || f.travis.Restarts(f.build.ID) != 0 {
		t.Error("PLAN changed something")
	}
}

// TestStop: STOP cancels the PR's jobs and the CI build refbot restarted
// that is still running; the UPDATE's reply says it was stopped (it no
// longer promises an edit) and its pending status ends; the CI wait, if it
// runs once more, changes nothing.
func TestStop(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	f.travis.SetAdvanceOnPoll(false) // the restarted build keeps running
	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	waiting, ok := f.jobs.next()
	if !ok {
		t.Fatal("the UPDATE scheduled no CI wait")
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "refbot will edit this comment when it finishes") {
		t.Fatalf("reply while CI runs: %q", got)
	}
	if err := f.comment(t, "alice", "BUILDBOT: STOP"); err != nil {
		t.Fatal(err)
	}
	golden(t, "stop", f.gh.lastComment())
	update := f.gh.replies()[0].Body
	if !strings.Contains(update, "Stopped by @alice") || strings.Contains(update, "will edit this comment") {
		t.Errorf("the stopped UPDATE's reply: %q", update)
	}
	if n := f.travis.Cancels(f.build.ID); n != 1 {
		t.Errorf("CI build cancelled %d times, want 1", n)
	}
	if diff := cmp.Diff([]int{12}, f.jobs.cancelled); diff != "" {
		t.Errorf("CancelPR calls (-want +got):\n%s", diff)
	}
	st := f.gh.states()
	if st[len(st)-1] != "error" {
		t.Errorf("statuses %v: want the last to be error (stopped)", st)
	}
	// A CI wait that was already running when STOP came ends without a
	// word.
	f.travis.SetState(f.build.ID, "passed")
	if again, err := f.bot.WaitCI(context.Background(), waiting.pr, waiting.update); err != nil || again != 0 {
		t.Errorf("the stopped update's CI wait: %v, %v", again, err)
	}
	if got := f.gh.replies()[0].Body; got != update || len(f.gh.states()) != len(st) {
		t.Error("the stopped update's CI wait changed its reply or status")
	}
	// Nothing left to stop.
	if err := f.comment(t, "alice", "BUILDBOT: STOP"); err != nil {
		t.Fatal(err)
	}
	if n := f.travis.Cancels(f.build.ID); n != 1 {
		t.Errorf("a second STOP cancelled the build again (%d)", n)
	}
}

func TestSupersedes(t *testing.T) {
	for body, want := range map[string]bool{
		"BUILDBOT: UPDATE": true, "Go!\n\nBUILDBOT: UPDATE": true, "BUILDBOT: UPDATE --all": false, "BUILDBOT: UPDATE variant=linux": false,
		"BUILDBOT: UPDATE abcdef1": false, "BUILDBOT: UPDATE\nBUILDBOT: PLAN": false,
		"BUILDBOT: UPDATE\nBUILDBOT: NOPE": false, "no command": false,
	} {
		if got := Supersedes("")(intake.CommentWork{Body: body}); got != want {
			t.Errorf("Supersedes(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestNeedsLease(t *testing.T) {
	for body, want := range map[string]bool{
		"BUILDBOT: STOP": false, "BUILDBOT: HELP\nBUILDBOT: STATUS": false,
		"BUILDBOT: UPDATE": true, "BUILDBOT: STOP\nBUILDBOT: PLAN": false, "BUILDBOT: UPDATE\nBUILDBOT: STATUS": true,
	} {
		if got := NeedsLease("")(intake.CommentWork{Body: body}); got != want {
			t.Errorf("NeedsLease(%q) = %v, want %v", body, got, want)
		}
	}
}

// TestOverlapNotice: another PR's data branch changes a file this PR's
// update changes too; the reply says so.
func TestOverlapNotice(t *testing.T) {
	f := newFixture(t)
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", f.bare, ".")
	os.WriteFile(filepath.Join(work, "data", "b.txt"), []byte("b from PR 7\n"), 0o644)
	testenv.Git(t, work, "commit", "--quiet", "-am", "PR 7's data")
	testenv.Git(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/PR7")
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: PLAN"); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-overlap", f.gh.lastComment())
	if !strings.Contains(f.gh.lastComment(), "- #7: `data/b.txt`") {
		t.Errorf("the reply does not name PR 7's overlap:\n%s", f.gh.lastComment())
	}
}

func TestStatusReport(t *testing.T) {
	f := newFixture(t)
	// STATUS, like every command but HELP, needs the permission to command.
	if err := f.comment(t, "bob", "BUILDBOT: STATUS"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.gh.lastComment(), "STATUS did not run") {
		t.Errorf("STATUS by a reader: %q", f.gh.lastComment())
	}
	if err := f.comment(t, "alice", "BUILDBOT: STATUS"); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-before", f.gh.lastComment())
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if err := f.comment(t, "alice", "BUILDBOT: STATUS"); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-after", f.gh.lastComment())
}

func TestGaveUpReply(t *testing.T) {
	f := newFixture(t)
	f.bot.GaveUp(context.Background(), intake.CommentWork{PR: 12, CommentID: 77, Author: "alice"}, 8,
		fmt.Errorf("get s3://bucket/1001/MANIFEST.json: connection refused"))
	golden(t, "gave-up", f.gh.lastComment())
	// What failed is in the log, not in a public reply.
	if got := f.gh.lastComment(); strings.Contains(got, "s3://") || strings.Contains(got, "connection refused") {
		t.Errorf("the reply shows the raw error: %s", got)
	}
}

// TestRefusalKeepsCooldown: an UPDATE refused by the large-change guard
// does not start the cooldown; the confirming UPDATE --all runs at once.
func TestRefusalKeepsCooldown(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, map[string]string{"a.txt": "only this\n"})
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.gh.lastComment(), "UPDATE --all") {
		t.Fatalf("want the large-change refusal, got %q", f.gh.lastComment())
	}
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE --all"); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "passed with the new data") {
		t.Errorf("UPDATE --all after a refusal: %q", got)
	}
}

// TestRetryAfterRestart: the job fails after it restarted CI (a reply edit
// hits a GitHub 5xx); its retry neither restarts CI again nor loses the
// summary of what the first attempt changed.
func TestRetryAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.upload(t, head, bChanged)
	// The reply is created, edited once (restarting), then the edit after
	// the restart fails.
	f.gh.fake.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "PATCH",
		Route: "/repos/{owner}/{repo}/issues/comments/{comment_id}", Count: 1})
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
	got := f.gh.lastComment()
	if !strings.Contains(got, "modified `data/b.txt`") || strings.Contains(got, "nothing was pushed") {
		t.Errorf("the retry's reply lost the summary:\n%s", got)
	}
	if len(f.gh.replies()) != 1 {
		t.Errorf("%d replies, want 1", len(f.gh.replies()))
	}
}

func TestCacheStatus(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// The fixture's build of the head has passed and uploaded nothing: the
	// data already fits.
	st, build, err := f.bot.CacheStatus(ctx, 12, head, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "success" || !strings.Contains(st.Description, "no data change needed") || build != fmt.Sprint(f.build.ID) {
		t.Errorf("passed without outputs: %+v, build %s", st, build)
	}
	// A failed build that uploaded nothing: failure, re-run it.
	failed := strings.Repeat("8", 40)
	f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: 12, CommitSHA: failed, State: "failed"})
	if st, _, _ := f.bot.CacheStatus(ctx, 12, failed, false, false); st.State != "failure" || !strings.Contains(st.Description, "uploaded no outputs") {
		t.Errorf("failed without outputs: %+v", st)
	}
	f.upload(t, head, map[string]string{"a.txt": "a\n"})
	st, _, _ = f.bot.CacheStatus(ctx, 12, head, false, false)
	if st.State != "success" || st.Context != "s3-reference-data-cache" || !strings.Contains(st.Description, "no data branch yet") ||
		st.TargetURL != "https://refbot.example.org/pr/12" {
		t.Errorf("cached: %+v", st)
	}
	if st, _, _ = f.bot.CacheStatus(ctx, 12, head, false, true); !strings.Contains(st.Description, "its data branch PR12") {
		t.Errorf("cached, with a data branch: %+v", st)
	}
	other := strings.Repeat("9", 40)
	st, _, _ = f.bot.CacheStatus(ctx, 12, other, false, false)
	if st.State != "pending" || !strings.Contains(st.Description, "Waiting for CI to build 9999999") {
		t.Errorf("no build: %+v", st)
	}
	f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", PullRequestNumber: 12, CommitSHA: other, State: "started"})
	st, _, _ = f.bot.CacheStatus(ctx, 12, other, false, false)
	if st.State != "pending" || !strings.Contains(st.Description, "is started") {
		t.Errorf("CI running: %+v", st)
	}
}

// TestOverlapBothSides: an UPDATE whose files another PR's data branch also
// changes says so in its reply and final status, and tells the other PR.
func TestOverlapBothSides(t *testing.T) {
	f := newFixture(t)
	f.gh.fake.AddPR(fakegithub.PR{Number: 7})
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", f.bare, ".")
	os.WriteFile(filepath.Join(work, "data", "b.txt"), []byte("b from PR 7\n"), 0o644)
	testenv.Git(t, work, "commit", "--quiet", "-am", "PR 7's data")
	testenv.Git(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/PR7")
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if got := f.gh.lastComment(); !strings.Contains(got, "- #7: `data/b.txt`") {
		t.Errorf("reply: %q", got)
	}
	sts := f.gh.fake.Statuses(head)
	if last := sts[len(sts)-1]; last.State != "success" || !strings.Contains(last.Description, "same files as #7") {
		t.Errorf("final status: %+v", last)
	}
	if c := f.gh.fake.Comments(7); len(c) != 1 || !strings.Contains(c[0].Body, "the data branch of #12 now also changes `data/b.txt`") {
		t.Errorf("PR 7's comments: %+v", c)
	}
}

// TestSuperseded: a plain UPDATE with a newer one queued by someone who may
// command answers with a link to it and leaves the work to it; a newer one
// by someone who may not, or a retry of an UPDATE that already replied,
// runs.
func TestSuperseded(t *testing.T) {
	newer := func(author string) intake.CommentWork {
		return intake.CommentWork{Repo: "octo-org/octo-repo", PR: 12, CommentID: 9999, Author: author, Body: "BUILDBOT: UPDATE",
			URL: "https://github.com/octo-org/octo-repo/pull/12#issuecomment-9999"}
	}
	t.Run("by a maintainer", func(t *testing.T) {
		f := newFixture(t)
		f.upload(t, head, bChanged)
		f.gh.fake.SetPermission("dave", "maintain")
		f.jobs.newer = []intake.CommentWork{newer("bob"), newer("dave")} // newest first; bob may not command
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		golden(t, "superseded", f.gh.lastComment())
		if f.branch(t) != "" || len(f.gh.states()) != 0 || f.travis.Restarts(f.build.ID) != 0 {
			t.Error("a superseded UPDATE changed something")
		}
		// Its cooldown is the newer UPDATE's to take.
		f.jobs.newer = nil
		if err := f.comment(t, "dave", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if f.branch(t) == "" {
			t.Errorf("the newer UPDATE did not run: %s", f.gh.lastComment())
		}
	})
	t.Run("by someone who may not command", func(t *testing.T) {
		f := newFixture(t)
		f.upload(t, head, bChanged)
		f.jobs.newer = []intake.CommentWork{newer("bob")}
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if f.branch(t) == "" {
			t.Errorf("an outsider's comment stopped the UPDATE: %s", f.gh.lastComment())
		}
	})
	t.Run("a retry that already replied", func(t *testing.T) {
		f := newFixture(t)
		f.upload(t, head, bChanged)
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		f.jobs.newer = []intake.CommentWork{newer("alice")}
		commentSeq-- // the same comment's job, retried
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
			t.Fatal(err)
		}
		if got := f.gh.lastComment(); !strings.Contains(got, "✅ CI build") {
			t.Errorf("the retried UPDATE's reply: %s", got)
		}
	})
}
