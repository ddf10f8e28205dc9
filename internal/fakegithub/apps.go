package fakegithub

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// permission is one fine-grained permission at a level, as GitHub Apps and
// fine-grained tokens hold them.
type permission struct{ name, level string }

// opPermissions is, for each served operation, the permissions GitHub's
// "Permissions required for GitHub Apps" page lists; any one of the sets
// suffices. Operations not listed need none: they authenticate with the
// App's JWT, or are the rate limit.
var opPermissions = map[string][]permission{
	"pulls/get":  {{"pull_requests", "read"}},
	"pulls/list": {{"pull_requests", "read"}},
	"repos/get-collaborator-permission-level":    {{"metadata", "read"}},
	"teams/get-membership-for-user-in-org":       {{"members", "read"}},
	"repos/create-commit-status":                 {{"statuses", "write"}},
	"repos/get-combined-status-for-ref":          {{"statuses", "read"}},
	"issues/create-comment":                      {{"issues", "write"}, {"pull_requests", "write"}},
	"issues/list-comments":                       {{"issues", "read"}, {"pull_requests", "read"}},
	"issues/update-comment":                      {{"issues", "write"}, {"pull_requests", "write"}},
	"issues/get-comment":                         {{"issues", "read"}, {"pull_requests", "read"}},
	"actions/list-workflow-runs-for-repo":        {{"actions", "read"}},
	"actions/list-workflow-runs":                 {{"actions", "read"}},
	"actions/get-workflow-run":                   {{"actions", "read"}},
	"actions/list-jobs-for-workflow-run":         {{"actions", "read"}},
	"actions/list-jobs-for-workflow-run-attempt": {{"actions", "read"}},
	"actions/re-run-workflow":                    {{"actions", "write"}},
	"actions/re-run-workflow-failed-jobs":        {{"actions", "write"}},
	"actions/cancel-workflow-run":                {{"actions", "write"}},
	"actions/list-workflow-run-artifacts":        {{"actions", "read"}},
	"actions/download-artifact":                  {{"actions", "read"}},
	"actions/list-repo-workflows":                {{"actions", "read"}},
	"actions/create-workflow-dispatch":           {{"actions", "write"}},
	"checks/create":                              {{"checks", "write"}},
	"checks/update":                              {{"checks", "write"}},
	"checks/list-for-ref":                        {{"checks", "read"}},
	"repos/get":                                  {{"metadata", "read"}},
}

// jwtOperations authenticate with the App's JSON web token, not a token.
var jwtOperations = map[string]bool{
	"apps/create-installation-access-token": true,
	"apps/get-authenticated":                true,
	"apps/get-repo-installation":            true,
}

// otherRepoOperations may name a repository added with AddRepo; every other
// operation serves only the fake's own repository (the fake models pull
// requests, runs and statuses of that one).
var otherRepoOperations = map[string]bool{
	"repos/get":                  true,
	"apps/get-repo-installation": true,
}

// RefbotAppPermissions are the permissions AddApp gives an App: those of
// refbot's App manifest (deploy/github-app.yaml), with its optional
// "members: read" line taken.
func RefbotAppPermissions() map[string]string {
	return map[string]string{
		"metadata":      "read",  // every App has it
		"pull_requests": "read",  // pull requests; replies are issue comments
		"issues":        "write", // read commands, write replies
		"statuses":      "write", // the cache status
		"checks":        "write", // a check run per UPDATE
		"actions":       "write", // runs, jobs, artifacts; re-run and cancel
		"contents":      "write", // push to the data repository
		"members":       "read",  // team membership of commenters
	}
}

// RefbotAppEvents are the webhook events AddApp subscribes an App to.
func RefbotAppEvents() []string {
	return []string{"issue_comment", "pull_request", "workflow_run"}
}

func permRank(level string) int {
	switch level {
	case "read":
		return 1
	case "write":
		return 2
	case "admin":
		return 3
	}
	return 0
}

// SetAppPermission sets one permission of an App's installation ("read",
// "write" or "admin"); "" removes it. Requests by its installation tokens
// that need the permission are then answered 403, as GitHub does. An
// unknown installation is a mistake in the test.
func (s *Server) SetAppPermission(installationID int64, name, level string) {
	switch level {
	case "", "read", "write", "admin":
	default:
		panic(fmt.Sprintf("fakegithub: unknown permission level %q", level))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, ok := s.st.apps[installationID]
	if !ok {
		panic(fmt.Sprintf("fakegithub: no installation %d", installationID))
	}
	if level == "" {
		delete(app.Permissions, name)
	} else {
		app.Permissions[name] = level
	}
}

// AddRepo adds another repository the App installations cover, such as the
// data repository: an installation token may be asked for it, repos/get and
// apps/get-repo-installation answer for it, and TokenAllows admits tokens
// for it. The fake serves no pull requests or runs of it. An installation
// covers the repositories of one account, so the repository must belong to
// the fake's owner.
func (s *Server) AddRepo(fullName string) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		panic(fmt.Sprintf("fakegithub: repo %q is not owner/name", fullName))
	}
	if !strings.EqualFold(owner, s.owner) {
		panic(fmt.Sprintf("fakegithub: repo %s is not in %s, the account the App is installed on", fullName, s.owner))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.coveredRepo(fullName) != "" {
		return
	}
	s.st.repos = append(s.st.repos, fullName)
}

// coveredRepo returns the canonical spelling of a repository the
// installations cover, or ""; the caller holds s.mu.
func (s *Server) coveredRepo(fullName string) string {
	for _, r := range s.installationRepos() {
		if strings.EqualFold(r, fullName) {
			return r
		}
	}
	return ""
}

// installationRepos are the repositories the App installations cover; the
// caller holds s.mu.
func (s *Server) installationRepos() []string {
	return append([]string{s.repo}, s.st.repos...)
}

// repoID is a repository's id: the one of GitHub's example for the fake's
// repository, a stable one derived from the name for any other.
func (s *Server) repoID(fullName string) int64 {
	if strings.EqualFold(fullName, s.repo) {
		return 1296269
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(fullName)))
	return 10_000_000 + int64(h.Sum32()%900_000_000)
}

// TokenAllows reports whether token may fetch from and push to repo
// ("owner/name"), for a git server in front of the data repository: a valid
// personal access token, or an unexpired installation token whose
// installation covers repo, that was not limited to other repositories when
// it was asked for, and that holds contents write (pushing needs it; the
// git server does not tell fetches from pushes).
func (s *Server) TokenAllows(token, repo string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	idn, ok := s.st.tokens[token]
	if !ok || (!idn.expiresAt.IsZero() && !s.now().Before(idn.expiresAt)) {
		return false
	}
	if idn.install == 0 {
		return true
	}
	if _, ok := s.st.apps[idn.install]; !ok {
		return false
	}
	return s.coveredRepo(repo) != "" && idn.allowsRepo(repo) && permRank(s.grantedLevel(idn, "contents")) >= permRank("write")
}

// allowsRepo reports whether an installation token was issued for repo.
func (idn identity) allowsRepo(repo string) bool {
	if idn.repos == nil {
		return true
	}
	return slices.ContainsFunc(idn.repos, func(r string) bool { return strings.EqualFold(r, repo) })
}

// SetTokenScopes makes token a classic personal access token with these
// OAuth scopes: every answer to it then carries X-OAuth-Scopes, as GitHub's
// do. The fake does not refuse requests for a missing scope. An unknown
// token is a mistake in the test.
func (s *Server) SetTokenScopes(token string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idn, ok := s.st.tokens[token]
	if !ok || idn.install != 0 {
		panic(fmt.Sprintf("fakegithub: %q is not a personal access token of the fake", token))
	}
	idn.scopes = append([]string{}, scopes...)
	s.st.tokens[token] = idn
}

// grantedLevel is the level of a permission an installation token holds
// now: what it was issued with, capped by what the App holds now; the
// caller holds s.mu.
func (s *Server) grantedLevel(idn identity, name string) string {
	app, ok := s.st.apps[idn.install]
	if !ok {
		return ""
	}
	level := app.Permissions[name]
	if idn.perms != nil && permRank(idn.perms[name]) < permRank(level) {
		level = idn.perms[name]
	}
	return level
}

// checkPermission answers 403 when an installation token lacks every
// permission set the operation accepts, as GitHub does.
func (s *Server) checkPermission(c *call, opID string) *answer {
	need := opPermissions[opID]
	if c.idn.install == 0 || len(need) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range need {
		if permRank(s.grantedLevel(c.idn, p.name)) >= permRank(p.level) {
			return nil
		}
	}
	return &answer{status: http.StatusForbidden, body: basicError(http.StatusForbidden, "Resource not accessible by integration")}
}

// acceptedPermissions is GitHub's X-Accepted-GitHub-Permissions value for an
// operation: the sets that suffice, separated by "; ".
func acceptedPermissions(opID string) string {
	var sets []string
	for _, p := range opPermissions[opID] {
		sets = append(sets, p.name+"="+p.level)
	}
	return strings.Join(sets, "; ")
}

// appJSON fills an integration (GitHub App) template; the caller holds s.mu.
func (s *Server) appJSON(app *App, t map[string]any) map[string]any {
	if t == nil {
		t = map[string]any{}
	}
	t["id"] = app.ID
	t["slug"] = app.Slug
	t["node_id"] = nodeID("Integration", app.ID)
	t["client_id"] = app.clientID()
	t["owner"] = s.userJSON(s.owner)
	t["name"] = app.Slug
	t["description"] = ""
	t["external_url"] = s.URL + "/apps/" + app.Slug
	t["html_url"] = s.URL + "/apps/" + app.Slug
	t["permissions"] = permissionsJSON(app.Permissions)
	t["events"] = eventsJSON(app.Events)
	return t
}

func (a *App) clientID() string { return "Iv1." + fakeSHA(a.Slug)[:16] }

func permissionsJSON(p map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range p {
		out[k] = v
	}
	return out
}

func eventsJSON(events []string) []any {
	out := []any{}
	for _, e := range events {
		out = append(out, e)
	}
	return out
}

// appByJWT finds the App that signed a JSON web token; the caller holds s.mu.
func (s *Server) appByJWT(r *http.Request) *App {
	_, jwt, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	ids := slices.Sorted(maps.Keys(s.st.apps))
	for _, id := range ids {
		if app := s.st.apps[id]; verifyAppJWT(jwt, app, s.now()) == nil {
			return app
		}
	}
	return nil
}

func jwtRefused() answer {
	return answer{status: http.StatusUnauthorized, body: basicError(http.StatusUnauthorized, "A JSON web token could not be decoded"), header: http.Header{faultHeader: {"1"}}}
}

// getRepoInstallation answers apps/get-repo-installation: the installation
// of the App whose JWT signed the request, when it covers the repository.
func (s *Server) getRepoInstallation(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.appByJWT(c.r)
	if app == nil {
		return jwtRefused()
	}
	if s.coveredRepo(c.params["owner"]+"/"+c.params["repo"]) == "" {
		return notFound()
	}
	t := s.template("apps/get-repo-installation")
	owner := s.st.user(s.owner)
	t["id"] = app.InstallationID
	t["account"] = s.userJSON(s.owner)
	t["repository_selection"] = "selected"
	t["access_tokens_url"] = s.api("/app/installations/%d/access_tokens", app.InstallationID)
	t["repositories_url"] = s.api("/installation/repositories")
	t["html_url"] = fmt.Sprintf("%s/settings/installations/%d", s.URL, app.InstallationID)
	t["app_id"] = app.ID
	t["app_slug"] = app.Slug
	t["client_id"] = app.clientID()
	t["target_id"] = owner.id
	t["target_type"] = "User"
	t["permissions"] = permissionsJSON(app.Permissions)
	t["events"] = eventsJSON(app.Events)
	t["suspended_at"], t["suspended_by"] = nil, nil
	return answer{status: http.StatusOK, body: t}
}

// getRepo answers repos/get, with the caller's permissions on the
// repository.
func (s *Server) getRepo(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := s.coveredRepo(c.params["owner"] + "/" + c.params["repo"])
	if full == "" || (full == s.repo && s.hidesPrivateRepo(c.idn)) {
		return notFound()
	}
	t := s.template("repos/get")
	for _, k := range []string{"organization", "parent", "source", "template_repository"} {
		delete(t, k)
	}
	s.repoJSON(t, full)
	t["default_branch"] = "master"
	t["language"] = nil // required, and not in GitHub's example
	t["permissions"] = s.callerRepoPermissions(c.idn)
	return answer{status: http.StatusOK, body: t}
}

// repoJSON makes a repository template (whose addresses name the fake's
// repository) describe full; the caller holds s.mu.
func (s *Server) repoJSON(t map[string]any, full string) map[string]any {
	if full != s.repo {
		replaceStrings(t, strings.NewReplacer(s.repo, full))
	}
	owner, name, _ := strings.Cut(full, "/")
	id := s.repoID(full)
	t["id"] = id
	t["node_id"] = nodeID("Repository", id)
	t["name"], t["full_name"] = name, full
	t["owner"] = s.userJSON(owner)
	t["private"] = s.st.private && full == s.repo
	if t["private"] == true {
		t["visibility"] = "private"
	}
	t["fork"] = !strings.EqualFold(owner, s.owner)
	return t
}

// callerRepoPermissions is the permissions object repos/get gives the
// caller. For a user it follows SetPermission (the owner is admin; anyone
// may pull a public repository). For an installation token it is derived
// from the App's permissions: push with contents write, admin with
// administration write. The fake holds one set of user permissions, the
// same for every repository. The caller holds s.mu.
func (s *Server) callerRepoPermissions(idn identity) map[string]any {
	if idn.install != 0 {
		return map[string]any{
			"admin":    permRank(s.grantedLevel(idn, "administration")) >= 2,
			"maintain": false,
			"push":     permRank(s.grantedLevel(idn, "contents")) >= 2,
			"triage":   false,
			"pull":     true,
		}
	}
	role := s.st.perms[idn.login]
	if strings.EqualFold(idn.login, s.owner) {
		role = PermAdmin
	}
	rank := map[string]int{PermTriage: 2, PermWrite: 3, PermMaintain: 4, PermAdmin: 5}[role]
	return map[string]any{"pull": true, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5}
}

// tokenRepositories reads the repositories and repository_ids an
// installation-token request names, as full names; nil when it names none.
// The caller holds s.mu.
func (s *Server) tokenRepositories(body map[string]any) ([]string, bool) {
	var out []string
	names, _ := body["repositories"].([]any)
	for _, n := range names {
		full := s.coveredRepo(s.owner + "/" + fmt.Sprint(n))
		if full == "" {
			return nil, false
		}
		out = append(out, full)
	}
	ids, _ := body["repository_ids"].([]any)
	for _, v := range ids {
		id := toInt64(v)
		i := slices.IndexFunc(s.installationRepos(), func(r string) bool { return s.repoID(r) == id })
		if i < 0 {
			return nil, false
		}
		out = append(out, s.installationRepos()[i])
	}
	if out == nil {
		return nil, true
	}
	sort.Strings(out)
	return slices.Compact(out), true
}

// tokenPermissions reads the permissions an installation-token request
// asks for: nil (all of the App's) when it asks for none, false when it
// asks for more than the App holds.
func tokenPermissions(app *App, body map[string]any) (map[string]string, bool) {
	asked, _ := body["permissions"].(map[string]any)
	if len(asked) == 0 {
		return nil, true
	}
	out := map[string]string{}
	for name, v := range asked {
		level := fmt.Sprint(v)
		if permRank(app.Permissions[name]) < permRank(level) {
			return nil, false
		}
		out[name] = level
	}
	return out, true
}

// scopeHeaders sets the headers GitHub adds for who asked: a classic
// token's OAuth scopes, and the fine-grained permissions an operation
// accepts for an installation token.
func scopeHeaders(h http.Header, idn identity, opID string) {
	if idn.scopes != nil {
		h.Set("X-OAuth-Scopes", strings.Join(idn.scopes, ", "))
	}
	if idn.install != 0 {
		if v := acceptedPermissions(opID); v != "" {
			h.Set("X-Accepted-GitHub-Permissions", v)
		}
	}
}

// getAuthenticatedApp answers apps/get-authenticated: the App whose JWT
// signed the request.
func (s *Server) getAuthenticatedApp(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.appByJWT(c.r)
	if app == nil {
		return jwtRefused()
	}
	return answer{status: http.StatusOK, body: s.appJSON(app, s.template("apps/get-authenticated"))}
}

// getAuthenticatedUser answers users/get-authenticated: the user a personal
// token acts as. An installation token has no user: 403, as on GitHub.
func (s *Server) getAuthenticatedUser(c *call) answer {
	if c.idn.install != 0 {
		return answer{status: http.StatusForbidden, body: basicError(http.StatusForbidden, "Resource not accessible by integration")}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// GitHub's example of a private user, as this user.
	t := s.template("users/get-authenticated")
	u := s.userJSON(c.login)
	for _, k := range []string{"login", "id", "node_id", "avatar_url", "url", "html_url", "type", "site_admin"} {
		if v, ok := u[k]; ok {
			t[k] = v
		}
	}
	t["user_view_type"] = "private" // the schema's discriminator of a private user
	return answer{status: http.StatusOK, body: t}
}
