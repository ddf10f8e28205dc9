package travistest

import (
	"fmt"
	"net/http"
	"strings"
)

// repositoryPermissions are the "@permissions" of a repository in the API
// v3 documentation; buildPermissions' are read, cancel and restart.
var repositoryPermissions = []string{"read", "admin", "activate", "deactivate", "star", "unstar",
	"create_request", "create_cron", "create_env_var", "create_key_pair", "delete_key_pair"}

// SetPermission gives or takes one permission of the token on repository
// slug: a repository permission (read, create_request, ...), rendered in
// GET /repo/{slug}, or a build permission (restart, cancel), rendered in
// each build's "@permissions"; without restart or cancel the fake refuses
// that action on the repository's builds with 403, as Travis does. Every
// permission is given until taken.
func (s *Server) SetPermission(slug, name string, allowed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(slug)
	if rp.denied == nil {
		rp.denied = map[string]bool{}
	}
	rp.denied[name] = !allowed
}

// SetActive says whether Travis builds repository slug (GET /repo/{slug}'s
// "active"); repositories are active until set otherwise.
func (s *Server) SetActive(slug string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(slug).inactive = !active
}

// getRepo answers GET /repo/{slug} with the standard representation.
func (s *Server) getRepo(w http.ResponseWriter, seg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, ok := s.repoOr404(w, seg)
	if !ok {
		return
	}
	owner, name, _ := strings.Cut(rp.slug, "/")
	perms := map[string]bool{}
	for _, p := range repositoryPermissions {
		perms[p] = !rp.denied[p]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@type":           "repository",
		"@href":           fmt.Sprintf("/repo/%d", rp.id),
		"@representation": "standard",
		"@permissions":    perms,
		"id":              rp.id,
		"name":            name,
		"slug":            rp.slug,
		"description":     nil,
		"github_language": nil,
		"active":          !rp.inactive,
		"private":         false,
		"owner":           map[string]any{"@type": "user", "login": owner, "@href": "/user/" + owner},
		"default_branch":  map[string]any{"@type": "branch", "@representation": "minimal", "name": "master"},
		"starred":         false,
	})
}

// buildPermissions are a build's "@permissions" on rp.
func buildPermissions(rp *repo) map[string]bool {
	perms := map[string]bool{}
	for _, p := range []string{"read", "cancel", "restart"} {
		perms[p] = !rp.denied[p]
	}
	return perms
}
