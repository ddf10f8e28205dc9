package pages

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/queue"
)

// detailJobs is a Jobs with full job details.
type detailJobs map[int64]*queue.JobDetail

func (d detailJobs) JobsForPR(context.Context, int, int) ([]queue.JobSummary, error) { return nil, nil }
func (d detailJobs) JobByID(_ context.Context, id int64) (*queue.JobDetail, error) {
	return d[id], nil
}
func (d detailJobs) ActiveJobs(context.Context, int) ([]queue.JobSummary, error) { return nil, nil }
func (d detailJobs) RecentFailures(context.Context, time.Time, int) ([]queue.JobSummary, error) {
	return nil, nil
}

func jobFixture() (detailJobs, *records) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	js := detailJobs{
		7: {JobSummary: queue.JobSummary{ID: 7, Kind: "comment", State: "retryable", Attempt: 2, PR: 12, Author: "mallory",
			Body: "BUILDBOT: UPDATE <script>alert(1)</script>", CreatedAt: t0, Failed: true},
			Queue: "updates", MaxAttempts: 8, ScheduledAt: t0.Add(time.Minute), AttemptedAt: t0.Add(30 * time.Second),
			Failures: []queue.JobFailure{{Attempt: 1, At: t0.Add(10 * time.Second)}, {Attempt: 2, At: t0.Add(40 * time.Second)}}},
		8: {JobSummary: queue.JobSummary{ID: 8, Kind: "ci_wait", State: "scheduled", Attempt: 1, PR: 12, CreatedAt: t0},
			Queue: "ci", MaxAttempts: 10, ScheduledAt: time.Now().Add(time.Hour).UTC()},
		9: {JobSummary: queue.JobSummary{ID: 9, Kind: "comment", State: "completed", Attempt: 1, PR: 13, Author: "bob", Body: "BUILDBOT: PLAN",
			CreatedAt: t0}, Queue: "commands", MaxAttempts: 8, FinalizedAt: t0.Add(time.Minute)},
	}
	rec := &records{}
	rec.appendLog(7, "info", "update: publishing build 4711")
	rec.appendLog(7, "error", `push refused <img src=x onerror=alert(2)> name="x"`)
	rec.appendLog(9, "info", "plan: done")
	return js, rec
}

// TestJobPage: a job's kind, state, PR, who asked and the command, its
// times and failed attempts (never the errors), and its log lines,
// escaped; a job still running polls for more, an ended one does not.
func TestJobPage(t *testing.T) {
	js, rec := jobFixture()
	h := New(Options{Repo: "o/r", Branches: branches{}, Jobs: js, Store: rec})
	code, body := get(t, h, "/jobs/7")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		"Job 7: comment", `<a href="/pr/12">#12</a>`, "retryable", "@mallory",
		"BUILDBOT: UPDATE &lt;script&gt;alert(1)&lt;/script&gt;",
		"2 of at most 8", "attempt 1, 2026-05-01 12:00 UTC", "attempt 2, 2026-05-01 12:00 UTC", "why is in refbot's log",
		"update: publishing build 4711",
		"push refused &lt;img src=x onerror=alert(2)&gt; name=&#34;x&#34;",
		`data-after="2"`, "<noscript>", "setTimeout(poll, 2000)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Error("the page holds unescaped input")
	}

	_, body = get(t, h, "/jobs/8")
	if !strings.Contains(body, "waiting for CI until ") {
		t.Error("a snoozed CI wait does not say until when")
	}
	_, body = get(t, h, "/jobs/9")
	if strings.Contains(body, "setTimeout(poll") || strings.Contains(body, "<noscript>") || !strings.Contains(body, "plan: done") {
		t.Error("an ended job's page polls, or lacks its log")
	}
	for _, p := range []string{"/jobs/404", "/jobs/abc", "/jobs/-1", "/jobs/0", "/jobs/404/log", "/jobs/x/log"} {
		if code, _ := get(t, h, p); code != 404 {
			t.Errorf("%s: status %d, want 404", p, code)
		}
	}
}

// TestJobLogRoute: /jobs/{id}/log answers the lines after ?after= as
// JSON, with whether the job ended.
func TestJobLogRoute(t *testing.T) {
	js, rec := jobFixture()
	h := New(Options{Repo: "o/r", Branches: branches{}, Jobs: js, Store: rec})
	read := func(path string) jobLogAnswer {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d, %s", path, w.Code, w.Header().Get("Content-Type"))
		}
		var a jobLogAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	want := jobLogAnswer{State: "retryable", Lines: []logLine{
		{Seq: 2, Attempt: 1, Time: "2026-05-01 12:00:01", Level: "error", Message: `push refused <img src=x onerror=alert(2)> name="x"`}}}
	if d := cmp.Diff(want, read("/jobs/7/log?after=1")); d != "" {
		t.Errorf("after 1 (-want +got):\n%s", d)
	}
	if a := read("/jobs/7/log"); len(a.Lines) != 2 {
		t.Errorf("without after: %d lines, want 2", len(a.Lines))
	}
	if a := read("/jobs/7/log?after=2"); a.Lines == nil || len(a.Lines) != 0 {
		t.Errorf("after the last line: %#v, want an empty list", a.Lines)
	}
	if a := read("/jobs/9/log"); !a.Finished || a.State != "completed" {
		t.Errorf("an ended job: %+v", a)
	}
	for _, bad := range []string{"/jobs/7/log?after=x", "/jobs/7/log?after=-1"} {
		if code, _ := get(t, h, bad); code != 400 {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
}
