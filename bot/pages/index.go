package pages

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/bot/workflow"
	"github.com/refbot/refbot/refdata"
)

// Limits of the index page.
const (
	prsPerPage = 100
	// activeShown and failuresShown bound the job lists; failuresSince is
	// how far back failures are shown.
	activeShown   = 50
	failuresShown = 50
	failuresSince = 24 * time.Hour
)

// layout is what the shared frame (templates/layout.html) shows.
type layout struct {
	Repo  string
	PR    int    // the page's pull request, 0 for none
	User  string // who the request is signed in as, "" for nobody
	Title string
}

func (p *Pages) layout(r *http.Request, pr int, title string) layout {
	l := layout{Repo: p.o.Repo, PR: pr, Title: title}
	if p.o.User != nil {
		l.User = p.o.User(r)
	}
	return l
}

// indexPage is the data of templates/index.html.
type indexPage struct {
	layout
	PRs         []indexPR
	Total       int // open PRs on all pages
	Page, Pages int
	Prev, Next  string // links to the neighbouring pages, "" at the ends
	LastPass    time.Time
	// BranchError says the data repo's cache could not be read: the data
	// states are unknown.
	BranchError  string
	Website      *workflow.WebsiteOverview
	WebsiteError string
	Active       []queue.JobSummary
	Failures     []queue.JobSummary
	JobsError    string
}

// indexPR is one row of the open PRs.
type indexPR struct {
	store.OpenPR
	State dataState
}

// index serves GET /: the open pull requests with their data state, the
// WEBSITE previews, the queued and running jobs and the recent failures.
// It makes the same few reads whatever the number of PRs (the open PRs,
// every cache status, every cached data branch, two job lists), never
// one per PR, and never a network call: GitHub and the data repo are
// read by the reconciler and the jobs, the page shows what they left.
func (p *Pages) index(w http.ResponseWriter, r *http.Request) {
	o := p.o
	if o.Store == nil || o.Jobs == nil {
		http.Error(w, "refbot's records are not set up", http.StatusServiceUnavailable)
		return
	}
	page := 1
	if s := r.URL.Query().Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			http.Error(w, "page must be a number from 1", http.StatusBadRequest)
			return
		}
		page = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	prs, err := o.Store.OpenPRs(ctx)
	if err != nil {
		o.Logger.Warn("page: read open pull requests", zap.Error(err))
		http.Error(w, "refbot's database could not be read", http.StatusServiceUnavailable)
		return
	}
	statuses, err := o.Store.CacheStatuses(ctx)
	if err != nil {
		o.Logger.Warn("page: read cache statuses", zap.Error(err))
		http.Error(w, "refbot's database could not be read", http.StatusServiceUnavailable)
		return
	}
	d := indexPage{layout: p.layout(r, 0, "open pull requests"), Total: len(prs), Page: page}
	if d.LastPass, err = o.Store.LastPass(ctx); err != nil {
		o.Logger.Warn("page: read the reconciler's last pass", zap.Error(err))
	}
	d.Pages = max(1, (len(prs)+prsPerPage-1)/prsPerPage)
	from, to := min(len(prs), (page-1)*prsPerPage), min(len(prs), page*prsPerPage)
	if page > 1 {
		d.Prev = pageLink(r.URL, page-1)
	}
	if to < len(prs) {
		d.Next = pageLink(r.URL, page+1)
	}

	// The data repo's cache may be busy with a push: the page waits for
	// it briefly, then says so rather than block.
	bctx, bcancel := context.WithTimeout(ctx, 2*time.Second)
	branches, err := o.Branches.CachedBranches(bctx)
	bcancel()
	if err != nil {
		o.Logger.Warn("page: read data branches", zap.Error(err))
		d.BranchError = "the data repo could not be read just now: the data states are unknown"
	}
	for _, pr := range prs[from:to] {
		row := indexPR{OpenPR: pr, State: dataState{Kind: "unknown", Text: "unknown"}}
		if err == nil {
			cs, ok := statuses[pr.PR]
			var csp *store.CacheStatus
			if ok {
				csp = &cs
			}
			row.State = stateOf(pr.Head, branches[pr.PR], csp)
		}
		d.PRs = append(d.PRs, row)
	}

	if o.Website != nil {
		if ov, err := o.Website(ctx); err != nil {
			o.Logger.Warn("page: read WEBSITE's state", zap.Error(err))
			d.WebsiteError = "WEBSITE's state could not be read just now"
		} else {
			d.Website = &ov
		}
	}
	if d.Active, err = o.Jobs.ActiveJobs(ctx, activeShown); err == nil {
		d.Failures, err = o.Jobs.RecentFailures(ctx, time.Now().Add(-failuresSince), failuresShown)
	}
	if err != nil {
		o.Logger.Warn("page: read jobs", zap.Error(err))
		d.JobsError = "refbot's jobs could not be read just now"
	}
	render(w, o.Logger, "index.html", d)
}

// pageLink is u with its page parameter set to n, as a path and query.
func pageLink(u *url.URL, n int) string {
	q := u.Query()
	q.Set("page", strconv.Itoa(n))
	return (&url.URL{Path: u.Path, RawQuery: q.Encode()}).String()
}

// dataState is a PR's data state on the index page.
type dataState struct {
	// Kind is one of none (no data branch), current (the branch holds a
	// build of the PR's head), waiting (a build newer than the branch's
	// waits for review), missing (the head's outputs are missing),
	// nobuild (no build of the head yet) and unknown (the data repo could
	// not be read); the page's CSS class data-<kind>.
	Kind string
	Text string // what the page says, in words
}

// stateOf works out a PR's data state from its head, its data branch as
// refbot's cache holds it, and the cache status refbot last set (nil:
// none). The cache status names the build of the head whose outputs are
// in S3 (Build, "" when the build uploaded nothing: it matched the data
// it was compared with); the branch's trailers name the build it holds
// and the head that build tested.
func stateOf(head string, b refdata.BranchInfo, cs *store.CacheStatus) dataState {
	ofHead := cs != nil && cs.SHA == head
	built := ofHead && cs.State == "success"
	if ofHead && cs.State == "failure" {
		return dataState{"missing", "outputs missing for head " + short(head)}
	}
	if !b.Exists {
		if built && cs.Build != "" {
			return dataState{"waiting", "no data branch; build " + cs.Build + " of head " + short(head) + " waiting for review"}
		}
		return dataState{"none", "no data branch"}
	}
	build, commit := b.Trailers["Refbot-Build"], b.Trailers["Refbot-Commit"]
	switch {
	case built && cs.Build != "" && cs.Build != build:
		return dataState{"waiting", "newer build waiting for review: build " + cs.Build + " of head " + short(head) +
			" (the data branch holds build " + build + ")"}
	case commit == head:
		return dataState{"current", "data branch at build " + build + " for head " + short(head)}
	case built:
		// A build of the new head uploaded nothing: its outputs are the
		// branch's.
		return dataState{"current", "data branch at build " + build + " for head " + short(commit) + ", which the build of head " +
			short(head) + " matched"}
	}
	return dataState{"nobuild", "no build of this head yet (the data branch holds build " + build + " for head " + short(commit) + ")"}
}

func short(s string) string { return s[:min(len(s), 12)] }

// render writes a page, or logs why it could not.
func render(w http.ResponseWriter, log *zap.Logger, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := templates.ExecuteTemplate(w, name, data); err != nil {
		log.Error("page: render", zap.String("page", name), zap.Error(err))
	}
}
