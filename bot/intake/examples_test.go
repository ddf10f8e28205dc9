package intake_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
)

// recording wraps the real queue and remembers the work of each delivery.
type recording struct {
	q    *queue.Queue
	mu   sync.Mutex
	work map[string]intake.Work
}

func (r *recording) Record(ctx context.Context, d intake.Delivery) (intake.Outcome, error) {
	out, err := r.q.Record(ctx, d)
	if err == nil && out == intake.Recorded {
		r.mu.Lock()
		r.work[d.ID] = d.Work
		r.mu.Unlock()
	}
	return out, err
}

// expected says what refbot should queue for a payload, worked out from
// the payload itself, independently of the handler's decoding.
func expected(event string, p map[string]any) string {
	action, _ := p["action"].(string)
	switch {
	case event == "pull_request" && action == "closed":
		return "pr_closed"
	case event == "issue_comment" && action == "created":
		issue, _ := p["issue"].(map[string]any)
		comment, _ := p["comment"].(map[string]any)
		user, _ := comment["user"].(map[string]any)
		body, _ := comment["body"].(string)
		if issue["pull_request"] == nil || user["type"] == "Bot" || command.Parse(body, "").Empty() {
			return ""
		}
		return "comment"
	}
	return ""
}

// TestEveryGitHubExample sends every api.github.com payload example of
// @octokit/webhooks-examples, signed, to the real handler backed by the real
// queue: each gets a 2xx and exactly the work it should (or none). Comment
// examples are sent a second time with a command in their body, so the
// handled path is exercised too.
func TestEveryGitHubExample(t *testing.T) {
	examples := fakegithub.WebhookExamples(t)
	if len(examples) < 100 {
		t.Fatalf("only %d examples loaded", len(examples))
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "refbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := queue.Open(context.Background(), queue.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rec := &recording{q: q, work: map[string]intake.Work{}}
	const secret = "examples-secret"
	events := map[string]bool{}
	handled := 0
	for i, ex := range examples {
		var p map[string]any
		if err := json.Unmarshal(ex.Payload, &p); err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		variants := [][]byte{ex.Payload}
		if ex.Event == "issue_comment" {
			if c, ok := p["comment"].(map[string]any); ok {
				c["body"] = "Looks good.\n\nBUILDBOT: UPDATE\n"
				c["id"] = 900000 + i // a comment of its own
				b, _ := json.Marshal(p)
				variants = append(variants, b)
			}
		}
		repo := ""
		if r, ok := p["repository"].(map[string]any); ok {
			repo, _ = r["full_name"].(string)
		}
		h, err := intake.New(intake.Options{
			Secrets: []string{secret}, Repo: repo, BotLogin: "refbot[bot]", Recorder: rec,
			HasCommand: func(body string) bool { return !command.Parse(body, "").Empty() },
		})
		if err != nil {
			t.Fatal(err)
		}
		for j, body := range variants {
			var pp map[string]any
			json.Unmarshal(body, &pp)
			want := expected(ex.Event, pp)
			if repo == "" {
				want = "" // no repository: not for refbot
			}
			id := ex.Name + "/" + string(rune('a'+j))
			r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(string(body)))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Event", ex.Event)
			r.Header.Set("X-GitHub-Delivery", id)
			r.Header.Set("X-Hub-Signature-256", fakegithub.Sign(secret, body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code/100 != 2 {
				t.Errorf("%s: status %d: %s", id, w.Code, strings.TrimSpace(w.Body.String()))
				continue
			}
			got := ""
			switch rec.work[id].(type) {
			case intake.CommentWork:
				got = "comment"
			case intake.PullRequestClosed:
				got = "pr_closed"
			}
			if got != want {
				t.Errorf("%s: queued %q, want %q", id, got, want)
			}
			if got != "" {
				handled++
			}
			events[ex.Event] = true
		}
	}
	t.Logf("%d examples of %d events; %d queued work", len(examples), len(events), handled)
	if handled == 0 {
		t.Error("no example was handled: the test would pass with a handler that ignores everything")
	}
}
