package workflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/travis"
	"github.com/refbot/refbot/travis/travistest"
)

// The docs build's side of WEBSITE, on both CI providers against their
// fakes: Travis makes a request's build only a few reads later, GitHub
// dispatches a workflow and may not name the run.

const (
	docsRepo     = "octo-org/octo-repo"
	docsWorkflow = "docs.yaml"
	docsPath     = ".github/workflows/docs.yaml"
	// docsRunName is the example docs workflow's run-name.
	docsRunName = "refbot WEBSITE #${{ inputs.pr }} (${{ inputs.request }})"
)

var (
	docsT0   = time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	docsHead = strings.Repeat("ab", 20)
)

// docsClock is the fakes' clock, moved on by the test.
type docsClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *docsClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *docsClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func docsReq(pr int, marker string) DocsRequest {
	return DocsRequest{PR: pr, SHA: docsHead, Branch: "main", Marker: marker}
}

// travisDocs is a fake Travis with the docs repository and a TravisCI of
// it whose tests require a job the docs build does not have.
func travisDocs(t *testing.T) (*travistest.Server, TravisCI, *docsClock) {
	t.Helper()
	clk := &docsClock{now: docsT0}
	s := travistest.NewServer(t)
	s.AddRepo(docsRepo)
	s.SetClock(clk.Now)
	c, err := travis.New(s.URL, s.Token, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s, TravisCI{Client: c, Repo: docsRepo, RequiredJobs: []string{"tests"}, DocsEnv: map[string]string{"SITE": "preview"}}, clk
}

// actionsDocs is a fake GitHub with the example docs workflow, a test
// workflow without workflow_dispatch, and the branch main; and an
// ActionsCI of it whose tests require a job the docs build does not have.
func actionsDocs(t *testing.T) (*fakegithub.Server, ActionsCI, *docsClock) {
	t.Helper()
	clk := &docsClock{now: docsT0}
	gh := fakegithub.New(t, fakegithub.WithClock(clk.Now), fakegithub.WithRepo(docsRepo))
	gh.AddWorkflow(docsPath, "Docs")
	gh.AddWorkflow(".github/workflows/test.yaml", "Tests")
	gh.SetDispatchable(docsPath, fakegithub.DispatchTrigger{
		Inputs:  []fakegithub.WorkflowInput{{Name: "pr", Required: true}, {Name: "sha", Required: true}, {Name: "request", Required: true}},
		RunName: docsRunName,
	})
	gh.SetBranch("main", strings.Repeat("9", 40))
	c, err := ghclient.New(context.Background(), ghclient.Options{APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(),
		Repo: docsRepo, Token: gh.Token(), MutationInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return gh, ActionsCI{Client: c, Workflows: []string{"test.yaml"}, RequiredJobs: []string{"tests"}, DocsWorkflow: docsWorkflow}, clk
}

// findDocs asks FindDocsBuild up to 5 times, as refbot's wait does, and
// returns how often it answered ErrNoBuild before the build or another
// error.
func findDocs(ci DocsCI, r DocsRequest, tr DocsTrigger, since time.Time) (misses int, b Build, err error) {
	for range 5 {
		b, err = ci.FindDocsBuild(context.Background(), r, tr, since)
		if !errors.Is(err, ErrNoBuild) {
			return misses, b, err
		}
		misses++
	}
	return misses, b, err
}

// TestTravisDocsFind: the build of a docs request is found through the
// request once Travis has made it, or by the marker after a crash; never
// another request's, nor one older than since.
func TestTravisDocsFind(t *testing.T) {
	const marker = "refbot-website-1"
	tests := []struct {
		name string
		// ask makes requests as refbot and others did, and returns the
		// trigger refbot recorded (zero after a crash).
		ask        func(t *testing.T, ci TravisCI, clk *docsClock) DocsTrigger
		reject     bool
		find       DocsRequest
		since      time.Duration // after docsT0
		wantMisses int
		wantErr    error // nil: the build of request 301
		wantMsg    string
	}{
		{
			name: "through the request, once Travis made the build",
			ask: func(t *testing.T, ci TravisCI, _ *docsClock) DocsTrigger {
				return docsTrigger(t, ci, docsReq(7, marker))
			},
			find:       docsReq(7, marker),
			wantMisses: travistest.DefaultRequestLag,
		},
		{
			name: "after a crash, by the marker",
			ask: func(t *testing.T, ci TravisCI, _ *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(7, marker))
				return DocsTrigger{}
			},
			find:       docsReq(7, marker),
			wantMisses: travistest.DefaultRequestLag,
		},
		{
			name: "after a crash, among other requests",
			ask: func(t *testing.T, ci TravisCI, clk *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(7, marker))
				clk.add(time.Minute)
				docsTrigger(t, ci, docsReq(8, "refbot-website-12"))
				docsTrigger(t, ci, DocsRequest{PR: 7, SHA: docsHead, Branch: "gh-pages", Marker: marker})
				return DocsTrigger{}
			},
			find:       docsReq(7, marker),
			wantMisses: travistest.DefaultRequestLag,
		},
		{
			name: "another request's marker is never taken",
			ask: func(t *testing.T, ci TravisCI, _ *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(8, "refbot-website-12"))
				return DocsTrigger{}
			},
			find:       docsReq(7, marker),
			wantMisses: 5,
			wantErr:    ErrNoBuild,
		},
		{
			name: "a trigger of another request is refused",
			ask: func(t *testing.T, ci TravisCI, _ *docsClock) DocsTrigger {
				return docsTrigger(t, ci, docsReq(8, "refbot-website-12"))
			},
			find:    docsReq(7, marker),
			wantErr: errAny,
			wantMsg: "travis request 301 is another",
		},
		{
			name: "a request before since is not taken",
			ask: func(t *testing.T, ci TravisCI, _ *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(7, marker))
				return DocsTrigger{}
			},
			find:       docsReq(7, marker),
			since:      time.Hour,
			wantMisses: 5,
			wantErr:    ErrNoBuild,
		},
		{
			name: "rejected by Travis",
			ask: func(t *testing.T, ci TravisCI, _ *docsClock) DocsTrigger {
				return docsTrigger(t, ci, docsReq(7, marker))
			},
			reject:     true,
			find:       docsReq(7, marker),
			wantMisses: travistest.DefaultRequestLag,
			wantErr:    ErrDocsRefused,
			wantMsg:    "travis rejected request 301 on main (its reason is on https://app.travis-ci.com/github/octo-org/octo-repo/requests",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ci, clk := travisDocs(t)
			s.RejectRequests(tt.reject)
			tr := tt.ask(t, ci, clk)
			misses, got, err := findDocs(ci, tt.find, tr, docsT0.Add(tt.since))
			if misses != tt.wantMisses {
				t.Errorf("%d answers without a build, want %d", misses, tt.wantMisses)
			}
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("err = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := s.Triggers()[0]
			if want.ID != 301 || want.BuildID == 0 || got.ID != strconv.FormatInt(want.BuildID, 10) {
				t.Errorf("found build %s, want the build %d of request %d", got.ID, want.BuildID, want.ID)
			}
			b, _ := s.Build(want.BuildID)
			if b.EventType != "api" || b.Branch != "main" || b.CommitMessage != "refbot WEBSITE for #7 at abababa (refbot-website-1)" {
				t.Errorf("the build made = %+v", b)
			}
		})
	}
}

// errAny stands for an error matching no sentinel in a table.
var errAny = errors.New("any error")

func docsTrigger(t *testing.T, ci DocsCI, r DocsRequest) DocsTrigger {
	t.Helper()
	tr, err := ci.TriggerDocs(context.Background(), r)
	if err != nil {
		t.Fatalf("TriggerDocs(%+v): %v", r, err)
	}
	return tr
}

// TestTravisDocsEnv: the docs build gets refbot's variables and the
// configured ones, merged into env.global; a configured variable in
// refbot's own namespace, or a bad request, sends nothing.
func TestTravisDocsEnv(t *testing.T) {
	s, ci, _ := travisDocs(t)
	tr := docsTrigger(t, ci, docsReq(7, "refbot-website-1"))
	if tr != (DocsTrigger{Request: "301"}) {
		t.Errorf("trigger = %+v, want request 301 and no build yet", tr)
	}
	want := []travistest.Trigger{{
		ID: 301, Repo: docsRepo, Branch: "main", Message: "refbot WEBSITE for #7 at abababa (refbot-website-1)",
		MergeMode: travis.MergeMode,
		Config: map[string]any{"env": map[string]any{"global": []any{
			"REFBOT_WEBSITE_PR=7", "REFBOT_WEBSITE_REQUEST=refbot-website-1", "REFBOT_WEBSITE_SHA=" + docsHead, "SITE=preview",
		}}},
	}}
	if diff := cmp.Diff(want, s.Triggers()); diff != "" {
		t.Errorf("build requests (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name string
		env  map[string]string
		r    DocsRequest
		want string
	}{
		{"refbot's variable configured", map[string]string{"REFBOT_WEBSITE_PR": "9"}, docsReq(7, "refbot-website-2"), "REFBOT_WEBSITE_ variables are refbot's own"},
		{"a short sha", nil, DocsRequest{PR: 7, SHA: "abababa", Branch: "main", Marker: "refbot-website-2"}, "want a full commit sha"},
		{"no marker", nil, docsReq(7, "website-2"), "want refbot-website-<id>"},
		{"no branch", nil, DocsRequest{PR: 7, SHA: docsHead, Marker: "refbot-website-2"}, "want the name of a branch"},
		{"no PR", nil, docsReq(0, "refbot-website-2"), "want a pull request number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.ResetRequests()
			ci := ci
			ci.DocsEnv = tt.env
			if _, err := ci.TriggerDocs(context.Background(), tt.r); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
			if n := len(s.Requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

// TestActionsDocsFind: a dispatch names its run, or the run is found by
// the marker in its title (a GitHub that names none, a crash); never
// another request's, another branch's or workflow's, nor one older than
// since.
func TestActionsDocsFind(t *testing.T) {
	const marker = "refbot-website-1"
	tests := []struct {
		name      string
		noDetails bool
		ask       func(t *testing.T, gh *fakegithub.Server, ci ActionsCI, clk *docsClock) DocsTrigger
		since     time.Duration
		wantID    bool  // the trigger names the build
		wantErr   error // nil: the run of the first dispatch
	}{
		{
			name: "the dispatch names the run",
			ask: func(t *testing.T, _ *fakegithub.Server, ci ActionsCI, _ *docsClock) DocsTrigger {
				return docsTrigger(t, ci, docsReq(7, marker))
			},
			wantID: true,
		},
		{
			name:      "a GitHub that names no run: by the marker",
			noDetails: true,
			ask: func(t *testing.T, _ *fakegithub.Server, ci ActionsCI, _ *docsClock) DocsTrigger {
				return docsTrigger(t, ci, docsReq(7, marker))
			},
		},
		{
			name: "after a crash, among other runs",
			ask: func(t *testing.T, gh *fakegithub.Server, ci ActionsCI, clk *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(7, marker))
				clk.add(time.Minute)
				docsTrigger(t, ci, docsReq(8, "refbot-website-12"))
				gh.AddRun(fakegithub.Run{WorkflowPath: ".github/workflows/test.yaml", Event: "workflow_dispatch", HeadBranch: "main", DisplayTitle: "refbot WEBSITE #7 (refbot-website-1)"})
				gh.AddRun(fakegithub.Run{WorkflowPath: docsPath, Event: "workflow_dispatch", HeadBranch: "gh-pages", DisplayTitle: "refbot WEBSITE #7 (refbot-website-1)"})
				gh.AddRun(fakegithub.Run{WorkflowPath: docsPath, Event: "push", HeadBranch: "main", DisplayTitle: "refbot WEBSITE #7 (refbot-website-1)"})
				return DocsTrigger{}
			},
		},
		{
			name: "another request's marker is never taken",
			ask: func(t *testing.T, _ *fakegithub.Server, ci ActionsCI, _ *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(8, "refbot-website-12"))
				return DocsTrigger{}
			},
			wantErr: ErrNoBuild,
		},
		{
			name: "a run before since is not taken",
			ask: func(t *testing.T, _ *fakegithub.Server, ci ActionsCI, _ *docsClock) DocsTrigger {
				docsTrigger(t, ci, docsReq(7, marker))
				return DocsTrigger{}
			},
			since:   time.Hour,
			wantErr: ErrNoBuild,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh, ci, clk := actionsDocs(t)
			gh.SetDispatchDetails(!tt.noDetails)
			tr := tt.ask(t, gh, ci, clk)
			first := gh.Dispatches()[0].RunID
			if got := tr.BuildID != ""; got != tt.wantID || tr.Request != "" || (got && tr.BuildID != strconv.FormatInt(first, 10)) {
				t.Errorf("trigger = %+v, want the run %d named: %v", tr, first, tt.wantID)
			}
			misses, got, err := findDocs(ci, docsReq(7, marker), tr, docsT0.Add(tt.since))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || misses != 5 {
					t.Errorf("err = %v after %d misses, want %v", err, misses, tt.wantErr)
				}
				return
			}
			if err != nil || misses != 0 {
				t.Fatalf("err = %v after %d misses", err, misses)
			}
			if got.ID != strconv.FormatInt(first, 10) || got.State != "queued" || got.Started || got.Finished {
				t.Errorf("found %+v, want the queued run %d", got, first)
			}
		})
	}

	t.Run("the inputs", func(t *testing.T) {
		gh, ci, _ := actionsDocs(t)
		docsTrigger(t, ci, docsReq(7, marker))
		d := gh.Dispatches()
		want := []fakegithub.Dispatch{{Workflow: docsPath, Ref: "main", RunDetails: true, RunID: d[0].RunID,
			Inputs: map[string]string{"pr": "7", "sha": docsHead, "request": marker}}}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Errorf("dispatches (-want +got):\n%s", diff)
		}
	})
}

// TestActionsDocsRefused: GitHub's refusals of a dispatch say which
// workflow and what to add, and are final.
func TestActionsDocsRefused(t *testing.T) {
	tests := []struct {
		name     string
		workflow string
		branch   string
		want     []string
	}{
		{"no workflow_dispatch trigger", "test.yaml", "main", []string{"docs workflow test.yaml cannot be dispatched on branch main", "`workflow_dispatch:` with the inputs pr, sha and request", "Workflow does not have 'workflow_dispatch' trigger"}},
		{"no such workflow", "site.yaml", "main", []string{"GitHub knows no workflow site.yaml", "add .github/workflows/site.yaml with a workflow_dispatch trigger"}},
		{"no such branch", docsWorkflow, "website", []string{"website must be a branch", "No ref found for: website"}},
		{"no workflow configured", "", "main", []string{"no docs workflow configured (website.workflow)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh, ci, _ := actionsDocs(t)
			ci.DocsWorkflow = tt.workflow
			r := docsReq(7, "refbot-website-1")
			r.Branch = tt.branch
			_, err := ci.TriggerDocs(context.Background(), r)
			if !errors.Is(err, ErrDocsRefused) {
				t.Fatalf("err = %v, want ErrDocsRefused", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to say %q", err, w)
				}
			}
			if d := gh.Dispatches(); len(d) != 0 {
				t.Errorf("dispatched: %+v", d)
			}
		})
	}
}

// TestDocsBuild: a docs build passes when every job of it passed, the
// tests' required jobs notwithstanding; a failed or running one does not.
func TestDocsBuild(t *testing.T) {
	type state struct {
		Started, Finished, Passed bool
		State                     string
	}
	tests := []struct {
		name string
		// travis and actions make the build on each CI.
		travis  func(s *travistest.Server) int64
		actions func(gh *fakegithub.Server) int64
		want    state
	}{
		{
			name: "passed",
			travis: func(s *travistest.Server) int64 {
				return s.AddBuild(travistest.Build{Repo: docsRepo, EventType: "api", State: "passed", Jobs: []travistest.Job{{Name: "docs"}, {Name: "lint", AllowFailure: true, State: "failed"}}}).ID
			},
			actions: func(gh *fakegithub.Server) int64 {
				r := gh.AddRun(fakegithub.Run{WorkflowPath: docsPath, Event: "workflow_dispatch", HeadBranch: "main", Jobs: []fakegithub.Job{{Name: "docs"}}})
				gh.StartRun(r.ID)
				gh.CompleteRun(r.ID)
				return r.ID
			},
			want: state{true, true, true, "passed"},
		},
		{
			name: "failed",
			travis: func(s *travistest.Server) int64 {
				return s.AddBuild(travistest.Build{Repo: docsRepo, EventType: "api", State: "failed", Jobs: []travistest.Job{{Name: "docs", State: "failed"}, {Name: "tests", State: "passed"}}}).ID
			},
			actions: func(gh *fakegithub.Server) int64 {
				r := gh.AddRun(fakegithub.Run{WorkflowPath: docsPath, Event: "workflow_dispatch", HeadBranch: "main", Jobs: []fakegithub.Job{{Name: "docs"}, {Name: "tests"}}})
				gh.StartRun(r.ID)
				gh.CompleteRun(r.ID, fakegithub.Job{Name: "docs", Conclusion: "failure"}, fakegithub.Job{Name: "tests"})
				return r.ID
			},
			want: state{true, true, false, "failed"},
		},
		{
			name: "running",
			travis: func(s *travistest.Server) int64 {
				return s.AddBuild(travistest.Build{Repo: docsRepo, EventType: "api", State: "started"}).ID
			},
			actions: func(gh *fakegithub.Server) int64 {
				r := gh.AddRun(fakegithub.Run{WorkflowPath: docsPath, Event: "workflow_dispatch", HeadBranch: "main"})
				gh.StartRun(r.ID)
				return r.ID
			},
			want: state{true, false, false, "started"},
		},
	}
	for _, tt := range tests {
		t.Run("travis "+tt.name, func(t *testing.T) {
			s, ci, _ := travisDocs(t)
			id := tt.travis(s)
			b, err := ci.DocsBuild(context.Background(), fmt.Sprint(id))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, state{b.Started, b.Finished, b.Passed, b.State}); diff != "" || b.ID != fmt.Sprint(id) {
				t.Errorf("build %s (-want +got):\n%s", b.ID, diff)
			}
		})
		t.Run("actions "+tt.name, func(t *testing.T) {
			gh, ci, _ := actionsDocs(t)
			id := tt.actions(gh)
			b, err := ci.DocsBuild(context.Background(), fmt.Sprint(id))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.State = map[string]string{"passed": "success", "failed": "failure", "started": "in_progress"}[want.State]
			if diff := cmp.Diff(want, state{b.Started, b.Finished, b.Passed, b.State}); diff != "" || b.ID != fmt.Sprint(id) {
				t.Errorf("build %s (-want +got):\n%s", b.ID, diff)
			}
		})
	}

	t.Run("actions: a run of another workflow is no docs build", func(t *testing.T) {
		gh, ci, _ := actionsDocs(t)
		r := gh.AddRun(fakegithub.Run{WorkflowPath: ".github/workflows/test.yaml"})
		if _, err := ci.DocsBuild(context.Background(), fmt.Sprint(r.ID)); err == nil || !strings.Contains(err.Error(), "not of the docs workflow docs.yaml") {
			t.Errorf("err = %v, want a refusal", err)
		}
	})
}

// TestDocsNightlyRunning: only a scheduled build of the branch that has
// not finished counts as the nightly running.
func TestDocsNightlyRunning(t *testing.T) {
	tests := []struct {
		name    string
		travis  travistest.Build // Repo filled in
		actions fakegithub.Run   // WorkflowPath filled in
		want    bool
	}{
		{"cron running", travistest.Build{EventType: "cron", Branch: "main", State: "started"}, fakegithub.Run{Event: "schedule", HeadBranch: "main", Status: "in_progress"}, true},
		{"cron queued", travistest.Build{EventType: "cron", Branch: "main", State: "created"}, fakegithub.Run{Event: "schedule", HeadBranch: "main", Status: "queued"}, true},
		{"cron finished", travistest.Build{EventType: "cron", Branch: "main", State: "passed"}, fakegithub.Run{Event: "schedule", HeadBranch: "main", Status: "completed"}, false},
		{"a push build running", travistest.Build{EventType: "push", Branch: "main", State: "started"}, fakegithub.Run{Event: "push", HeadBranch: "main", Status: "in_progress"}, false},
		{"another branch's cron running", travistest.Build{EventType: "cron", Branch: "release", State: "started"}, fakegithub.Run{Event: "schedule", HeadBranch: "release", Status: "in_progress"}, false},
	}
	for _, tt := range tests {
		t.Run("travis "+tt.name, func(t *testing.T) {
			s, ci, _ := travisDocs(t)
			b := tt.travis
			b.Repo = docsRepo
			id := s.AddBuild(b).ID
			got, ok, err := ci.NightlyRunning(context.Background(), "main")
			if err != nil || ok != tt.want || (ok && got.ID != fmt.Sprint(id)) {
				t.Errorf("NightlyRunning = %s, %v, %v; want build %d: %v", got.ID, ok, err, id, tt.want)
			}
		})
		t.Run("actions "+tt.name, func(t *testing.T) {
			gh, ci, _ := actionsDocs(t)
			r := tt.actions
			r.WorkflowPath = ".github/workflows/test.yaml"
			id := gh.AddRun(r).ID
			got, ok, err := ci.NightlyRunning(context.Background(), "main")
			if err != nil || ok != tt.want || (ok && got.ID != fmt.Sprint(id)) {
				t.Errorf("NightlyRunning = %s, %v, %v; want run %d: %v", got.ID, ok, err, id, tt.want)
			}
		})
	}
}

func TestDocsMarker(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"refbot WEBSITE #7 (refbot-website-1)", true},
		{"refbot-website-1", true},
		{"refbot WEBSITE #7 (refbot-website-12)", false},
		{"refbot WEBSITE #7 (refbot-website-1-2)", false},
		{"xrefbot-website-1 and refbot-website-1.", true},
		{"xrefbot-website-1", false},
		{"", false},
	} {
		if got := hasMarker(tt.text, "refbot-website-1"); got != tt.want {
			t.Errorf("hasMarker(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
