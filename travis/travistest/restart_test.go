package travistest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/travis/travistest"
)

// op is one step of a restart scenario: what the test does to build 1001
// and the state it then sees.
type op struct {
	do   string // restart, cancel, get, list, advance or set STATE
	want string // the build's state in the answer, in Advance's result; "" after set
}

// run does ops and returns each as "do → state seen". GET and list answers
// that show the build's state before the restart must show its timestamps
// too, and a created build none.
func run(t *testing.T, s *travistest.Server, old travistest.Build, ops []op) []string {
	t.Helper()
	oldStarted, oldFinished := stamp(old.StartedAt), stamp(old.FinishedAt)
	var got []string
	for _, o := range ops {
		var b map[string]any
		switch o.do {
		case "restart", "cancel":
			status, body := call(t, s, "POST", fmt.Sprintf("/build/%d/%s", old.ID, o.do), "", nil)
			if status != http.StatusAccepted || body["@type"] != "pending" {
				t.Fatalf("%s: %d %v", o.do, status, body)
			}
			b = body["build"].(map[string]any)
		case "get":
			_, b = call(t, s, "GET", fmt.Sprintf("/build/%d", old.ID), "", nil)
		case "list":
			_, body := call(t, s, "GET", "/repo/octo%2Fwidgets/builds", "", nil)
			b = body["builds"].([]any)[0].(map[string]any)
		case "advance":
			got = append(got, o.do+" → "+s.Advance(old.ID))
			continue
		default:
			state, ok := strings.CutPrefix(o.do, "set ")
			if !ok {
				t.Fatalf("unknown op %q", o.do)
			}
			s.SetState(old.ID, state)
			got = append(got, o.do+" → ")
			continue
		}
		state := b["state"].(string)
		got = append(got, o.do+" → "+state)
		if o.do != "get" && o.do != "list" {
			continue
		}
		switch state {
		case old.State:
			if b["started_at"] != oldStarted || b["finished_at"] != oldFinished {
				t.Errorf("%s: old state with started_at %v finished_at %v, want %s %s", o.do, b["started_at"], b["finished_at"], oldStarted, oldFinished)
			}
		case "created":
			if b["started_at"] != nil || b["finished_at"] != nil {
				t.Errorf("%s: created build with started_at %v finished_at %v", o.do, b["started_at"], b["finished_at"])
			}
		}
	}
	return got
}

// stamp is t as the API renders it.
func stamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(time.RFC3339)
}

func lines(ops []op) []string {
	var l []string
	for _, o := range ops {
		l = append(l, o.do+" → "+o.want)
	}
	return l
}

func TestRestartIsAsynchronous(t *testing.T) {
	started := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	failed := travistest.Build{
		State: "failed", StartedAt: started, FinishedAt: started.Add(5 * time.Minute),
		Jobs: []travistest.Job{{State: "failed"}, {State: "passed"}},
	}
	running := travistest.Build{State: "started", StartedAt: started, Jobs: []travistest.Job{{State: "passed"}, {State: "started"}}}
	tests := []struct {
		name          string
		build         travistest.Build
		defaultLag    bool // leave the lag of a new Server, else SetRestartLag(lag)
		lag           int
		advanceOnPoll bool
		drop          bool
		ops           []op
		wantJobs      []string
		wantRestarts  int
		wantCancels   int
	}{
		{
			name: "default lag: one old answer, lists do not count", build: failed, defaultLag: true,
			ops: []op{
				{"restart", "failed"}, {"list", "failed"}, {"get", "failed"}, {"list", "failed"},
				{"get", "created"}, {"list", "created"}, {"get", "created"},
			},
			wantJobs: []string{"created", "created"}, wantRestarts: 1,
		},
		{
			name: "lag 0 resets before the 202", build: failed, lag: 0,
			ops:      []op{{"restart", "created"}, {"list", "created"}, {"get", "created"}},
			wantJobs: []string{"created", "created"}, wantRestarts: 1,
		},
		{
			name: "lag 1", build: failed, lag: 1,
			ops:      []op{{"restart", "failed"}, {"get", "failed"}, {"get", "created"}},
			wantJobs: []string{"created", "created"}, wantRestarts: 1,
		},
		{
			name: "lag 3", build: failed, lag: 3,
			ops: []op{
				{"restart", "failed"}, {"get", "failed"}, {"get", "failed"}, {"get", "failed"},
				{"get", "created"}, {"get", "created"},
			},
			wantJobs: []string{"created", "created"}, wantRestarts: 1,
		},
		{
			name: "a second restart joins the pending one", build: failed, lag: 1,
			ops:      []op{{"restart", "failed"}, {"get", "failed"}, {"restart", "failed"}, {"get", "created"}},
			wantJobs: []string{"created", "created"}, wantRestarts: 2,
		},
		{
			name: "advance on poll, lag 0", build: failed, lag: 0, advanceOnPoll: true,
			ops:      []op{{"restart", "created"}, {"get", "started"}, {"get", "passed"}},
			wantJobs: []string{"passed", "passed"}, wantRestarts: 1,
		},
		{
			name: "advance on poll waits for the restart, lag 1", build: failed, lag: 1, advanceOnPoll: true,
			ops: []op{
				{"restart", "failed"}, {"get", "failed"}, {"get", "created"}, {"get", "started"}, {"get", "passed"},
			},
			wantJobs: []string{"passed", "passed"}, wantRestarts: 1,
		},
		{
			name: "advance on poll waits for the restart, lag 3", build: failed, lag: 3, advanceOnPoll: true,
			ops: []op{
				{"restart", "failed"}, {"get", "failed"}, {"get", "failed"}, {"get", "failed"},
				{"get", "created"}, {"get", "started"},
			},
			wantJobs: []string{"started", "started"}, wantRestarts: 1,
		},
		{
			name: "Advance carries out the pending restart as its step", build: failed, lag: 3,
			ops:      []op{{"restart", "failed"}, {"advance", "created"}, {"get", "created"}, {"advance", "started"}},
			wantJobs: []string{"started", "started"}, wantRestarts: 1,
		},
		{
			name: "SetState carries out the pending restart first", build: failed, lag: 3,
			ops:      []op{{"restart", "failed"}, {"set started", ""}, {"get", "started"}, {"get", "started"}},
			wantJobs: []string{"started", "started"}, wantRestarts: 1,
		},
		{
			name: "dropped restarts are counted and change nothing", build: failed, lag: 1, drop: true, advanceOnPoll: true,
			ops: []op{
				{"restart", "failed"}, {"get", "failed"}, {"get", "failed"}, {"restart", "failed"}, {"get", "failed"},
				{"list", "failed"},
			},
			wantJobs: []string{"failed", "passed"}, wantRestarts: 2,
		},
		{
			name: "cancel drops the pending restart of a finished build", build: failed, lag: 1, advanceOnPoll: true,
			ops:      []op{{"restart", "failed"}, {"cancel", "failed"}, {"get", "failed"}, {"get", "failed"}},
			wantJobs: []string{"failed", "passed"}, wantRestarts: 1, wantCancels: 1,
		},
		{
			name: "cancel of a running build with a pending restart cancels it as it stands", build: running, lag: 1,
			ops:      []op{{"restart", "started"}, {"cancel", "canceled"}, {"get", "canceled"}, {"get", "canceled"}},
			wantJobs: []string{"passed", "canceled"}, wantRestarts: 1, wantCancels: 1,
		},
		{
			name: "a restart after a cancel is pending again", build: failed, lag: 1,
			ops: []op{
				{"restart", "failed"}, {"cancel", "failed"}, {"restart", "failed"}, {"get", "failed"}, {"get", "created"},
			},
			wantJobs: []string{"created", "created"}, wantRestarts: 2, wantCancels: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := travistest.NewServer(t)
			if !tt.defaultLag {
				s.SetRestartLag(tt.lag)
			}
			s.SetAdvanceOnPoll(tt.advanceOnPoll)
			s.DropRestarts(tt.drop)
			tt.build.Repo = slug
			b := s.AddBuild(tt.build)

			got := run(t, s, b, tt.ops)
			if diff := cmp.Diff(lines(tt.ops), got); diff != "" {
				t.Errorf("states seen (-want +got):\n%s", diff)
			}
			after, _ := s.Build(b.ID)
			var jobs []string
			for _, j := range after.Jobs {
				jobs = append(jobs, j.State)
			}
			if diff := cmp.Diff(tt.wantJobs, jobs); diff != "" {
				t.Errorf("job states at the end (-want +got):\n%s", diff)
			}
			if s.Restarts(b.ID) != tt.wantRestarts || s.Cancels(b.ID) != tt.wantCancels {
				t.Errorf("restarts, cancels = %d, %d, want %d, %d", s.Restarts(b.ID), s.Cancels(b.ID), tt.wantRestarts, tt.wantCancels)
			}
		})
	}
}

// TestDropRestartsOff: restarts accepted after DropRestarts(false) are
// carried out again.
func TestDropRestartsOff(t *testing.T) {
	s := travistest.NewServer(t)
	b := s.AddBuild(travistest.Build{Repo: slug, State: "failed"})
	s.DropRestarts(true)
	s.DropRestarts(false)
	got := run(t, s, b, []op{{"restart", "failed"}, {"get", "failed"}, {"get", "created"}})
	if diff := cmp.Diff([]string{"restart → failed", "get → failed", "get → created"}, got); diff != "" {
		t.Errorf("states seen (-want +got):\n%s", diff)
	}
}

// post sends a bodiless POST as the travis client would and returns the
// status, or 0 when no answer came within wait.
func post(t *testing.T, s *travistest.Server, path string, wait time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Travis-API-Version", "3")
	req.Header.Set("Authorization", "token "+s.Token)
	resp, err := s.Client().Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return 0
	}
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPerformedFaults: a Fault with Perform carries out the request, then
// answers the fault, and the client cannot tell from the answer.
func TestPerformedFaults(t *testing.T) {
	tests := []struct {
		name         string
		state        string // of build 1001
		path         string
		fault        travistest.Fault
		wantStatus   int // 0: no answer
		ops          []op
		wantRestarts int
		wantCancels  int
		wantTriggers int
	}{
		{
			name: "restart done, answered 500", state: "failed", path: "/build/1001/restart",
			fault: travistest.Performed(travistest.ServerError(500)), wantStatus: 500,
			ops: []op{{"get", "failed"}, {"get", "created"}}, wantRestarts: 1,
		},
		{
			name: "restart done, connection cut", state: "failed", path: "/build/1001/restart",
			fault: travistest.Performed(travistest.Hang()), wantStatus: 0,
			ops: []op{{"get", "failed"}, {"get", "created"}}, wantRestarts: 1,
		},
		{
			name: "restart done, body cut off", state: "failed", path: "/build/1001/restart",
			fault: travistest.Performed(travistest.Malformed()), wantStatus: 200,
			ops: []op{{"get", "failed"}, {"get", "created"}}, wantRestarts: 1,
		},
		{
			name: "restart not done, answered 500", state: "failed", path: "/build/1001/restart",
			fault: travistest.ServerError(500), wantStatus: 500,
			ops: []op{{"get", "failed"}, {"get", "failed"}},
		},
		{
			name: "cancel done, answered 502", state: "started", path: "/build/1001/cancel",
			fault: travistest.Performed(travistest.ServerError(502)), wantStatus: 502,
			ops: []op{{"get", "canceled"}}, wantCancels: 1,
		},
		{
			name: "cancel done, connection cut", state: "started", path: "/build/1001/cancel",
			fault: travistest.Performed(travistest.Hang()), wantStatus: 0,
			ops: []op{{"get", "canceled"}}, wantCancels: 1,
		},
		{
			name: "build request made, answered 503", state: "passed", path: "/repo/octo%2Fwidgets/requests",
			fault: travistest.Performed(travistest.Unavailable("")), wantStatus: 503,
			ops: []op{{"get", "passed"}}, wantTriggers: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := travistest.NewServer(t)
			b := s.AddBuild(travistest.Build{Repo: slug, State: tt.state})
			s.Inject("POST", tt.path, tt.fault)
			if tt.wantTriggers > 0 {
				// A build request needs a JSON body: send it as the client does.
				if status, _ := call(t, s, "POST", tt.path, `{"request": {}}`, nil); status != tt.wantStatus {
					t.Errorf("status %d, want %d", status, tt.wantStatus)
				}
			} else {
				wait := 10 * time.Second
				if tt.fault.Hang {
					wait = 100 * time.Millisecond
				}
				if status := post(t, s, tt.path, wait); status != tt.wantStatus {
					t.Errorf("status %d, want %d", status, tt.wantStatus)
				}
			}
			if tt.fault.Hang {
				// The client gave up on its own clock: let the fake finish
				// carrying the request out before looking.
				for end := time.Now().Add(5 * time.Second); s.Restarts(b.ID)+s.Cancels(b.ID) == 0 && time.Now().Before(end); {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if diff := cmp.Diff(lines(tt.ops), run(t, s, b, tt.ops)); diff != "" {
				t.Errorf("states seen after (-want +got):\n%s", diff)
			}
			if s.Restarts(b.ID) != tt.wantRestarts || s.Cancels(b.ID) != tt.wantCancels || len(s.Triggers()) != tt.wantTriggers {
				t.Errorf("restarts, cancels, triggers = %d, %d, %d, want %d, %d, %d",
					s.Restarts(b.ID), s.Cancels(b.ID), len(s.Triggers()), tt.wantRestarts, tt.wantCancels, tt.wantTriggers)
			}
		})
	}
}
