// Package api is refbot's manual trigger over HTTP, for maintainers and
// scripts: POST /api/v1/prs/{n}/commands with a bearer token queues a
// command for a pull request exactly as a comment would be (same durable
// recording, same workflow, same reply on the PR), marked as trusted: the
// token is the maintainer's authority, so no permission check or cooldown
// applies. A plain UPDATE is bound to the head of the time the request
// arrived, as a comment is to the head of its time.
package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
)

// Options configure the API.
type Options struct {
	Token    string          // the bearer token; required
	Repo     string          // owner/name, recorded with the work
	Prefix   string          // the command prefix the workflow parses
	Recorder intake.Recorder // where the work is recorded
	Now      func() time.Time
}

// New returns the handler of /api/v1/.
func New(o Options) (http.Handler, error) {
	if o.Token == "" || o.Recorder == nil {
		return nil, errors.New("api: a token and a recorder are required")
	}
	if o.Prefix == "" {
		o.Prefix = command.DefaultPrefix
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/prs/{n}/commands", o.command)
	return o.auth(mux), nil
}

func (o Options) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(o.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="refbot"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type commandRequest struct {
	Command string `json:"command"` // e.g. "UPDATE --all", without the prefix
	By      string `json:"by"`      // who asks, for the record and the reply
}

func (o Options) command(w http.ResponseWriter, r *http.Request) {
	pr, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || pr <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the pull request number must be a positive integer"})
		return
	}
	var req commandRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error() + `; send {"command": "UPDATE", "by": "login"}`})
		return
	}
	if strings.TrimSpace(req.By) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `"by" is required: who asks for it`})
		return
	}
	// "by" goes into the reply and the data commit's Refbot-Approved-By
	// trailer: only a login, so that it can add neither lines nor text.
	if !ghclient.ValidLogin(req.By) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `"by" must be a GitHub login (letters, digits and single hyphens, at most 39 characters)`})
		return
	}
	body := o.Prefix + " " + strings.TrimSpace(req.Command)
	parsed := command.Parse(body, o.Prefix)
	switch {
	case len(parsed.Problems) > 0:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": parsed.Problems[0].Reason})
		return
	case len(parsed.Commands) != 1 || strings.Contains(req.Command, "\n"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give exactly one command, e.g. UPDATE or PLAN"})
		return
	}
	id := randomID()
	d := intake.Delivery{
		ID: "api-" + id, Event: "api", Action: "command", Received: o.Now().UTC(),
		Work: intake.CommentWork{
			Repo: o.Repo, PR: pr, CommentID: -apiCommentID(id), Author: req.By, Body: body,
			CreatedAt: o.Now().UTC(), Trusted: true,
		},
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if _, err := o.Recorder.Record(ctx, d); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "could not record the command; try again"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"queued": parsed.Commands[0].Verb, "pr": pr, "id": d.ID})
}

// apiCommentID makes a comment id for an API command: negative (GitHub's
// are positive), so it can never collide with a real comment's.
func apiCommentID(id string) int64 {
	n, _ := strconv.ParseInt(id[:15], 16, 64)
	return n + 1
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
