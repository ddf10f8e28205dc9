package fakegithub

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v89/github"
)

// gh is a go-github client of the fake acting with token.
func gh(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(github.WithAuthToken(token), github.WithEnterpriseURLs(s.APIURL(), s.APIURL()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sha(b byte) string { return strings.Repeat(string(b), 40) }

// status is the HTTP status of a go-github call's answer, 0 without one.
func status(resp *github.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// actionsFixture is a fake with a workflow, a pull request from a branch
// of the repository (7) and one from a fork (8).
func actionsFixture(t *testing.T) (*Server, *clock, Workflow) {
	t.Helper()
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now), WithRepo("octo-org/project"))
	wf := s.AddWorkflow(".github/workflows/test.yaml", "test")
	s.AddPR(PR{Number: 7, Author: "alice", HeadSHA: sha('a'), HeadRef: "fix-7"})
	s.AddPR(PR{Number: 8, Author: "mallory", HeadRepo: "mallory/project", HeadRef: "master", HeadSHA: sha('b')})
	return s, clk, wf
}

// installationToken asks the fake for an installation token of app, as
// refbot does, limited to repos when given.
func installationToken(t *testing.T, s *Server, clk *clock, app App, opts *github.InstallationTokenOptions) (string, *github.Response, error) {
	t.Helper()
	if opts == nil {
		opts = &github.InstallationTokenOptions{} // go-github would send null, which GitHub's description refuses
	}
	jwt := signJWT(t, app, clk.Now().Add(-30*time.Second), clk.Now().Add(5*time.Minute))
	tok, resp, err := gh(t, s, jwt).Apps.CreateInstallationToken(context.Background(), app.InstallationID, opts)
	if err != nil {
		return "", resp, err
	}
	return tok.GetToken(), resp, nil
}

func runIDs(runs *github.WorkflowRuns) []int64 {
	var out []int64
	for _, r := range runs.WorkflowRuns {
		out = append(out, r.GetID())
	}
	return out
}

func TestActionsRoutes(t *testing.T) {
	ctx := context.Background()
	s, clk, wf := actionsFixture(t)
	api := gh(t, s, s.Token())
	owner, repo := "octo-org", "project"

	a := s.AddRun(Run{WorkflowPath: wf.Path, PR: 7, Jobs: []Job{{Name: "build"}, {Name: "test"}}})
	clk.Add(time.Minute)
	b := s.AddRun(Run{WorkflowPath: wf.Path, PR: 8})
	clk.Add(time.Minute)
	push := s.AddRun(Run{WorkflowPath: wf.Path})
	clk.Add(time.Minute)
	other := s.AddWorkflow(".github/workflows/lint.yaml", "lint")
	lint := s.AddRun(Run{WorkflowPath: other.Path, PR: 7})
	s.StartRun(a.ID)
	clk.Add(time.Minute)
	s.CompleteRun(a.ID, Job{Name: "build"}, Job{Name: "test", Conclusion: "failure"})

	t.Run("workflows", func(t *testing.T) {
		got, _, err := api.Actions.ListWorkflows(ctx, owner, repo, nil)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, w := range got.Workflows {
			paths = append(paths, w.GetPath()+" "+w.GetName()+" "+w.GetState())
		}
		want := []string{".github/workflows/test.yaml test active", ".github/workflows/lint.yaml lint active"}
		if diff := cmp.Diff(want, paths); diff != "" || got.GetTotalCount() != 2 {
			t.Errorf("workflows (-want +got):\n%s total %d", diff, got.GetTotalCount())
		}
	})

	lists := []struct {
		name string
		file string // "" lists the repository's runs
		opts github.ListWorkflowRunsOptions
		want []int64
	}{
		{"all, newest first", "", github.ListWorkflowRunsOptions{}, []int64{lint.ID, push.ID, b.ID, a.ID}},
		{"by head sha", "", github.ListWorkflowRunsOptions{HeadSHA: sha('a')}, []int64{lint.ID, a.ID}},
		{"by event", "", github.ListWorkflowRunsOptions{Event: "push"}, []int64{push.ID}},
		{"by branch", "", github.ListWorkflowRunsOptions{Branch: "fix-7"}, []int64{lint.ID, a.ID}},
		{"by status", "", github.ListWorkflowRunsOptions{Status: "completed"}, []int64{a.ID}},
		{"by conclusion", "", github.ListWorkflowRunsOptions{Status: "failure"}, []int64{a.ID}},
		{"queued", "", github.ListWorkflowRunsOptions{Status: "queued"}, []int64{lint.ID, push.ID, b.ID}},
		{"by actor", "", github.ListWorkflowRunsOptions{Actor: "mallory"}, []int64{b.ID}},
		{"of a workflow by file name", "test.yaml", github.ListWorkflowRunsOptions{}, []int64{push.ID, b.ID, a.ID}},
		{"of a workflow by file name and sha", "lint.yaml", github.ListWorkflowRunsOptions{HeadSHA: sha('a')}, []int64{lint.ID}},
		{"a page", "", github.ListWorkflowRunsOptions{ListOptions: github.ListOptions{PerPage: 3, Page: 2}}, []int64{a.ID}},
	}
	for _, tt := range lists {
		t.Run(tt.name, func(t *testing.T) {
			var got *github.WorkflowRuns
			var err error
			if tt.file == "" {
				got, _, err = api.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, &tt.opts)
			} else {
				got, _, err = api.Actions.ListWorkflowRunsByFileName(ctx, owner, repo, tt.file, &tt.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, runIDs(got)); diff != "" {
				t.Errorf("run ids (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("runs of a workflow by id", func(t *testing.T) {
		got, _, err := api.Actions.ListWorkflowRunsByID(ctx, owner, repo, other.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int64{lint.ID}, runIDs(got)); diff != "" {
			t.Errorf("run ids (-want +got):\n%s", diff)
		}
	})

	t.Run("runs of an unknown workflow", func(t *testing.T) {
		_, resp, err := api.Actions.ListWorkflowRunsByFileName(ctx, owner, repo, "nope.yaml", nil)
		if err == nil || status(resp) != http.StatusNotFound {
			t.Errorf("status %d, err %v; want 404", status(resp), err)
		}
	})

	t.Run("get run", func(t *testing.T) {
		r, _, err := api.Actions.GetWorkflowRunByID(ctx, owner, repo, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{
			"attempt": r.GetRunAttempt(), "status": r.GetStatus(), "conclusion": r.GetConclusion(),
			"sha": r.GetHeadSHA(), "branch": r.GetHeadBranch(), "path": r.GetPath(), "workflow": r.GetWorkflowID(),
			"number": r.GetRunNumber(), "event": r.GetEvent(), "repo": r.GetRepository().GetFullName(),
			"head repo": r.GetHeadRepository().GetFullName(), "prs": len(r.PullRequests),
			"pr": r.PullRequests[0].GetNumber(), "pr head": r.PullRequests[0].GetHead().GetSHA(),
			"started": r.GetRunStartedAt().Time, "actor": r.GetActor().GetLogin(),
		}
		want := map[string]any{
			"attempt": 1, "status": "completed", "conclusion": "failure",
			"sha": sha('a'), "branch": "fix-7", "path": wf.Path, "workflow": wf.ID,
			"number": 1, "event": "pull_request", "repo": "octo-org/project",
			"head repo": "octo-org/project", "prs": 1, "pr": 7, "pr head": sha('a'),
			"started": t0.Add(3 * time.Minute), "actor": "alice",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("run (-want +got):\n%s", diff)
		}
		_, resp, err := api.Actions.GetWorkflowRunByID(ctx, owner, repo, 999999)
		if status(resp) != http.StatusNotFound {
			t.Errorf("unknown run: %d %v", status(resp), err)
		}
	})

	t.Run("jobs", func(t *testing.T) {
		jobs, _, err := api.Actions.ListWorkflowJobs(ctx, owner, repo, a.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs.Jobs {
			got = append(got, j.GetName()+" "+j.GetStatus()+" "+j.GetConclusion())
			if j.GetRunID() != a.ID || j.GetRunAttempt() != 1 || j.GetHeadSHA() != sha('a') {
				t.Errorf("job %s: run %d attempt %d sha %s", j.GetName(), j.GetRunID(), j.GetRunAttempt(), j.GetHeadSHA())
			}
		}
		if diff := cmp.Diff([]string{"build completed success", "test completed failure"}, got); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}
		if _, resp, _ := api.Actions.ListWorkflowJobsAttempt(ctx, owner, repo, a.ID, 2, nil); status(resp) != http.StatusNotFound {
			t.Errorf("jobs of an attempt not made: %d, want 404", status(resp))
		}
	})

	t.Run("re-run failed jobs", func(t *testing.T) {
		if _, err := api.Actions.RerunFailedJobsByID(ctx, owner, repo, a.ID); err != nil {
			t.Fatal(err)
		}
		r, _, err := api.Actions.GetWorkflowRunByID(ctx, owner, repo, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.GetRunAttempt() != 2 || r.GetStatus() != "queued" || r.Conclusion != nil {
			t.Errorf("after the re-run: attempt %d %s %v, want 2 queued nil", r.GetRunAttempt(), r.GetStatus(), r.Conclusion)
		}
		latest, _, err := api.Actions.ListWorkflowJobs(ctx, owner, repo, a.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		all, _, err := api.Actions.ListWorkflowJobs(ctx, owner, repo, a.ID, &github.ListWorkflowJobsOptions{Filter: "all"})
		if err != nil {
			t.Fatal(err)
		}
		first, _, err := api.Actions.ListWorkflowJobsAttempt(ctx, owner, repo, a.ID, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		show := func(js *github.Jobs) []string {
			var out []string
			for _, j := range js.Jobs {
				out = append(out, j.GetName()+"#"+itoa64(j.GetRunAttempt())+" "+j.GetStatus())
			}
			return out
		}
		got := map[string][]string{"latest": show(latest), "all": show(all), "attempt 1": show(first)}
		want := map[string][]string{
			// The build that succeeded is kept from attempt 1.
			"latest":    {"build#1 completed", "test#2 queued"},
			"all":       {"build#1 completed", "test#1 completed", "test#2 queued"},
			"attempt 1": {"build#1 completed", "test#1 completed"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"failed"}, s.Reruns(a.ID)); diff != "" {
			t.Errorf("Reruns (-want +got):\n%s", diff)
		}
	})

	t.Run("re-run of a run in progress", func(t *testing.T) {
		_, err := api.Actions.RerunWorkflowByID(ctx, owner, repo, b.ID)
		var e *github.ErrorResponse
		if !errors.As(err, &e) || e.Response.StatusCode != http.StatusForbidden {
			t.Errorf("err %v, want 403", err)
		}
		if len(s.Reruns(b.ID)) != 0 {
			t.Errorf("a refused re-run was recorded: %v", s.Reruns(b.ID))
		}
	})

	t.Run("cancel", func(t *testing.T) {
		resp, err := api.Actions.CancelWorkflowRunByID(ctx, owner, repo, b.ID)
		var accepted *github.AcceptedError
		if !errors.As(err, &accepted) || status(resp) != http.StatusAccepted {
			t.Fatalf("cancel: %d %v, want 202", status(resp), err)
		}
		r, _ := s.Run(b.ID)
		if r.Status != "completed" || r.Conclusion != "cancelled" {
			t.Errorf("after cancel: %s %s", r.Status, r.Conclusion)
		}
		resp, err = api.Actions.CancelWorkflowRunByID(ctx, owner, repo, b.ID)
		if status(resp) != http.StatusConflict {
			t.Errorf("cancel of a completed run: %d %v, want 409", status(resp), err)
		}
		if s.Cancels(b.ID) != 2 {
			t.Errorf("Cancels = %d, want 2", s.Cancels(b.ID))
		}
	})
}

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestRerunLag: GitHub accepts a re-run at once but shows it later; until
// then the run shows its old attempt and final state.
func TestRerunLag(t *testing.T) {
	ctx := context.Background()
	s, clk, wf := actionsFixture(t)
	api := gh(t, s, s.Token())
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 7})
	s.CompleteRun(r.ID, Job{Name: "build", Conclusion: "failure"})
	s.SetRerunLag(2)
	clk.Add(time.Minute)

	resp, err := api.Actions.RerunWorkflowByID(ctx, "octo-org", "project", r.ID)
	if err != nil || status(resp) != http.StatusCreated {
		t.Fatalf("re-run: %d %v", status(resp), err)
	}
	var seen []string
	for range 4 {
		run, _, err := api.Actions.GetWorkflowRunByID(ctx, "octo-org", "project", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, itoa(run.GetRunAttempt())+" "+run.GetStatus()+" "+run.GetConclusion())
	}
	want := []string{"1 completed failure", "1 completed failure", "2 queued ", "2 queued "}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("attempts read (-want +got):\n%s", diff)
	}
	got, _ := s.Run(r.ID)
	if !got.StartedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("run_started_at of the new attempt %v, want %v", got.StartedAt, t0.Add(time.Minute))
	}
}

// TestDroppedRerun: a re-run GitHub answers 201 for but loses never shows.
func TestDroppedRerun(t *testing.T) {
	ctx := context.Background()
	s, _, wf := actionsFixture(t)
	api := gh(t, s, s.Token())
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 7, Status: "completed", Conclusion: "failure"})
	s.DropReruns(1)
	if resp, err := api.Actions.RerunWorkflowByID(ctx, "octo-org", "project", r.ID); status(resp) != http.StatusCreated {
		t.Fatalf("re-run: %d %v", status(resp), err)
	}
	for range 5 {
		run, _, err := api.Actions.GetWorkflowRunByID(ctx, "octo-org", "project", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.GetRunAttempt() != 1 || run.GetStatus() != "completed" {
			t.Fatalf("a dropped re-run took effect: attempt %d %s", run.GetRunAttempt(), run.GetStatus())
		}
	}
	// Asking again works.
	if _, err := api.Actions.RerunWorkflowByID(ctx, "octo-org", "project", r.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Run(r.ID); got.Attempt != 2 {
		t.Errorf("second re-run: attempt %d, want 2", got.Attempt)
	}
	if diff := cmp.Diff([]string{"all", "all"}, s.Reruns(r.ID)); diff != "" {
		t.Errorf("Reruns (-want +got):\n%s", diff)
	}
}

// TestForkRunHasNoPullRequests: for a fork's run GitHub leaves
// pull_requests empty, in the API and in the workflow_run payload.
func TestForkRunHasNoPullRequests(t *testing.T) {
	s, _, wf := actionsFixture(t)
	c := client{t: t, s: s, token: s.Token()}
	same := s.AddRun(Run{WorkflowPath: wf.Path, PR: 7})
	fork := s.AddRun(Run{WorkflowPath: wf.Path, PR: 8})

	for _, tt := range []struct {
		name     string
		id       int64
		prs      int
		headRepo string
	}{
		{"same repository", same.ID, 1, "octo-org/project"},
		{"fork", fork.ID, 0, "mallory/project"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			api := c.do("GET", "/repos/octo-org/project/actions/runs/"+itoa64(tt.id), nil).json(t)
			var hook any
			if err := json.Unmarshal(s.WorkflowRunPayload(tt.id, "requested"), &hook); err != nil {
				t.Fatal(err)
			}
			for where, v := range map[string]any{"API": api, "payload": field(hook, "workflow_run")} {
				prs, ok := field(v, "pull_requests").([]any)
				if !ok || len(prs) != tt.prs {
					t.Errorf("%s: pull_requests %v, want %d", where, field(v, "pull_requests"), tt.prs)
				}
				if got := field(v, "head_repository.full_name"); got != tt.headRepo {
					t.Errorf("%s: head_repository %v, want %s", where, got, tt.headRepo)
				}
				if got := field(v, "repository.full_name"); got != "octo-org/project" {
					t.Errorf("%s: repository %v", where, got)
				}
			}
		})
	}
	// exclude_pull_requests empties them for anyone.
	c.t = t
	v := c.do("GET", "/repos/octo-org/project/actions/runs/"+itoa64(same.ID)+"?exclude_pull_requests=true", nil).json(t)
	if prs, _ := field(v, "pull_requests").([]any); len(prs) != 0 {
		t.Errorf("exclude_pull_requests: %v", prs)
	}
}

// zipOf builds a zip with the given files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestArtifacts(t *testing.T) {
	ctx := context.Background()
	s, clk, wf := actionsFixture(t)
	api := gh(t, s, s.Token())
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 8})
	s.CompleteRun(r.ID)
	first := s.AddArtifact(r.ID, "refbot-outputs", zipOf(t, map[string]string{"MANIFEST.json": "{}"}))
	logs := s.AddArtifact(r.ID, "logs", zipOf(t, map[string]string{"log.txt": "x"}))

	// A re-run uploads an artifact of the same name: it replaces the first
	// in the listing.
	if _, err := api.Actions.RerunWorkflowByID(ctx, "octo-org", "project", r.ID); err != nil {
		t.Fatal(err)
	}
	body := zipOf(t, map[string]string{"MANIFEST.json": `{"attempt":2}`, "data/a.txt": "a"})
	second := s.AddArtifact(r.ID, "refbot-outputs", body)
	if second.Attempt != 2 || first.Attempt != 1 {
		t.Errorf("attempts %d and %d, want 1 and 2", first.Attempt, second.Attempt)
	}

	list, _, err := api.Actions.ListWorkflowRunArtifacts(ctx, "octo-org", "project", r.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list.Artifacts {
		got = append(got, a.GetName()+" "+itoa64(a.GetID())+" "+itoa64(a.GetSizeInBytes())+" "+itoa64(a.GetWorkflowRun().GetID()))
	}
	want := []string{
		"refbot-outputs " + itoa64(second.ID) + " " + itoa64(int64(len(body))) + " " + itoa64(r.ID),
		"logs " + itoa64(logs.ID) + " " + itoa64(logs.Size) + " " + itoa64(r.ID),
	}
	if diff := cmp.Diff(want, got); diff != "" || list.GetTotalCount() != 2 {
		t.Errorf("artifacts (-want +got):\n%s total %d", diff, list.GetTotalCount())
	}
	c := client{t: t, s: s, token: s.Token()}
	byName := c.do("GET", "/repos/octo-org/project/actions/runs/"+itoa64(r.ID)+"/artifacts?name=logs", nil).json(t)
	if field(byName, "total_count") != 1.0 || field(byName, "artifacts.0.name") != "logs" {
		t.Errorf("filtered by name: %v", byName)
	}

	loc, resp, err := api.Actions.DownloadArtifact(ctx, "octo-org", "project", second.ID, 0)
	if err != nil || status(resp) != http.StatusFound {
		t.Fatalf("download: %d %v", status(resp), err)
	}
	if strings.HasPrefix(loc.String(), s.APIURL()) {
		t.Errorf("blob address %s is inside the API", loc)
	}
	fetch := func(header ...string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", loc.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := fetch("Authorization", "Bearer "+s.Token()); code != http.StatusBadRequest {
		t.Errorf("blob with the GitHub token: %d, want 400", code)
	}
	if s.Downloads() != 0 {
		t.Errorf("Downloads = %d after a refused download", s.Downloads())
	}
	code, got1 := fetch()
	if code != http.StatusOK || !bytes.Equal(got1, body) {
		t.Errorf("blob: %d, %d bytes; want 200 and the zip", code, len(got1))
	}
	if s.Downloads() != 1 {
		t.Errorf("Downloads = %d, want 1", s.Downloads())
	}
	clk.Add(blobTTL)
	if code, _ := fetch(); code != http.StatusForbidden {
		t.Errorf("blob past its expiry: %d, want 403", code)
	}

	s.ExpireArtifact(second.ID)
	_, resp, err = api.Actions.DownloadArtifact(ctx, "octo-org", "project", second.ID, 0)
	if status(resp) != http.StatusGone {
		t.Errorf("expired artifact: %d %v, want 410", status(resp), err)
	}
	list, _, err = api.Actions.ListWorkflowRunArtifacts(ctx, "octo-org", "project", r.ID, nil)
	if err != nil || !list.Artifacts[0].GetExpired() {
		t.Errorf("listing after expiry: %v %v", err, list)
	}
	if _, resp, _ := api.Actions.DownloadArtifact(ctx, "octo-org", "project", 424242, 0); status(resp) != http.StatusNotFound {
		t.Errorf("unknown artifact: %d, want 404", status(resp))
	}
}

func TestCheckRuns(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := actionsFixture(t)
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := installationToken(t, s, clk, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	bot := gh(t, s, tok)
	opts := github.CreateCheckRunOptions{Name: "refbot", HeadSHA: sha('a'), Status: github.Ptr("in_progress"), ExternalID: github.Ptr("pr-7")}

	_, resp, err := gh(t, s, s.Token()).Checks.CreateCheckRun(ctx, "octo-org", "project", opts)
	if status(resp) != http.StatusForbidden || !strings.Contains(err.Error(), "You must authenticate via a GitHub App.") {
		t.Errorf("check run by a personal token: %d %v, want 403", status(resp), err)
	}

	cr, resp, err := bot.Checks.CreateCheckRun(ctx, "octo-org", "project", opts)
	if err != nil || status(resp) != http.StatusCreated {
		t.Fatalf("create: %d %v", status(resp), err)
	}
	if cr.GetApp().GetSlug() != "refbot-app" || cr.GetStatus() != "in_progress" || len(cr.PullRequests) != 1 {
		t.Errorf("created %+v", cr)
	}
	clk.Add(time.Minute)
	upd, _, err := bot.Checks.UpdateCheckRun(ctx, "octo-org", "project", cr.GetID(), github.UpdateCheckRunOptions{
		Name:       "refbot",
		Conclusion: github.Ptr("success"),
		Output:     &github.CheckRunOutput{Title: github.Ptr("3 files added"), Summary: github.Ptr("**variant a**: 3 added")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.GetStatus() != "completed" || upd.GetConclusion() != "success" || !upd.GetCompletedAt().Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("updated %s %s %v", upd.GetStatus(), upd.GetConclusion(), upd.GetCompletedAt())
	}
	// Another run of the same name: "latest" shows only it, "all" both.
	if _, _, err := bot.Checks.CreateCheckRun(ctx, "octo-org", "project", opts); err != nil {
		t.Fatal(err)
	}
	latest, _, err := bot.Checks.ListCheckRunsForRef(ctx, "octo-org", "project", "fix-7", &github.ListCheckRunsOptions{CheckName: github.Ptr("refbot")})
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := bot.Checks.ListCheckRunsForRef(ctx, "octo-org", "project", sha('a'), &github.ListCheckRunsOptions{Filter: github.Ptr("all")})
	if err != nil {
		t.Fatal(err)
	}
	if latest.GetTotal() != 1 || latest.CheckRuns[0].GetID() == cr.GetID() || all.GetTotal() != 2 {
		t.Errorf("latest %d (first %d), all %d", latest.GetTotal(), latest.CheckRuns[0].GetID(), all.GetTotal())
	}
	got := s.CheckRuns(sha('a'))
	want := []CheckRun{
		{ID: cr.GetID(), Name: "refbot", HeadSHA: sha('a'), Status: "completed", Conclusion: "success", ExternalID: "pr-7", Title: "3 files added", Summary: "**variant a**: 3 added", App: "refbot-app"},
		{ID: got[len(got)-1].ID, Name: "refbot", HeadSHA: sha('a'), Status: "in_progress", ExternalID: "pr-7", App: "refbot-app"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckRuns (-want +got):\n%s", diff)
	}
	other, err := s.AddApp("other-app")
	if err != nil {
		t.Fatal(err)
	}
	otherTok, _, err := installationToken(t, s, clk, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, _ := gh(t, s, otherTok).Checks.UpdateCheckRun(ctx, "octo-org", "project", cr.GetID(), github.UpdateCheckRunOptions{Name: "mine"}); status(resp) != http.StatusForbidden {
		t.Errorf("update by another App: %d, want 403", status(resp))
	}
	if _, resp, _ := bot.Checks.CreateCheckRun(ctx, "octo-org", "project", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha('f')}); status(resp) != http.StatusUnprocessableEntity {
		t.Errorf("check run on an unknown commit: %d, want 422", status(resp))
	}
}

// TestAppPermissions: a permission the App lacks makes GitHub answer 403
// to every request that needs it, and only to those.
func TestAppPermissions(t *testing.T) {
	ctx := context.Background()
	s, clk, wf := actionsFixture(t)
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 7})
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	if app.Permissions["checks"] != "write" || app.Permissions["actions"] != "write" {
		t.Fatalf("AddApp permissions %v", app.Permissions)
	}
	app.Permissions["checks"] = "" // the caller's copy; the fake keeps its own
	tok, _, err := installationToken(t, s, clk, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	bot := gh(t, s, tok)
	pat := gh(t, s, s.Token())
	getRun := func(c *github.Client) (*github.Response, error) {
		_, resp, err := c.Actions.GetWorkflowRunByID(ctx, "octo-org", "project", r.ID)
		return resp, err
	}
	createCheck := func(c *github.Client) (*github.Response, error) {
		_, resp, err := c.Checks.CreateCheckRun(ctx, "octo-org", "project", github.CreateCheckRunOptions{Name: "refbot", HeadSHA: sha('a')})
		return resp, err
	}
	getPR := func(c *github.Client) (*github.Response, error) {
		_, resp, err := c.PullRequests.Get(ctx, "octo-org", "project", 7)
		return resp, err
	}
	comment := func(c *github.Client) (*github.Response, error) {
		_, resp, err := c.Issues.CreateComment(ctx, "octo-org", "project", 7, &github.IssueComment{Body: github.Ptr("hi")})
		return resp, err
	}
	steps := []struct {
		name   string
		change func()
		call   func(*github.Client) (*github.Response, error)
		client *github.Client
		status int
	}{
		{"run with actions", nil, getRun, bot, 200},
		{"check run with checks", nil, createCheck, bot, 201},
		{"no actions", func() { s.SetAppPermission(app.InstallationID, "actions", "") }, getRun, bot, 403},
		{"no actions, personal token", nil, getRun, pat, 200},
		{"no actions, check run", nil, createCheck, bot, 201},
		{"checks read only", func() { s.SetAppPermission(app.InstallationID, "checks", "read") }, createCheck, bot, 403},
		{"no pull_requests", func() { s.SetAppPermission(app.InstallationID, "pull_requests", "") }, getPR, bot, 403},
		{"comment with issues", nil, comment, bot, 201},
		{"no issues", func() { s.SetAppPermission(app.InstallationID, "issues", "") }, comment, bot, 403},
		{"comment with pull_requests instead", func() { s.SetAppPermission(app.InstallationID, "pull_requests", "write") }, comment, bot, 201},
		{"actions back", func() { s.SetAppPermission(app.InstallationID, "actions", "read") }, getRun, bot, 200},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		resp, err := st.call(st.client)
		if status(resp) != st.status {
			t.Errorf("%s: %d %v, want %d", st.name, status(resp), err, st.status)
			continue
		}
		if st.status == 403 && !strings.Contains(err.Error(), "Resource not accessible by integration") {
			t.Errorf("%s: %v", st.name, err)
		}
	}
	_, resp, err := bot.Actions.GetWorkflowRunByID(ctx, "octo-org", "project", r.ID)
	if err != nil || resp.Header.Get("X-Accepted-GitHub-Permissions") != "actions=read" {
		t.Errorf("X-Accepted-GitHub-Permissions %q (%v)", resp.Header.Get("X-Accepted-GitHub-Permissions"), err)
	}

	// A token asked for fewer permissions has only those; asking for more
	// than the App holds is refused.
	narrow, _, err := installationToken(t, s, clk, app, &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Statuses: github.Ptr("write")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := getRun(gh(t, s, narrow)); status(resp) != http.StatusForbidden {
		t.Errorf("run by a token without actions: %d, want 403", status(resp))
	}
	_, resp, err = installationToken(t, s, clk, app, &github.InstallationTokenOptions{Permissions: &github.InstallationPermissions{Administration: github.Ptr("write")}})
	if status(resp) != http.StatusUnprocessableEntity {
		t.Errorf("token with more than the App holds: %d %v, want 422", status(resp), err)
	}
}

// TestInstallationTokenForTwoRepositories: one installation token for the
// code repository and the data repository.
func TestInstallationTokenForTwoRepositories(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := actionsFixture(t)
	s.AddRepo("octo-org/project-data")
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	both, _, err := installationToken(t, s, clk, app, &github.InstallationTokenOptions{Repositories: []string{"project", "project-data"}})
	if err != nil {
		t.Fatal(err)
	}
	dataOnly, _, err := installationToken(t, s, clk, app, &github.InstallationTokenOptions{RepositoryIDs: []int64{s.repoID("octo-org/project-data")}})
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := installationToken(t, s, clk, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, err := installationToken(t, s, clk, app, &github.InstallationTokenOptions{Repositories: []string{"elsewhere"}}); status(resp) != http.StatusUnprocessableEntity {
		t.Errorf("token for a repository not installed: %d %v, want 422", status(resp), err)
	}
	issued := s.IssuedTokens()
	if diff := cmp.Diff([]string{"octo-org/project", "octo-org/project-data"}, issued[0].Repositories); diff != "" {
		t.Errorf("IssuedTokens[0].Repositories (-want +got):\n%s", diff)
	}

	allows := map[string]bool{}
	for name, tok := range map[string]string{"both": both, "data only": dataOnly, "all": all, "personal": s.Token(), "unknown": "ghs_nope"} {
		for _, repo := range []string{"octo-org/project", "octo-org/project-data", "octo-org/other"} {
			allows[name+" "+repo] = s.TokenAllows(tok, repo)
		}
	}
	want := map[string]bool{
		"both octo-org/project": true, "both octo-org/project-data": true, "both octo-org/other": false,
		"data only octo-org/project": false, "data only octo-org/project-data": true, "data only octo-org/other": false,
		"all octo-org/project": true, "all octo-org/project-data": true, "all octo-org/other": false,
		"personal octo-org/project": true, "personal octo-org/project-data": true, "personal octo-org/other": true,
		"unknown octo-org/project": false, "unknown octo-org/project-data": false, "unknown octo-org/other": false,
	}
	if diff := cmp.Diff(want, allows); diff != "" {
		t.Errorf("TokenAllows (-want +got):\n%s", diff)
	}

	// The API sees the same: the data-only token does not see the code
	// repository.
	if _, resp, _ := gh(t, s, dataOnly).PullRequests.Get(ctx, "octo-org", "project", 7); status(resp) != http.StatusNotFound {
		t.Errorf("pull request by a data-only token: %d, want 404", status(resp))
	}
	repo, _, err := gh(t, s, dataOnly).Repositories.Get(ctx, "octo-org", "project-data")
	if err != nil {
		t.Fatal(err)
	}
	if repo.GetFullName() != "octo-org/project-data" || repo.GetID() != s.repoID("octo-org/project-data") || !repo.GetPermissions().GetPush() {
		t.Errorf("data repository %s %d %v", repo.GetFullName(), repo.GetID(), repo.GetPermissions())
	}
	jwt := signJWT(t, app, clk.Now().Add(-30*time.Second), clk.Now().Add(5*time.Minute))
	inst, _, err := gh(t, s, jwt).Apps.GetRepositoryInstallation(ctx, "octo-org", "project-data")
	if err != nil {
		t.Fatal(err)
	}
	if inst.GetID() != app.InstallationID || inst.GetAppSlug() != "refbot-app" || inst.GetPermissions().GetChecks() != "write" || !slices.Contains(inst.Events, "workflow_run") {
		t.Errorf("installation %+v", inst)
	}
	if _, resp, _ := gh(t, s, jwt).Apps.GetRepositoryInstallation(ctx, "octo-org", "other"); status(resp) != http.StatusNotFound {
		t.Errorf("installation of a repository not covered: %d, want 404", status(resp))
	}
	if _, resp, _ := gh(t, s, all).Apps.GetRepositoryInstallation(ctx, "octo-org", "project"); status(resp) != http.StatusUnauthorized {
		t.Errorf("installation asked with an installation token: %d, want 401", status(resp))
	}

	// Pushing needs contents write.
	s.SetAppPermission(app.InstallationID, "contents", "read")
	if s.TokenAllows(both, "octo-org/project-data") {
		t.Errorf("a token without contents write is allowed")
	}
	s.SetAppPermission(app.InstallationID, "contents", "write")
	clk.Add(time.Hour)
	if s.TokenAllows(both, "octo-org/project-data") {
		t.Errorf("an expired token is allowed")
	}
}

func TestRepoPermissionsAndScopes(t *testing.T) {
	ctx := context.Background()
	s, _, _ := actionsFixture(t)
	s.AddToken("ghp_alice", "alice")
	s.SetPermission("alice", PermWrite)
	s.SetTokenScopes("ghp_alice", "repo", "read:org")
	repo, resp, err := gh(t, s, "ghp_alice").Repositories.Get(ctx, "octo-org", "project")
	if err != nil {
		t.Fatal(err)
	}
	p := repo.GetPermissions()
	got := map[string]bool{"admin": p.GetAdmin(), "maintain": p.GetMaintain(), "push": p.GetPush(), "triage": p.GetTriage(), "pull": p.GetPull()}
	want := map[string]bool{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
	if got := resp.Header.Get("X-OAuth-Scopes"); got != "repo, read:org" {
		t.Errorf("X-OAuth-Scopes %q", got)
	}
	if _, resp, _ := gh(t, s, s.Token()).Repositories.Get(ctx, "octo-org", "project"); resp.Header.Values("X-OAuth-Scopes") != nil {
		t.Errorf("X-OAuth-Scopes on a token without scopes set: %q", resp.Header.Values("X-OAuth-Scopes"))
	}
	if _, resp, _ := gh(t, s, s.Token()).Repositories.Get(ctx, "octo-org", "unknown"); status(resp) != http.StatusNotFound {
		t.Errorf("unknown repository: %d", status(resp))
	}
}

// TestActionsConditionalRequests: a re-read with the ETag is a 304 that
// costs no rate limit; a change makes a new tag.
func TestActionsConditionalRequests(t *testing.T) {
	s, _, wf := actionsFixture(t)
	c := client{t: t, s: s, token: s.Token()}
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 7})
	for _, path := range []string{
		"/repos/octo-org/project/actions/runs/" + itoa64(r.ID),
		"/repos/octo-org/project/actions/runs?head_sha=" + sha('a'),
		"/repos/octo-org/project/actions/runs/" + itoa64(r.ID) + "/jobs",
	} {
		t.Run(path, func(t *testing.T) {
			c.t = t
			first := c.do("GET", path, nil)
			tag := first.header.Get("ETag")
			again := c.do("GET", path, nil, "If-None-Match", tag)
			if tag == "" || again.status != http.StatusNotModified {
				t.Fatalf("re-read: %d with tag %q, want 304", again.status, tag)
			}
			if again.header.Get("X-RateLimit-Remaining") != first.header.Get("X-RateLimit-Remaining") {
				t.Errorf("a 304 cost rate limit")
			}
		})
	}
	c.t = t
	path := "/repos/octo-org/project/actions/runs/" + itoa64(r.ID)
	tag := c.do("GET", path, nil).header.Get("ETag")
	s.CompleteRun(r.ID)
	if got := c.do("GET", path, nil, "If-None-Match", tag); got.status != http.StatusOK {
		t.Errorf("after completion: %d, want 200", got.status)
	}
}

// TestWorkflowRunPayload: the payload decodes in go-github as the event
// refbot handles, with this run's fields.
func TestWorkflowRunPayload(t *testing.T) {
	s, _, wf := actionsFixture(t)
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 8})
	s.CompleteRun(r.ID, Job{Name: "build", Conclusion: "failure"})
	s.AddCommit(sha('c'))
	for _, action := range []string{"requested", "in_progress", "completed"} {
		t.Run(action, func(t *testing.T) {
			ev, err := github.ParseWebHook("workflow_run", s.WorkflowRunPayload(r.ID, action))
			if err != nil {
				t.Fatal(err)
			}
			e, ok := ev.(*github.WorkflowRunEvent)
			if !ok {
				t.Fatalf("decoded as %T", ev)
			}
			run := e.GetWorkflowRun()
			got := map[string]any{
				"action": e.GetAction(), "id": run.GetID(), "attempt": run.GetRunAttempt(), "sha": run.GetHeadSHA(),
				"branch": run.GetHeadBranch(), "status": run.GetStatus(), "conclusion": run.GetConclusion(),
				"event": run.GetEvent(), "path": run.GetPath(), "workflow path": e.GetWorkflow().GetPath(),
				"workflow id": run.GetWorkflowID(), "prs": len(run.PullRequests),
				"head repo": run.GetHeadRepository().GetFullName(), "repo": e.GetRepo().GetFullName(),
				"installation": e.GetInstallation().GetID(), "sender": e.GetSender().GetLogin(),
				"url": run.GetURL(),
			}
			want := map[string]any{
				"action": action, "id": r.ID, "attempt": 1, "sha": sha('b'),
				"branch": "master", "status": "completed", "conclusion": "failure",
				"event": "pull_request", "path": wf.Path, "workflow path": wf.Path,
				"workflow id": wf.ID, "prs": 0,
				"head repo": "mallory/project", "repo": "octo-org/project",
				"installation": app.InstallationID, "sender": "mallory",
				"url": s.APIURL() + "repos/octo-org/project/actions/runs/" + itoa64(r.ID),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

// TestActionsValidationCatchesMistakes proves the new answers are checked
// against GitHub's description: a wrong answer fails the test.
func TestActionsValidationCatchesMistakes(t *testing.T) {
	for _, tt := range []struct {
		name, opID, key string
		value           any
		path            func(Run) string
		want            string
	}{
		{"run", "actions/get-workflow-run", "run_attempt", "one", func(r Run) string { return "/actions/runs/" + itoa64(r.ID) }, `Error at "/run_attempt"`},
		{"jobs", "actions/list-jobs-for-workflow-run", "total_count", "two", func(r Run) string { return "/actions/runs/" + itoa64(r.ID) + "/jobs" }, `Error at "/total_count"`},
		{"repository", "repos/get", "full_name", nil, func(Run) string { return "" }, `Error at "/full_name"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			s := New(rec)
			wf := s.AddWorkflow(".github/workflows/test.yaml", "test")
			r := s.AddRun(Run{WorkflowPath: wf.Path})
			s.mutate = func(opID string, body map[string]any) {
				if opID == tt.opID {
					body[tt.key] = tt.value
				}
			}
			if got := (client{t: t, s: s, token: s.Token()}).do("GET", "/repos/"+s.Repo()+tt.path(r), nil); got.status != 200 {
				t.Fatalf("status %d", got.status)
			}
			rec.end()
			if joined := strings.Join(rec.errors, "\n"); !strings.Contains(joined, tt.want) {
				t.Errorf("reported:\n%s\nwant a failure saying %q", joined, tt.want)
			}
		})
	}
}

// TestAnswersNameThisFake: no answer of the Actions, checks and App routes
// keeps an address or repository of GitHub's examples.
func TestAnswersNameThisFake(t *testing.T) {
	s, clk, wf := actionsFixture(t)
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := installationToken(t, s, clk, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.AddRun(Run{WorkflowPath: wf.Path, PR: 8})
	s.CompleteRun(r.ID)
	s.AddArtifact(r.ID, "refbot-outputs", zipOf(t, map[string]string{"MANIFEST.json": "{}"}))
	bot := client{t: t, s: s, token: tok}
	cr := bot.do("POST", "/repos/octo-org/project/check-runs", map[string]any{"name": "refbot", "head_sha": sha('a')})
	jwt := client{t: t, s: s, token: signJWT(t, app, clk.Now().Add(-30*time.Second), clk.Now().Add(5*time.Minute))}
	run := "/repos/octo-org/project/actions/runs/" + itoa64(r.ID)
	answers := map[string][]byte{
		"check run":    cr.body,
		"runs":         bot.do("GET", "/repos/octo-org/project/actions/runs", nil).body,
		"run":          bot.do("GET", run, nil).body,
		"jobs":         bot.do("GET", run+"/jobs", nil).body,
		"attempt jobs": bot.do("GET", run+"/attempts/1/jobs", nil).body,
		"artifacts":    bot.do("GET", run+"/artifacts", nil).body,
		"workflows":    bot.do("GET", "/repos/octo-org/project/actions/workflows", nil).body,
		"check runs":   bot.do("GET", "/repos/octo-org/project/commits/"+sha('a')+"/check-runs", nil).body,
		"repository":   bot.do("GET", "/repos/octo-org/project", nil).body,
		"installation": jwt.do("GET", "/repos/octo-org/project/installation", nil).body,
		"payload":      s.WorkflowRunPayload(r.ID, "completed"),
	}
	for name, body := range answers {
		for _, foreign := range []string{"api.github.com", "octo-org/octo-", "hello-world", "Hello-World", "Codertocat"} {
			if bytes.Contains(body, []byte(foreign)) {
				t.Errorf("%s names %q: %s", name, foreign, body)
			}
		}
	}
}

// TestFindForkPullRequestByHead: a fork's run names no pull request, so
// refbot finds it from the head repository's owner and branch.
func TestFindForkPullRequestByHead(t *testing.T) {
	s, _, _ := actionsFixture(t)
	s.AddPR(PR{Number: 9, HeadRepo: "mallory/project", HeadRef: "other"})
	for _, tt := range []struct {
		head string
		want []int
	}{
		{"mallory:master", []int{8}},
		{"mallory:other", []int{9}},
		{"octo-org:fix-7", []int{7}},
		{"octo-org:master", nil},
	} {
		t.Run(tt.head, func(t *testing.T) {
			prs, _, err := gh(t, s, s.Token()).PullRequests.List(context.Background(), "octo-org", "project", &github.PullRequestListOptions{Head: tt.head})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range prs {
				got = append(got, p.GetNumber())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pull requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGraphQLNeedsPullRequests: GraphQL answers FORBIDDEN for pull
// requests to an installation token without pull_requests read.
func TestGraphQLNeedsPullRequests(t *testing.T) {
	s, clk, _ := actionsFixture(t)
	app, err := s.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := installationToken(t, s, clk, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, s: s, token: tok}
	query := map[string]any{"query": `{ repository(owner: "octo-org", name: "project") { name pullRequest(number: 7) { headRefOid } } }`}
	read := func() (any, any, any) {
		v := c.do("POST", "/graphql", query).json(t)
		return field(v, "data.repository.pullRequest.headRefOid"), field(v, "errors.0.type"), field(v, "data.repository.name")
	}
	if oid, typ, _ := read(); oid != sha('a') || typ != nil {
		t.Errorf("with pull_requests: %v %v", oid, typ)
	}
	s.SetAppPermission(app.InstallationID, "pull_requests", "")
	if oid, typ, name := read(); oid != nil || typ != "FORBIDDEN" || name != "project" {
		t.Errorf("without pull_requests: %v %v %v, want nil FORBIDDEN project", oid, typ, name)
	}
}

// TestWorkflowDispatch: a dispatch of a workflow with a workflow_dispatch
// trigger starts a run on the branch's head, titled by the run-name; every
// request GitHub refuses is refused alike and starts nothing.
func TestWorkflowDispatch(t *testing.T) {
	ctx := context.Background()
	s, _, _ := actionsFixture(t)
	api := gh(t, s, s.Token())
	owner, repo := "octo-org", "project"
	docs := s.AddWorkflow(".github/workflows/docs.yaml", "Docs")
	s.AddWorkflow(".github/workflows/plain.yaml", "Plain")
	s.SetDispatchable(".github/workflows/plain.yaml", DispatchTrigger{})
	s.SetDispatchable(docs.Path, DispatchTrigger{
		Inputs: []WorkflowInput{
			{Name: "pr", Required: true}, {Name: "sha", Required: true},
			{Name: "request", Required: true}, {Name: "flavour", Default: "html"},
		},
		RunName: "refbot WEBSITE #${{ inputs.pr }} (${{inputs.request}})",
	})
	s.SetBranch("main", sha('m'))
	inputs := map[string]any{"pr": "7", "sha": sha('a'), "request": "refbot-website-3"}
	yes := true

	refusals := []struct {
		name       string
		workflow   string
		body       github.CreateWorkflowDispatchEventRequest
		wantStatus int
		wantMsg    string
	}{
		{"no workflow_dispatch trigger", "test.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "main"}, 422, "Workflow does not have 'workflow_dispatch' trigger"},
		{"no such workflow", "nope.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "main"}, 404, "Not Found"},
		{"not a branch", "docs.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "nope", Inputs: inputs}, 422, "No ref found for: nope"},
		{"a tag is no branch of the fake", "docs.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "refs/tags/v1", Inputs: inputs}, 422, "No ref found for: refs/tags/v1"},
		{"an unknown input", "docs.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "main", Inputs: map[string]any{"pr": "7", "sha": sha('a'), "request": "r", "colour": "red", "age": "3"}}, 422, `Unexpected inputs provided: ["age","colour"]`},
		{"a required input missing", "docs.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "main", Inputs: map[string]any{"pr": "7", "request": "r"}}, 422, "Required input 'sha' not provided"},
		{"an input that is no value", "docs.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "main", Inputs: map[string]any{"pr": map[string]any{"n": 7}, "sha": sha('a'), "request": "r"}}, 422, "Invalid value for input 'pr'"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := api.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, tt.workflow, tt.body)
			var er *github.ErrorResponse
			if !errors.As(err, &er) || status(resp) != tt.wantStatus || er.Message != tt.wantMsg {
				t.Errorf("answer %d %v, want %d %q", status(resp), err, tt.wantStatus, tt.wantMsg)
			}
		})
	}
	if d := s.Dispatches(); len(d) != 0 {
		t.Fatalf("refused dispatches recorded: %+v", d)
	}
	if runs, _, err := api.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, &github.ListWorkflowRunsOptions{Event: "workflow_dispatch"}); err != nil || runs.GetTotalCount() != 0 {
		t.Fatalf("refused dispatches made runs: %v %v", runIDs(runs), err)
	}

	// Accepted: with run details, then without, then by a GitHub that
	// gives none.
	details, resp, err := api.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, "docs.yaml",
		github.CreateWorkflowDispatchEventRequest{Ref: "refs/heads/main", Inputs: inputs, ReturnRunDetails: &yes})
	if err != nil || status(resp) != http.StatusOK || details.GetWorkflowRunID() == 0 {
		t.Fatalf("dispatch with details: %d %+v %v", status(resp), details, err)
	}
	first := details.GetWorkflowRunID()
	if want := s.APIURL() + "repos/octo-org/project/actions/runs/" + itoa64(first); details.GetRunURL() != want {
		t.Errorf("run_url %s, want %s", details.GetRunURL(), want)
	}
	details, resp, err = api.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, "plain.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "master"})
	if err != nil || status(resp) != http.StatusNoContent || details != nil {
		t.Fatalf("dispatch without details: %d %+v %v", status(resp), details, err)
	}
	s.SetDispatchDetails(false)
	_, resp, err = api.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, "plain.yaml", github.CreateWorkflowDispatchEventRequest{Ref: "master", ReturnRunDetails: &yes})
	if err != nil || status(resp) != http.StatusNoContent {
		t.Fatalf("dispatch on an older GitHub: %d %v", status(resp), err)
	}

	d := s.Dispatches()
	if len(d) != 3 {
		t.Fatalf("dispatches %+v, want 3", d)
	}
	want := []Dispatch{
		{Workflow: docs.Path, Ref: "refs/heads/main", Inputs: map[string]string{"pr": "7", "sha": sha('a'), "request": "refbot-website-3"}, RunDetails: true, RunID: first},
		{Workflow: ".github/workflows/plain.yaml", Ref: "master", Inputs: map[string]string{}, RunID: d[1].RunID},
		{Workflow: ".github/workflows/plain.yaml", Ref: "master", Inputs: map[string]string{}, RunDetails: true, RunID: d[2].RunID},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("dispatches (-want +got):\n%s", diff)
	}
	run, _, err := api.Actions.GetWorkflowRunByID(ctx, owner, repo, first)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{run.GetEvent(), run.GetHeadBranch(), run.GetHeadSHA(), run.GetStatus(), run.GetDisplayTitle(), run.GetPath()}
	if diff := cmp.Diff([]string{"workflow_dispatch", "main", sha('m'), "queued", "refbot WEBSITE #7 (refbot-website-3)", docs.Path}, got); diff != "" {
		t.Errorf("the dispatched run (-want +got):\n%s", diff)
	}
	plain, _, err := api.Actions.GetWorkflowRunByID(ctx, owner, repo, d[1].RunID)
	if err != nil || plain.GetDisplayTitle() != "Plain" || plain.GetHeadBranch() != "master" {
		t.Errorf("a run without run-name: %q on %q, %v; want the workflow's name on master", plain.GetDisplayTitle(), plain.GetHeadBranch(), err)
	}
	runs, _, err := api.Actions.ListWorkflowRunsByFileName(ctx, owner, repo, "docs.yaml", &github.ListWorkflowRunsOptions{Event: "workflow_dispatch", Branch: "main"})
	if diff := cmp.Diff([]int64{first}, runIDs(runs)); err != nil || diff != "" {
		t.Errorf("dispatched runs of docs.yaml on main (-want +got):\n%s %v", diff, err)
	}
}

// TestScheduledRuns: scheduled runs are listed by the event, branch and
// status filters.
func TestScheduledRuns(t *testing.T) {
	ctx := context.Background()
	s, clk, wf := actionsFixture(t)
	api := gh(t, s, s.Token())
	nightly := s.AddWorkflow(".github/workflows/nightly.yaml", "Nightly")
	running := s.AddRun(Run{WorkflowPath: nightly.Path, Event: "schedule", HeadBranch: "main", Status: "in_progress"})
	clk.Add(time.Minute)
	queued := s.AddRun(Run{WorkflowPath: wf.Path, Event: "schedule", HeadBranch: "main"})
	clk.Add(time.Minute)
	s.AddRun(Run{WorkflowPath: nightly.Path, Event: "schedule", HeadBranch: "main", Status: "completed"})
	s.AddRun(Run{WorkflowPath: nightly.Path, Event: "schedule", HeadBranch: "release", Status: "in_progress"})
	s.AddRun(Run{WorkflowPath: nightly.Path, Event: "push", HeadBranch: "main", Status: "in_progress"})
	for _, tt := range []struct {
		status string
		want   []int64
	}{
		{"in_progress", []int64{running.ID}},
		{"queued", []int64{queued.ID}},
		{"", nil}, // all three of main, checked below
	} {
		runs, _, err := api.Actions.ListRepositoryWorkflowRuns(ctx, "octo-org", "project", &github.ListWorkflowRunsOptions{Event: "schedule", Branch: "main", Status: tt.status})
		if err != nil {
			t.Fatal(err)
		}
		if tt.status == "" {
			if n := runs.GetTotalCount(); n != 3 {
				t.Errorf("scheduled runs of main: %d, want 3", n)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, runIDs(runs)); diff != "" {
			t.Errorf("scheduled %s runs of main (-want +got):\n%s", tt.status, diff)
		}
	}
}
