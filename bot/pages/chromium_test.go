package pages

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/internal/testenv"
)

// TestIndexInChromium: the index page renders its PRs in a browser, a PR's
// link opens its page, the next-page link the next hundred, and nothing
// on the way writes a console error.
func TestIndexInChromium(t *testing.T) {
	rec, br := manyPRs(150)
	srv := httptest.NewServer(New(Options{Repo: "o/r", BaseBranch: "master", Branches: br, Jobs: jobs{}, Store: rec,
		User: func(*http.Request) string { return "alice" }}))
	defer srv.Close()
	b := testenv.Chromium(t)

	if err := b.Open(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	var rows int
	b.Eval(`document.querySelectorAll('#prs tr').length - 1`, &rows)
	if rows != 100 {
		t.Errorf("%d PRs shown, want 100", rows)
	}
	if got := b.Text("#prs tr:nth-child(2) td:first-child"); got != "#150 change 150 <b>bold</b>" {
		t.Errorf("first PR reads %q", got)
	}
	if got := b.Text("header.top .user"); got != "signed in as @alice" {
		t.Errorf("header: %q", got)
	}
	b.Screenshot("index")

	// Text waits for the next page's own elements: a click returns before
	// the page it opens has loaded.
	b.Click(`a[href="/pr/147"]`)
	b.Text("#timeline")
	if got := b.Text("h1"); got != "o/r #147" {
		t.Errorf("the PR's page has heading %q", got)
	}
	if got := b.Text(".timeline .tl-data"); !strings.Contains(got, "data branch PR147 at d00001470000") {
		t.Errorf("the PR's timeline shows %q", got)
	}
	b.Screenshot("pr")

	b.Click(`header.top nav a[href="/"]`)
	b.Text("#last-pass")
	b.Click(`a[rel="next"]`)
	b.Text(`a[rel="prev"]`)
	var search string
	b.Eval(`location.search`, &search)
	if search != "?page=2" {
		t.Errorf("the next page is %q", search)
	}
	b.Eval(`document.querySelectorAll('#prs tr').length - 1`, &rows)
	if got := b.Text("#prs tr:nth-child(2) td:first-child"); rows != 50 || !strings.HasPrefix(got, "#50 ") {
		t.Errorf("page 2 shows %d PRs from %q; want 50 from #50", rows, got)
	}
	if errs := b.Console(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// liveJobs is a Jobs whose job 7 changes state while a page is open.
type liveJobs struct {
	detailJobs
	mu sync.Mutex
}

func (l *liveJobs) JobByID(_ context.Context, id int64) (*queue.JobDetail, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d, ok := l.detailJobs[id]; ok {
		c := *d
		return &c, nil
	}
	return nil, nil
}

func (l *liveJobs) setState(id int64, state string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.detailJobs[id].State = state
}

// TestJobPageInChromium: an open job page appends the lines the job logs
// after it loaded, as text, and stops polling when the job ends, saying
// so; no console error.
func TestJobPageInChromium(t *testing.T) {
	js, rec := jobFixture()
	js[7].State = "running"
	live := &liveJobs{detailJobs: js}
	srv := httptest.NewServer(New(Options{Repo: "o/r", Branches: branches{}, Jobs: live, Store: rec}))
	defer srv.Close()
	b := testenv.Chromium(t)

	if err := b.Open(srv.URL + "/jobs/7"); err != nil {
		t.Fatal(err)
	}
	if got := b.Text("#log tr:nth-child(2) td:last-child"); got != `push refused <img src=x onerror=alert(2)> name="x"` {
		t.Errorf("second line reads %q", got)
	}
	rec.appendLog(7, "warn", "<b>a late line</b>")
	waitFor(t, b, `document.querySelectorAll('#log tr').length === 3`)
	if got := b.Text("#log tr:nth-child(3) td:last-child"); got != "<b>a late line</b>" {
		t.Errorf("the appended line reads %q", got)
	}
	var markup bool
	b.Eval(`document.querySelector('#log b, #log img') !== null`, &markup)
	if markup {
		t.Error("a log line was parsed as HTML")
	}
	var class string
	b.Eval(`document.querySelector('#log tr:nth-child(3)').className`, &class)
	if class != "level-warn" {
		t.Errorf("the appended line's class is %q", class)
	}

	live.setState(7, "completed")
	waitFor(t, b, `document.getElementById('job-state').textContent === 'completed'`)
	if got := b.Text("#log-live"); !strings.Contains(got, "The job has ended") {
		t.Errorf("after the end the page says %q", got)
	}
	b.Screenshot("job")
	if errs := b.Console(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// waitFor waits until the JavaScript condition cond holds in the page
// (the browser's step timeout bounds the wait).
func waitFor(t *testing.T, b *testenv.Browser, cond string) {
	t.Helper()
	var ok bool
	b.Eval(`new Promise(r => { const check = () => { try { if (`+cond+`) return r(true) } catch (e) {} setTimeout(check, 50) }; check() })`, &ok)
	if !ok {
		t.Fatalf("%s never held", cond)
	}
}
