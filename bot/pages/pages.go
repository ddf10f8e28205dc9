// Package pages renders refbot's own web pages (docs/design.md, "Review
// pages"): GET / lists the open pull requests with their data state and
// refbot's jobs; GET /pr/{n}, the page a commit status links to, shows the
// PR's data branch, its timeline, refbot's jobs for it, where WEBSITE
// stands, and the review of the newest build of its head (what UPDATE
// would change, images side by side); GET /jobs/{id} shows one job's steps
// and log lines. Plain server-rendered HTML, escaped by html/template. A
// page reads refbot's own copy of the data branch (it never fetches, and
// waits for the data repo's cache only as long as the page may take) and
// never shows an error's raw text: that is in refbot's log.
package pages

import (
	"context"
	"embed"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/bot/workflow"
	"github.com/refbot/refbot/refdata"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"short": func(s string) string { return s[:min(len(s), 12)] },
	"ago":   func(t time.Time) string { return time.Since(t).Round(time.Second).String() + " ago" },
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	// plain shows a reply's wording (Markdown code marks and escapes) as
	// words; html/template escapes the rest.
	"plain": strings.NewReplacer("`", "", "\\", "").Replace,
}).ParseFS(templateFS, "templates/*.html"))

// Branches reads data branches (*refdata.Repo).
type Branches interface {
	// CachedBranch reads refbot's copy of a data branch, without fetching.
	CachedBranch(ctx context.Context, branch string) (refdata.BranchInfo, error)
	// CachedBranches reads refbot's copies of every PR's data branch, by
	// PR, without fetching.
	CachedBranches(ctx context.Context) (map[int]refdata.BranchInfo, error)
}

// Jobs reads refbot's jobs (*queue.Queue).
type Jobs interface {
	JobsForPR(ctx context.Context, pr, limit int) ([]queue.JobSummary, error)
	// JobByID returns nil for a job the queue does not have.
	JobByID(ctx context.Context, id int64) (*queue.JobDetail, error)
	ActiveJobs(ctx context.Context, limit int) ([]queue.JobSummary, error)
	RecentFailures(ctx context.Context, since time.Time, limit int) ([]queue.JobSummary, error)
}

// Store reads refbot's records (*store.Store): the open PRs and their
// cache statuses for the index, a job's log lines, and a PR's timeline.
type Store interface {
	OpenPRs(ctx context.Context) ([]store.OpenPR, error)
	CacheStatuses(ctx context.Context) (map[int]store.CacheStatus, error)
	// LastPass is when the reconciler last listed the open PRs.
	LastPass(ctx context.Context) (time.Time, error)
	JobLog(ctx context.Context, jobID int64, afterSeq int) ([]store.JobLogLine, error)
	HeadsSeen(ctx context.Context, pr int) ([]store.HeadSeen, error)
	CacheStatus(ctx context.Context, pr int) (*store.CacheStatus, error)
	UpdateStatus(ctx context.Context, pr int) (*store.UpdateStatus, error)
	UpdatesOfPR(ctx context.Context, pr, limit int) ([]store.Update, error)
	Merge(ctx context.Context, pr int) (*store.Merge, error)
}

// Options configure the pages.
type Options struct {
	Repo       string // owner/name
	BaseBranch string
	Branches   Branches
	Jobs       Jobs
	// Store is required by the index and job pages; without it the PR
	// page has no timeline.
	Store Store
	// User, when set, says who a request is signed in as (webauth.User),
	// for the pages' header.
	User func(r *http.Request) string
	// Known says whether refbot has heard of pull request n, from its own
	// records: a page of a PR it has not, with no data branch either, is a
	// 404, and GitHub is never asked (anyone can request any number).
	Known func(ctx context.Context, n int) (bool, error)
	// Website, when WEBSITE is set up, reads where it stands, and
	// Websites a PR's newest WEBSITE requests.
	Website  func(ctx context.Context) (workflow.WebsiteOverview, error)
	Websites func(ctx context.Context, pr int) ([]store.Website, error)
	// Reviewer, when set, computes the review section of /pr/{n} and
	// serves its files (review.go); Head gives a PR's newest known head,
	// to warn that a review's build is of an older one.
	Reviewer Reviewer
	Head     func(ctx context.Context, pr int) (string, error)
	Logger   *zap.Logger
}

// Pages serves the pages.
type Pages struct {
	o   Options
	mux *http.ServeMux
}

// New returns the pages' handler: mount it at "/" (the server's own routes,
// /webhook, /metrics and the others, are more specific and win).
func New(o Options) *Pages {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	p := &Pages{o: o, mux: http.NewServeMux()}
	p.mux.HandleFunc("GET /{$}", p.index)
	p.mux.HandleFunc("GET /pr/{n}", p.pr)
	p.mux.HandleFunc("GET /jobs/{id}", p.job)
	p.mux.HandleFunc("GET /jobs/{id}/log", p.jobLog)
	p.reviewRoutes(p.mux)
	return p
}

func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// pr serves GET /pr/{n}.
func (p *Pages) pr(w http.ResponseWriter, r *http.Request) {
	o := p.o
	{
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n <= 0 {
			http.Error(w, "no such pull request", http.StatusNotFound)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		jobs, err := o.Jobs.JobsForPR(ctx, n, 50)
		if err != nil {
			o.Logger.Warn("page: read jobs", zap.Int("pr", n), zap.Error(err))
			http.Error(w, "refbot's database could not be read", http.StatusServiceUnavailable)
			return
		}
		known := len(jobs) > 0
		if !known && o.Known != nil {
			if known, err = o.Known(ctx, n); err != nil {
				o.Logger.Warn("page: look up the pull request", zap.Int("pr", n), zap.Error(err))
				known = true // show what there is rather than deny it
			}
		}
		l := p.layout(r, n, "#"+strconv.Itoa(n))
		data := map[string]any{"Repo": o.Repo, "PR": n, "User": l.User, "Title": l.Title, "Branch": refdata.PRBranch(n), "Base": o.BaseBranch}
		var branch refdata.BranchInfo
		// A page shows what it can: a busy or unreadable data repo cache is
		// said, not a blank 500.
		bctx, bcancel := context.WithTimeout(ctx, 2*time.Second)
		defer bcancel()
		if info, err := o.Branches.CachedBranch(bctx, refdata.PRBranch(n)); err != nil {
			o.Logger.Warn("page: read data branch", zap.Int("pr", n), zap.Error(err))
			data["BranchError"] = "the data repo could not be read just now"
		} else {
			if !known && !info.Exists && o.Known != nil {
				http.Error(w, "refbot knows no pull request #"+strconv.Itoa(n), http.StatusNotFound)
				return
			}
			data["Data"] = info
			branch = info
		}
		data["Jobs"] = jobs
		data["Timeline"] = p.timeline(ctx, n, jobs, branch)
		if o.Website != nil {
			if ov, err := o.Website(ctx); err != nil {
				o.Logger.Warn("page: read WEBSITE's state", zap.Error(err))
				data["WebsiteError"] = "WEBSITE's state could not be read just now"
			} else {
				data["Website"] = ov
			}
			if o.Websites != nil {
				if recs, err := o.Websites(ctx, n); err == nil {
					data["Websites"] = recs
				}
			}
		}
		if rv := p.reviewSection(r.Context(), r, n); rv != nil {
			data["Review"] = rv
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := templates.ExecuteTemplate(w, "pr.html", data); err != nil {
			o.Logger.Error("page: render", zap.Int("pr", n), zap.Error(err))
		}
	}
}
