package travistest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// buildRequest is how far Travis has got with an accepted build request.
type buildRequest struct {
	trigger   int // index in Server.triggers
	createdAt time.Time
	left      int  // reads still answered without the build
	done      bool // Travis has decided: built, or rejected
	rejected  bool
}

// SetRequestLag sets for how many reads a build request accepted from now
// on shows no build (state "pending"); the read after those makes its
// build. A read is a GET of the request, a list of requests that shows it,
// or a list of its repository's builds. 0 makes the build when the request
// is accepted, before the 202. Requests already accepted keep their lag.
func (s *Server) SetRequestLag(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		s.errorf("travistest: SetRequestLag: %d reads", n)
		n = 0
	}
	s.requestLag = n
}

// RejectRequests makes Travis, while on, reject the build requests it
// accepts from now on: once their lag is used up they show result
// "rejected" and never get a build, as when the branch's .travis.yml
// excludes them or does not parse.
func (s *Server) RejectRequests(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectAll = on
}

// CarryOutRequest makes the build of request id now, if Travis has not
// yet, and returns it: a test that moves the build on says Travis has got
// to the request. A rejected or unknown request is a mistake in the test.
func (s *Server) CarryOutRequest(id int64) Build {
	s.mu.Lock()
	defer s.mu.Unlock()
	br, ok := s.buildRequests[id]
	if !ok {
		s.errorf("travistest: CarryOutRequest: no request %d", id)
		return Build{}
	}
	s.carryOutRequest(br)
	t := s.triggers[br.trigger]
	if br.rejected {
		s.errorf("travistest: CarryOutRequest: request %d was rejected", id)
		return Build{}
	}
	return s.builds[t.BuildID].clone()
}

// observeRequest is one read of request id: it brings the request's build
// one read nearer, or makes it. The caller holds s.mu.
func (s *Server) observeRequest(id int64) {
	br, ok := s.buildRequests[id]
	if !ok || br.done {
		return
	}
	if br.left > 0 {
		br.left--
		return
	}
	s.carryOutRequest(br)
}

// carryOutRequest decides br: a build on the request's branch, at the
// branch's newest commit the fake knows (a made-up one when it knows
// none), with the request's message, or a rejection. The caller holds s.mu.
func (s *Server) carryOutRequest(br *buildRequest) {
	if br.done {
		return
	}
	br.done = true
	if br.rejected {
		return
	}
	t := &s.triggers[br.trigger]
	var head *Build
	for _, b := range s.builds {
		if b.Repo == t.Repo && b.Branch == t.Branch && b.PullRequestNumber == 0 && (head == nil || b.ID > head.ID) {
			head = b
		}
	}
	b := Build{Repo: t.Repo, EventType: "api", Branch: t.Branch, CommitMessage: t.Message}
	if head != nil {
		b.CommitSHA = head.CommitSHA
		if t.Message == "" {
			b.CommitMessage = head.CommitMessage
		}
	}
	t.BuildID = s.addBuild(b).ID
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, seg string) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusBadRequest, "wrong_params", fmt.Sprintf("travistest: Content-Type is %q, want application/json", ct), "")
		return
	}
	var body struct {
		Request struct {
			Branch    string         `json:"branch"`
			Message   string         `json:"message"`
			MergeMode string         `json:"merge_mode"`
			Config    map[string]any `json:"config"`
		} `json:"request"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "wrong_params", "travistest: body is not JSON: "+err.Error(), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.repoOr404(w, seg)
	if !ok {
		return
	}
	made := 0
	for _, t := range s.triggers {
		if t.Repo == rp.slug {
			made++
		}
	}
	remaining := s.RequestLimit - made
	if remaining <= 0 {
		writeError(w, http.StatusTooManyRequests, "request_limit_reached", "request limit reached for resource", "repository")
		return
	}
	req := body.Request
	if req.Branch == "" {
		req.Branch = "master"
	}
	t := Trigger{
		ID:        s.nextRequestID,
		Repo:      rp.slug,
		Branch:    req.Branch,
		Message:   req.Message,
		MergeMode: req.MergeMode,
		Config:    req.Config,
	}
	s.nextRequestID++
	s.triggers = append(s.triggers, t)
	br := &buildRequest{trigger: len(s.triggers) - 1, createdAt: s.now(), left: s.requestLag, rejected: s.rejectAll}
	s.buildRequests[t.ID] = br
	if s.requestLag == 0 {
		s.carryOutRequest(br)
	}
	owner, name, _ := strings.Cut(rp.slug, "/")
	config := req.Config
	if config == nil {
		config = map[string]any{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"@type":              "pending",
		"remaining_requests": remaining - 1,
		"repository":         s.minimalRepo(rp),
		"request": map[string]any{
			"repository": map[string]any{"id": rp.id, "owner_name": owner, "name": name},
			"user":       map[string]any{"id": 1},
			"id":         t.ID,
			"message":    t.Message,
			"branch":     t.Branch,
			"merge_mode": t.MergeMode,
			"config":     config,
		},
		"resource_type": "request",
	})
}

// getRequest answers GET /repo/{slug}/request/{id}.
func (s *Server) getRequest(w http.ResponseWriter, seg, idSeg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.repoOr404(w, seg)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(idSeg, 10, 64)
	br, known := s.buildRequests[id]
	if err != nil || !known || s.triggers[br.trigger].Repo != rp.slug {
		writeError(w, http.StatusNotFound, "not_found", "request not found (or insufficient access)", "request")
		return
	}
	s.observeRequest(id)
	writeJSON(w, http.StatusOK, s.renderRequest(br))
}

// listRequests answers GET /repo/{slug}/requests: newest first, paged.
func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, seg string) {
	q := r.URL.Query()
	limit, offset, ok := paging(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.repoOr404(w, seg)
	if !ok {
		return
	}
	var list []*buildRequest
	for _, br := range s.buildRequests {
		if s.triggers[br.trigger].Repo == rp.slug {
			list = append(list, br)
		}
	}
	slices.SortFunc(list, func(a, b *buildRequest) int {
		return cmp.Compare(s.triggers[b.trigger].ID, s.triggers[a.trigger].ID)
	})
	count := len(list)
	page := list[min(offset, count):min(offset+limit, count)]
	requests := make([]any, 0, len(page))
	for _, br := range page {
		s.observeRequest(s.triggers[br.trigger].ID)
		requests = append(requests, s.renderRequest(br))
	}
	href := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		href += "?" + r.URL.RawQuery
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@type":           "requests",
		"@href":           href,
		"@representation": "standard",
		"@pagination":     pagination(r.URL, q, limit, offset, count),
		"requests":        requests,
	})
}

// renderRequest is the request resource's standard representation (API
// v3: id, state, result, message, repository, branch_name, commit, builds,
// owner, created_at, event_type, base_commit, head_commit), its builds
// minimal. The caller holds s.mu.
func (s *Server) renderRequest(br *buildRequest) map[string]any {
	t := s.triggers[br.trigger]
	rp := s.repos[t.Repo]
	owner, _, _ := strings.Cut(t.Repo, "/")
	state, result := "pending", any(nil)
	builds := []any{}
	var commit any
	switch {
	case br.done && br.rejected:
		state, result = "finished", "rejected"
	case br.done:
		state, result = "finished", "approved"
		b := s.builds[t.BuildID]
		builds = append(builds, s.minimalBuild(b))
		commit = s.commit(b, false)
	}
	return map[string]any{
		"@type":           "request",
		"@href":           fmt.Sprintf("/repo/%d/request/%d", rp.id, t.ID),
		"@representation": "standard",
		"id":              t.ID,
		"state":           state,
		"result":          result,
		"message":         t.Message,
		"repository":      s.minimalRepo(rp),
		"branch_name":     t.Branch,
		"commit":          commit,
		"builds":          builds,
		"owner":           map[string]any{"@type": "user", "@href": "/user/1", "@representation": "minimal", "id": 1, "login": owner},
		"created_at":      timestamp(br.createdAt),
		"event_type":      "api",
		"base_commit":     nil,
		"head_commit":     nil,
	}
}
