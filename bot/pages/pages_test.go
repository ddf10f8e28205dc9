package pages

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/refdata"
)

type branches map[string]refdata.BranchInfo

func (b branches) CachedBranch(_ context.Context, name string) (refdata.BranchInfo, error) {
	if name == "PR13" {
		return refdata.BranchInfo{}, errors.New("connection refused")
	}
	return b[name], nil
}

type jobs map[int][]queue.JobSummary

func (j jobs) JobsForPR(_ context.Context, pr, _ int) ([]queue.JobSummary, error) { return j[pr], nil }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestPRPage(t *testing.T) {
	h := New(Options{Repo: "o/r", BaseBranch: "master",
		Branches: branches{"PR12": {Exists: true, Tip: plumbing.NewHash(strings.Repeat("a", 40)), Base: plumbing.NewHash(strings.Repeat("b", 40)),
			When: time.Now().Add(-time.Hour), Trailers: map[string]string{"Refbot-Build": "1001", "Refbot-Approved-By": "alice"}},
			// Made with the CLI for a PR refbot has not heard of.
			"PR15": {Exists: true, Tip: plumbing.NewHash(strings.Repeat("c", 40))}},
		Jobs: jobs{12: {{ID: 7, Kind: "comment", State: "retryable", Attempt: 2, Author: "mallory", Body: "BUILDBOT: UPDATE <script>alert(1)</script>",
			CreatedAt: time.Now(), Failed: true}}},
		Known: func(_ context.Context, n int) (bool, error) { return n != 999 && n != 15, nil },
	})
	code, body := get(t, h, "/pr/12")
	for _, want := range []string{"o/r #12", "<code>PR12</code>", "aaaaaaaaaaaa", "Refbot-Build", "1001", "<td>alice</td>",
		"retryable (attempt 2)", "its last attempt failed", "&lt;script&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if code != 200 || strings.Contains(body, "<script>alert") {
		t.Errorf("status %d; unescaped input: %v", code, strings.Contains(body, "<script>alert"))
	}
	if _, body := get(t, h, "/pr/14"); !strings.Contains(body, "has no data branch") {
		t.Error("a PR without a data branch is not explained")
	}
	if _, body := get(t, h, "/pr/13"); !strings.Contains(body, "could not be read just now") {
		t.Error("a data repo outage is not said")
	}
	if code, body := get(t, h, "/pr/15"); code != 200 || !strings.Contains(body, "cccccccccccc") {
		t.Errorf("a data branch of a PR refbot has not heard of: %d", code)
	}
	// A number refbot has not heard of and has no data branch for: 404,
	// from refbot's own records (no GitHub call a stranger could repeat).
	for _, p := range []string{"/pr/abc", "/pr/999"} {
		if code, _ := get(t, h, p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}
