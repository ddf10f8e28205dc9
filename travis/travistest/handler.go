package travistest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Query: r.URL.Query()})
	f, scripted := s.takeFault(r.Method, path)
	s.mu.Unlock()

	if !scripted {
		s.handle(w, r)
		return
	}
	if f.Perform {
		// Travis did the work; only its answer is lost or wrong.
		s.handle(httptest.NewRecorder(), r)
	}
	s.answerFault(w, r, f)
}

// handle answers r as Travis would.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if v := r.Header.Get("Travis-API-Version"); v != "3" {
		// Without the header Travis serves API v2, whose shapes the client
		// would not understand: make that loud.
		writeError(w, http.StatusBadRequest, "wrong_params", fmt.Sprintf("travistest: Travis-API-Version is %q, want 3", v), "")
		return
	}
	if s.Token != "" {
		switch auth := r.Header.Get("Authorization"); {
		case auth == "":
			writeError(w, http.StatusForbidden, "login_required", "login required", "")
			return
		case auth != "token "+s.Token:
			writeError(w, http.StatusForbidden, "access_denied", "access denied", "")
			return
		}
	}

	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(segs) == 2 && segs[0] == "repo":
		s.onlyMethod(w, r, http.MethodGet, func() { s.getRepo(w, segs[1]) })
	case len(segs) == 3 && segs[0] == "repo" && segs[2] == "builds":
		s.onlyMethod(w, r, http.MethodGet, func() { s.listBuilds(w, r, segs[1]) })
	case len(segs) == 3 && segs[0] == "repo" && segs[2] == "requests" && r.Method == http.MethodGet:
		s.listRequests(w, r, segs[1])
	case len(segs) == 3 && segs[0] == "repo" && segs[2] == "requests":
		s.onlyMethod(w, r, http.MethodPost, func() { s.createRequest(w, r, segs[1]) })
	case len(segs) == 4 && segs[0] == "repo" && segs[2] == "request":
		s.onlyMethod(w, r, http.MethodGet, func() { s.getRequest(w, segs[1], segs[3]) })
	case len(segs) == 2 && segs[0] == "build":
		s.onlyMethod(w, r, http.MethodGet, func() { s.getBuild(w, r, segs[1]) })
	case len(segs) == 3 && segs[0] == "build" && (segs[2] == "restart" || segs[2] == "cancel"):
		s.onlyMethod(w, r, http.MethodPost, func() { s.buildAction(w, segs[1], segs[2]) })
	default:
		writeError(w, http.StatusNotFound, "not_found", "resource not found (or insufficient access)", "")
	}
}

func (s *Server) onlyMethod(w http.ResponseWriter, r *http.Request, method string, handle func()) {
	if r.Method != method {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", "")
		return
	}
	handle()
}

// takeFault pops the first scripted fault matching the request.
func (s *Server) takeFault(method, path string) (Fault, bool) {
	for i, f := range s.faults {
		if (f.method == "" || f.method == method) && (f.path == "" || f.path == path) {
			s.faults = slices.Delete(s.faults, i, i+1)
			return f.Fault, true
		}
	}
	return Fault{}, false
}

func (s *Server) answerFault(w http.ResponseWriter, r *http.Request, f Fault) {
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(cmp.Or(f.Status, http.StatusOK))
	_, _ = io.WriteString(w, f.Body)
}

// lookupRepo resolves the {slug} path segment: owner%2Fname (or a
// numeric repository id, as Travis allows).
func (s *Server) lookupRepo(seg string) (*repo, bool) {
	slug, err := url.PathUnescape(seg)
	if err != nil {
		return nil, false
	}
	if r, ok := s.repos[slug]; ok {
		return r, true
	}
	if id, err := strconv.ParseInt(seg, 10, 64); err == nil {
		for _, r := range s.repos {
			if r.id == id {
				return r, true
			}
		}
	}
	return nil, false
}

func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request, seg string) {
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
	// A list of the builds is a look at the requests Travis is still
	// turning into builds.
	for _, t := range s.triggers {
		if t.Repo == rp.slug {
			s.observeRequest(t.ID)
		}
	}

	events := listParam(q, "build.event_type", "event_type")
	states := listParam(q, "build.state", "state")
	branches := listParam(q, "branch.name")
	var list []*Build
	for _, b := range s.builds {
		if b.Repo != rp.slug ||
			len(events) > 0 && !slices.Contains(events, b.EventType) ||
			len(states) > 0 && !slices.Contains(states, b.State) ||
			len(branches) > 0 && !slices.Contains(branches, b.Branch) {
			continue
		}
		list = append(list, b)
	}
	// Newest first unless sort_by=id or id:asc; other sort keys are
	// ignored, as Travis ignores what it cannot sort by.
	asc := q.Get("sort_by") == "id" || q.Get("sort_by") == "id:asc"
	slices.SortFunc(list, func(a, b *Build) int {
		if asc {
			return cmp.Compare(a.ID, b.ID)
		}
		return cmp.Compare(b.ID, a.ID)
	})

	count := len(list)
	page := list[min(offset, count):min(offset+limit, count)]
	inc := includes(q)
	builds := make([]any, 0, len(page))
	for _, b := range page {
		builds = append(builds, s.renderBuild(b, inc))
	}
	href := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		href += "?" + r.URL.RawQuery
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@type":           "builds",
		"@href":           href,
		"@representation": "standard",
		"@pagination":     pagination(r.URL, q, limit, offset, count),
		"builds":          builds,
	})
}

// paging reads limit and offset as Travis's paginator does: default 25,
// at most 100 (a limit below 1 or above 100 becomes 100, a negative one
// 25), offset at least 0.
func paging(w http.ResponseWriter, q url.Values) (limit, offset int, ok bool) {
	limit, offset = 25, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "wrong_params", "limit must be an integer", "")
			return 0, 0, false
		}
		switch {
		case n < 0:
			limit = 25
		case n < 1 || n > 100:
			limit = 100
		default:
			limit = n
		}
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "wrong_params", "offset must be an integer", "")
			return 0, 0, false
		}
		offset = max(n, 0)
	}
	return limit, offset, true
}

// pagination renders @pagination the way Travis's URL generator does:
// the links are the request's path and query with offset and limit
// replaced.
func pagination(u *url.URL, q url.Values, limit, offset, count int) map[string]any {
	link := func(off, lim int) map[string]any {
		href := u.EscapedPath()
		if off == offset && lim == limit {
			if u.RawQuery != "" {
				href += "?" + u.RawQuery
			}
		} else {
			q2 := url.Values{}
			for k, v := range q {
				q2[k] = v
			}
			q2.Set("offset", strconv.Itoa(off))
			q2.Set("limit", strconv.Itoa(lim))
			href += "?" + q2.Encode()
		}
		return map[string]any{"@href": href, "offset": off, "limit": lim}
	}
	isLast := count <= offset+limit
	var next, prev any
	if !isLast {
		next = link(offset+limit, limit)
	}
	if offset > 0 {
		if offset <= limit {
			prev = link(0, offset)
		} else {
			prev = link(offset-limit, limit)
		}
	}
	last := count / limit * limit
	if last == count {
		last -= limit
	}
	return map[string]any{
		"limit":    limit,
		"offset":   offset,
		"count":    count,
		"is_first": offset == 0,
		"is_last":  isLast,
		"next":     next,
		"prev":     prev,
		"first":    link(0, limit),
		"last":     link(last, limit),
	}
}

func listParam(q url.Values, names ...string) []string {
	for _, name := range names {
		if v := q.Get(name); v != "" {
			return strings.Split(v, ",")
		}
	}
	return nil
}

type include struct{ jobs, commit bool }

func includes(q url.Values) include {
	var inc include
	for _, v := range strings.Split(q.Get("include"), ",") {
		switch v {
		case "build.jobs":
			inc.jobs = true
		case "build.commit":
			inc.commit = true
		}
		if strings.HasPrefix(v, "job.") {
			inc.jobs = true
		}
	}
	return inc
}

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request, seg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buildOr404(w, seg)
	if !ok {
		return
	}
	switch left, pending := s.pendingRestarts[b.ID]; {
	case pending && left > 0:
		s.pendingRestarts[b.ID] = left - 1 // Travis has not got to it yet
	case pending:
		s.carryOutRestart(b)
	case s.advanceOnPoll:
		s.advance(b)
	}
	writeJSON(w, http.StatusOK, s.renderBuild(b, includes(r.URL.Query())))
}

// buildOr404 finds the build seg names, or answers 404 as Travis does.
func (s *Server) buildOr404(w http.ResponseWriter, seg string) (*Build, bool) {
	b, ok := s.findBuild(seg)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "build not found (or insufficient access)", "build")
	}
	return b, ok
}

// repoOr404 finds the repository seg names, or answers 404 as Travis does.
func (s *Server) repoOr404(w http.ResponseWriter, seg string) (*repo, bool) {
	rp, ok := s.lookupRepo(seg)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "repository not found (or insufficient access)", "repository")
	}
	return rp, ok
}

func (s *Server) findBuild(seg string) (*Build, bool) {
	id, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		return nil, false
	}
	b, ok := s.builds[id]
	return b, ok
}

func (s *Server) buildAction(w http.ResponseWriter, seg, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buildOr404(w, seg)
	if !ok {
		return
	}
	if s.repos[b.Repo].denied[action] {
		writeError(w, http.StatusForbidden, "insufficient_access", fmt.Sprintf("operation requires %s access to build", action), "build")
		return
	}
	now := s.now()
	switch action {
	case "restart":
		s.acceptRestart(b)
	case "cancel":
		s.cancels[b.ID]++
		// Cancel wins over a restart Travis has not carried out: the
		// build is cancelled as it stands and is not reset afterwards.
		delete(s.pendingRestarts, b.ID)
		for i := range b.Jobs {
			if !finished(b.Jobs[i].State) {
				setTimes(&b.Jobs[i].State, &b.Jobs[i].StartedAt, &b.Jobs[i].FinishedAt, "canceled", now)
			}
		}
		if !finished(b.State) {
			setTimes(&b.State, &b.StartedAt, &b.FinishedAt, "canceled", now)
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"@type":         "pending",
		"build":         s.minimalBuild(b),
		"state_change":  action,
		"resource_type": "build",
	})
}

// Rendering, after the standard and minimal representations of the API
// v3 documentation (resources build, job, commit, branch, repository).

func (s *Server) minimalRepo(rp *repo) map[string]any {
	_, name, _ := strings.Cut(rp.slug, "/")
	return map[string]any{
		"@type":           "repository",
		"@href":           fmt.Sprintf("/repo/%d", rp.id),
		"@representation": "minimal",
		"id":              rp.id,
		"name":            name,
		"slug":            rp.slug,
	}
}

func (s *Server) minimalBuild(b *Build) map[string]any {
	m := map[string]any{
		"@type":               "build",
		"@href":               fmt.Sprintf("/build/%d", b.ID),
		"@representation":     "minimal",
		"id":                  b.ID,
		"number":              b.Number,
		"state":               b.State,
		"duration":            duration(b.StartedAt, b.FinishedAt),
		"event_type":          b.EventType,
		"previous_state":      nil,
		"pull_request_title":  nil,
		"pull_request_number": nil,
		"started_at":          timestamp(b.StartedAt),
		"finished_at":         timestamp(b.FinishedAt),
	}
	if b.PullRequestNumber > 0 {
		m["pull_request_number"] = b.PullRequestNumber
		m["pull_request_title"] = cmp.Or(b.PullRequestTitle, fmt.Sprintf("pull request %d", b.PullRequestNumber))
	}
	return m
}

func (s *Server) renderBuild(b *Build, inc include) map[string]any {
	rp := s.repos[b.Repo]
	m := s.minimalBuild(b)
	m["@representation"] = "standard"
	m["private"] = false
	m["repository"] = s.minimalRepo(rp)
	m["branch"] = map[string]any{
		"@type":           "branch",
		"@href":           fmt.Sprintf("/repo/%d/branch/%s", rp.id, url.PathEscape(b.Branch)),
		"@representation": "minimal",
		"name":            b.Branch,
	}
	m["tag"] = nil
	m["commit"] = s.commit(b, inc.commit)
	jobs := make([]any, 0, len(b.Jobs))
	for _, j := range b.Jobs {
		if inc.jobs {
			jobs = append(jobs, s.renderJob(b, rp, j))
		} else {
			jobs = append(jobs, map[string]any{
				"@type":           "job",
				"@href":           fmt.Sprintf("/job/%d", j.ID),
				"@representation": "minimal",
				"id":              j.ID,
			})
		}
	}
	m["jobs"] = jobs
	m["stages"] = []any{}
	m["created_by"] = nil
	m["updated_at"] = timestamp(s.latest(b))
	m["@permissions"] = buildPermissions(rp)
	return m
}

func (s *Server) commit(b *Build, standard bool) map[string]any {
	ref := "refs/heads/" + b.Branch
	if b.PullRequestNumber > 0 {
		ref = fmt.Sprintf("refs/pull/%d/merge", b.PullRequestNumber)
	}
	rep := "minimal"
	if standard {
		rep = "standard"
	}
	return map[string]any{
		"@type":           "commit",
		"@representation": rep,
		"id":              b.ID,
		"sha":             b.CommitSHA,
		"ref":             ref,
		"message":         b.CommitMessage,
		"compare_url":     "https://github.com/" + b.Repo + "/commit/" + b.CommitSHA,
		"committed_at":    timestamp(b.StartedAt),
	}
}

func (s *Server) renderJob(b *Build, rp *repo, j Job) map[string]any {
	config := map[string]any{"os": "linux", "language": "go"}
	for k, v := range j.Config {
		config[k] = v
	}
	if j.Name != "" {
		config["name"] = j.Name
	}
	owner, _, _ := strings.Cut(b.Repo, "/")
	return map[string]any{
		"@type":           "job",
		"@href":           fmt.Sprintf("/job/%d", j.ID),
		"@representation": "standard",
		"id":              j.ID,
		"allow_failure":   j.AllowFailure,
		"number":          j.Number,
		"state":           j.State,
		"started_at":      timestamp(j.StartedAt),
		"finished_at":     timestamp(j.FinishedAt),
		// The build is already being rendered: Travis refers to it by
		// @href only.
		"build":      map[string]any{"@href": fmt.Sprintf("/build/%d", b.ID)},
		"queue":      "builds.gce",
		"repository": map[string]any{"@href": fmt.Sprintf("/repo/%d", rp.id)},
		"commit":     map[string]any{"@type": "commit", "@representation": "minimal", "id": b.ID, "sha": b.CommitSHA},
		"owner":      map[string]any{"@type": "user", "@href": "/user/1", "@representation": "minimal", "id": 1, "login": owner},
		"stage":      nil,
		"created_at": timestamp(b.StartedAt),
		"updated_at": timestamp(s.latest(b)),
		"config":     config,
	}
}

func (s *Server) latest(b *Build) time.Time {
	if !b.FinishedAt.IsZero() {
		return b.FinishedAt
	}
	if !b.StartedAt.IsZero() {
		return b.StartedAt
	}
	return s.now()
}

func duration(started, finishedAt time.Time) any {
	if started.IsZero() || finishedAt.IsZero() {
		return nil
	}
	return int(finishedAt.Sub(started).Seconds())
}

func timestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func errorBody(errorType, message, resourceType string) map[string]any {
	m := map[string]any{"@type": "error", "error_type": errorType, "error_message": message}
	if resourceType != "" {
		m["resource_type"] = resourceType
	}
	return m
}

func writeError(w http.ResponseWriter, status int, errorType, message, resourceType string) {
	writeJSON(w, status, errorBody(errorType, message, resourceType))
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
