package fakegithub

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
)

const docsURL = "https://docs.github.com/rest"

// answer is what a REST handler returns.
type answer struct {
	status int
	body   any
	header http.Header
}

// call is one REST request as a handler sees it.
type call struct {
	r      *http.Request
	params map[string]string
	query  url.Values
	body   map[string]any
	login  string
	idn    identity // who asked; zero for operations authenticated by the App's JWT
	path   string   // without prefix
}

type restHandler func(s *Server, c *call) answer

var restHandlers = map[string]restHandler{
	"pulls/get":  (*Server).getPull,
	"pulls/list": (*Server).listPulls,
	"repos/get-collaborator-permission-level":    (*Server).getPermission,
	"teams/get-membership-for-user-in-org":       (*Server).getTeamMembership,
	"repos/create-commit-status":                 (*Server).createStatus,
	"repos/get-combined-status-for-ref":          (*Server).getCombinedStatus,
	"issues/create-comment":                      (*Server).createComment,
	"issues/list-comments":                       (*Server).listComments,
	"issues/update-comment":                      (*Server).updateComment,
	"issues/get-comment":                         (*Server).getComment,
	"apps/create-installation-access-token":      (*Server).createInstallationToken,
	"rate-limit/get":                             (*Server).getRateLimit,
	"users/get-authenticated":                    (*Server).getAuthenticatedUser,
	"apps/get-authenticated":                     (*Server).getAuthenticatedApp,
	"actions/list-workflow-runs-for-repo":        (*Server).listRepoRuns,
	"actions/list-workflow-runs":                 (*Server).listWorkflowRuns,
	"actions/get-workflow-run":                   (*Server).getRun,
	"actions/list-jobs-for-workflow-run":         (*Server).listRunJobs,
	"actions/list-jobs-for-workflow-run-attempt": (*Server).listAttemptJobs,
	"actions/re-run-workflow":                    (*Server).rerunAll,
	"actions/re-run-workflow-failed-jobs":        (*Server).rerunFailed,
	"actions/cancel-workflow-run":                (*Server).cancelRun,
	"actions/list-workflow-run-artifacts":        (*Server).listRunArtifacts,
	"actions/download-artifact":                  (*Server).downloadArtifact,
	"actions/list-repo-workflows":                (*Server).listWorkflows,
	"actions/create-workflow-dispatch":           (*Server).dispatchWorkflow,
	"checks/create":                              (*Server).createCheckRun,
	"checks/update":                              (*Server).updateCheckRun,
	"checks/list-for-ref":                        (*Server).listCheckRunsForRef,
	"apps/get-repo-installation":                 (*Server).getRepoInstallation,
	"repos/get":                                  (*Server).getRepo,
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.st.inFlight++
	s.st.maxInFlight = max(s.st.maxInFlight, s.st.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.st.inFlight--
		s.mu.Unlock()
	}()

	switch p := r.URL.Path; {
	case p == "/graphql" || p == "/api/graphql":
		s.serveGraphQL(w, r)
	case strings.HasPrefix(p, blobPrefix):
		s.serveBlob(w, r)
	case p == OAuthAuthorizePath || p == OAuthAccessTokenPath:
		s.serveOAuth(w, r)
	case s.prefix == "" || strings.HasPrefix(p, s.prefix+"/"):
		s.serveREST(w, r, strings.TrimPrefix(p, s.prefix))
	default:
		s.violation("%s %s: outside the REST prefix %q and GraphQL", r.Method, p, s.prefix)
		s.record(Request{Method: r.Method, Path: p, Query: r.URL.RawQuery, Status: http.StatusNotFound})
		writeJSON(w, http.StatusNotFound, nil, basicError(http.StatusNotFound, "Not Found"))
	}
}

func (s *Server) record(req Request) {
	if req.Time.IsZero() {
		req.Time = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.requests = append(s.st.requests, req)
}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, path string) {
	ctx := r.Context()
	rec := Request{Method: r.Method, Path: path, Query: r.URL.RawQuery, Time: s.now()}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) > 0 {
			body = b
		}
	}
	v := &openAPIValidator{spec: s.spec}
	in, err := v.route(r, path, body)
	if err != nil {
		s.violation("%s %s: no such operation in GitHub's OpenAPI description (or not served by the fake): %v", r.Method, path, err)
		rec.Status = http.StatusNotFound
		s.record(rec)
		writeJSON(w, http.StatusNotFound, nil, basicError(http.StatusNotFound, "Not Found"))
		return
	}
	rec.Route = in.Route.Path
	opID := in.Route.Operation.OperationID
	if err := v.request(ctx, in, body); err != nil {
		s.violation("%s %s: request does not match GitHub's OpenAPI description: %v", r.Method, path, err)
		rec.Status = http.StatusUnprocessableEntity
		s.record(rec)
		writeJSON(w, rec.Status, nil, validationFailed("Invalid request.", err.Error()))
		return
	}

	ans, login := s.handleREST(r, in, opID, path, body)
	rec.Login = login
	rec.Status = ans.status

	// Encode, tag, validate, send.
	header := w.Header()
	for k, vs := range ans.header {
		header[k] = vs
	}
	var data []byte
	if ans.body != nil {
		if m, ok := ans.body.(map[string]any); ok && s.mutate != nil && ans.status < 300 {
			s.mutate(opID, m)
		}
		data, err = json.Marshal(ans.body)
		if err != nil {
			panic(fmt.Sprintf("fakegithub: encode %s answer: %v", opID, err))
		}
	}
	header.Set("Content-Type", "application/json; charset=utf-8")
	header.Set("X-GitHub-Media-Type", "github.v3; format=json")
	header.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	header.Set("X-GitHub-Request-Id", strings.ToUpper(randomHex(8)))
	if r.Method == http.MethodGet && ans.status == http.StatusOK {
		tag := etag(r.Header.Get("Authorization"), r.Header.Get("Accept"), data)
		header.Set("ETag", tag)
		if etagMatches(r.Header.Get("If-None-Match"), tag) {
			// A 304 does not count against the rate limit (GitHub's
			// documented behaviour for authorized conditional requests).
			s.refund("core", opID)
			s.setRateHeaders(header, "core")
			rec.Status = http.StatusNotModified
			s.record(rec)
			header.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if ans.header.Get("X-RateLimit-Remaining") == "" {
		s.setRateHeaders(header, "core")
	}
	strict := ans.header.Get(faultHeader) == "" && ans.status < 400
	header.Del(faultHeader)
	if err := v.response(ctx, in, ans.status, header, data, strict); err != nil {
		s.violation("%s %s: answer %d does not match GitHub's OpenAPI description: %v", r.Method, path, ans.status, err)
	}
	s.record(rec)
	w.WriteHeader(ans.status)
	w.Write(data)
}

// faultHeader marks scripted answers internally; it is never sent.
const faultHeader = "X-Fakegithub-Fault"

// handleREST authenticates, runs the operation (limitAndRun) and adds the
// headers GitHub sets for who asked.
func (s *Server) handleREST(r *http.Request, in *openapi3filter.RequestValidationInput, opID, path string, body []byte) (answer, string) {
	idn, authErr := s.authenticate(r, opID)
	if authErr != nil {
		return *authErr, ""
	}
	ans := s.limitAndRun(r, in, opID, path, body, idn)
	if ans.header == nil {
		ans.header = http.Header{}
	}
	scopeHeaders(ans.header, idn, opID)
	return ans, idn.login
}

// limitAndRun applies faults and rate limits, and runs the operation's
// handler.
func (s *Server) limitAndRun(r *http.Request, in *openapi3filter.RequestValidationInput, opID, path string, body []byte, idn identity) answer {
	route := in.Route.Path
	if f, ok := s.takeFault(r.Method, route); ok {
		if f.Kind != ServerError || !f.Applied {
			return s.faultAnswer(f, "core")
		}
		s.runHandler(r, in, opID, path, body, idn)
		return s.faultAnswer(f, "core")
	}
	if opID != "rate-limit/get" {
		s.mu.Lock()
		w := s.window("core")
		exhausted := w.used >= s.st.rateLimit
		if !exhausted {
			w.used++
		}
		reset := w.reset
		s.mu.Unlock()
		if exhausted {
			return s.faultAnswer(Fault{Kind: PrimaryRateLimit, Status: http.StatusForbidden, Reset: reset}, "core")
		}
	}
	return s.runHandler(r, in, opID, path, body, idn)
}

func (s *Server) runHandler(r *http.Request, in *openapi3filter.RequestValidationInput, opID, path string, body []byte, idn identity) answer {
	h, ok := restHandlers[opID]
	if !ok {
		panic("fakegithub: no handler for " + opID)
	}
	c := &call{r: r, params: in.PathParams, query: r.URL.Query(), login: idn.login, idn: idn, path: path}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &c.body); err != nil {
			return answer{status: http.StatusBadRequest, body: basicError(http.StatusBadRequest, "Problems parsing JSON")}
		}
	}
	if owner, ok := c.params["owner"]; ok {
		repo := owner + "/" + c.params["repo"]
		s.mu.Lock()
		known := strings.EqualFold(repo, s.repo) || (otherRepoOperations[opID] && s.coveredRepo(repo) != "")
		s.mu.Unlock()
		// An installation token limited to other repositories does not
		// see this one.
		if !known || !idn.allowsRepo(repo) {
			return notFound()
		}
	}
	if a := s.checkPermission(c, opID); a != nil {
		return *a
	}
	return h(s, c)
}

// refund gives back the rate-limit point of a request answered 304.
func (s *Server) refund(resource, opID string) {
	if opID == "rate-limit/get" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.window(resource); w.used > 0 {
		w.used--
	}
}

func (s *Server) setRateHeaders(h http.Header, resource string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window(resource)
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.st.rateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, s.st.rateLimit-w.used)))
	h.Set("X-RateLimit-Used", strconv.Itoa(w.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(w.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", resource)
}

// faultAnswer is GitHub's answer for a scripted fault.
func (s *Server) faultAnswer(f Fault, resource string) answer {
	h := http.Header{faultHeader: {"1"}}
	status := f.Status
	switch f.Kind {
	case PrimaryRateLimit:
		if status == 0 {
			status = http.StatusForbidden
		}
		reset := f.Reset
		if reset.IsZero() {
			reset = s.now().Add(time.Minute)
		}
		s.mu.Lock()
		used := s.window(resource).used
		s.mu.Unlock()
		h.Set("X-RateLimit-Limit", strconv.Itoa(s.st.rateLimit))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(max(used, s.st.rateLimit)))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		h.Set("X-RateLimit-Resource", resource)
		return answer{status: status, header: h, body: map[string]any{
			"message":           "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
			"status":            strconv.Itoa(status),
		}}
	case SecondaryRateLimit:
		if status == 0 {
			status = http.StatusForbidden
		}
		if f.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		return answer{status: status, header: h, body: map[string]any{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID " + strings.ToUpper(randomHex(8)) + ".",
			"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
			"status":            strconv.Itoa(status),
		}}
	default:
		if status == 0 {
			status = http.StatusBadGateway
		}
		return answer{status: status, header: h, body: basicError(status, http.StatusText(status))}
	}
}

// authenticate returns who the request acts as, or the 401 answer.
func (s *Server) authenticate(r *http.Request, opID string) (identity, *answer) {
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	if jwtOperations[opID] {
		if !strings.EqualFold(scheme, "Bearer") {
			a := jwtRefused()
			return identity{}, &a
		}
		return identity{}, nil // the handler verifies the JWT against the app
	}
	if auth == "" {
		a := answer{status: http.StatusUnauthorized, body: basicError(http.StatusUnauthorized, "Requires authentication"), header: http.Header{faultHeader: {"1"}}}
		return identity{}, &a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idn, ok := s.st.tokens[cred]
	if !ok || !(strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "Bearer")) ||
		(!idn.expiresAt.IsZero() && !s.now().Before(idn.expiresAt)) {
		a := answer{status: http.StatusUnauthorized, body: basicError(http.StatusUnauthorized, "Bad credentials"), header: http.Header{faultHeader: {"1"}}}
		return identity{}, &a
	}
	return idn, nil
}

func writeJSON(w http.ResponseWriter, status int, header http.Header, body any) {
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func basicError(status int, message string) map[string]any {
	return map[string]any{"message": message, "documentation_url": docsURL, "status": strconv.Itoa(status)}
}

func notFound() answer {
	return answer{status: http.StatusNotFound, body: basicError(http.StatusNotFound, "Not Found")}
}

func validationFailed(message, detail string) map[string]any {
	b := map[string]any{"message": message, "documentation_url": docsURL, "status": "422"}
	if detail != "" {
		b["errors"] = []any{detail}
	}
	return b
}

func fieldError(resource, field, message string) answer {
	return answer{status: http.StatusUnprocessableEntity, body: map[string]any{
		"message":           "Validation Failed",
		"documentation_url": docsURL,
		"status":            "422",
		"errors":            []any{map[string]any{"resource": resource, "field": field, "code": "custom", "message": message}},
	}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%02d:%s%d", len(kind), kind, id))
}

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) template(opID string) map[string]any {
	var v any
	if err := json.Unmarshal(s.templates[opID], &v); err != nil {
		panic(fmt.Sprintf("fakegithub: template %s: %v", opID, err))
	}
	if list, ok := v.([]any); ok {
		v = list[0]
	}
	return v.(map[string]any)
}

func (s *Server) api(format string, args ...any) string {
	return s.URL + s.prefix + fmt.Sprintf(format, args...)
}

func (s *Server) repoAPI() string { return s.api("/repos/%s", s.repo) }

// userJSON is a simple-user; the caller holds s.mu.
func (s *Server) userJSON(login string) map[string]any {
	u := s.st.user(login)
	api := s.api("/users/%s", url.PathEscape(login))
	typ, html := "User", s.URL+"/"+login
	if u.bot {
		typ, html = "Bot", s.URL+"/apps/"+strings.TrimSuffix(login, "[bot]")
	}
	return map[string]any{
		"login":               login,
		"id":                  u.id,
		"node_id":             nodeID(typ, u.id),
		"avatar_url":          s.URL + "/avatars/u/" + strconv.FormatInt(u.id, 10),
		"gravatar_id":         "",
		"url":                 api,
		"html_url":            html,
		"followers_url":       api + "/followers",
		"following_url":       api + "/following{/other_user}",
		"gists_url":           api + "/gists{/gist_id}",
		"starred_url":         api + "/starred{/owner}{/repo}",
		"subscriptions_url":   api + "/subscriptions",
		"organizations_url":   api + "/orgs",
		"repos_url":           api + "/repos",
		"events_url":          api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
		"type":                typ,
		"user_view_type":      "public",
		"site_admin":          false,
	}
}

// authorAssociation is how GitHub labels a user's relation to the
// repository; the caller holds s.mu.
func (s *Server) authorAssociation(login string) string {
	if strings.EqualFold(login, s.owner) {
		return "OWNER"
	}
	switch s.st.perms[login] {
	case PermAdmin, PermMaintain, PermWrite, PermTriage:
		return "COLLABORATOR"
	}
	for _, p := range s.st.prs {
		if p.Author == login && p.Merged {
			return "CONTRIBUTOR"
		}
	}
	return "NONE"
}

// replaceStrings rewrites every string in a decoded JSON value.
func replaceStrings(v any, r *strings.Replacer) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = replaceStrings(x, r)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = replaceStrings(x, r)
		}
		return v
	case string:
		return r.Replace(v)
	}
	return v
}

// prJSON fills a pull-request (or pull-request-simple) template; the caller
// holds s.mu.
func (s *Server) prJSON(p *PR, t map[string]any, full bool) map[string]any {
	html := fmt.Sprintf("%s/%s/pull/%d", s.URL, s.repo, p.Number)
	api := fmt.Sprintf("%s/pulls/%d", s.repoAPI(), p.Number)
	issue := fmt.Sprintf("%s/issues/%d", s.repoAPI(), p.Number)
	t["url"] = api
	t["id"] = int64(1_000_000 + p.Number)
	t["node_id"] = nodeID("PullRequest", int64(1_000_000+p.Number))
	t["html_url"] = html
	t["diff_url"] = html + ".diff"
	t["patch_url"] = html + ".patch"
	t["issue_url"] = issue
	t["commits_url"] = api + "/commits"
	t["review_comments_url"] = api + "/comments"
	t["review_comment_url"] = s.repoAPI() + "/pulls/comments{/number}"
	t["comments_url"] = issue + "/comments"
	t["statuses_url"] = s.repoAPI() + "/statuses/" + p.HeadSHA
	t["number"] = p.Number
	t["state"] = p.State
	t["locked"] = false
	t["title"] = p.Title
	t["body"] = p.Body
	t["user"] = s.userJSON(p.Author)
	t["labels"] = []any{}
	t["milestone"] = nil
	t["assignee"] = nil
	t["assignees"] = []any{}
	t["requested_reviewers"] = []any{}
	t["requested_teams"] = []any{}
	t["created_at"] = ts(p.CreatedAt)
	t["updated_at"] = ts(p.UpdatedAt)
	t["closed_at"] = ts(p.ClosedAt)
	t["merged_at"] = ts(p.MergedAt)
	if p.MergeCommitSHA != "" {
		t["merge_commit_sha"] = p.MergeCommitSHA
	} else {
		t["merge_commit_sha"] = nil
	}
	t["draft"] = p.Draft
	t["author_association"] = s.authorAssociation(p.Author)
	t["auto_merge"] = nil
	t["active_lock_reason"] = nil
	if links, ok := t["_links"].(map[string]any); ok {
		links["self"] = map[string]any{"href": api}
		links["html"] = map[string]any{"href": html}
		links["issue"] = map[string]any{"href": issue}
		links["comments"] = map[string]any{"href": issue + "/comments"}
		links["review_comments"] = map[string]any{"href": api + "/comments"}
		links["review_comment"] = map[string]any{"href": s.repoAPI() + "/pulls/comments{/number}"}
		links["commits"] = map[string]any{"href": api + "/commits"}
		links["statuses"] = map[string]any{"href": s.repoAPI() + "/statuses/" + p.HeadSHA}
	}
	headOwner, _, _ := strings.Cut(p.HeadRepo, "/")
	s.branchJSON(t["head"], headOwner+":"+p.HeadRef, p.HeadRef, p.HeadSHA, p.HeadRepo)
	s.branchJSON(t["base"], s.owner+":"+p.BaseRef, p.BaseRef, p.BaseSHA, s.repo)
	if full {
		t["merged"] = p.Merged
		if p.MergedBy != "" {
			t["merged_by"] = s.userJSON(p.MergedBy)
		} else {
			t["merged_by"] = nil
		}
		if p.State == "open" {
			t["mergeable"], t["rebaseable"], t["mergeable_state"] = true, true, "clean"
		} else {
			t["mergeable"], t["rebaseable"], t["mergeable_state"] = nil, nil, "unknown"
		}
		t["comments"] = len(s.st.sortedComments(p.Number))
	}
	return t
}

func (s *Server) branchJSON(v any, label, ref, sha, repo string) {
	b, ok := v.(map[string]any)
	if !ok {
		return
	}
	owner, name, _ := strings.Cut(repo, "/")
	b["label"], b["ref"], b["sha"] = label, ref, sha
	b["user"] = s.userJSON(owner)
	r, ok := b["repo"].(map[string]any)
	if !ok {
		return
	}
	if repo != s.repo {
		replaceStrings(r, strings.NewReplacer(s.repo, repo))
		r["fork"] = true
		r["id"] = s.repoID(repo)
	} else {
		r["fork"] = false
	}
	r["name"], r["full_name"], r["private"] = name, repo, false
	r["owner"] = s.userJSON(owner)
	r["node_id"] = nodeID("Repository", toInt64(r["id"]))
}

func toInt64(v any) int64 {
	switch v := v.(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

// paginate cuts items to the requested page and adds GitHub's Link header.
func (s *Server) paginate(c *call, items []any, h http.Header) []any {
	perPage, _ := strconv.Atoi(c.query.Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, _ := strconv.Atoi(c.query.Get("page"))
	page = max(page, 1)
	last := max(1, (len(items)+perPage-1)/perPage)
	link := func(n int, rel string) string {
		q := url.Values{}
		for k, v := range c.query {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, s.URL+s.prefix, c.path, q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		h.Set("Link", strings.Join(links, ", "))
	}
	start := min((page-1)*perPage, len(items))
	end := min(start+perPage, len(items))
	return items[start:end]
}

func (s *Server) getPull(c *call) answer {
	n, _ := strconv.Atoi(c.params["pull_number"])
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.prs[n]
	if !ok {
		return notFound()
	}
	return answer{status: http.StatusOK, body: s.prJSON(p, s.template("pulls/get"), true)}
}

func (s *Server) listPulls(c *call) answer {
	state := c.query.Get("state")
	if state == "" {
		state = "open"
	}
	sortBy := c.query.Get("sort")
	if sortBy == "" {
		sortBy = "created"
	}
	dir := c.query.Get("direction")
	if dir == "" {
		dir = "asc"
		if sortBy == "created" {
			dir = "desc"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var prs []*PR
	for _, p := range s.st.prs {
		if state != "all" && p.State != state {
			continue
		}
		if b := c.query.Get("base"); b != "" && p.BaseRef != b {
			continue
		}
		if h := c.query.Get("head"); h != "" {
			owner, _, _ := strings.Cut(p.HeadRepo, "/")
			if h != owner+":"+p.HeadRef {
				continue
			}
		}
		prs = append(prs, p)
	}
	sort.Slice(prs, func(i, j int) bool {
		a, b := prs[i], prs[j]
		if dir == "desc" {
			a, b = b, a
		}
		if sortBy == "updated" && !a.UpdatedAt.Equal(b.UpdatedAt) {
			return a.UpdatedAt.Before(b.UpdatedAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) && sortBy != "updated" {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Number < b.Number
	})
	items := make([]any, len(prs))
	for i, p := range prs {
		items[i] = s.prJSON(p, s.template("pulls/list"), false)
	}
	h := http.Header{}
	return answer{status: http.StatusOK, body: s.paginate(c, items, h), header: h}
}

// legacyPermission is the permission field GitHub still fills in beside
// role_name: maintain reads as write, triage as read.
var legacyPermission = map[string]string{
	PermAdmin: "admin", PermMaintain: "write", PermWrite: "write",
	PermTriage: "read", PermRead: "read", PermNone: "none",
}

func (s *Server) getPermission(c *call) answer {
	login := c.params["username"]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.users[login]; !ok {
		return notFound()
	}
	role := s.st.perms[login]
	if role == "" {
		role = PermNone
	}
	u := s.userJSON(login)
	rank := map[string]int{PermNone: 0, PermRead: 1, PermTriage: 2, PermWrite: 3, PermMaintain: 4, PermAdmin: 5}[role]
	u["permissions"] = map[string]any{"pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5}
	u["role_name"] = role
	return answer{status: http.StatusOK, body: map[string]any{
		"permission": legacyPermission[role],
		"role_name":  role,
		"user":       u,
	}}
}

func (s *Server) getTeamMembership(c *call) answer {
	org, team, login := c.params["org"], c.params["team_slug"], c.params["username"]
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.st.teams[org+"/"+team][login]
	if !ok {
		return notFound()
	}
	return answer{status: http.StatusOK, body: map[string]any{
		"url":   s.api("/orgs/%s/teams/%s/memberships/%s", org, team, login),
		"role":  m.role,
		"state": m.state,
	}}
}

// statusJSON fills a status template; the caller holds s.mu.
func (s *Server) statusJSON(sha string, st Status, t map[string]any, withCreator bool) map[string]any {
	t["url"] = s.repoAPI() + "/statuses/" + sha
	t["avatar_url"] = s.URL + "/avatars/u/" + strconv.FormatInt(s.st.user(st.Creator).id, 10)
	t["id"] = st.ID
	t["node_id"] = nodeID("StatusContext", st.ID)
	t["state"] = st.State
	t["context"] = st.Context
	t["description"] = nilIfEmpty(st.Description)
	t["target_url"] = nilIfEmpty(st.TargetURL)
	t["created_at"] = ts(st.CreatedAt)
	t["updated_at"] = ts(st.UpdatedAt)
	if withCreator {
		t["creator"] = s.userJSON(st.Creator)
	} else {
		delete(t, "creator")
	}
	return t
}

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func (s *Server) createStatus(c *call) answer {
	sha := c.params["sha"]
	str := func(k string) string { v, _ := c.body[k].(string); return v }
	st := Status{State: str("state"), Context: str("context"), Description: str("description"), TargetURL: str("target_url"), Creator: c.login}
	if st.Context == "" {
		st.Context = "default"
	}
	if utf8.RuneCountInString(st.Description) > 140 {
		return fieldError("Status", "description", "description is too long (maximum is 140 characters)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.st.commits[sha] {
		return answer{status: http.StatusUnprocessableEntity, body: validationFailed("No commit found for SHA: "+sha, "")}
	}
	st = s.addStatus(sha, st)
	return answer{status: http.StatusCreated, body: s.statusJSON(sha, st, s.template("repos/create-commit-status"), true)}
}

// resolveRef turns a sha or a pull request's head branch into a commit; the
// caller holds s.mu.
func (s *Server) resolveRef(ref string) (string, bool) {
	if s.st.commits[ref] {
		return ref, true
	}
	for _, p := range s.st.prs {
		if p.HeadRepo == s.repo && p.HeadRef == ref {
			return p.HeadSHA, true
		}
	}
	return "", false
}

func (s *Server) getCombinedStatus(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.resolveRef(c.params["ref"])
	if !ok {
		return answer{status: http.StatusNotFound, body: basicError(http.StatusNotFound, "No commit found for SHA: "+c.params["ref"])}
	}
	// The newest status of each context, newest first.
	all := s.st.statuses[sha]
	seen := map[string]bool{}
	var latest []Status
	for i := len(all) - 1; i >= 0; i-- {
		if !seen[all[i].Context] {
			seen[all[i].Context] = true
			latest = append(latest, all[i])
		}
	}
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	for _, st := range latest {
		switch st.State {
		case "error", "failure":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	t := s.template("repos/get-combined-status-for-ref")
	var items []any
	var itemTmpl map[string]any
	if list, ok := t["statuses"].([]any); ok && len(list) > 0 {
		itemTmpl, _ = list[0].(map[string]any)
	}
	for _, st := range latest {
		it := map[string]any{}
		for k, v := range itemTmpl {
			it[k] = v
		}
		items = append(items, s.statusJSON(sha, st, it, false))
	}
	h := http.Header{}
	t["statuses"] = s.paginate(c, items, h)
	if t["statuses"] == nil {
		t["statuses"] = []any{}
	}
	t["state"] = state
	t["sha"] = sha
	t["total_count"] = len(latest)
	t["commit_url"] = s.repoAPI() + "/commits/" + sha
	t["url"] = s.repoAPI() + "/commits/" + sha + "/status"
	return answer{status: http.StatusOK, body: t, header: h}
}

// commentJSON fills an issue-comment template; the caller holds s.mu.
func (s *Server) commentJSON(cm *Comment) map[string]any {
	t := s.template("issues/get-comment")
	t["id"] = cm.ID
	t["node_id"] = nodeID("IssueComment", cm.ID)
	t["url"] = fmt.Sprintf("%s/issues/comments/%d", s.repoAPI(), cm.ID)
	t["html_url"] = fmt.Sprintf("%s/%s/pull/%d#issuecomment-%d", s.URL, s.repo, cm.Issue, cm.ID)
	t["issue_url"] = fmt.Sprintf("%s/issues/%d", s.repoAPI(), cm.Issue)
	t["body"] = cm.Body
	delete(t, "body_text")
	delete(t, "body_html")
	t["user"] = s.userJSON(cm.User)
	t["created_at"] = ts(cm.CreatedAt)
	t["updated_at"] = ts(cm.UpdatedAt)
	t["author_association"] = s.authorAssociation(cm.User)
	t["performed_via_github_app"] = nil
	return t
}

func (s *Server) createComment(c *call) answer {
	n, _ := strconv.Atoi(c.params["issue_number"])
	body, _ := c.body["body"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.prs[n]; !ok {
		return notFound()
	}
	if len(body) > 65536 {
		return fieldError("IssueComment", "body", "body is too long (maximum is 65536 characters)")
	}
	cm := s.addComment(n, c.login, body)
	h := http.Header{"Location": {fmt.Sprintf("%s/issues/comments/%d", s.repoAPI(), cm.ID)}}
	return answer{status: http.StatusCreated, body: s.commentJSON(cm), header: h}
}

func (s *Server) listComments(c *call) answer {
	n, _ := strconv.Atoi(c.params["issue_number"])
	var since time.Time
	if v := c.query.Get("since"); v != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			return answer{status: http.StatusUnprocessableEntity, body: validationFailed("Invalid since", "")}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.prs[n]; !ok {
		return notFound()
	}
	// Timestamps are whole seconds, as on GitHub; a comment updated at
	// since itself is included (the description says "updated after").
	var items []any
	for _, cm := range s.st.sortedComments(n) {
		if !since.IsZero() && cm.UpdatedAt.Truncate(time.Second).Before(since) {
			continue
		}
		items = append(items, s.commentJSON(cm))
	}
	h := http.Header{}
	page := s.paginate(c, items, h)
	if page == nil {
		page = []any{}
	}
	return answer{status: http.StatusOK, body: page, header: h}
}

// comment finds a comment by id; the caller holds s.mu.
func (s *Server) comment(idParam string) *Comment {
	id, err := strconv.ParseInt(idParam, 10, 64)
	if err != nil {
		return nil
	}
	return s.st.commentByID(id)
}

func (s *Server) getComment(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm := s.comment(c.params["comment_id"])
	if cm == nil {
		return notFound()
	}
	return answer{status: http.StatusOK, body: s.commentJSON(cm)}
}

func (s *Server) updateComment(c *call) answer {
	body, _ := c.body["body"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	cm := s.comment(c.params["comment_id"])
	if cm == nil {
		return notFound()
	}
	switch {
	case cm.User == c.login:
	case s.st.perms[c.login] == PermAdmin || s.st.perms[c.login] == PermMaintain || s.st.perms[c.login] == PermWrite:
	default:
		return answer{status: http.StatusForbidden, body: basicError(http.StatusForbidden, "Resource not accessible by integration")}
	}
	cm.Body = body
	cm.UpdatedAt = s.now()
	return answer{status: http.StatusOK, body: s.commentJSON(cm)}
}

func (s *Server) createInstallationToken(c *call) answer {
	id, _ := strconv.ParseInt(c.params["installation_id"], 10, 64)
	_, jwt, _ := strings.Cut(c.r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.st.apps[id]
	if !ok {
		return notFound()
	}
	if err := verifyAppJWT(jwt, app, s.now()); err != nil {
		return jwtRefused()
	}
	repos, ok := s.tokenRepositories(c.body)
	if !ok {
		return answer{status: http.StatusUnprocessableEntity, body: validationFailed("There is at least one repository that does not exist or is not accessible to the parent installation.", "")}
	}
	perms, ok := tokenPermissions(app, c.body)
	if !ok {
		return answer{status: http.StatusUnprocessableEntity, body: validationFailed("The permissions requested are not granted to this installation.", "")}
	}
	tok := IssuedToken{Token: "ghs_" + randomAlnum(36), InstallationID: id, ExpiresAt: s.now().Add(s.st.tokenTTL).Truncate(time.Second), Repositories: repos}
	s.st.issued = append(s.st.issued, tok)
	s.st.tokens[tok.Token] = identity{login: app.Slug + "[bot]", expiresAt: tok.ExpiresAt, install: id, repos: repos, perms: perms}
	t := s.template("apps/create-installation-access-token")
	t["token"] = tok.Token
	t["expires_at"] = ts(tok.ExpiresAt)
	t["repository_selection"] = "selected"
	if perms == nil {
		perms = app.Permissions
	}
	t["permissions"] = permissionsJSON(perms)
	delete(t, "repositories")
	return answer{status: http.StatusCreated, body: t}
}

func randomAlnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func (s *Server) getRateLimit(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.template("rate-limit/get")
	res := func(name string) map[string]any {
		w := s.window(name)
		return map[string]any{"limit": s.st.rateLimit, "remaining": max(0, s.st.rateLimit-w.used), "used": w.used, "reset": w.reset.Unix()}
	}
	resources, _ := t["resources"].(map[string]any)
	if resources == nil {
		resources = map[string]any{}
		t["resources"] = resources
	}
	resources["core"] = res("core")
	resources["graphql"] = res("graphql")
	t["rate"] = res("core")
	return answer{status: http.StatusOK, body: t}
}
