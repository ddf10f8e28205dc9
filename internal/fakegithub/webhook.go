package fakegithub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Example is one webhook payload example GitHub's documentation publishes
// (npm package @octokit/webhooks-examples, the api.github.com set).
type Example struct {
	Event   string // X-GitHub-Event, e.g. issue_comment
	Action  string // the payload's action, "" for events without one
	Name    string // unique, e.g. issue_comment.created#3
	Payload []byte
}

type webhookTemplates struct {
	examples []Example
}

var (
	hooksOnce sync.Once
	hooksVal  *webhookTemplates
	hooksErr  error
)

func loadWebhookTemplates() (*webhookTemplates, error) {
	hooksOnce.Do(func() {
		dir, err := NodeModules()
		if err != nil {
			hooksErr = err
			return
		}
		path := filepath.Join(dir, webhookExamples)
		b, err := os.ReadFile(path)
		if err != nil {
			hooksErr = fmt.Errorf("read webhook examples: %w", err)
			return
		}
		var index []struct {
			Name     string            `json:"name"`
			Examples []json.RawMessage `json:"examples"`
		}
		if err := json.Unmarshal(b, &index); err != nil {
			hooksErr = fmt.Errorf("decode webhook examples %s: %w", path, err)
			return
		}
		t := &webhookTemplates{}
		for _, ev := range index {
			for i, raw := range ev.Examples {
				var head struct {
					Action string `json:"action"`
				}
				if err := json.Unmarshal(raw, &head); err != nil {
					hooksErr = fmt.Errorf("decode webhook example %s#%d: %w", ev.Name, i, err)
					return
				}
				name := ev.Name
				if head.Action != "" {
					name += "." + head.Action
				}
				t.examples = append(t.examples, Example{
					Event:   ev.Name,
					Action:  head.Action,
					Name:    fmt.Sprintf("%s#%d", name, i),
					Payload: []byte(raw),
				})
			}
		}
		hooksVal = t
	})
	return hooksVal, hooksErr
}

// LoadWebhookExamples returns every api.github.com webhook payload example
// of @octokit/webhooks-examples.
func LoadWebhookExamples() ([]Example, error) {
	t, err := loadWebhookTemplates()
	if err != nil {
		return nil, err
	}
	out := make([]Example, len(t.examples))
	for i, e := range t.examples {
		e.Payload = bytes.Clone(e.Payload)
		out[i] = e
	}
	return out, nil
}

// WebhookExamples is LoadWebhookExamples for a test.
func WebhookExamples(t testing.TB) []Example {
	t.Helper()
	ex, err := LoadWebhookExamples()
	if err != nil {
		t.Fatalf("load webhook examples: %v", err)
	}
	return ex
}

// hookTemplate returns the richest example of an event and action (nil if
// there is none), decoded and with its addresses and repository pointing at
// this fake.
func (s *Server) hookTemplate(event, action string) map[string]any {
	var best []byte
	bestScore := -1
	for _, e := range s.hooks.examples {
		if e.Event != event || (action != "" && e.Action != action) {
			continue
		}
		// Prefer an App's delivery (with installation), then the longest.
		score := len(e.Payload)
		if bytes.Contains(e.Payload, []byte(`"installation"`)) {
			score += 1 << 30
		}
		if score > bestScore {
			best, bestScore = e.Payload, score
		}
	}
	if best == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(best, &m); err != nil {
		panic(err)
	}
	replaceStrings(m, strings.NewReplacer(
		"https://api.github.com/", s.APIURL(),
		"https://github.com/", s.URL+"/",
		"Codertocat/Hello-World", s.repo,
	))
	return m
}

// hookEnvelope sets the fields every repository event carries; the caller
// holds s.mu.
func (s *Server) hookEnvelope(m map[string]any, sender string) {
	m["sender"] = s.userJSON(sender)
	if repo, ok := m["repository"].(map[string]any); ok {
		repo["name"], repo["full_name"] = s.name, s.repo
		repo["owner"] = s.userJSON(s.owner)
	}
	delete(m, "organization")
	var inst *App
	for _, a := range s.st.apps {
		if inst == nil || a.InstallationID < inst.InstallationID {
			inst = a
		}
	}
	if inst != nil {
		m["installation"] = map[string]any{"id": inst.InstallationID, "node_id": nodeID("Installation", inst.InstallationID)}
	} else {
		delete(m, "installation")
	}
}

// Comment adds a comment by login to a pull request, as a person commenting
// on GitHub would, and returns the issue_comment "created" webhook payload
// GitHub sends for it, built from GitHub's published example.
func (s *Server) Comment(pr int, login, body string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPR(pr)
	cm := s.addComment(pr, login, body)
	m := s.hookTemplate("issue_comment", "created")
	m["action"] = "created"
	m["comment"] = s.commentJSON(cm)
	delete(m["comment"].(map[string]any), "pin")
	delete(m["comment"].(map[string]any), "minimized")

	issue, _ := m["issue"].(map[string]any)
	if issue == nil {
		issue = map[string]any{}
		m["issue"] = issue
	}
	issueAPI := fmt.Sprintf("%s/issues/%d", s.repoAPI(), pr)
	html := fmt.Sprintf("%s/%s/pull/%d", s.URL, s.repo, pr)
	issue["url"] = issueAPI
	issue["repository_url"] = s.repoAPI()
	issue["labels_url"] = issueAPI + "/labels{/name}"
	issue["comments_url"] = issueAPI + "/comments"
	issue["events_url"] = issueAPI + "/events"
	issue["html_url"] = html
	issue["id"] = int64(2_000_000 + pr)
	issue["node_id"] = nodeID("PullRequest", int64(1_000_000+pr))
	issue["number"] = pr
	issue["title"] = p.Title
	issue["body"] = nilIfEmpty(p.Body)
	issue["user"] = s.userJSON(p.Author)
	issue["labels"] = []any{}
	issue["state"] = p.State
	issue["locked"] = false
	issue["assignee"] = nil
	issue["assignees"] = []any{}
	issue["milestone"] = nil
	issue["comments"] = len(s.st.sortedComments(pr))
	issue["created_at"] = ts(p.CreatedAt)
	issue["updated_at"] = ts(cm.CreatedAt)
	issue["closed_at"] = ts(p.ClosedAt)
	issue["author_association"] = s.authorAssociation(p.Author)
	issue["draft"] = p.Draft
	issue["pull_request"] = map[string]any{
		"url":       fmt.Sprintf("%s/pulls/%d", s.repoAPI(), pr),
		"html_url":  html,
		"diff_url":  html + ".diff",
		"patch_url": html + ".patch",
		"merged_at": ts(p.MergedAt),
	}
	s.hookEnvelope(m, login)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// PullRequestPayload returns the pull_request webhook payload GitHub sends
// for action (opened, synchronize, closed, ...) on a pull request in its
// current state, built from GitHub's published example. sender is who acted.
// A synchronize payload's before and after are the head the last SetHead or
// ForcePush replaced and the head now; asking for one before any push is a
// mistake in the test.
func (s *Server) PullRequestPayload(number int, action, sender string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPR(number)
	m := s.hookTemplate("pull_request", action)
	if m == nil {
		m = s.hookTemplate("pull_request", "")
	}
	m["action"] = action
	m["number"] = number
	pr, _ := m["pull_request"].(map[string]any)
	if pr == nil {
		pr = map[string]any{}
	}
	m["pull_request"] = s.prJSON(p, pr, true)
	if action == "synchronize" {
		before, ok := s.st.pushedFrom[number]
		if !ok {
			panic(fmt.Sprintf("fakegithub: synchronize payload of pull request %d, which was never pushed", number))
		}
		m["before"], m["after"] = before, p.HeadSHA
	}
	s.hookEnvelope(m, sender)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// Delivery is one webhook delivery and the receiver's answer.
type Delivery struct {
	ID      string // X-GitHub-Delivery
	Event   string
	Payload []byte
	Status  int    // the receiver's status code
	Body    []byte // the receiver's answer, up to 64 KiB
}

// HookID is the X-GitHub-Hook-ID of the fake's deliveries.
const HookID = 424242

// Deliver sends a webhook delivery to url as GitHub does: POST with the
// payload as application/json, signed with secret (X-Hub-Signature-256 and
// the older X-Hub-Signature), a new X-GitHub-Delivery id, and GitHub's other
// headers. A transport error is returned; any answer is not an error.
func (s *Server) Deliver(ctx context.Context, url, secret, event string, payload []byte) (Delivery, error) {
	return s.deliver(ctx, url, secret, Delivery{ID: newUUID(), Event: event, Payload: payload})
}

// Redeliver sends a delivery again with the same X-GitHub-Delivery id, as
// GitHub's "Redeliver" button does.
func (s *Server) Redeliver(ctx context.Context, url, secret string, d Delivery) (Delivery, error) {
	return s.deliver(ctx, url, secret, Delivery{ID: d.ID, Event: d.Event, Payload: d.Payload})
}

func (s *Server) deliver(ctx context.Context, url, secret string, d Delivery) (Delivery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Payload))
	if err != nil {
		return d, fmt.Errorf("deliver %s %s: %w", d.Event, d.ID, err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/f4k3d3v")
	h.Set("X-GitHub-Event", d.Event)
	h.Set("X-GitHub-Delivery", d.ID)
	h.Set("X-GitHub-Hook-ID", strconv.Itoa(HookID))
	h.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	h.Set("X-GitHub-Hook-Installation-Target-ID", "186853002")
	if secret != "" {
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(sha256.New, secret, d.Payload))
		h.Set("X-Hub-Signature", "sha1="+hmacHex(sha1.New, secret, d.Payload))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return d, fmt.Errorf("deliver %s %s: %w", d.Event, d.ID, err)
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	d.Body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return d, fmt.Errorf("deliver %s %s: read answer: %w", d.Event, d.ID, err)
	}
	return d, nil
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for payload.
func Sign(secret string, payload []byte) string {
	return "sha256=" + hmacHex(sha256.New, secret, payload)
}

func hmacHex(h func() hash.Hash, secret string, payload []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(payload)
	return hex.EncodeToString(m.Sum(nil))
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
