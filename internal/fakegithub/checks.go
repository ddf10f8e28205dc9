package fakegithub

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// CheckRun is a check run, as an App created it on the fake.
type CheckRun struct {
	ID         int64
	Name       string
	HeadSHA    string
	Status     string // queued, in_progress or completed
	Conclusion string // "" until completed
	ExternalID string
	DetailsURL string
	Title      string // output
	Summary    string // output
	Text       string // output
	App        string // the slug of the App that created it
}

type checkRunState struct {
	CheckRun
	app         *App
	suite       int64
	startedAt   time.Time
	completedAt time.Time
}

// checkRunTextLimit is GitHub's limit on a check run's output summary and
// text, in characters.
const checkRunTextLimit = 65535

// checkRunDocs is the documentation_url of GitHub's refusal of a check run
// by anything but an App.
const checkRunDocs = "https://docs.github.com/rest/checks/runs#create-a-check-run"

// CheckRuns returns the check runs on a commit, oldest first.
func (s *Server) CheckRuns(sha string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CheckRun
	for _, cr := range s.st.checkRuns {
		if cr.HeadSHA == sha {
			out = append(out, cr.CheckRun)
		}
	}
	return out
}

// notAnApp is GitHub's answer to a check-run write by anything but a GitHub
// App's installation token: "The Checks API is only available to GitHub
// Apps".
func notAnApp() answer {
	return answer{status: http.StatusForbidden, body: map[string]any{
		"message":           "You must authenticate via a GitHub App.",
		"documentation_url": checkRunDocs,
		"status":            "403",
	}}
}

// checkRunFields applies the fields of a create or update request to a check
// run; it answers 422 for what GitHub refuses beyond its description (which
// already requires a conclusion with status completed). The caller holds
// s.mu.
func (s *Server) checkRunFields(cr *checkRunState, body map[string]any) *answer {
	str := func(k string) (string, bool) { v, ok := body[k].(string); return v, ok }
	if v, ok := str("name"); ok {
		cr.Name = v
	}
	if v, ok := str("external_id"); ok {
		cr.ExternalID = v
	}
	if v, ok := str("details_url"); ok {
		cr.DetailsURL = v
	}
	if v, ok := str("status"); ok {
		cr.Status = v
	}
	if v, ok := str("conclusion"); ok {
		cr.Conclusion = v
		cr.Status = "completed"
	}
	for k, t := range map[string]*time.Time{"started_at": &cr.startedAt, "completed_at": &cr.completedAt} {
		if v, ok := str(k); ok {
			p, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a := fieldError("CheckRun", k, k+" is not an ISO 8601 timestamp")
				return &a
			}
			*t = p
		}
	}
	if out, ok := body["output"].(map[string]any); ok {
		title, _ := out["title"].(string)
		summary, _ := out["summary"].(string)
		text, _ := out["text"].(string)
		for field, v := range map[string]string{"summary": summary, "text": text} {
			if utf8.RuneCountInString(v) > checkRunTextLimit {
				a := fieldError("CheckRun", "output."+field, fmt.Sprintf("output.%s is too long (maximum is %d characters)", field, checkRunTextLimit))
				return &a
			}
		}
		cr.Title, cr.Summary, cr.Text = title, summary, text
	}
	now := s.now()
	if cr.startedAt.IsZero() {
		cr.startedAt = now
	}
	if cr.Status == "completed" && cr.completedAt.IsZero() {
		cr.completedAt = now
	}
	return nil
}

func (s *Server) createCheckRun(c *call) answer {
	if c.idn.install == 0 {
		return notAnApp()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.st.apps[c.idn.install]
	if app == nil {
		return notAnApp()
	}
	sha, _ := c.body["head_sha"].(string)
	if !s.st.commits[sha] {
		return answer{status: http.StatusUnprocessableEntity, body: validationFailed("No commit found for SHA: "+sha, "")}
	}
	cr := &checkRunState{CheckRun: CheckRun{HeadSHA: sha, Status: "queued", App: app.Slug}, app: app}
	if a := s.checkRunFields(cr, c.body); a != nil {
		return *a
	}
	cr.ID = s.st.id()
	// One check suite per App and commit, as GitHub groups them.
	for _, o := range s.st.checkRuns {
		if o.app == app && o.HeadSHA == sha {
			cr.suite = o.suite
		}
	}
	if cr.suite == 0 {
		cr.suite = s.st.id()
	}
	s.st.checkRuns = append(s.st.checkRuns, cr)
	return answer{status: http.StatusCreated, body: s.checkRunJSON(cr)}
}

func (s *Server) updateCheckRun(c *call) answer {
	if c.idn.install == 0 {
		return notAnApp()
	}
	id, _ := strconv.ParseInt(c.params["check_run_id"], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	var cr *checkRunState
	for _, o := range s.st.checkRuns {
		if o.ID == id {
			cr = o
		}
	}
	if cr == nil {
		return notFound()
	}
	if cr.app.InstallationID != c.idn.install {
		return answer{status: http.StatusForbidden, body: basicError(http.StatusForbidden, "Resource not accessible by integration")}
	}
	next := *cr
	if a := s.checkRunFields(&next, c.body); a != nil {
		return *a
	}
	*cr = next
	return answer{status: http.StatusOK, body: s.checkRunJSON(cr)}
}

func (s *Server) listCheckRunsForRef(c *call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.resolveRef(c.params["ref"])
	if !ok {
		return answer{status: http.StatusNotFound, body: basicError(http.StatusNotFound, "No commit found for SHA: "+c.params["ref"])}
	}
	var runs []*checkRunState
	for _, cr := range s.st.checkRuns {
		if cr.HeadSHA != sha {
			continue
		}
		if n := c.query.Get("check_name"); n != "" && cr.Name != n {
			continue
		}
		if st := c.query.Get("status"); st != "" && cr.Status != st {
			continue
		}
		if a := c.query.Get("app_id"); a != "" && a != strconv.FormatInt(cr.app.ID, 10) {
			continue
		}
		runs = append(runs, cr)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
	if c.query.Get("filter") != "all" {
		// latest: the newest check run of each name in each App's suite.
		seen := map[string]bool{}
		var latest []*checkRunState
		for _, cr := range runs {
			key := strconv.FormatInt(cr.app.ID, 10) + "/" + cr.Name
			if !seen[key] {
				seen[key] = true
				latest = append(latest, cr)
			}
		}
		runs = latest
	}
	items := make([]any, len(runs))
	for i, cr := range runs {
		items[i] = s.checkRunJSON(cr)
	}
	h := http.Header{}
	page := s.paginate(c, items, h)
	if page == nil {
		page = []any{}
	}
	return answer{status: http.StatusOK, header: h, body: map[string]any{"total_count": len(items), "check_runs": page}}
}

// checkRunJSON is a check-run; the caller holds s.mu.
func (s *Server) checkRunJSON(cr *checkRunState) map[string]any {
	t := s.template("checks/create")
	api := fmt.Sprintf("%s/check-runs/%d", s.repoAPI(), cr.ID)
	t["id"] = cr.ID
	t["head_sha"] = cr.HeadSHA
	t["node_id"] = nodeID("CheckRun", cr.ID)
	t["external_id"] = nilIfEmpty(cr.ExternalID)
	t["url"] = api
	t["html_url"] = fmt.Sprintf("%s/%s/runs/%d", s.URL, s.repo, cr.ID)
	t["details_url"] = nilIfEmpty(cr.DetailsURL)
	t["status"] = cr.Status
	t["conclusion"] = nilIfEmpty(cr.Conclusion)
	t["started_at"] = ts(cr.startedAt)
	t["completed_at"] = ts(cr.completedAt)
	t["name"] = cr.Name
	t["check_suite"] = map[string]any{"id": cr.suite}
	t["output"] = map[string]any{
		"title":             nilIfEmpty(cr.Title),
		"summary":           nilIfEmpty(cr.Summary),
		"text":              nilIfEmpty(cr.Text),
		"annotations_count": 0,
		"annotations_url":   api + "/annotations",
	}
	app, _ := t["app"].(map[string]any)
	t["app"] = s.appJSON(cr.app, app)
	prs := []any{}
	for _, n := range sortedPRNumbers(s.st.prs) {
		p := s.st.prs[n]
		if p.State == "open" && p.HeadSHA == cr.HeadSHA && p.HeadRepo == s.repo {
			prs = append(prs, s.minimalPR(p))
		}
	}
	t["pull_requests"] = prs
	delete(t, "deployment")
	return t
}

func sortedPRNumbers(prs map[int]*PR) []int {
	var out []int
	for n := range prs {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}
