package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memRecorder records in memory with the same duplicate rules as the real
// queue (whose own tests run against SQLite).
type memRecorder struct {
	mu         sync.Mutex
	deliveries map[string]Delivery
	comments   map[int64]bool
	fail       error
}

func newMemRecorder() *memRecorder {
	return &memRecorder{deliveries: map[string]Delivery{}, comments: map[int64]bool{}}
}

func (m *memRecorder) Record(_ context.Context, d Delivery) (Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	if _, ok := m.deliveries[d.ID]; ok {
		return Duplicate, nil
	}
	m.deliveries[d.ID] = d
	if c, ok := d.Work.(CommentWork); ok {
		if m.comments[c.CommentID] {
			return AlreadyHandled, nil
		}
		m.comments[c.CommentID] = true
	}
	return Recorded, nil
}

func (m *memRecorder) queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, d := range m.deliveries {
		if d.Work != nil {
			n++
		}
	}
	return n
}

const secret = "It's a Secret to Everybody"

func newHandler(t *testing.T, rec Recorder) *Handler {
	t.Helper()
	h, err := New(Options{
		Secrets: []string{secret}, Repo: "octo-org/octo-repo", BotLogin: "refbot[bot]", Recorder: rec,
		HasCommand: func(body string) bool { return strings.Contains(body, "BUILDBOT:") },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func post(h http.Handler, event, delivery, sig string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	if event != "" {
		r.Header.Set("X-GitHub-Event", event)
	}
	if delivery != "" {
		r.Header.Set("X-GitHub-Delivery", delivery)
	}
	if sig != "" {
		r.Header.Set("X-Hub-Signature-256", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestGitHubSignatureVector is the example from GitHub's documentation on
// validating webhook deliveries.
func TestGitHubSignatureVector(t *testing.T) {
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := Sign(secret, []byte("Hello, World!")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	h := newHandler(t, newMemRecorder())
	if !h.verify(want, []byte("Hello, World!")) {
		t.Error("the documented signature does not verify")
	}
	// A second known answer, as other webhook receivers test: body {},
	// secret abc.
	prow := "sha256=19092633e5aa9a849dfcc9d2df4e76db2df1fcba7f38915f2c7833bd8a510f2f"
	if got := Sign("abc", []byte("{}")); got != prow {
		t.Errorf("Sign({}, abc) = %s, want %s", got, prow)
	}
}

func comment(action, body, login, userType string, onPR bool, id int64) []byte {
	p := map[string]any{
		"action":     action,
		"repository": map[string]any{"full_name": "octo-org/octo-repo"},
		"issue":      map[string]any{"number": 12},
		"comment": map[string]any{"id": id, "body": body, "html_url": "https://github.com/x", "created_at": "2026-11-23T10:00:00Z",
			"user": map[string]any{"login": login, "type": userType}},
		"sender": map[string]any{"login": login, "type": userType},
	}
	if onPR {
		p["issue"].(map[string]any)["pull_request"] = map[string]any{"url": "https://api.github.com/x"}
	}
	b, _ := json.Marshal(p)
	return b
}

func TestSignatureChecks(t *testing.T) {
	body := comment("created", "BUILDBOT: UPDATE", "alice", "User", true, 1)
	good := Sign(secret, body)
	flipped := append([]byte{}, body...)
	flipped[10] ^= 1
	tests := []struct {
		name string
		sig  string
		body []byte
		code int
	}{
		{"missing", "", body, http.StatusUnauthorized},
		{"no prefix", strings.TrimPrefix(good, "sha256="), body, http.StatusForbidden},
		{"sha1 prefix", "sha1=" + strings.TrimPrefix(good, "sha256="), body, http.StatusForbidden},
		{"empty hex", "sha256=", body, http.StatusForbidden},
		{"not hex", "sha256=zz" + strings.Repeat("0", 62), body, http.StatusForbidden},
		{"short", good[:20], body, http.StatusForbidden},
		{"other secret", Sign("guess", body), body, http.StatusForbidden},
		{"one body byte flipped", good, flipped, http.StatusForbidden},
		{"good", good, body, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newMemRecorder()
			w := post(newHandler(t, rec), "issue_comment", "d-"+tc.name, tc.sig, tc.body)
			if w.Code != tc.code {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.code)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == http.StatusOK]; rec.queued() != want {
				t.Errorf("%d deliveries queued, want %d", rec.queued(), want)
			}
		})
	}
}

func TestSecretRotationAndEmptySecret(t *testing.T) {
	rec := newMemRecorder()
	h, err := New(Options{Secrets: []string{"new", "old"}, Repo: "octo-org/octo-repo", Recorder: rec, HasCommand: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	body := comment("created", "x", "alice", "User", true, 7)
	for i, s := range []string{"new", "old"} {
		if w := post(h, "issue_comment", fmt.Sprint("r", i), Sign(s, body), body); w.Code != http.StatusOK && w.Code != http.StatusAccepted {
			t.Errorf("secret %q: status %d", s, w.Code)
		}
	}
	for _, secrets := range [][]string{nil, {""}, {"ok", ""}} {
		if _, err := New(Options{Secrets: secrets, Recorder: rec, HasCommand: func(string) bool { return true }}); err == nil {
			t.Errorf("secrets %q accepted", secrets)
		}
	}
}

func TestMalformedDeliveries(t *testing.T) {
	h := newHandler(t, newMemRecorder())
	big := make([]byte, MaxBody+1)
	tests := []struct {
		name     string
		event    string
		delivery string
		body     []byte
		code     int
	}{
		{"over 25 MB", "issue_comment", "d1", big, http.StatusRequestEntityTooLarge},
		{"no event header", "", "d2", []byte(`{}`), http.StatusBadRequest},
		{"no delivery header", "issue_comment", "", []byte(`{}`), http.StatusBadRequest},
		{"not JSON", "issue_comment", "d3", []byte(`action=created`), http.StatusBadRequest},
		{"comment without user", "issue_comment", "d4", []byte(`{"action":"created","repository":{"full_name":"octo-org/octo-repo"},"issue":{"number":1,"pull_request":{}},"comment":{"id":1}}`), http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := post(h, tc.event, tc.delivery, Sign(secret, tc.body), tc.body); w.Code != tc.code {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.code)
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/webhook", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", w.Code)
	}
}

func TestWhatIsQueued(t *testing.T) {
	closed := func(merged bool, action string) []byte {
		b, _ := json.Marshal(map[string]any{"action": action, "number": 12, "repository": map[string]any{"full_name": "octo-org/octo-repo"},
			"pull_request": map[string]any{"merged": merged, "base": map[string]any{"ref": "master"}, "head": map[string]any{"sha": "abc"},
				"updated_at": "2026-11-23T11:00:00Z"}})
		return b
	}
	head := &HeadSeen{PR: 12, SHA: "abc", At: mustTime("2026-11-23T11:00:00Z")}
	tests := []struct {
		name  string
		event string
		body  []byte
		code  int
		work  Work
		head  *HeadSeen
	}{
		{"command on a PR", "issue_comment", comment("created", "BUILDBOT: UPDATE", "alice", "User", true, 5), http.StatusOK,
			CommentWork{Repo: "octo-org/octo-repo", PR: 12, CommentID: 5, Author: "alice", Body: "BUILDBOT: UPDATE", URL: "https://github.com/x", CreatedAt: mustTime("2026-11-23T10:00:00Z")}, nil},
		{"edited comment", "issue_comment", comment("edited", "BUILDBOT: UPDATE", "alice", "User", true, 5), http.StatusAccepted, nil, nil},
		{"deleted comment", "issue_comment", comment("deleted", "BUILDBOT: UPDATE", "alice", "User", true, 5), http.StatusAccepted, nil, nil},
		{"comment on an issue", "issue_comment", comment("created", "BUILDBOT: UPDATE", "alice", "User", false, 5), http.StatusAccepted, nil, nil},
		{"refbot's own comment", "issue_comment", comment("created", "BUILDBOT: UPDATE", "refbot[bot]", "Bot", true, 5), http.StatusAccepted, nil, nil},
		{"another bot", "issue_comment", comment("created", "BUILDBOT: UPDATE", "dependabot[bot]", "Bot", true, 5), http.StatusAccepted, nil, nil},
		{"no command", "issue_comment", comment("created", "LGTM", "alice", "User", true, 5), http.StatusAccepted, nil, nil},
		{"merged", "pull_request", closed(true, "closed"), http.StatusOK, PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, Merged: true, BaseRef: "master", HeadSHA: "abc"}, head},
		{"closed unmerged", "pull_request", closed(false, "closed"), http.StatusOK, PullRequestClosed{Repo: "octo-org/octo-repo", PR: 12, BaseRef: "master", HeadSHA: "abc"}, head},
		// A push, an opening or a reopening shows the head and when.
		{"opened", "pull_request", closed(false, "opened"), http.StatusOK, nil, head},
		{"synchronize", "pull_request", closed(false, "synchronize"), http.StatusOK, nil, head},
		{"reopened", "pull_request", closed(false, "reopened"), http.StatusOK, nil, head},
		{"labeled", "pull_request", closed(false, "labeled"), http.StatusOK, nil, head},
		{"no head time", "pull_request", []byte(`{"action":"synchronize","number":12,"repository":{"full_name":"octo-org/octo-repo"},"pull_request":{"head":{"sha":"abc"}}}`),
			http.StatusAccepted, nil, nil},
		{"ping", "ping", []byte(`{"zen":"x","repository":{"full_name":"octo-org/octo-repo"}}`), http.StatusAccepted, nil, nil},
		{"an App's ping", "ping", []byte(`{"zen":"x","hook_id":1,"hook":{"type":"App"}}`), http.StatusAccepted, nil, nil},
		{"other event", "star", []byte(`{"action":"created","repository":{"full_name":"octo-org/octo-repo"}}`), http.StatusAccepted, nil, nil},
		{"other repository", "issue_comment", []byte(strings.Replace(string(comment("created", "BUILDBOT: UPDATE", "alice", "User", true, 5)), "octo-org/octo-repo", "evil/repo", 1)), http.StatusAccepted, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newMemRecorder()
			w := post(newHandler(t, rec), tc.event, "d", Sign(secret, tc.body), tc.body)
			if w.Code != tc.code {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.code)
			}
			if diff := cmp.Diff(tc.work, rec.deliveries["d"].Work); diff != "" {
				t.Errorf("work (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.head, rec.deliveries["d"].Head); diff != "" {
				t.Errorf("head (-want +got):\n%s", diff)
			}
			if tc.event == "ping" && rec.deliveries["d"].Ignored != "ping" {
				t.Errorf("a ping ignored as %q", rec.deliveries["d"].Ignored)
			}
		})
	}
}

func TestRepeatsAndOutages(t *testing.T) {
	rec := newMemRecorder()
	h := newHandler(t, rec)
	body := comment("created", "BUILDBOT: UPDATE", "alice", "User", true, 99)
	sig := Sign(secret, body)
	for _, step := range []struct {
		delivery, want string
	}{{"a", "queued"}, {"a", "delivery already recorded"}, {"b", "comment already handled"}} {
		w := post(h, "issue_comment", step.delivery, sig, body)
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != step.want {
			t.Errorf("delivery %s: %d %q, want 200 %q", step.delivery, w.Code, w.Body.String(), step.want)
		}
	}
	rec.fail = fmt.Errorf("database is locked")
	if w := post(h, "issue_comment", "c", sig, body); w.Code != http.StatusServiceUnavailable {
		t.Errorf("recorder down: status %d, want 503", w.Code)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestCIEvents: with GitHub Actions as the CI, workflow_run deliveries of
// the configured workflows and pull requests' head moves become CI events;
// other workflows, other actions, and every workflow_run under Travis are
// only acknowledged.
func TestCIEvents(t *testing.T) {
	run := func(action, path string, prs []int, headRepo string) []byte {
		var list []map[string]any
		for _, n := range prs {
			list = append(list, map[string]any{"number": n})
		}
		b, _ := json.Marshal(map[string]any{"action": action, "repository": map[string]any{"full_name": "octo-org/octo-repo"},
			"workflow_run": map[string]any{"id": 77, "run_attempt": 2, "path": path, "event": "pull_request", "head_sha": "abc",
				"head_branch": "fix", "pull_requests": list, "head_repository": map[string]any{"full_name": headRepo}}})
		return b
	}
	moved := func(headRepo string) []byte {
		b, _ := json.Marshal(map[string]any{"action": "synchronize", "number": 12, "repository": map[string]any{"full_name": "octo-org/octo-repo"},
			"pull_request": map[string]any{"head": map[string]any{"sha": "abc", "repo": map[string]any{"full_name": headRepo}},
				"updated_at": "2026-11-23T11:00:00Z"}})
		return b
	}
	actions := func(path string) bool { return strings.HasSuffix(path, "/test.yaml") }
	tests := []struct {
		name       string
		ciWorkflow func(string) bool
		event      string
		body       []byte
		code       int
		work       Work
	}{
		{"a fork's run completed", actions, "workflow_run", run("completed", ".github/workflows/test.yaml", nil, "carol/octo-repo"), http.StatusOK,
			CIEvent{Repo: "octo-org/octo-repo", RunID: 77, Action: "completed", Attempt: 2, Workflow: ".github/workflows/test.yaml", RunEvent: "pull_request",
				HeadSHA: "abc", HeadBranch: "fix", HeadRepo: "carol/octo-repo"}},
		{"a run requested, with its PR", actions, "workflow_run", run("requested", ".github/workflows/test.yaml", []int{12}, "octo-org/octo-repo"), http.StatusOK,
			CIEvent{Repo: "octo-org/octo-repo", RunID: 77, Action: "requested", Attempt: 2, Workflow: ".github/workflows/test.yaml", RunEvent: "pull_request",
				HeadSHA: "abc", HeadBranch: "fix", HeadRepo: "octo-org/octo-repo", PRs: []int{12}}},
		{"another workflow", actions, "workflow_run", run("completed", ".github/workflows/docs.yaml", nil, "carol/octo-repo"), http.StatusAccepted, nil},
		{"on Travis", nil, "workflow_run", run("completed", ".github/workflows/test.yaml", nil, "carol/octo-repo"), http.StatusAccepted, nil},
		{"a fork's head moved", actions, "pull_request", moved("carol/octo-repo"), http.StatusOK,
			CIEvent{Repo: "octo-org/octo-repo", PR: 12, HeadSHA: "abc", Fork: true}},
		{"a head moved on Travis", nil, "pull_request", moved("octo-org/octo-repo"), http.StatusOK, nil},
		{"a run without id", actions, "workflow_run", []byte(`{"action":"completed","repository":{"full_name":"octo-org/octo-repo"},"workflow_run":{"path":".github/workflows/test.yaml"}}`),
			http.StatusBadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newMemRecorder()
			h, err := New(Options{Secrets: []string{secret}, Repo: "octo-org/octo-repo", Recorder: rec,
				HasCommand: func(string) bool { return false }, CIWorkflow: tc.ciWorkflow})
			if err != nil {
				t.Fatal(err)
			}
			w := post(h, tc.event, "d", Sign(secret, tc.body), tc.body)
			if w.Code != tc.code {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.code)
			}
			if diff := cmp.Diff(tc.work, rec.deliveries["d"].Work); diff != "" {
				t.Errorf("work (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVisibilityEvents: a verified repository event that makes the
// repository private or public is told to Visibility (the pages follow
// it) and queues nothing; an unsigned one, another repository's, or
// another action tells nothing.
func TestVisibilityEvents(t *testing.T) {
	var told []bool
	rec := newMemRecorder()
	h, err := New(Options{Secrets: []string{secret}, Repo: "octo-org/octo-repo", Recorder: rec,
		HasCommand: func(string) bool { return false }, Visibility: func(private bool) { told = append(told, private) }})
	if err != nil {
		t.Fatal(err)
	}
	event := func(action, repo string) []byte {
		b, _ := json.Marshal(map[string]any{"action": action, "repository": map[string]any{"full_name": repo, "private": action == "privatized"}})
		return b
	}
	for i, c := range []struct {
		body   []byte
		signed bool
		want   []bool
	}{
		{event("privatized", "octo-org/octo-repo"), true, []bool{true}},
		{event("publicized", "octo-org/octo-repo"), true, []bool{true, false}},
		{event("privatized", "octo-org/octo-repo"), false, []bool{true, false}},
		{event("privatized", "octo-org/other"), true, []bool{true, false}},
		{event("renamed", "octo-org/octo-repo"), true, []bool{true, false}},
	} {
		sig := "sha256=00"
		if c.signed {
			sig = Sign(secret, c.body)
		}
		post(h, "repository", fmt.Sprintf("vis-%d", i), sig, c.body)
		if !slices.Equal(told, c.want) {
			t.Fatalf("after delivery %d: told %v, want %v", i, told, c.want)
		}
	}
	if rec.queued() != 0 {
		t.Errorf("%d repository events queued work", rec.queued())
	}
}
