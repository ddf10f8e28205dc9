package fakegithub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Workflow is a GitHub Actions workflow of the fake's repository.
type Workflow struct {
	ID    int64
	Path  string // ".github/workflows/test.yaml"
	Name  string
	State string // "active"
}

// DispatchTrigger is a workflow's workflow_dispatch trigger, as its file's
// `on: workflow_dispatch:` and `run-name:` say (see SetDispatchable).
type DispatchTrigger struct {
	Inputs []WorkflowInput
	// RunName is the workflow's run-name: the display title of its runs,
	// with ${{ inputs.NAME }} replaced by the input's value. "" is the
	// workflow's name, as on GitHub without a run-name.
	RunName string
}

// WorkflowInput is one input of a workflow_dispatch trigger.
type WorkflowInput struct {
	Name     string
	Required bool
	Default  string
}

// Dispatch is a workflow_dispatch event the fake accepted.
type Dispatch struct {
	Workflow   string            // the workflow's path
	Ref        string            // as sent
	Inputs     map[string]string // as sent
	RunDetails bool              // return_run_details was true
	RunID      int64             // the run it started
}

// Job is a job of a workflow run's attempt.
type Job struct {
	ID          int64
	Name        string
	Status      string // queued, in_progress or completed
	Conclusion  string // success, failure, cancelled, skipped, timed_out...; "" until completed
	StartedAt   time.Time
	CompletedAt time.Time
}

// Run is a workflow run as the API shows it now.
type Run struct {
	ID           int64
	Attempt      int    // run_attempt; 1 for the first attempt
	WorkflowPath string // the workflow's Path; it must have been added
	Name         string // default: the workflow's name
	Event        string // pull_request or push; default pull_request when PR is set
	HeadSHA      string // default: the pull request's head, or a fresh commit
	HeadBranch   string // default: the pull request's head branch, or master
	HeadRepo     string // "owner/name"; default the repository. A fork's differs.
	// PR is the pull request the run is for; 0 for a push. For a fork's run
	// the API's and the payloads' pull_requests are empty, as on GitHub.
	PR         int
	Status     string // queued (default), in_progress or completed
	Conclusion string // success, failure, cancelled...; "" until completed
	Jobs       []Job  // the jobs of the current attempt
	// DisplayTitle is the run's display_title; default the pull
	// request's title, else Name. A dispatched run's is its workflow's
	// run-name (DispatchTrigger.RunName).
	DisplayTitle string
	CreatedAt    time.Time
	StartedAt    time.Time // run_started_at of the current attempt
	UpdatedAt    time.Time
}

// Artifact is a workflow run's artifact.
type Artifact struct {
	ID        int64
	RunID     int64
	Attempt   int // the run attempt that uploaded it
	Name      string
	Size      int64
	Expired   bool
	CreatedAt time.Time
}

// actionsState is what the fake knows of GitHub Actions; Server.mu guards it.
type actionsState struct {
	workflows  []*workflowState
	runs       map[int64]*runState
	runNumbers map[int64]int // by workflow: the last run_number given
	artifacts  []*artifactState
	blobs      map[string]*blob // by the key in the blob's URL
	downloads  int
	rerunLag   int
	dropReruns int
	// branches are the heads workflow_dispatch may run on, name → sha
	// (SetBranch); master is always one.
	branches     map[string]string
	dispatches   []Dispatch
	noRunDetails bool // answer dispatches 204 whatever was asked
}

type workflowState struct {
	Workflow
	createdAt time.Time
	dispatch  *DispatchTrigger // nil: no workflow_dispatch trigger
}

type runState struct {
	run      Run // the visible state; run.Jobs is unused, see attempts
	number   int // run_number
	workflow *workflowState
	// attempts holds the jobs of each attempt, the first attempt first. A
	// job kept from an earlier attempt by a re-run of failed jobs appears
	// in the later attempt as the same *attemptJob.
	attempts [][]*attemptJob
	pending  *pendingRerun
	reruns   []string
	cancels  int
}

type attemptJob struct {
	Job
	attempt   int
	createdAt time.Time
}

// pendingRerun is a re-run GitHub has accepted but not yet started: the
// run shows its old attempt until it has been read left more times.
type pendingRerun struct {
	mode string // all or failed
	left int
}

type artifactState struct {
	Artifact
	zip       []byte
	expiredAt time.Time
}

// blob is an artifact's zip at a short-lived address, as GitHub's artifact
// store serves it.
type blob struct {
	data    []byte
	expires time.Time
}

// blobPrefix is where the fake serves artifact downloads: on its own host
// but outside the REST prefix, standing in for GitHub's blob store.
const blobPrefix = "/_blobs/"

// blobTTL is how long a download address is valid; GitHub: "This URL
// expires after 1 minute."
const blobTTL = time.Minute

func (a *actionsState) init() {
	if a.runs == nil {
		a.runs = map[int64]*runState{}
		a.runNumbers = map[int64]int{}
		a.blobs = map[string]*blob{}
		a.branches = map[string]string{}
	}
}

// AddWorkflow adds a workflow, active, and returns it. path is its file,
// e.g. ".github/workflows/test.yaml".
func (s *Server) AddWorkflow(path, name string) Workflow {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workflowByPath(path) != nil {
		panic(fmt.Sprintf("fakegithub: workflow %s exists", path))
	}
	w := &workflowState{Workflow: Workflow{ID: s.st.id(), Path: path, Name: name, State: "active"}, createdAt: s.now()}
	s.st.actions.workflows = append(s.st.actions.workflows, w)
	return w.Workflow
}

// workflowByPath finds a workflow; the caller holds s.mu.
func (s *Server) workflowByPath(path string) *workflowState {
	for _, w := range s.st.actions.workflows {
		if w.Path == path {
			return w
		}
	}
	return nil
}

// AddRun adds a workflow run and returns it with its defaults: the next
// id, Attempt 1, Status queued, and those Run documents. Its workflow must
// have been added. A run added completed without a Conclusion gets the one
// its jobs give (see CompleteRun).
func (s *Server) AddRun(r Run) Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addRun(r).export()
}

// addRun adds a run as AddRun does; the caller holds s.mu.
func (s *Server) addRun(r Run) *runState {
	a := &s.st.actions
	a.init()
	w := s.workflowByPath(r.WorkflowPath)
	if w == nil {
		panic(fmt.Sprintf("fakegithub: no workflow %q; AddWorkflow first", r.WorkflowPath))
	}
	now := s.now()
	if r.ID == 0 {
		r.ID = s.st.id()
	}
	if _, ok := a.runs[r.ID]; ok {
		panic(fmt.Sprintf("fakegithub: run %d exists", r.ID))
	}
	if r.Attempt == 0 {
		r.Attempt = 1
	}
	if r.Name == "" {
		r.Name = w.Name
	}
	if r.Event == "" {
		r.Event = "push"
		if r.PR != 0 {
			r.Event = "pull_request"
		}
	}
	p := s.st.prs[r.PR]
	if r.HeadRepo == "" {
		r.HeadRepo = s.repo
		if p != nil {
			r.HeadRepo = p.HeadRepo
		}
	}
	if r.HeadBranch == "" {
		r.HeadBranch = "master"
		if p != nil {
			r.HeadBranch = p.HeadRef
		}
	}
	if r.HeadSHA == "" {
		r.HeadSHA = fakeSHA(fmt.Sprintf("run-%d", r.ID))
		if p != nil {
			r.HeadSHA = p.HeadSHA
		}
	}
	if r.Status == "" {
		r.Status = "queued"
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = r.CreatedAt
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	s.st.commits[r.HeadSHA] = true
	a.runNumbers[w.ID]++
	rs := &runState{run: r, number: a.runNumbers[w.ID], workflow: w}
	var jobs []*attemptJob
	for _, j := range r.Jobs {
		jobs = append(jobs, s.newJob(j, r, r.Attempt))
	}
	rs.attempts = make([][]*attemptJob, r.Attempt)
	rs.attempts[r.Attempt-1] = jobs
	rs.run.Jobs = nil
	if r.Status == "completed" && r.Conclusion == "" {
		rs.run.Conclusion = runConclusion(jobs)
	}
	a.runs[r.ID] = rs
	return rs
}

// newJob fills in a job's defaults from its run; the caller holds s.mu.
func (s *Server) newJob(j Job, r Run, attempt int) *attemptJob {
	if j.ID == 0 {
		j.ID = s.st.id()
	}
	if j.Name == "" {
		j.Name = "build"
	}
	if j.Status == "" {
		j.Status = r.Status
	}
	if j.Status == "completed" && j.Conclusion == "" {
		j.Conclusion = "success"
		if r.Conclusion != "" {
			j.Conclusion = r.Conclusion
		}
	}
	if j.StartedAt.IsZero() && j.Status != "queued" {
		j.StartedAt = r.StartedAt
	}
	if j.CompletedAt.IsZero() && j.Status == "completed" {
		j.CompletedAt = r.UpdatedAt
	}
	return &attemptJob{Job: j, attempt: attempt, createdAt: r.StartedAt}
}

// runConclusion is the conclusion a run's jobs give it.
func runConclusion(jobs []*attemptJob) string {
	c := "success"
	for _, j := range jobs {
		switch j.Conclusion {
		case "failure", "timed_out", "startup_failure":
			return "failure"
		case "cancelled":
			c = "cancelled"
		}
	}
	return c
}

func failedConclusion(c string) bool {
	switch c {
	case "failure", "timed_out", "cancelled", "startup_failure":
		return true
	}
	return false
}

func (rs *runState) current() []*attemptJob { return rs.attempts[len(rs.attempts)-1] }

func (rs *runState) export() Run {
	r := rs.run
	r.Jobs = nil
	for _, j := range rs.current() {
		r.Jobs = append(r.Jobs, j.Job)
	}
	return r
}

// mustRun finds a run; an unknown one is a mistake in the test. The caller
// holds s.mu.
func (s *Server) mustRun(id int64) *runState {
	rs, ok := s.st.actions.runs[id]
	if !ok {
		panic(fmt.Sprintf("fakegithub: no run %d", id))
	}
	return rs
}

// StartRun starts a run as a runner picking it up does: in_progress, with
// run_started_at the fake's clock, and its queued jobs in progress. A
// re-run GitHub accepted but has not shown yet takes effect first: the CI
// is running it.
func (s *Server) StartRun(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.mustRun(id)
	s.settle(rs)
	now := s.now()
	rs.run.Status, rs.run.Conclusion = "in_progress", ""
	rs.run.StartedAt, rs.run.UpdatedAt = now, now
	for _, j := range rs.current() {
		if j.attempt == rs.run.Attempt && j.Status == "queued" {
			j.Status, j.StartedAt = "in_progress", now
		}
	}
}

// CompleteRun completes a run's current attempt. Given jobs replace the
// attempt's jobs (a job named as an existing one keeps its id; a job's
// defaults are completed, success, now); without them, the attempt's
// unfinished jobs succeed. The run's conclusion is failure if any job
// failed or timed out, cancelled if any was cancelled, else success. As
// StartRun, it first lets a pending re-run take effect.
func (s *Server) CompleteRun(id int64, jobs ...Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.mustRun(id)
	s.settle(rs)
	now := s.now()
	rs.run.Status, rs.run.UpdatedAt = "completed", now
	cur := rs.current()
	if len(jobs) > 0 {
		var next []*attemptJob
		for _, j := range jobs {
			if j.ID == 0 {
				if i := slices.IndexFunc(cur, func(c *attemptJob) bool { return c.Name == j.Name && c.attempt == rs.run.Attempt }); i >= 0 && j.Name != "" {
					j.ID = cur[i].ID
				}
			}
			if j.Status == "" {
				j.Status = "completed"
			}
			if j.Status == "completed" && j.Conclusion == "" {
				j.Conclusion = "success"
			}
			if j.StartedAt.IsZero() {
				j.StartedAt = rs.run.StartedAt
			}
			if j.CompletedAt.IsZero() && j.Status == "completed" {
				j.CompletedAt = now
			}
			r := rs.run
			r.Conclusion = ""
			next = append(next, s.newJob(j, r, rs.run.Attempt))
		}
		rs.attempts[len(rs.attempts)-1] = next
	} else {
		for _, j := range cur {
			if j.Status != "completed" {
				j.Status, j.Conclusion, j.CompletedAt = "completed", "success", now
				if j.StartedAt.IsZero() {
					j.StartedAt = rs.run.StartedAt
				}
			}
		}
	}
	rs.run.Conclusion = runConclusion(rs.current())
}

// Run returns a run as the API shows it now. Reading it here does not count
// as a read for SetRerunLag.
func (s *Server) Run(id int64) (Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.st.actions.runs[id]
	if !ok {
		return Run{}, false
	}
	return rs.export(), true
}

// SetRerunLag makes re-runs asynchronous, as GitHub's are: a re-run (or
// re-run of failed jobs) is answered 201 at once but takes effect only after
// the run has been read n more times through the API (getting the run,
// listing runs that include it, listing its jobs); until then the run shows
// its old attempt and final state. Taking effect is: Attempt+1, queued, a
// new run_started_at. StartRun, CompleteRun and AddArtifact let a pending
// re-run take effect at once. 0 (the default) takes effect at the request.
func (s *Server) SetRerunLag(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.actions.rerunLag = n
}

// DropReruns makes the next n re-run requests be answered 201 and never
// take effect, as when GitHub loses one.
func (s *Server) DropReruns(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.actions.dropReruns = n
}

// Reruns returns the re-run requests the fake accepted for a run, "all" or
// "failed", oldest first; dropped ones included.
func (s *Server) Reruns(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs, ok := s.st.actions.runs[id]; ok {
		return slices.Clone(rs.reruns)
	}
	return nil
}

// Cancels returns how many cancel requests the fake received for a run.
func (s *Server) Cancels(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs, ok := s.st.actions.runs[id]; ok {
		return rs.cancels
	}
	return 0
}

// observe is one read of a run through the API: it brings a pending re-run
// one read nearer to taking effect. The caller holds s.mu.
func (s *Server) observe(rs *runState) {
	if rs.pending == nil {
		return
	}
	if rs.pending.left > 0 {
		rs.pending.left--
		return
	}
	s.applyRerun(rs)
}

// settle lets a pending re-run take effect; the caller holds s.mu.
func (s *Server) settle(rs *runState) {
	if rs.pending != nil {
		s.applyRerun(rs)
	}
}

// applyRerun starts a run's next attempt: every job again, or only the
// failed and cancelled ones with the others kept from the attempt before.
// The caller holds s.mu.
func (s *Server) applyRerun(rs *runState) {
	mode := rs.pending.mode
	rs.pending = nil
	now := s.now()
	rs.run.Attempt++
	rs.run.Status, rs.run.Conclusion = "queued", ""
	rs.run.StartedAt, rs.run.UpdatedAt = now, now
	var next []*attemptJob
	for _, j := range rs.current() {
		if mode == "failed" && !failedConclusion(j.Conclusion) {
			next = append(next, j)
			continue
		}
		next = append(next, &attemptJob{Job: Job{ID: s.st.id(), Name: j.Name, Status: "queued"}, attempt: rs.run.Attempt, createdAt: now})
	}
	rs.attempts = append(rs.attempts, next)
}

// AddArtifact adds an artifact to a run's current attempt (a pending re-run
// takes effect first) and returns it. In listings, an artifact replaces an
// earlier attempt's artifact of the same name.
func (s *Server) AddArtifact(runID int64, name string, zip []byte) Artifact {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.mustRun(runID)
	s.settle(rs)
	a := &artifactState{
		Artifact: Artifact{ID: s.st.id(), RunID: runID, Attempt: rs.run.Attempt, Name: name, Size: int64(len(zip)), CreatedAt: s.now()},
		zip:      append([]byte(nil), zip...),
	}
	s.st.actions.artifacts = append(s.st.actions.artifacts, a)
	return a.Artifact
}

// ExpireArtifact makes an artifact expired: listed with expired true, and
// its download answered 410.
func (s *Server) ExpireArtifact(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.artifact(id)
	if a == nil {
		panic(fmt.Sprintf("fakegithub: no artifact %d", id))
	}
	a.Expired, a.expiredAt = true, s.now()
}

// Downloads returns how many artifact zips the blob store served.
func (s *Server) Downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.actions.downloads
}

// artifact finds an artifact; the caller holds s.mu.
func (s *Server) artifact(id int64) *artifactState {
	for _, a := range s.st.actions.artifacts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// WorkflowRunPayload returns the workflow_run webhook payload GitHub sends
// for action (requested, in_progress or completed) on a run in its current
// state, built from GitHub's published example: the run, its workflow, the
// repository, the installation when an App is installed, and the pull
// requests (none for a fork's run, as on GitHub).
func (s *Server) WorkflowRunPayload(id int64, action string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.mustRun(id)
	m := s.hookTemplate("workflow_run", action)
	if m == nil {
		m = s.hookTemplate("workflow_run", "completed")
	}
	replaceStrings(m, strings.NewReplacer("octo-org/octo-repo", s.repo))
	m["action"] = action
	wt, _ := m["workflow"].(map[string]any)
	m["workflow"] = s.workflowJSON(rs.workflow, wt)
	rt, _ := m["workflow_run"].(map[string]any)
	m["workflow_run"] = s.runJSON(rs, rt, false)
	s.hookEnvelope(m, s.runActor(rs))
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// runActor is who triggered a run: the pull request's author, else the
// repository's owner; the caller holds s.mu.
func (s *Server) runActor(rs *runState) string {
	if p, ok := s.st.prs[rs.run.PR]; ok {
		return p.Author
	}
	return s.owner
}

// workflowJSON fills a workflow template; the caller holds s.mu.
func (s *Server) workflowJSON(w *workflowState, t map[string]any) map[string]any {
	if t == nil {
		t = map[string]any{}
	}
	t["id"] = w.ID
	t["node_id"] = nodeID("Workflow", w.ID)
	t["name"] = w.Name
	t["path"] = w.Path
	t["state"] = w.State
	t["url"] = fmt.Sprintf("%s/actions/workflows/%d", s.repoAPI(), w.ID)
	t["html_url"] = fmt.Sprintf("%s/%s/blob/master/%s", s.URL, s.repo, w.Path)
	t["badge_url"] = fmt.Sprintf("%s/%s/workflows/%s/badge.svg", s.URL, s.repo, w.Name)
	t["created_at"], t["updated_at"] = ts(w.createdAt), ts(w.createdAt)
	return t
}

// runJSON fills a workflow-run template (the API's or a webhook's); the
// caller holds s.mu.
func (s *Server) runJSON(rs *runState, t map[string]any, excludePRs bool) map[string]any {
	if t == nil {
		t = map[string]any{}
	}
	// GitHub's examples of runs name another repository.
	replaceStrings(t, strings.NewReplacer("octo-org/octo-repo", s.repo, "http://api.github.com/", s.APIURL()))
	r := rs.run
	api := fmt.Sprintf("%s/actions/runs/%d", s.repoAPI(), r.ID)
	t["id"] = r.ID
	t["name"] = r.Name
	t["node_id"] = nodeID("WorkflowRun", r.ID)
	suite := s.repoID(s.repo)*1000 + r.ID
	t["check_suite_id"] = suite
	t["check_suite_node_id"] = nodeID("CheckSuite", suite)
	t["check_suite_url"] = fmt.Sprintf("%s/check-suites/%d", s.repoAPI(), suite)
	t["head_branch"] = r.HeadBranch
	t["head_sha"] = r.HeadSHA
	t["path"] = rs.workflow.Path
	t["run_number"] = rs.number
	t["run_attempt"] = r.Attempt
	t["event"] = r.Event
	t["display_title"] = r.Name
	if p, ok := s.st.prs[r.PR]; ok {
		t["display_title"] = p.Title
	}
	if r.DisplayTitle != "" {
		t["display_title"] = r.DisplayTitle
	}
	t["status"] = r.Status
	t["conclusion"] = nilIfEmpty(r.Conclusion)
	t["workflow_id"] = rs.workflow.ID
	t["url"] = api
	t["html_url"] = fmt.Sprintf("%s/%s/actions/runs/%d", s.URL, s.repo, r.ID)
	t["created_at"] = ts(r.CreatedAt)
	t["updated_at"] = ts(r.UpdatedAt)
	t["run_started_at"] = ts(r.StartedAt)
	t["actor"] = s.userJSON(s.runActor(rs))
	t["triggering_actor"] = s.userJSON(s.runActor(rs))
	t["jobs_url"] = api + "/jobs"
	t["logs_url"] = api + "/logs"
	t["artifacts_url"] = api + "/artifacts"
	t["cancel_url"] = api + "/cancel"
	t["rerun_url"] = api + "/rerun"
	t["previous_attempt_url"] = nil
	if r.Attempt > 1 {
		t["previous_attempt_url"] = fmt.Sprintf("%s/attempts/%d", api, r.Attempt-1)
	}
	t["workflow_url"] = fmt.Sprintf("%s/actions/workflows/%d", s.repoAPI(), rs.workflow.ID)
	delete(t, "referenced_workflows")
	if hc, ok := t["head_commit"].(map[string]any); ok {
		hc["id"] = r.HeadSHA
		hc["tree_id"] = fakeSHA("tree-" + r.HeadSHA)
		hc["timestamp"] = ts(r.CreatedAt)
	}
	if repo, ok := t["repository"].(map[string]any); ok {
		s.repoJSON(repo, s.repo)
	}
	if repo, ok := t["head_repository"].(map[string]any); ok {
		s.repoJSON(repo, r.HeadRepo)
	}
	t["pull_requests"] = []any{}
	if !excludePRs && r.HeadRepo == s.repo {
		if p, ok := s.st.prs[r.PR]; ok {
			t["pull_requests"] = []any{s.minimalPR(p)}
		}
	}
	return t
}

// minimalPR is a pull-request-minimal; the caller holds s.mu.
func (s *Server) minimalPR(p *PR) map[string]any {
	ref := func(branch, sha, repo string) map[string]any {
		_, name, _ := strings.Cut(repo, "/")
		return map[string]any{"ref": branch, "sha": sha, "repo": map[string]any{
			"id": s.repoID(repo), "url": s.api("/repos/%s", repo), "name": name,
		}}
	}
	return map[string]any{
		"id":     int64(1_000_000 + p.Number),
		"number": p.Number,
		"url":    fmt.Sprintf("%s/pulls/%d", s.repoAPI(), p.Number),
		"head":   ref(p.HeadRef, p.HeadSHA, p.HeadRepo),
		"base":   ref(p.BaseRef, p.BaseSHA, s.repo),
	}
}

// jobJSON fills a job template; the caller holds s.mu.
func (s *Server) jobJSON(rs *runState, j *attemptJob, t map[string]any) map[string]any {
	t["id"] = j.ID
	t["run_id"] = rs.run.ID
	t["run_url"] = fmt.Sprintf("%s/actions/runs/%d", s.repoAPI(), rs.run.ID)
	t["run_attempt"] = j.attempt
	t["node_id"] = nodeID("WorkflowJob", j.ID)
	t["head_sha"] = rs.run.HeadSHA
	t["head_branch"] = rs.run.HeadBranch
	t["url"] = fmt.Sprintf("%s/actions/jobs/%d", s.repoAPI(), j.ID)
	t["html_url"] = fmt.Sprintf("%s/%s/actions/runs/%d/job/%d", s.URL, s.repo, rs.run.ID, j.ID)
	t["check_run_url"] = fmt.Sprintf("%s/check-runs/%d", s.repoAPI(), j.ID)
	t["status"] = j.Status
	t["conclusion"] = nilIfEmpty(j.Conclusion)
	t["created_at"] = ts(j.createdAt)
	started := j.StartedAt
	if started.IsZero() {
		started = j.createdAt // GitHub gives a queued job its creation time
	}
	t["started_at"] = ts(started)
	t["completed_at"] = ts(j.CompletedAt)
	t["name"] = j.Name
	t["steps"] = []any{}
	t["labels"] = []any{"ubuntu-latest"}
	t["runner_id"], t["runner_name"], t["runner_group_id"], t["runner_group_name"] = nil, nil, nil, nil
	if j.Status != "queued" {
		t["runner_id"], t["runner_name"] = 1, "GitHub Actions 1"
		t["runner_group_id"], t["runner_group_name"] = 2, "GitHub Actions"
	}
	t["workflow_name"] = rs.workflow.Name
	return t
}

// artifactJSON fills an artifact template; the caller holds s.mu.
func (s *Server) artifactJSON(a *artifactState, t map[string]any) map[string]any {
	rs := s.st.actions.runs[a.RunID]
	api := fmt.Sprintf("%s/actions/artifacts/%d", s.repoAPI(), a.ID)
	sum := sha256.Sum256(a.zip)
	t["id"] = a.ID
	t["node_id"] = nodeID("Artifact", a.ID)
	t["name"] = a.Name
	t["size_in_bytes"] = a.Size
	t["url"] = api
	t["archive_download_url"] = api + "/zip"
	t["expired"] = a.Expired
	t["created_at"] = ts(a.CreatedAt)
	t["updated_at"] = ts(a.CreatedAt)
	t["expires_at"] = ts(a.CreatedAt.Add(90 * 24 * time.Hour))
	if a.Expired {
		t["expires_at"] = ts(a.expiredAt)
	}
	t["digest"] = "sha256:" + hex.EncodeToString(sum[:])
	t["workflow_run"] = map[string]any{
		"id":                 rs.run.ID,
		"repository_id":      s.repoID(s.repo),
		"head_repository_id": s.repoID(rs.run.HeadRepo),
		"head_branch":        rs.run.HeadBranch,
		"head_sha":           rs.run.HeadSHA,
	}
	return t
}

// itemTemplate returns the first item of a list in an operation's
// template, e.g. the first run of a list of runs.
func (s *Server) itemTemplate(opID, key string) map[string]any {
	t := s.template(opID)
	list, _ := t[key].([]any)
	if len(list) == 0 {
		panic(fmt.Sprintf("fakegithub: template %s has no %s", opID, key))
	}
	return list[0].(map[string]any)
}

// runParam finds the run a path names; the caller holds s.mu.
func (s *Server) runParam(c *call) *runState {
	id, err := strconv.ParseInt(c.params["run_id"], 10, 64)
	if err != nil {
		return nil
	}
	return s.st.actions.runs[id]
}

func (s *Server) listRepoRuns(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listRuns(c, "actions/list-workflow-runs-for-repo", nil)
}

func (s *Server) listWorkflowRuns(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.workflowParam(c.params["workflow_id"])
	if w == nil {
		return notFound()
	}
	return s.listRuns(c, "actions/list-workflow-runs", w)
}

// workflowParam finds a workflow by id or by file name; the caller holds
// s.mu.
func (s *Server) workflowParam(v string) *workflowState {
	id, err := strconv.ParseInt(v, 10, 64)
	for _, w := range s.st.actions.workflows {
		if (err == nil && w.ID == id) || (err != nil && path.Base(w.Path) == v) {
			return w
		}
	}
	return nil
}

// runStatuses are the values of the status filter that are statuses; the
// others are conclusions.
var runStatuses = map[string]bool{"queued": true, "in_progress": true, "completed": true, "requested": true, "waiting": true, "pending": true}

// listRuns answers a list of runs, newest first; the caller holds s.mu.
func (s *Server) listRuns(c *call, opID string, w *workflowState) answer {
	for _, unsupported := range []string{"created", "check_suite_id"} {
		if c.query.Has(unsupported) {
			s.st.violations = append(s.st.violations, fmt.Sprintf("GET %s: the fake does not model the %s filter", c.path, unsupported))
		}
	}
	q := func(k string) string { return c.query.Get(k) }
	var runs []*runState
	for _, rs := range s.st.actions.runs {
		r := rs.run
		switch {
		case w != nil && rs.workflow != w,
			q("head_sha") != "" && r.HeadSHA != q("head_sha"),
			q("event") != "" && r.Event != q("event"),
			q("branch") != "" && r.HeadBranch != q("branch"),
			q("actor") != "" && s.runActor(rs) != q("actor"),
			q("status") != "" && runStatuses[q("status")] && r.Status != q("status"),
			q("status") != "" && !runStatuses[q("status")] && r.Conclusion != q("status"):
			continue
		}
		runs = append(runs, rs)
	}
	sort.Slice(runs, func(i, j int) bool {
		a, b := runs[i].run, runs[j].run
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID > b.ID
	})
	exclude := q("exclude_pull_requests") == "true"
	tmpl := s.template(opID)
	items := make([]any, len(runs))
	for i, rs := range runs {
		s.observe(rs)
		items[i] = s.runJSON(rs, s.itemTemplate(opID, "workflow_runs"), exclude)
	}
	h := http.Header{}
	page := s.paginate(c, items, h)
	if page == nil {
		page = []any{}
	}
	tmpl["total_count"] = len(items)
	tmpl["workflow_runs"] = page
	return answer{status: http.StatusOK, body: tmpl, header: h}
}

func (s *Server) getRun(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runParam(c)
	if rs == nil {
		return notFound()
	}
	s.observe(rs)
	return answer{status: http.StatusOK, body: s.runJSON(rs, s.template("actions/get-workflow-run"), c.query.Get("exclude_pull_requests") == "true")}
}

func (s *Server) listRunJobs(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runParam(c)
	if rs == nil {
		return notFound()
	}
	s.observe(rs)
	jobs := rs.current()
	if c.query.Get("filter") == "all" {
		jobs = nil
		seen := map[int64]bool{}
		for _, att := range rs.attempts {
			for _, j := range att {
				if !seen[j.ID] {
					seen[j.ID] = true
					jobs = append(jobs, j)
				}
			}
		}
	}
	return s.jobsAnswer(c, "actions/list-jobs-for-workflow-run", rs, jobs)
}

func (s *Server) listAttemptJobs(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runParam(c)
	if rs == nil {
		return notFound()
	}
	s.observe(rs)
	n, err := strconv.Atoi(c.params["attempt_number"])
	if err != nil || n < 1 || n > len(rs.attempts) || rs.attempts[n-1] == nil {
		return notFound()
	}
	return s.jobsAnswer(c, "actions/list-jobs-for-workflow-run-attempt", rs, rs.attempts[n-1])
}

// jobsAnswer answers a list of jobs; the caller holds s.mu.
func (s *Server) jobsAnswer(c *call, opID string, rs *runState, jobs []*attemptJob) answer {
	items := make([]any, len(jobs))
	for i, j := range jobs {
		items[i] = s.jobJSON(rs, j, s.itemTemplate(opID, "jobs"))
	}
	h := http.Header{}
	page := s.paginate(c, items, h)
	if page == nil {
		page = []any{}
	}
	return answer{status: http.StatusOK, header: h, body: map[string]any{"total_count": len(items), "jobs": page}}
}

func (s *Server) rerunAll(c *call) answer    { return s.rerun(c, "all") }
func (s *Server) rerunFailed(c *call) answer { return s.rerun(c, "failed") }

// rerun accepts a re-run of a completed run. It takes effect at once, after
// the lag SetRerunLag sets, or never (DropReruns). A second request while
// one is pending is accepted and joins it.
func (s *Server) rerun(c *call, mode string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.st.actions
	rs := s.runParam(c)
	if rs == nil {
		return notFound()
	}
	if rs.run.Status != "completed" {
		// What GitHub answers for a run still in progress.
		return answer{status: http.StatusForbidden, body: basicError(http.StatusForbidden, "This workflow is already running")}
	}
	if mode == "failed" && rs.pending == nil && !slices.ContainsFunc(rs.current(), func(j *attemptJob) bool { return failedConclusion(j.Conclusion) }) {
		return answer{status: http.StatusForbidden, body: basicError(http.StatusForbidden, "This workflow run has no failed jobs to re-run")}
	}
	rs.reruns = append(rs.reruns, mode)
	switch {
	case a.dropReruns > 0:
		a.dropReruns--
	case rs.pending != nil:
	default:
		rs.pending = &pendingRerun{mode: mode, left: a.rerunLag}
		if a.rerunLag == 0 {
			s.applyRerun(rs)
		}
	}
	return answer{status: http.StatusCreated, body: map[string]any{}}
}

// cancelRun cancels a run that is not completed: its unfinished jobs and
// the run end cancelled. A re-run accepted but not shown yet is what gets
// cancelled.
func (s *Server) cancelRun(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runParam(c)
	if rs == nil {
		return notFound()
	}
	rs.cancels++
	s.settle(rs)
	if rs.run.Status == "completed" {
		return answer{status: http.StatusConflict, body: basicError(http.StatusConflict, "Cannot cancel a workflow run that is completed.")}
	}
	now := s.now()
	for _, j := range rs.current() {
		if j.Status != "completed" {
			j.Status, j.Conclusion, j.CompletedAt = "completed", "cancelled", now
		}
	}
	rs.run.Status, rs.run.Conclusion, rs.run.UpdatedAt = "completed", "cancelled", now
	return answer{status: http.StatusAccepted, body: map[string]any{}}
}

func (s *Server) listRunArtifacts(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runParam(c)
	if rs == nil {
		return notFound()
	}
	// Each name once: the artifact of the latest attempt that uploaded it.
	latest := map[string]*artifactState{}
	for _, a := range s.st.actions.artifacts {
		if a.RunID != rs.run.ID {
			continue
		}
		if old, ok := latest[a.Name]; !ok || a.Attempt > old.Attempt || (a.Attempt == old.Attempt && a.ID > old.ID) {
			latest[a.Name] = a
		}
	}
	var arts []*artifactState
	for _, a := range latest {
		if n := c.query.Get("name"); n == "" || a.Name == n {
			arts = append(arts, a)
		}
	}
	desc := c.query.Get("direction") != "asc"
	sort.Slice(arts, func(i, j int) bool {
		if desc {
			return arts[i].ID > arts[j].ID
		}
		return arts[i].ID < arts[j].ID
	})
	items := make([]any, len(arts))
	for i, a := range arts {
		items[i] = s.artifactJSON(a, s.itemTemplate("actions/list-workflow-run-artifacts", "artifacts"))
	}
	h := http.Header{}
	page := s.paginate(c, items, h)
	if page == nil {
		page = []any{}
	}
	return answer{status: http.StatusOK, header: h, body: map[string]any{"total_count": len(items), "artifacts": page}}
}

// downloadArtifact answers 302 to a short-lived address of the zip on the
// fake's blob store, or 410 for an expired artifact.
func (s *Server) downloadArtifact(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := strconv.ParseInt(c.params["artifact_id"], 10, 64)
	if err != nil {
		return notFound()
	}
	a := s.artifact(id)
	if a == nil || c.params["archive_format"] != "zip" {
		return notFound()
	}
	if a.Expired {
		return answer{status: http.StatusGone, body: basicError(http.StatusGone, "Artifact has expired")}
	}
	s.st.actions.init()
	key := randomHex(16)
	s.st.actions.blobs[key] = &blob{data: a.zip, expires: s.now().Add(blobTTL)}
	return answer{status: http.StatusFound, header: http.Header{"Location": {s.URL + blobPrefix + key}}}
}

// serveBlob serves an artifact's zip as GitHub's blob store does: without
// GitHub's authentication, refusing a request that carries an
// Authorization header (a client that sends its GitHub token to the blob
// store leaks it to another host), and refusing an address past its expiry.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: "blob"}
	fail := func(status int, code, message string) {
		rec.Status = status
		s.record(rec)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, message)
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")
		return
	}
	if r.Header.Get("Authorization") != "" {
		fail(http.StatusBadRequest, "InvalidAuthenticationInfo", "Authentication information is not given in the correct format. Check the value of Authorization header.")
		return
	}
	s.mu.Lock()
	b, ok := s.st.actions.blobs[strings.TrimPrefix(r.URL.Path, blobPrefix)]
	expired := ok && !s.now().Before(b.expires)
	if ok && !expired {
		s.st.actions.downloads++
	}
	s.mu.Unlock()
	switch {
	case !ok:
		fail(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
	case expired:
		fail(http.StatusForbidden, "AuthenticationFailed", "Signed expiry time has passed.")
	default:
		rec.Status = http.StatusOK
		s.record(rec)
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		w.WriteHeader(http.StatusOK)
		w.Write(b.data)
	}
}

func (s *Server) listWorkflows(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]any, len(s.st.actions.workflows))
	for i, w := range s.st.actions.workflows {
		items[i] = s.workflowJSON(w, s.itemTemplate("actions/list-repo-workflows", "workflows"))
	}
	h := http.Header{}
	page := s.paginate(c, items, h)
	if page == nil {
		page = []any{}
	}
	return answer{status: http.StatusOK, header: h, body: map[string]any{"total_count": len(items), "workflows": page}}
}

// SetDispatchable gives the workflow at path a workflow_dispatch trigger
// with d's inputs and run-name, as if its file had one: without it, the
// fake refuses to dispatch the workflow (422), as GitHub does.
func (s *Server) SetDispatchable(path string, d DispatchTrigger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.workflowByPath(path)
	if w == nil {
		panic(fmt.Sprintf("fakegithub: no workflow %q; AddWorkflow first", path))
	}
	d.Inputs = slices.Clone(d.Inputs)
	w.dispatch = &d
}

// SetBranch makes branch a branch of the repository at sha (a made-up
// commit when sha is ""), one workflow_dispatch may run on. master is a
// branch from the start.
func (s *Server) SetBranch(branch, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.actions.init()
	if sha == "" {
		sha = fakeSHA("branch " + branch)
	}
	s.st.actions.branches[branch] = sha
	s.st.commits[sha] = true
}

// SetDispatchDetails says whether the fake answers a dispatch that asks
// for return_run_details with the run's id (200, the default), or with 204
// and no body whatever was asked, as GitHub Enterprise Server versions
// that predate return_run_details do.
func (s *Server) SetDispatchDetails(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.actions.noRunDetails = !on
}

// Dispatches returns the workflow_dispatch events the fake accepted,
// oldest first.
func (s *Server) Dispatches() []Dispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.st.actions.dispatches)
	for i := range out {
		out[i].Inputs = maps.Clone(out[i].Inputs)
	}
	return out
}

// branchHead resolves a dispatch's ref to a branch of the repository:
// "name" or "refs/heads/name". The caller holds s.mu.
func (s *Server) branchHead(ref string) (branch, sha string, ok bool) {
	branch = strings.TrimPrefix(ref, "refs/heads/")
	if sha, ok := s.st.actions.branches[branch]; ok {
		return branch, sha, true
	}
	if branch == "master" {
		return branch, fakeSHA("branch master"), true
	}
	return "", "", false
}

var runNameInput = regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}`)

// dispatchWorkflow answers actions/create-workflow-dispatch as GitHub
// does: 404 for an unknown workflow; 422 for a workflow without a
// workflow_dispatch trigger or disabled, a ref that is no branch, an input
// the trigger does not have or a required one missing; else a new run of
// the workflow on the branch's head, queued, and 200 with its id when
// return_run_details is true (204 otherwise).
func (s *Server) dispatchWorkflow(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.st.actions
	a.init()
	refused := func(format string, args ...any) answer {
		return answer{status: http.StatusUnprocessableEntity, body: basicError(http.StatusUnprocessableEntity, fmt.Sprintf(format, args...))}
	}
	w := s.workflowParam(c.params["workflow_id"])
	if w == nil {
		return notFound()
	}
	ref, _ := c.body["ref"].(string)
	branch, head, ok := s.branchHead(ref)
	switch {
	case w.dispatch == nil:
		return refused("Workflow does not have 'workflow_dispatch' trigger")
	case w.State != "active":
		return refused("Cannot trigger a 'workflow_dispatch' on a disabled workflow")
	case !ok:
		return refused("No ref found for: %s", ref)
	}
	sent := map[string]string{}
	raw, _ := c.body["inputs"].(map[string]any)
	var unexpected []string
	for name, v := range raw {
		if !slices.ContainsFunc(w.dispatch.Inputs, func(in WorkflowInput) bool { return in.Name == name }) {
			unexpected = append(unexpected, name)
			continue
		}
		switch v := v.(type) {
		case string:
			sent[name] = v
		case bool, float64:
			sent[name] = fmt.Sprint(v)
		default:
			return refused("Invalid value for input '%s'", name)
		}
	}
	if len(unexpected) > 0 {
		sort.Strings(unexpected)
		b, _ := json.Marshal(unexpected)
		return refused("Unexpected inputs provided: %s", b)
	}
	values := map[string]string{}
	for _, in := range w.dispatch.Inputs {
		v, given := sent[in.Name]
		if !given && in.Required && in.Default == "" {
			return refused("Required input '%s' not provided", in.Name)
		}
		if !given {
			v = in.Default
		}
		values[in.Name] = v
	}
	title := w.Name
	if w.dispatch.RunName != "" {
		title = runNameInput.ReplaceAllStringFunc(w.dispatch.RunName, func(m string) string {
			return values[runNameInput.FindStringSubmatch(m)[1]]
		})
	}
	// A run has the workflow's jobs from the start, queued: the fake's
	// workflows have one.
	rs := s.addRun(Run{WorkflowPath: w.Path, Event: "workflow_dispatch", HeadBranch: branch, HeadSHA: head, Status: "queued", DisplayTitle: title,
		Jobs: []Job{{Name: "build", Status: "queued"}}})
	details, _ := c.body["return_run_details"].(bool)
	a.dispatches = append(a.dispatches, Dispatch{Workflow: w.Path, Ref: ref, Inputs: sent, RunDetails: details, RunID: rs.run.ID})
	if !details || a.noRunDetails {
		return answer{status: http.StatusNoContent}
	}
	return answer{status: http.StatusOK, body: map[string]any{
		"workflow_run_id": rs.run.ID,
		"run_url":         fmt.Sprintf("%s/actions/runs/%d", s.repoAPI(), rs.run.ID),
		"html_url":        fmt.Sprintf("%s/%s/actions/runs/%d", s.URL, s.repo, rs.run.ID),
	}}
}
