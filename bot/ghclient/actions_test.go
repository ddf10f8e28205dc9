package ghclient

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/fakegithub"
)

const (
	testWorkflow = ".github/workflows/test.yaml"
	runRoute     = "/repos/{owner}/{repo}/actions/runs/{run_id}"
)

// wantRun is what WorkflowRun should say of a run the fake holds.
func wantRun(e *env, r fakegithub.Run, prs ...int) WorkflowRun {
	title := r.DisplayTitle // the fake's defaults: the pull request's title, else the workflow's name
	if p, ok := e.gh.PR(r.PR); ok && title == "" {
		title = p.Title
	}
	if title == "" {
		title = r.Name
	}
	return WorkflowRun{
		ID: r.ID, Attempt: r.Attempt, Name: r.Name, Path: r.WorkflowPath, Event: r.Event, DisplayTitle: title,
		Status: r.Status, Conclusion: r.Conclusion, HeadSHA: r.HeadSHA, HeadBranch: r.HeadBranch, HeadRepo: r.HeadRepo,
		PRs: prs, URL: fmt.Sprintf("%s/%s/actions/runs/%d", e.gh.URL, e.gh.Repo(), r.ID),
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt,
	}
}

func TestWorkflowRuns(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	e.gh.AddWorkflow(".github/workflows/lint.yaml", "Lint")
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a'), HeadRef: "fix"})
	e.gh.AddPR(fakegithub.PR{Number: 2, HeadSHA: sha('b'), HeadRef: "master", HeadRepo: "mallory/project", Author: "mallory"})
	step := func() { e.clk.Sleep(ctx, time.Minute) }

	older := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 1, Status: "completed", Conclusion: "failure"})
	step()
	same := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 1})
	step()
	fork := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 2, Status: "in_progress"})
	step()
	push := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, HeadBranch: "master", HeadSHA: sha('c'), Status: "completed"})
	step()
	e.gh.AddRun(fakegithub.Run{WorkflowPath: ".github/workflows/lint.yaml", PR: 1})

	tests := []struct {
		name     string
		workflow string
		filter   RunFilter
		want     []WorkflowRun
		wantErr  error
	}{
		{"all of one workflow, newest first", "test.yaml", RunFilter{}, []WorkflowRun{wantRun(e, push), wantRun(e, fork), wantRun(e, same, 1), wantRun(e, older, 1)}, nil},
		{"a head", "test.yaml", RunFilter{HeadSHA: sha('a')}, []WorkflowRun{wantRun(e, same, 1), wantRun(e, older, 1)}, nil},
		{"a fork's head: no pull requests", "test.yaml", RunFilter{HeadSHA: sha('b'), Event: "pull_request"}, []WorkflowRun{wantRun(e, fork)}, nil},
		{"push runs of a branch", "test.yaml", RunFilter{Event: "push", Branch: "master"}, []WorkflowRun{wantRun(e, push)}, nil},
		{"nothing matches", "test.yaml", RunFilter{HeadSHA: sha('f')}, nil, nil},
		{"unknown workflow", "deploy.yaml", RunFilter{}, nil, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.c.WorkflowRuns(ctx, tt.workflow, tt.filter)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := wantRun(e, fork); got.HeadRepo != "mallory/project" || got.HeadBranch != "master" {
		t.Errorf("the fork's run is from %s %s, want mallory/project master", got.HeadRepo, got.HeadBranch)
	}

	t.Run("bad workflow names", func(t *testing.T) {
		e.gh.ResetRequests()
		for _, w := range []string{"", ".github/workflows/test.yaml", `a\b`} {
			if _, err := e.c.WorkflowRuns(ctx, w, RunFilter{}); err == nil || !strings.Contains(err.Error(), "want the base name") {
				t.Errorf("WorkflowRuns(%q): %v, want a refusal", w, err)
			}
		}
		if n := e.gh.RequestCount(); n != 0 {
			t.Errorf("%d requests for bad names, want none", n)
		}
	})
}

func TestWorkflowRunsPagesAndCap(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	var ids []int64 // newest first
	for range maxRuns + 20 {
		e.clk.Sleep(ctx, time.Second)
		r := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, HeadSHA: sha('a')})
		ids = append([]int64{r.ID}, ids...)
	}
	e.gh.ResetRequests()
	got, err := e.c.WorkflowRuns(ctx, "test.yaml", RunFilter{HeadSHA: sha('a')})
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []int64
	for _, r := range got {
		gotIDs = append(gotIDs, r.ID)
	}
	if diff := cmp.Diff(ids[:maxRuns], gotIDs); diff != "" {
		t.Errorf("run ids, the newest %d (-want +got):\n%s", maxRuns, diff)
	}
	if n := e.gh.RequestCount(); n != maxRuns/100 {
		t.Errorf("%d requests, want %d pages of 100", n, maxRuns/100)
	}
}

func TestWorkflowRunAndJobs(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	e.gh.AddPR(fakegithub.PR{Number: 1})
	r := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 1, Jobs: []fakegithub.Job{{Name: "lint"}, {Name: "test (3.12)"}}})
	e.clk.Sleep(ctx, time.Minute)
	e.gh.StartRun(r.ID)
	e.clk.Sleep(ctx, time.Minute)
	e.gh.CompleteRun(r.ID, fakegithub.Job{Name: "lint"}, fakegithub.Job{Name: "test (3.12)", Conclusion: "failure"})

	first, _ := e.gh.Run(r.ID)
	got, err := e.c.WorkflowRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantRun(e, first, 1), got); diff != "" {
		t.Errorf("WorkflowRun (-want +got):\n%s", diff)
	}
	if got.Status != "completed" || got.Conclusion != "failure" || !got.StartedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("run %s/%s started %s, want completed/failure started a minute in", got.Status, got.Conclusion, got.StartedAt)
	}

	jobsOf := func(attempt int) []WorkflowJob {
		t.Helper()
		jobs, err := e.c.WorkflowJobs(ctx, r.ID, attempt)
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	firstJobs := []WorkflowJob{
		{ID: first.Jobs[0].ID, Name: "lint", Status: "completed", Conclusion: "success", StartedAt: t0.Add(time.Minute), CompletedAt: t0.Add(2 * time.Minute)},
		{ID: first.Jobs[1].ID, Name: "test (3.12)", Status: "completed", Conclusion: "failure", StartedAt: t0.Add(time.Minute), CompletedAt: t0.Add(2 * time.Minute)},
	}
	if diff := cmp.Diff(firstJobs, jobsOf(1)); diff != "" {
		t.Errorf("jobs of attempt 1 (-want +got):\n%s", diff)
	}

	// A re-run of the failed jobs that GitHub takes in only after the
	// run has been read twice more: until then the run reads as the old
	// attempt, final state and all.
	e.gh.SetRerunLag(2)
	e.clk.Sleep(ctx, time.Minute)
	if err := e.c.RerunWorkflow(ctx, r.ID, true); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 3 {
		got, err := e.c.WorkflowRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, fmt.Sprintf("%d %s %s", got.Attempt, got.Status, got.Conclusion))
	}
	if diff := cmp.Diff([]string{"1 completed failure", "1 completed failure", "2 queued "}, seen); diff != "" {
		t.Errorf("attempt, status, conclusion read after the re-run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"failed"}, e.gh.Reruns(r.ID)); diff != "" {
		t.Errorf("re-runs GitHub got (-want +got):\n%s", diff)
	}
	second, _ := e.gh.Run(r.ID)
	if diff := cmp.Diff(firstJobs, jobsOf(1)); diff != "" {
		t.Errorf("jobs of attempt 1 after the re-run (-want +got):\n%s", diff)
	}
	// The passed job is kept; the failed one runs again.
	wantSecond := []WorkflowJob{firstJobs[0], {ID: second.Jobs[1].ID, Name: "test (3.12)", Status: "queued", StartedAt: t0.Add(3 * time.Minute)}}
	if diff := cmp.Diff(wantSecond, jobsOf(2)); diff != "" {
		t.Errorf("jobs of attempt 2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSecond, jobsOf(0)); diff != "" {
		t.Errorf("jobs of the latest attempt (-want +got):\n%s", diff)
	}
	if second.Jobs[1].ID == firstJobs[1].ID {
		t.Error("the re-run job kept its id")
	}

	for _, tt := range []struct {
		name string
		do   func() error
		want error
	}{
		{"re-run of a running run", func() error { return e.c.RerunWorkflow(ctx, r.ID, false) }, ErrForbidden},
		{"missing run", func() error { _, err := e.c.WorkflowRun(ctx, 404); return err }, ErrNotFound},
		{"jobs of a missing attempt", func() error { _, err := e.c.WorkflowJobs(ctx, r.ID, 9); return err }, ErrNotFound},
		{"re-run of a missing run", func() error { return e.c.RerunWorkflow(ctx, 404, false) }, ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := e.c.WorkflowJobs(ctx, r.ID, -1); err == nil {
		t.Error("jobs of attempt -1: no error")
	}

	// A whole re-run of the completed second attempt.
	e.gh.SetRerunLag(0)
	e.gh.CompleteRun(r.ID)
	if err := e.c.RerunWorkflow(ctx, r.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, err := e.c.WorkflowRun(ctx, r.ID); err != nil || got.Attempt != 3 || got.Status != "queued" {
		t.Errorf("after a whole re-run: attempt %d %s, %v; want 3 queued", got.Attempt, got.Status, err)
	}
	if diff := cmp.Diff([]string{"failed", "all"}, e.gh.Reruns(r.ID)); diff != "" {
		t.Errorf("re-runs GitHub got (-want +got):\n%s", diff)
	}
}

func TestCancelWorkflowRun(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	r := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, Status: "in_progress", Jobs: []fakegithub.Job{{Name: "test"}}})

	if err := e.c.CancelWorkflowRun(ctx, r.ID); err != nil {
		t.Fatalf("cancel a running run: %v", err)
	}
	if got, _ := e.gh.Run(r.ID); got.Status != "completed" || got.Conclusion != "cancelled" {
		t.Errorf("run after cancel: %s %s, want completed cancelled", got.Status, got.Conclusion)
	}
	// Completed now: GitHub answers 409, which is not an error.
	if err := e.c.CancelWorkflowRun(ctx, r.ID); err != nil {
		t.Errorf("cancel a completed run: %v", err)
	}
	var statuses []int
	for _, q := range e.gh.Requests() {
		statuses = append(statuses, q.Status)
	}
	if diff := cmp.Diff([]int{http.StatusAccepted, http.StatusConflict}, statuses); diff != "" {
		t.Errorf("GitHub's answers (-want +got):\n%s", diff)
	}
	if n := e.gh.Cancels(r.ID); n != 2 {
		t.Errorf("%d cancel requests, want 2", n)
	}
	if err := e.c.CancelWorkflowRun(ctx, 404); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel a missing run: %v, want ErrNotFound", err)
	}
}

// zipOf builds a zip holding files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestArtifacts(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	e.gh.AddPR(fakegithub.PR{Number: 2, HeadRepo: "mallory/project"})
	r := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, PR: 2, Status: "completed"})
	zipA := zipOf(t, map[string]string{"MANIFEST.json": `{"files":[]}`, "data/a.txt": strings.Repeat("a", 5000)})
	zipB := zipOf(t, map[string]string{"MANIFEST.py312.json": `{}`})
	a := e.gh.AddArtifact(r.ID, "refbot-outputs", zipA)
	e.clk.Sleep(ctx, time.Second)
	b := e.gh.AddArtifact(r.ID, "refbot-outputs-py312", zipB)
	digest := func(z []byte) string {
		sum := sha256.Sum256(z)
		return "sha256:" + hex.EncodeToString(sum[:])
	}

	got, err := e.c.RunArtifacts(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []Artifact{
		{ID: b.ID, RunID: r.ID, Name: "refbot-outputs-py312", Size: int64(len(zipB)), CreatedAt: t0.Add(time.Second), Digest: digest(zipB)},
		{ID: a.ID, RunID: r.ID, Name: "refbot-outputs", Size: int64(len(zipA)), CreatedAt: t0, Digest: digest(zipA)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunArtifacts (-want +got):\n%s", diff)
	}

	t.Run("download", func(t *testing.T) {
		e.gh.ResetRequests()
		var buf bytes.Buffer
		n, err := e.c.DownloadArtifact(ctx, a.ID, &buf, int64(len(zipA)))
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(zipA)) || !bytes.Equal(buf.Bytes(), zipA) {
			t.Errorf("downloaded %d bytes, not the artifact's %d", n, len(zipA))
		}
		// The blob store refuses a request that carries an
		// Authorization header (400), so its 200 says none was sent.
		var got []string
		for _, q := range e.gh.Requests() {
			got = append(got, fmt.Sprintf("%s %d %s", q.Route, q.Status, q.Login))
		}
		want := []string{"/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format} 302 refbot", "blob 200 "}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})

	t.Run("the blob store refuses GitHub's credentials", func(t *testing.T) {
		// What DownloadArtifact avoids: the fake's blob store is on the
		// API's host, so the client's own chain would send the token.
		loc, err := e.c.artifactLocation(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
		resp, err := e.c.rest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("blob fetched with the token: %s, want 400", resp.Status)
		}
	})

	t.Run("too large", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := e.c.DownloadArtifact(ctx, a.ID, &buf, int64(len(zipA))-1)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
		if n != 0 || buf.Len() != 0 {
			t.Errorf("wrote %d bytes of a zip its length says is too large", buf.Len())
		}
	})

	t.Run("too large without a length", func(t *testing.T) {
		blob := e.c.blob
		t.Cleanup(func() { e.c.blob = blob })
		e.c.blob = &http.Client{Transport: dropLength{blob.Transport}}
		var buf bytes.Buffer
		max := int64(len(zipA)) / 2
		n, err := e.c.DownloadArtifact(ctx, a.ID, &buf, max)
		if !errors.Is(err, ErrTooLarge) || n != max+1 {
			t.Errorf("DownloadArtifact = %d, %v; want ErrTooLarge after %d bytes", n, err, max+1)
		}
	})

	t.Run("expired", func(t *testing.T) {
		e.gh.ExpireArtifact(b.ID)
		arts, err := e.c.RunArtifacts(ctx, r.ID)
		if err != nil || len(arts) != 2 || !arts[0].Expired || arts[1].Expired {
			t.Errorf("RunArtifacts after expiry: %+v, %v; want the first expired", arts, err)
		}
		downloads := e.gh.Downloads()
		var buf bytes.Buffer
		_, err = e.c.DownloadArtifact(ctx, b.ID, &buf, 1<<20)
		if !errors.Is(err, ErrGone) || !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrGone and ErrNotFound", err)
		}
		if e.gh.Downloads() != downloads {
			t.Error("the blob store was asked for an expired artifact")
		}
	})

	t.Run("signed address expired", func(t *testing.T) {
		loc, err := e.c.artifactLocation(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Sleep(ctx, 2*time.Minute)
		_, err = e.c.fetchBlob(ctx, loc, &bytes.Buffer{}, 1<<20)
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("err = %v, want the store's 403", err)
		}
		key := strings.TrimPrefix(loc.Path, "/_blobs/")
		if key == "" || strings.Contains(err.Error(), key) {
			t.Errorf("error %q quotes the signed address %q", err, loc)
		}
		// Nor does an error without an answer.
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		_, err = e.c.fetchBlob(canceled, loc, &bytes.Buffer{}, 1<<20)
		if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), key) {
			t.Errorf("err = %q, want context.Canceled without the signed address %q", err, loc)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		if _, err := e.c.DownloadArtifact(ctx, 404, &bytes.Buffer{}, 1<<20); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrGone) {
			t.Errorf("missing artifact: %v, want ErrNotFound only", err)
		}
		if _, err := e.c.DownloadArtifact(ctx, a.ID, &bytes.Buffer{}, 0); err == nil {
			t.Error("maxBytes 0: no error")
		}
		if _, err := e.c.RunArtifacts(ctx, 404); !errors.Is(err, ErrNotFound) {
			t.Errorf("artifacts of a missing run: %v, want ErrNotFound", err)
		}
	})
}

// dropLength hides an answer's length, as a chunked answer would.
type dropLength struct{ next http.RoundTripper }

func (d dropLength) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(req)
	if err == nil {
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
	}
	return resp, err
}

func TestWorkflows(t *testing.T) {
	e := setup(t, nil)
	a := e.gh.AddWorkflow(testWorkflow, "Tests")
	b := e.gh.AddWorkflow(".github/workflows/docs.yml", "Docs")
	got, err := e.c.Workflows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Workflow{{ID: a.ID, Path: testWorkflow, Name: "Tests", State: "active"}, {ID: b.ID, Path: ".github/workflows/docs.yml", Name: "Docs", State: "active"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestOpenPullRequestsByHead(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadRef: "master", HeadRepo: "mallory/project", Author: "mallory", HeadSHA: sha('a')})
	e.gh.AddPR(fakegithub.PR{Number: 2, HeadRef: "fix", HeadRepo: "mallory/project", Author: "mallory"})
	e.gh.AddPR(fakegithub.PR{Number: 3, HeadRef: "fix", HeadRepo: "mallory/project", Author: "mallory"})
	e.gh.AddPR(fakegithub.PR{Number: 4, HeadRef: "master", HeadRepo: "mallory/project", Author: "mallory"})
	e.gh.ClosePR(4)
	e.gh.AddPR(fakegithub.PR{Number: 5, HeadRef: "master"}) // the repository's own branch

	numbers := func(owner, branch string) []int {
		t.Helper()
		prs, err := e.c.OpenPullRequestsByHead(ctx, owner, branch)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, p := range prs {
			out = append(out, p.Number)
		}
		return out
	}
	for _, tt := range []struct {
		owner, branch string
		want          []int
	}{
		{"mallory", "master", []int{1}},
		{"mallory", "fix", []int{3, 2}}, // ambiguous: the caller refuses
		{"refbot-test", "master", []int{5}},
		{"mallory", "gone", nil},
	} {
		if diff := cmp.Diff(tt.want, numbers(tt.owner, tt.branch)); diff != "" {
			t.Errorf("%s:%s (-want +got):\n%s", tt.owner, tt.branch, diff)
		}
	}
	prs, err := e.c.OpenPullRequestsByHead(ctx, "mallory", "master")
	if err != nil || len(prs) != 1 || !prs[0].IsFork || prs[0].HeadSHA != sha('a') || prs[0].HeadRepo != "mallory/project" {
		t.Errorf("fork PR by head: %+v, %v", prs, err)
	}
	for _, bad := range [][2]string{{"", "master"}, {"mallory", ""}, {"a:b", "c"}, {"a/b", "c"}} {
		if _, err := e.c.OpenPullRequestsByHead(ctx, bad[0], bad[1]); err == nil {
			t.Errorf("OpenPullRequestsByHead(%q, %q): no error", bad[0], bad[1])
		}
	}
}

// TestWorkflowRunConditional: polling an unchanged run costs no rate limit:
// the second read is a 304 answered from the ETag cache.
func TestWorkflowRunConditional(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	r := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, Status: "in_progress"})
	before, err := e.c.RateLimit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.gh.ResetRequests()
	var runs []WorkflowRun
	for range 2 {
		got, err := e.c.WorkflowRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, got)
	}
	e.gh.CompleteRun(r.ID)
	third, err := e.c.WorkflowRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
		t.Errorf("the cached answer differs (-first +second):\n%s", diff)
	}
	if third.Status != "completed" {
		t.Errorf("after the run completed it reads %s: a stale answer was served", third.Status)
	}
	var got []string
	for _, q := range e.gh.Requests() {
		got = append(got, fmt.Sprintf("%s %d", q.Route, q.Status))
	}
	want := []string{runRoute + " 200", runRoute + " 304", runRoute + " 200"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	after, err := e.c.RateLimit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if used := before.Remaining - after.Remaining; used != 2 {
		t.Errorf("three reads used %d of the rate limit, want 2 (the 304 is free)", used)
	}
}

// TestRepositoryRuns lists the runs of every workflow, with one status
// and a creation time as filters; the pages stop at the first older run.
func TestRepositoryRuns(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	e.gh.AddWorkflow(".github/workflows/nightly.yaml", "Nightly")
	step := func() { e.clk.Sleep(ctx, time.Minute) }
	var old []fakegithub.Run
	for range 120 { // more than a page, all before the window
		old = append(old, e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, Event: "schedule", HeadBranch: "main", Status: "completed"}))
	}
	step()
	since := e.clk.Now()
	running := e.gh.AddRun(fakegithub.Run{WorkflowPath: ".github/workflows/nightly.yaml", Event: "schedule", HeadBranch: "main", Status: "in_progress"})
	step()
	queued := e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, Event: "schedule", HeadBranch: "main"})
	e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, Event: "schedule", HeadBranch: "release", Status: "in_progress"})
	e.gh.AddRun(fakegithub.Run{WorkflowPath: testWorkflow, Event: "push", HeadBranch: "main", Status: "in_progress"})

	tests := []struct {
		name      string
		filter    RunFilter
		want      []int64
		wantPages int
	}{
		{"in progress", RunFilter{Event: "schedule", Branch: "main", Status: "in_progress"}, []int64{running.ID}, 1},
		{"queued", RunFilter{Event: "schedule", Branch: "main", Status: "queued"}, []int64{queued.ID}, 1},
		{"since: one page", RunFilter{Event: "schedule", Branch: "main", CreatedSince: since}, []int64{queued.ID, running.ID}, 1},
		{"all: two pages", RunFilter{Event: "schedule", Branch: "main"}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.gh.ResetRequests()
			got, err := e.c.RepositoryRuns(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if tt.want == nil {
				if len(ids) != len(old)+2 {
					t.Errorf("%d runs, want %d", len(ids), len(old)+2)
				}
			} else if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if n := e.gh.RequestCount(); n != tt.wantPages {
				t.Errorf("%d requests, want %d", n, tt.wantPages)
			}
		})
	}
}

// TestDispatchWorkflow starts a workflow and gets its run's id, or 0 from
// a GitHub that names none; GitHub's refusals keep their reason and
// sentinel, and a dispatch is never sent twice.
func TestDispatchWorkflow(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddWorkflow(testWorkflow, "Tests")
	e.gh.AddWorkflow(".github/workflows/docs.yaml", "Docs")
	e.gh.SetDispatchable(".github/workflows/docs.yaml", fakegithub.DispatchTrigger{
		Inputs:  []fakegithub.WorkflowInput{{Name: "pr", Required: true}, {Name: "request"}},
		RunName: "docs #${{ inputs.pr }} (${{ inputs.request }})",
	})
	e.gh.SetBranch("main", sha('m'))

	id, err := e.c.DispatchWorkflow(ctx, "docs.yaml", "main", map[string]string{"pr": "7", "request": "refbot-website-1"})
	if err != nil || id == 0 {
		t.Fatalf("dispatch: run %d, %v", id, err)
	}
	run, err := e.c.WorkflowRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Event != "workflow_dispatch" || run.HeadBranch != "main" || run.HeadSHA != sha('m') || run.DisplayTitle != "docs #7 (refbot-website-1)" {
		t.Errorf("dispatched run = %+v", run)
	}
	want := []fakegithub.Dispatch{{Workflow: ".github/workflows/docs.yaml", Ref: "main", Inputs: map[string]string{"pr": "7", "request": "refbot-website-1"}, RunDetails: true, RunID: id}}
	if diff := cmp.Diff(want, e.gh.Dispatches()); diff != "" {
		t.Errorf("dispatches (-want +got):\n%s", diff)
	}

	e.gh.SetDispatchDetails(false)
	if id, err := e.c.DispatchWorkflow(ctx, "docs.yaml", "main", map[string]string{"pr": "8"}); err != nil || id != 0 {
		t.Errorf("dispatch on a GitHub without run details: run %d, %v; want 0, nil", id, err)
	}
	if n := len(e.gh.Dispatches()); n != 2 {
		t.Errorf("%d dispatches, want 2", n)
	}

	many := map[string]string{}
	for i := range 26 {
		many[fmt.Sprint("in", i)] = "x"
	}
	for _, tt := range []struct {
		name     string
		workflow string
		ref      string
		inputs   map[string]string
		want     error  // nil: refused before asking GitHub
		wantMsg  string // in the error
	}{
		{"no workflow_dispatch", "test.yaml", "main", nil, ErrInvalid, "Workflow does not have 'workflow_dispatch' trigger"},
		{"unknown workflow", "nope.yaml", "main", nil, ErrNotFound, "nope.yaml"},
		{"not a branch", "docs.yaml", "nope", map[string]string{"pr": "1"}, ErrInvalid, "No ref found for: nope"},
		{"an undeclared input", "docs.yaml", "main", map[string]string{"pr": "1", "colour": "red"}, ErrInvalid, `Unexpected inputs provided: ["colour"]`},
		{"a required input missing", "docs.yaml", "main", nil, ErrInvalid, "Required input 'pr' not provided"},
		{"a path for a name", ".github/workflows/docs.yaml", "main", nil, nil, "want the base name"},
		{"no ref", "docs.yaml", "", nil, nil, "empty ref"},
		{"too many inputs", "docs.yaml", "main", many, nil, "at most 25"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.gh.ResetRequests()
			_, err := e.c.DispatchWorkflow(ctx, tt.workflow, tt.ref, tt.inputs)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want %v saying %q", err, tt.want, tt.wantMsg)
			}
			if n := e.gh.RequestCount(); (tt.want == nil) != (n == 0) {
				t.Errorf("%d requests sent", n)
			}
		})
	}

	// GitHub fails after starting the run: the POST is not repeated.
	e.gh.ResetRequests()
	e.gh.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: http.StatusBadGateway, Route: "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", Applied: true})
	if _, err := e.c.DispatchWorkflow(ctx, "docs.yaml", "main", map[string]string{"pr": "9"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("dispatch answered 502: %v, want ErrUnavailable", err)
	}
	if n := e.gh.RequestCount(); n != 1 {
		t.Errorf("%d requests for a dispatch answered 502, want 1", n)
	}
	if n := len(e.gh.Dispatches()); n != 3 {
		t.Errorf("%d dispatches, want 3 (the one answered 502 took effect)", n)
	}
}
