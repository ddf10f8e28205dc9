package travistest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/travis/travistest"
)

const slug = "octo/widgets"

// call sends one request to the fake as a Travis client would, unless
// header overrides say otherwise, and decodes the JSON answer.
func call(t *testing.T, s *travistest.Server, method, path, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Travis-API-Version", "3")
	req.Header.Set("Authorization", "token "+s.Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, out
}

func TestHeadersChecked(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		wantStatus int
		wantType   string
	}{
		{name: "version and token", wantStatus: 200, wantType: "build"},
		{name: "no API version", header: map[string]string{"Travis-API-Version": ""}, wantStatus: 400, wantType: "error"},
		{name: "API version 2", header: map[string]string{"Travis-API-Version": "2"}, wantStatus: 400, wantType: "error"},
		{name: "no token", header: map[string]string{"Authorization": ""}, wantStatus: 403, wantType: "error"},
		{name: "wrong token", header: map[string]string{"Authorization": "token wrong"}, wantStatus: 403, wantType: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := travistest.NewServer(t)
			s.AddBuild(travistest.Build{Repo: slug})
			status, body := call(t, s, "GET", "/build/1001", "", tt.header)
			if status != tt.wantStatus || body["@type"] != tt.wantType {
				t.Errorf("status %d @type %v, want %d %s (%v)", status, body["@type"], tt.wantStatus, tt.wantType, body)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		wantType string
		wantRes  any
	}{
		{name: "unknown repo", method: "GET", path: "/repo/nobody%2Fnothing/builds", wantType: "not_found", wantRes: "repository"},
		{name: "slug not escaped", method: "GET", path: "/repo/octo/widgets/builds", wantType: "not_found", wantRes: nil},
		{name: "unknown build", method: "GET", path: "/build/42", wantType: "not_found", wantRes: "build"},
		{name: "restart unknown build", method: "POST", path: "/build/42/restart", wantType: "not_found", wantRes: "build"},
		{name: "unknown route", method: "GET", path: "/nothing", wantType: "not_found", wantRes: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := travistest.NewServer(t)
			s.AddRepo(slug)
			status, body := call(t, s, tt.method, tt.path, "", nil)
			if status != 404 || body["@type"] != "error" || body["error_type"] != tt.wantType || body["resource_type"] != tt.wantRes {
				t.Errorf("got %d %v", status, body)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	s := travistest.NewServer(t)
	for range 5 {
		s.AddBuild(travistest.Build{Repo: slug, PullRequestNumber: 1})
	}
	s.AddBuild(travistest.Build{Repo: slug}) // a push build, filtered out

	type page struct {
		ids        []float64
		pagination map[string]any
	}
	get := func(path string) page {
		status, body := call(t, s, "GET", path, "", nil)
		if status != 200 || body["@type"] != "builds" {
			t.Fatalf("GET %s: %d %v", path, status, body)
		}
		var p page
		for _, b := range body["builds"].([]any) {
			p.ids = append(p.ids, b.(map[string]any)["id"].(float64))
		}
		p.pagination = body["@pagination"].(map[string]any)
		return p
	}

	first := get("/repo/octo%2Fwidgets/builds?event_type=pull_request&limit=2")
	if diff := cmp.Diff([]float64{1005, 1004}, first.ids); diff != "" {
		t.Errorf("page 1 ids (-want +got):\n%s", diff)
	}
	wantFirst := map[string]any{
		"limit": 2.0, "offset": 0.0, "count": 5.0, "is_first": true, "is_last": false,
		"next":  map[string]any{"@href": "/repo/octo%2Fwidgets/builds?event_type=pull_request&limit=2&offset=2", "offset": 2.0, "limit": 2.0},
		"prev":  nil,
		"first": map[string]any{"@href": "/repo/octo%2Fwidgets/builds?event_type=pull_request&limit=2", "offset": 0.0, "limit": 2.0},
		"last":  map[string]any{"@href": "/repo/octo%2Fwidgets/builds?event_type=pull_request&limit=2&offset=4", "offset": 4.0, "limit": 2.0},
	}
	if diff := cmp.Diff(wantFirst, first.pagination); diff != "" {
		t.Errorf("page 1 @pagination (-want +got):\n%s", diff)
	}

	var ids []float64
	p := first
	for n := 0; ; n++ {
		ids = append(ids, p.ids...)
		next, _ := p.pagination["next"].(map[string]any)
		if next == nil {
			break
		}
		if n > 5 {
			t.Fatal("pagination does not end")
		}
		p = get(next["@href"].(string))
	}
	if diff := cmp.Diff([]float64{1005, 1004, 1003, 1002, 1001}, ids); diff != "" {
		t.Errorf("all ids (-want +got):\n%s", diff)
	}
	if p.pagination["is_last"] != true || p.pagination["prev"] == nil {
		t.Errorf("last page @pagination = %v", p.pagination)
	}
}

func TestIncludeJobs(t *testing.T) {
	s := travistest.NewServer(t)
	s.AddBuild(travistest.Build{Repo: slug, Jobs: []travistest.Job{{Name: "docs", AllowFailure: true}}})
	tests := []struct {
		name    string
		path    string
		wantRep string
	}{
		{name: "minimal without include", path: "/build/1001", wantRep: "minimal"},
		{name: "standard with build.jobs", path: "/build/1001?include=build.jobs", wantRep: "standard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := call(t, s, "GET", tt.path, "", nil)
			job := body["jobs"].([]any)[0].(map[string]any)
			if job["@representation"] != tt.wantRep {
				t.Fatalf("job = %v, want %s representation", job, tt.wantRep)
			}
			if tt.wantRep == "standard" {
				config := job["config"].(map[string]any)
				if job["allow_failure"] != true || job["state"] != "created" || config["name"] != "docs" {
					t.Errorf("job = %v", job)
				}
			}
		})
	}
}

type step func(t *testing.T, s *travistest.Server, id int64)

func advance(t *testing.T, s *travistest.Server, id int64) { s.Advance(id) }

func restart(t *testing.T, s *travistest.Server, id int64) {
	status, body := call(t, s, "POST", fmt.Sprintf("/build/%d/restart", id), "", nil)
	if status != 202 || body["@type"] != "pending" || body["state_change"] != "restart" || body["resource_type"] != "build" {
		t.Fatalf("restart: %d %v", status, body)
	}
}

func cancel(t *testing.T, s *travistest.Server, id int64) {
	status, body := call(t, s, "POST", fmt.Sprintf("/build/%d/cancel", id), "", nil)
	if status != 202 || body["@type"] != "pending" || body["state_change"] != "cancel" {
		t.Fatalf("cancel: %d %v", status, body)
	}
}

func TestStateTransitions(t *testing.T) {
	tests := []struct {
		name         string
		build        travistest.Build
		steps        []step
		wantState    string
		wantJobs     []string
		wantRestarts int
		wantCancels  int
	}{
		{
			name:      "created to started to passed",
			build:     travistest.Build{Jobs: []travistest.Job{{}, {}}},
			steps:     []step{advance, advance},
			wantState: "passed", wantJobs: []string{"passed", "passed"},
		},
		{
			name:      "started",
			build:     travistest.Build{},
			steps:     []step{advance},
			wantState: "started", wantJobs: []string{"started"},
		},
		{
			name:      "outcome failed",
			build:     travistest.Build{Outcome: "failed"},
			steps:     []step{advance, advance},
			wantState: "failed", wantJobs: []string{"failed"},
		},
		{
			name:      "allowed failure does not fail the build",
			build:     travistest.Build{Jobs: []travistest.Job{{}, {AllowFailure: true, Outcome: "failed"}}},
			steps:     []step{advance, advance},
			wantState: "passed", wantJobs: []string{"passed", "failed"},
		},
		{
			name:      "errored wins over failed",
			build:     travistest.Build{Jobs: []travistest.Job{{Outcome: "failed"}, {Outcome: "errored"}}},
			steps:     []step{advance, advance},
			wantState: "errored", wantJobs: []string{"failed", "errored"},
		},
		{
			name:      "finished build stays",
			build:     travistest.Build{State: "passed"},
			steps:     []step{advance},
			wantState: "passed", wantJobs: []string{"passed"},
		},
		{
			// Restarts are asynchronous: nothing has read the build since.
			name:      "restart is counted and the build keeps its state until read",
			build:     travistest.Build{State: "failed", Jobs: []travistest.Job{{}, {}}},
			steps:     []step{restart, restart},
			wantState: "failed", wantJobs: []string{"failed", "failed"}, wantRestarts: 2,
		},
		{
			name:      "restart carried out by Advance, then run again",
			build:     travistest.Build{State: "failed"},
			steps:     []step{restart, advance, advance, advance},
			wantState: "passed", wantJobs: []string{"passed"}, wantRestarts: 1,
		},
		{
			name:      "cancel leaves finished jobs",
			build:     travistest.Build{State: "started", Jobs: []travistest.Job{{State: "passed"}, {}}},
			steps:     []step{cancel},
			wantState: "canceled", wantJobs: []string{"passed", "canceled"}, wantCancels: 1,
		},
		{
			name:  "one job of two finishes",
			build: travistest.Build{State: "started", Jobs: []travistest.Job{{}, {}}},
			steps: []step{func(t *testing.T, s *travistest.Server, id int64) {
				b, _ := s.Build(id)
				s.SetJobState(b.Jobs[0].ID, "passed")
			}},
			wantState: "started", wantJobs: []string{"passed", "started"},
		},
		{
			name:  "set state",
			build: travistest.Build{Jobs: []travistest.Job{{}, {}}},
			steps: []step{func(t *testing.T, s *travistest.Server, id int64) {
				s.SetState(id, "errored")
			}},
			wantState: "errored", wantJobs: []string{"errored", "errored"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := travistest.NewServer(t)
			tt.build.Repo = slug
			b := s.AddBuild(tt.build)
			for _, st := range tt.steps {
				st(t, s, b.ID)
			}
			got, _ := s.Build(b.ID)
			var jobs []string
			for _, j := range got.Jobs {
				jobs = append(jobs, j.State)
			}
			if got.State != tt.wantState {
				t.Errorf("state = %q, want %q", got.State, tt.wantState)
			}
			if diff := cmp.Diff(tt.wantJobs, jobs); diff != "" {
				t.Errorf("job states (-want +got):\n%s", diff)
			}
			if got.State == "started" && got.StartedAt.IsZero() {
				t.Error("started build without started_at")
			}
			if got.State == "created" && (!got.StartedAt.IsZero() || !got.FinishedAt.IsZero()) {
				t.Error("created build with timestamps")
			}
			if s.Restarts(b.ID) != tt.wantRestarts || s.Cancels(b.ID) != tt.wantCancels {
				t.Errorf("restarts, cancels = %d, %d, want %d, %d", s.Restarts(b.ID), s.Cancels(b.ID), tt.wantRestarts, tt.wantCancels)
			}
		})
	}
}

func TestAdvanceOnPoll(t *testing.T) {
	s := travistest.NewServer(t)
	b := s.AddBuild(travistest.Build{Repo: slug, Outcome: "failed"})
	s.SetAdvanceOnPoll(true)
	var states []any
	for range 4 {
		_, body := call(t, s, "GET", fmt.Sprintf("/build/%d", b.ID), "", nil)
		states = append(states, body["state"])
	}
	if diff := cmp.Diff([]any{"started", "failed", "failed", "failed"}, states); diff != "" {
		t.Errorf("polled states (-want +got):\n%s", diff)
	}
}

func TestInject(t *testing.T) {
	s := travistest.NewServer(t)
	s.AddBuild(travistest.Build{Repo: slug})
	s.Inject("GET", "/build/1001", travistest.RateLimited("5"), travistest.ServerError(502))
	s.Inject("POST", "", travistest.Unavailable(""))

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantHeader string // Retry-After
	}{
		{name: "other path is not scripted", method: "GET", path: "/repo/octo%2Fwidgets/builds", wantStatus: 200},
		{name: "first fault", method: "GET", path: "/build/1001", wantStatus: 429, wantHeader: "5"},
		{name: "second fault", method: "GET", path: "/build/1001", wantStatus: 502},
		{name: "script used up", method: "GET", path: "/build/1001", wantStatus: 200},
		{name: "any path of a method", method: "POST", path: "/build/1001/cancel", wantStatus: 503},
		{name: "then the real answer", method: "POST", path: "/build/1001/cancel", wantStatus: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.URL+tt.path, nil)
			req.Header.Set("Travis-API-Version", "3")
			req.Header.Set("Authorization", "token "+s.Token)
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Retry-After") != tt.wantHeader {
				t.Errorf("got %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tt.wantStatus, tt.wantHeader)
			}
		})
	}
	if n := len(s.Requests()); n != len(tests) {
		t.Errorf("%d requests recorded, want %d", n, len(tests))
	}
}

func TestHangEndsWithClient(t *testing.T) {
	s := travistest.NewServer(t)
	s.AddBuild(travistest.Build{Repo: slug})
	s.Inject("GET", "/build/1001", travistest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/build/1001", nil)
	start := time.Now()
	_, err := s.Client().Do(req)
	if err == nil {
		t.Fatal("hanging request answered")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("hang was not cut by the client's context")
	}
}

func TestCreateRequest(t *testing.T) {
	s := travistest.NewServer(t)
	s.AddRepo(slug)
	s.RequestLimit = 2
	body := `{"request": {"branch": "gh-pages", "message": "preview", "merge_mode": "deep_merge_append",
		"config": {"env": {"global": ["A=1"]}}}}`

	status, got := call(t, s, "POST", "/repo/octo%2Fwidgets/requests", body, nil)
	if status != 202 || got["@type"] != "pending" || got["remaining_requests"] != 1.0 || got["resource_type"] != "request" {
		t.Fatalf("first request: %d %v", status, got)
	}
	req := got["request"].(map[string]any)
	if req["id"] != 301.0 || req["branch"] != "gh-pages" || req["message"] != "preview" {
		t.Errorf("request = %v", req)
	}
	// Accepted, but Travis makes the build later.
	want := []travistest.Trigger{{
		ID: 301, Repo: slug, Branch: "gh-pages", Message: "preview", MergeMode: "deep_merge_append",
		Config: map[string]any{"env": map[string]any{"global": []any{"A=1"}}},
	}}
	if diff := cmp.Diff(want, s.Triggers()); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
	if b, ok := s.Build(1001); ok {
		t.Errorf("a build exists at once: %+v", b)
	}
	want[0].BuildID = s.CarryOutRequest(301).ID
	if diff := cmp.Diff(want, s.Triggers()); diff != "" {
		t.Errorf("triggers once built (-want +got):\n%s", diff)
	}
	if b, ok := s.Build(want[0].BuildID); !ok || b.EventType != "api" || b.Branch != "gh-pages" || b.State != "created" || b.CommitMessage != "preview" {
		t.Errorf("build made from the request = %+v", b)
	}

	if status, _ := call(t, s, "POST", "/repo/octo%2Fwidgets/requests", `{"request": {}}`, nil); status != 202 {
		t.Errorf("second request: %d", status)
	}
	status, got = call(t, s, "POST", "/repo/octo%2Fwidgets/requests", `{"request": {}}`, nil)
	if status != 429 || got["error_type"] != "request_limit_reached" {
		t.Errorf("request over the limit: %d %v", status, got)
	}
	status, got = call(t, s, "POST", "/repo/octo%2Fwidgets/requests", `{not json`, nil)
	if status != 400 || got["error_type"] != "wrong_params" {
		t.Errorf("bad body: %d %v", status, got)
	}
}

// requestView is what a read of a build request shows.
func requestView(body map[string]any) string {
	var builds []string
	list, _ := body["builds"].([]any)
	for _, b := range list {
		builds = append(builds, fmt.Sprint(b.(map[string]any)["id"]))
	}
	return fmt.Sprintf("%v %v %v", body["state"], body["result"], builds)
}

// TestRequestLag: a request shows no build for the lag's reads, whichever
// the reads are (the request, a list of requests, a list of the
// repository's builds), then its build; a rejected request never gets one.
func TestRequestLag(t *testing.T) {
	read := map[string]func(t *testing.T, s *travistest.Server) string{
		"request": func(t *testing.T, s *travistest.Server) string {
			status, body := call(t, s, "GET", "/repo/octo%2Fwidgets/request/301", "", nil)
			if status != 200 || body["@type"] != "request" {
				t.Fatalf("GET request: %d %v", status, body)
			}
			return requestView(body)
		},
		"requests": func(t *testing.T, s *travistest.Server) string {
			status, body := call(t, s, "GET", "/repo/octo%2Fwidgets/requests", "", nil)
			list, _ := body["requests"].([]any)
			if status != 200 || body["@type"] != "requests" || len(list) != 1 {
				t.Fatalf("GET requests: %d %v", status, body)
			}
			return requestView(list[0].(map[string]any))
		},
		"builds": func(t *testing.T, s *travistest.Server) string {
			status, body := call(t, s, "GET", "/repo/octo%2Fwidgets/builds?event_type=api", "", nil)
			list, _ := body["builds"].([]any)
			if status != 200 {
				t.Fatalf("GET builds: %d %v", status, body)
			}
			return fmt.Sprintf("%d api builds", len(list))
		},
	}
	tests := []struct {
		name   string
		lag    int
		reject bool
		read   string
		want   []string
	}{
		{"default lag, read as the request", -1, false, "request", []string{"pending <nil> []", "pending <nil> []", "finished approved [1001]", "finished approved [1001]"}},
		{"lag 1, read in the list", 1, false, "requests", []string{"pending <nil> []", "finished approved [1001]"}},
		{"lag 1, read as the builds", 1, false, "builds", []string{"0 api builds", "1 api builds"}},
		{"no lag", 0, false, "request", []string{"finished approved [1001]"}},
		{"rejected", 1, true, "request", []string{"pending <nil> []", "finished rejected []", "finished rejected []"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := travistest.NewServer(t)
			s.AddRepo(slug)
			if tt.lag >= 0 {
				s.SetRequestLag(tt.lag)
			}
			s.RejectRequests(tt.reject)
			if status, _ := call(t, s, "POST", "/repo/octo%2Fwidgets/requests", `{"request": {"branch": "main", "message": "docs"}}`, nil); status != 202 {
				t.Fatalf("POST request: %d", status)
			}
			var got []string
			for range tt.want {
				got = append(got, read[tt.read](t, s))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
			wantBuild := int64(1001)
			if tt.reject {
				wantBuild = 0
			}
			if id := s.Triggers()[0].BuildID; id != wantBuild {
				t.Errorf("trigger's build %d, want %d", id, wantBuild)
			}
		})
	}
}

// TestRequestBuild: the build of a request is on the request's branch, at
// the branch's newest commit the fake knows, with the request's message;
// another repository's request is not found.
func TestRequestBuild(t *testing.T) {
	s := travistest.NewServer(t)
	s.AddBuild(travistest.Build{Repo: slug, Branch: "main", CommitSHA: strings.Repeat("a", 40)})
	s.AddBuild(travistest.Build{Repo: slug, Branch: "main", CommitSHA: strings.Repeat("b", 40)})
	s.AddBuild(travistest.Build{Repo: slug, Branch: "other", CommitSHA: strings.Repeat("c", 40)})
	s.AddBuild(travistest.Build{Repo: slug, Branch: "main", PullRequestNumber: 4, CommitSHA: strings.Repeat("d", 40)})
	s.AddRepo("octo/other")
	if status, _ := call(t, s, "POST", "/repo/octo%2Fwidgets/requests", `{"request": {"branch": "main", "message": "docs (m-1)"}}`, nil); status != 202 {
		t.Fatalf("POST request: %d", status)
	}
	b := s.CarryOutRequest(301)
	if b.EventType != "api" || b.Branch != "main" || b.CommitSHA != strings.Repeat("b", 40) || b.CommitMessage != "docs (m-1)" {
		t.Errorf("build = %+v, want an api build of main's head b… with the request's message", b)
	}
	status, body := call(t, s, "GET", fmt.Sprintf("/build/%d?include=build.commit", b.ID), "", nil)
	if commit, _ := body["commit"].(map[string]any); status != 200 || commit["message"] != "docs (m-1)" {
		t.Errorf("GET build: %d %v", status, body)
	}
	status, body = call(t, s, "GET", "/repo/octo%2Fwidgets/request/301", "", nil)
	if status != 200 || body["branch_name"] != "main" || body["message"] != "docs (m-1)" || body["event_type"] != "api" || body["created_at"] == nil {
		t.Errorf("GET request: %d %v", status, body)
	}
	for _, path := range []string{"/repo/octo%2Fother/request/301", "/repo/octo%2Fwidgets/request/302", "/repo/octo%2Fwidgets/request/x"} {
		if status, body := call(t, s, "GET", path, "", nil); status != 404 || body["error_type"] != "not_found" {
			t.Errorf("GET %s: %d %v, want 404", path, status, body)
		}
	}
}
