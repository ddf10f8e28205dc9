// Package intake is refbot's front door for GitHub webhooks: it verifies a
// delivery's signature over the raw body, decodes only what refbot acts on,
// decides whether the delivery asks for work, and has it recorded durably
// before answering. The work itself happens later, in jobs.
//
// Answers (after palantir/go-githubapp): 200 recorded work or a repeat of a
// recorded delivery, 202 understood but nothing to do, 400 malformed, 401 no
// signature, 403 wrong signature, 413 body over the cap, 503 the recorder is
// down or too many large bodies are being read (GitHub shows it, and the
// reconciler catches up later).
//
// Memory: a body announced over the cap is refused before a byte of it is
// read, one without a length is cut at the cap, and bodies over SmallBody
// (or of unknown length) are read LargeBodies at a time; the deliveries
// refbot acts on are well under SmallBody and never wait for large ones.
package intake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/internal/failpoint"
)

// MaxBody is GitHub's own cap on a webhook payload.
const MaxBody = 25 << 20

// SmallBody is the largest body read without waiting for a turn. The
// deliveries refbot acts on stay under it: a comment's and an issue's
// text are each at most 65,536 characters; what GitHub sends larger
// (pushes with many commits) refbot ignores, and a sender without the
// secret has no business sending anything.
const SmallBody = 1 << 20

// Defaults of Options.LargeBodies and Options.LargeBodyWait.
const (
	DefaultLargeBodies = 4
	// DefaultLargeBodyWait leaves a delivery that waited for its turn
	// time to be read and recorded within GitHub's 10 s. Waiting costs
	// no memory: the unread body stays with the sender (TCP's flow
	// control), and an answer of 503 would lose the delivery (GitHub
	// does not retry; only the reconciler would find it).
	DefaultLargeBodyWait = 5 * time.Second
)

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "10"

// Delivery is one webhook delivery as received.
type Delivery struct {
	ID       string // X-GitHub-Delivery
	Event    string // X-GitHub-Event
	Action   string
	Received time.Time
	// Work is what the delivery asks refbot to do; nil when nothing.
	Work Work
	// Head, when set, is what the delivery shows of a pull request's head:
	// refbot keeps it to know which head a later comment was about.
	Head *HeadSeen
	// OpenPR, when set, is an open pull request as the delivery shows it,
	// for the list of open PRs on refbot's index page (a closed one leaves
	// the list by its PullRequestClosed work).
	OpenPR *OpenPR
	// Ignored says why a delivery asks for nothing (for the record).
	Ignored string
}

// HeadSeen says that SHA was pull request PR's head at At (GitHub's clock:
// the pull request's updated_at in the payload; a push updates it).
type HeadSeen struct {
	PR  int
	SHA string
	At  time.Time
}

// OpenPR is an open pull request as a pull_request delivery shows it;
// UpdatedAt orders it against other views of the PR.
type OpenPR struct {
	PR        int
	Title     string
	Author    string
	Head      string
	Base      string
	Draft     bool
	Fork      bool
	UpdatedAt time.Time
}

// Work is a unit of work a delivery asks for. Its concrete types are
// CommentWork, PullRequestClosed and CIEvent.
type Work interface{ work() }

// CommentWork: a new comment on a pull request that holds at least one line
// addressed to refbot.
type CommentWork struct {
	Repo         string    `json:"repo"`
	PR           int       `json:"pr"`
	CommentID    int64     `json:"comment_id"`
	Author       string    `json:"author"`
	Body         string    `json:"body"`
	URL          string    `json:"url"`
	CreatedAt    time.Time `json:"created_at"`
	Installation int64     `json:"installation,omitempty"`
	// Trusted: the command came through refbot's API with its token, not
	// from a comment; it needs no permission check and no cooldown. The
	// webhook never sets it.
	Trusted bool `json:"trusted,omitempty"`
}

// PullRequestClosed: a pull request was closed, merged or not.
type PullRequestClosed struct {
	Repo        string    `json:"repo"`
	PR          int       `json:"pr"`
	Merged      bool      `json:"merged"`
	BaseRef     string    `json:"base_ref"`
	HeadSHA     string    `json:"head_sha"`
	MergeCommit string    `json:"merge_commit,omitempty"` // the commit the merge made on the base
	MergedBy    string    `json:"merged_by,omitempty"`
	MergedAt    time.Time `json:"merged_at,omitzero"`
}

// CIEvent: the CI told of a run (a workflow_run delivery), or a pull
// request's head moved (opened, synchronize, reopened), where the CI
// provider reports by events (GitHub Actions). Its job wakes the PR's
// waiting UPDATE and sets the cache status at once, instead of at the next
// poll (docs/design.md, "GitHub Actions").
type CIEvent struct {
	Repo string `json:"repo"`
	// A run: its id and attempt, workflow file, the event that made it
	// (pull_request, push …), and its head. PRs is what GitHub lists, empty
	// for a fork's pull request: the job finds the PR from HeadRepo,
	// HeadBranch and HeadSHA.
	RunID      int64  `json:"run_id,omitempty"`
	Action     string `json:"action,omitempty"` // requested, in_progress, completed
	Attempt    int    `json:"attempt,omitempty"`
	Workflow   string `json:"workflow,omitempty"`
	RunEvent   string `json:"run_event,omitempty"`
	HeadSHA    string `json:"head_sha"`
	HeadBranch string `json:"head_branch,omitempty"`
	HeadRepo   string `json:"head_repo,omitempty"`
	PRs        []int  `json:"prs,omitempty"`
	// A moved head: the PR, and whether its head is in a fork.
	PR   int  `json:"pr,omitempty"`
	Fork bool `json:"fork,omitempty"`
}

func (CommentWork) work()       {}
func (PullRequestClosed) work() {}
func (CIEvent) work()           {}

// Outcome is what recording a delivery came to.
type Outcome int

const (
	// Recorded: new; its work (if any) is queued.
	Recorded Outcome = iota
	// Duplicate: this delivery id was recorded before; nothing new queued.
	Duplicate
	// AlreadyHandled: another delivery of the same comment was recorded.
	AlreadyHandled
)

// Recorder stores a delivery and queues its work in one durable step.
type Recorder interface {
	Record(ctx context.Context, d Delivery) (Outcome, error)
}

// Options configure a Handler.
type Options struct {
	// Secrets verify signatures; any one may match, so that a secret can be
	// rotated without dropping deliveries. At least one, none empty.
	Secrets []string
	// Repo is "owner/name"; deliveries for other repositories are ignored.
	Repo string
	// BotLogin is refbot's own login, whose comments are ignored.
	BotLogin string
	// HasCommand reports whether a comment body holds a line addressed to
	// refbot (the command parser's verdict); comments without are ignored
	// at the door.
	HasCommand func(body string) bool
	// CIWorkflow, when set, says whether a workflow file
	// (".github/workflows/test.yaml") is one whose runs refbot follows:
	// its workflow_run deliveries, and pull requests' head moves, become
	// CIEvent work. Nil when the CI provider is polled (Travis).
	CIWorkflow func(path string) bool
	// Visibility, when set, is told of a verified repository event that
	// made the repository private (true) or public (false), for the
	// pages' access (pages.access auto). A hint only: a signed body can
	// be delivered again, so the receiver asks GitHub.
	Visibility func(private bool)
	Recorder   Recorder
	Logger     *zap.Logger
	Metrics    *Metrics
	// LargeBodies is how many bodies over SmallBody, or without a
	// length, are read at once (each up to MaxBody, and about as much
	// again to decode it); default DefaultLargeBodies.
	LargeBodies int
	// LargeBodyWait is how long such a body waits for its turn before
	// the answer is 503 with Retry-After; default DefaultLargeBodyWait.
	LargeBodyWait time.Duration
}

// Handler serves POST /webhook.
type Handler struct {
	opts Options
	log  *zap.Logger
	// large holds a token for each large body being read.
	large chan struct{}
}

// New returns a Handler. It refuses an empty or missing secret: a receiver
// that skips verification would run anyone's commands.
func New(o Options) (*Handler, error) {
	if len(o.Secrets) == 0 {
		return nil, errors.New("intake: a webhook secret is required")
	}
	for _, s := range o.Secrets {
		if s == "" {
			return nil, errors.New("intake: a webhook secret is empty")
		}
	}
	if o.Recorder == nil || o.HasCommand == nil {
		return nil, errors.New("intake: Recorder and HasCommand are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.LargeBodies <= 0 {
		o.LargeBodies = DefaultLargeBodies
	}
	if o.LargeBodyWait <= 0 {
		o.LargeBodyWait = DefaultLargeBodyWait
	}
	return &Handler{opts: o, log: o.Logger, large: make(chan struct{}, o.LargeBodies)}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, msg := h.serve(r)
	msg += "\n"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// With a length, the answer is complete on the wire once flushed: a
	// crash right after it (the crash tests do that) leaves GitHub with a
	// whole answer, not a cut chunked one.
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(code)
	io.WriteString(w, msg)
	h.opts.Metrics.observe(code, time.Since(start))
	if code == http.StatusOK {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		failpoint.Hit("answered")
	}
}

func (h *Handler) serve(r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "POST only"
	}
	if r.ContentLength > MaxBody {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", MaxBody)
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return http.StatusUnauthorized, "missing X-Hub-Signature-256"
	}
	if r.ContentLength < 0 || r.ContentLength > SmallBody {
		if !h.takeLargeTurn(r.Context()) {
			h.log.Warn("webhook large body refused: too many at once", zap.Int64("bytes", r.ContentLength),
				zap.String("delivery", r.Header.Get("X-GitHub-Delivery")))
			return http.StatusServiceUnavailable, "too many large deliveries at once; try again"
		}
		defer func() { <-h.large }()
	}
	body, err := readBody(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", MaxBody)
		}
		return http.StatusBadRequest, "read body: " + err.Error()
	}
	if !h.verify(sig, body) {
		h.log.Warn("webhook signature mismatch", zap.String("delivery", r.Header.Get("X-GitHub-Delivery")))
		return http.StatusForbidden, "signature does not match"
	}
	d := Delivery{
		ID:       r.Header.Get("X-GitHub-Delivery"),
		Event:    r.Header.Get("X-GitHub-Event"),
		Received: time.Now().UTC(),
	}
	if d.ID == "" || d.Event == "" {
		return http.StatusBadRequest, "missing X-GitHub-Delivery or X-GitHub-Event"
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return http.StatusBadRequest, "content type must be application/json (set it in the webhook's settings)"
	}
	if err := h.decode(&d, body); err != nil {
		return http.StatusBadRequest, "payload: " + err.Error()
	}
	log := h.log.With(zap.String("delivery", d.ID), zap.String("event", d.Event), zap.String("action", d.Action))
	outcome, err := h.opts.Recorder.Record(r.Context(), d)
	if err != nil {
		log.Error("record delivery", zap.Error(err))
		return http.StatusServiceUnavailable, "could not record the delivery; try again"
	}
	switch {
	case outcome == Duplicate:
		return http.StatusOK, "delivery already recorded"
	case outcome == AlreadyHandled:
		return http.StatusOK, "comment already handled"
	case d.Work == nil && d.Head != nil:
		return http.StatusOK, "head recorded"
	case d.Work == nil:
		log.Debug("delivery ignored", zap.String("reason", d.Ignored))
		return http.StatusAccepted, "ignored: " + d.Ignored
	}
	log.Info("delivery queued")
	return http.StatusOK, "queued"
}

// takeLargeTurn waits up to LargeBodyWait for one of the LargeBodies
// turns; false if none came (or the sender left).
func (h *Handler) takeLargeTurn(ctx context.Context) bool {
	select {
	case h.large <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(h.opts.LargeBodyWait)
	defer t.Stop()
	select {
	case h.large <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// readBody reads r's body whole, up to MaxBody: into one buffer of the
// announced length, or, without a length (chunked), a growing one.
func readBody(r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, MaxBody)
	if n := r.ContentLength; n > MaxBody {
		return nil, &http.MaxBytesError{Limit: MaxBody}
	} else if n >= 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(body)
}

// verify checks a "sha256=<hex>" signature of body against every secret in
// constant time.
func (h *Handler) verify(header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	match := false
	for _, secret := range h.opts.Secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) {
			match = true
		}
	}
	return match
}

// Sign returns the X-Hub-Signature-256 value GitHub would send for body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// payload holds the few fields refbot reads from any event.
type payload struct {
	Action     string `json:"action"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Issue *struct {
		Number      int             `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
	} `json:"issue"`
	Comment *struct {
		ID        int64     `json:"id"`
		Body      string    `json:"body"`
		HTMLURL   string    `json:"html_url"`
		CreatedAt time.Time `json:"created_at"`
		User      *user     `json:"user"`
	} `json:"comment"`
	Number      int `json:"number"`
	PullRequest *struct {
		Title          string    `json:"title"`
		State          string    `json:"state"`
		Draft          bool      `json:"draft"`
		User           *user     `json:"user"`
		UpdatedAt      time.Time `json:"updated_at"`
		MergedAt       time.Time `json:"merged_at"`
		Merged         bool      `json:"merged"`
		MergeCommitSHA string    `json:"merge_commit_sha"`
		MergedBy       *user     `json:"merged_by"`
		Base           struct {
			Ref string `json:"ref"`
		} `json:"base"`
		Head struct {
			SHA  string `json:"sha"`
			Repo *struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"head"`
	} `json:"pull_request"`
	WorkflowRun *struct {
		ID           int64  `json:"id"`
		RunAttempt   int    `json:"run_attempt"`
		Path         string `json:"path"`
		Event        string `json:"event"`
		HeadSHA      string `json:"head_sha"`
		HeadBranch   string `json:"head_branch"`
		PullRequests []struct {
			Number int `json:"number"`
		} `json:"pull_requests"`
		HeadRepository *struct {
			FullName string `json:"full_name"`
		} `json:"head_repository"`
	} `json:"workflow_run"`
	Sender *user `json:"sender"`
}

type user struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

// decode fills d.Action, d.Work (or d.Ignored) and d.Head (the head a
// pull_request event shows) from the payload, and tells Options.Visibility
// of a repository made private or public (only a hint, so whether the
// delivery is new does not matter).
func (h *Handler) decode(d *Delivery, body []byte) error {
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	d.Action = p.Action
	ignore := func(why string) error { d.Ignored = why; return nil }
	if d.Event == "ping" {
		// An App's ping (when it is created) names no repository.
		return ignore("ping")
	}
	if p.Repository == nil {
		return ignore("no repository in the payload")
	}
	if !strings.EqualFold(p.Repository.FullName, h.opts.Repo) {
		return ignore("repository " + p.Repository.FullName + " is not " + h.opts.Repo)
	}
	var inst int64
	if p.Installation != nil {
		inst = p.Installation.ID
	}
	switch d.Event {
	case "issue_comment":
		switch {
		case p.Action != "created":
			return ignore("comment " + p.Action + "; only new comments count")
		case p.Issue == nil || p.Comment == nil || p.Comment.User == nil:
			return errors.New("issue_comment without issue, comment or user")
		case len(p.Issue.PullRequest) == 0 || string(p.Issue.PullRequest) == "null":
			return ignore("comment on an issue, not a pull request")
		case strings.EqualFold(p.Comment.User.Login, h.opts.BotLogin) && h.opts.BotLogin != "":
			return ignore("refbot's own comment")
		case p.Comment.User.Type == "Bot" || (p.Sender != nil && p.Sender.Type == "Bot"):
			return ignore("comment by a bot")
		case !h.opts.HasCommand(p.Comment.Body):
			return ignore("no command in the comment")
		}
		d.Work = CommentWork{
			Repo: p.Repository.FullName, PR: p.Issue.Number, CommentID: p.Comment.ID,
			Author: p.Comment.User.Login, Body: p.Comment.Body, URL: p.Comment.HTMLURL,
			CreatedAt: p.Comment.CreatedAt, Installation: inst,
		}
	case "pull_request":
		if p.PullRequest == nil || p.Number == 0 {
			return errors.New("pull_request without pull_request or number")
		}
		// Every pull_request event shows the head as it was then; opened,
		// synchronize and reopened are the ones that change it.
		if sha := p.PullRequest.Head.SHA; sha != "" && !p.PullRequest.UpdatedAt.IsZero() {
			d.Head = &HeadSeen{PR: p.Number, SHA: sha, At: p.PullRequest.UpdatedAt}
		}
		fork := p.PullRequest.Head.Repo == nil || !strings.EqualFold(p.PullRequest.Head.Repo.FullName, p.Repository.FullName)
		if p.Action != "closed" {
			switch p.Action {
			case "opened", "synchronize", "reopened":
				if h.opts.CIWorkflow != nil && d.Head != nil {
					d.Work = CIEvent{Repo: p.Repository.FullName, PR: p.Number, HeadSHA: d.Head.SHA, Fork: fork}
				}
			}
			// Any action on an open PR shows it as it is (an event on a
			// closed one, a label say, must not list it again).
			if pr := p.PullRequest; pr.State == "open" && d.Head != nil {
				d.OpenPR = &OpenPR{PR: p.Number, Title: pr.Title, Head: pr.Head.SHA, Base: pr.Base.Ref, Draft: pr.Draft,
					Fork: fork, UpdatedAt: pr.UpdatedAt}
				if pr.User != nil {
					d.OpenPR.Author = pr.User.Login
				}
			}
			if d.Head != nil {
				return nil
			}
			return ignore("pull request " + p.Action)
		}
		pc := PullRequestClosed{Repo: p.Repository.FullName, PR: p.Number, Merged: p.PullRequest.Merged,
			BaseRef: p.PullRequest.Base.Ref, HeadSHA: p.PullRequest.Head.SHA}
		if pc.Merged {
			pc.MergeCommit, pc.MergedAt = p.PullRequest.MergeCommitSHA, p.PullRequest.MergedAt
			if p.PullRequest.MergedBy != nil {
				pc.MergedBy = p.PullRequest.MergedBy.Login
			}
		}
		d.Work = pc
	case "workflow_run":
		run := p.WorkflowRun
		switch {
		case h.opts.CIWorkflow == nil:
			return ignore("workflow runs: the CI provider is not GitHub Actions")
		case run == nil:
			return errors.New("workflow_run without workflow_run")
		case p.Action != "requested" && p.Action != "in_progress" && p.Action != "completed":
			return ignore("workflow run " + p.Action)
		case !h.opts.CIWorkflow(run.Path):
			return ignore("workflow " + run.Path + " is not one of ci.workflows")
		case run.ID <= 0 || run.HeadSHA == "":
			return errors.New("workflow_run without id or head_sha")
		}
		ev := CIEvent{Repo: p.Repository.FullName, RunID: run.ID, Action: p.Action, Attempt: run.RunAttempt, Workflow: run.Path,
			RunEvent: run.Event, HeadSHA: run.HeadSHA, HeadBranch: run.HeadBranch}
		if run.HeadRepository != nil {
			ev.HeadRepo = run.HeadRepository.FullName
		}
		for _, pr := range run.PullRequests {
			if pr.Number > 0 {
				ev.PRs = append(ev.PRs, pr.Number)
			}
		}
		d.Work = ev
	case "repository":
		if (p.Action == "privatized" || p.Action == "publicized") && h.opts.Visibility != nil {
			h.opts.Visibility(p.Action == "privatized")
			return ignore("repository " + p.Action + ": the pages' access follows")
		}
		return ignore("repository " + p.Action)
	default:
		return ignore("event " + d.Event + " is not one refbot acts on")
	}
	return nil
}
