package workflow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis/travistest"
)

// siteParts are WEBSITE's parts in a fixture: the docs builds' S3 folder
// (real MinIO) and the preview bucket, served over HTTP as a reader sees
// it.
type siteParts struct {
	site     *Site
	builds   *s3cache.Store
	endpoint string // MinIO's
	preview  s3cache.Preview
}

func newSiteParts(t *testing.T, mc *testenv.MinIOServer, ci CI, o fixtureOptions, fake *fakegithub.Server,
	tv *travistest.Server, clock *testClock) *siteParts {
	t.Helper()
	ctx := context.Background()
	builds, err := s3cache.New(ctx, s3cache.Options{Bucket: mc.BucketName(t), Prefix: "builds-website", Endpoint: mc.Endpoint,
		PathStyle: true, AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey, Kind: s3cache.KindWebsite})
	if err != nil {
		t.Fatal(err)
	}
	if err := builds.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	preview := s3cache.Preview{Bucket: mc.BucketName(t), Prefix: "preview"}
	// The whole bucket is served: each slot is a folder of it.
	if err := builds.ServePublicly(ctx, s3cache.Preview{Bucket: preview.Bucket}); err != nil {
		t.Fatal(err)
	}
	tv.SetClock(clock.now)
	var docs DocsCI
	switch c := ci.(type) {
	case TravisCI:
		docs = c
	case ActionsCI:
		fake.AddWorkflow(".github/workflows/docs.yaml", "docs")
		fake.SetDispatchable(".github/workflows/docs.yaml", fakegithub.DispatchTrigger{
			Inputs:  []fakegithub.WorkflowInput{{Name: "pr", Required: true}, {Name: "sha", Required: true}, {Name: "request"}},
			RunName: "refbot WEBSITE #${{ inputs.pr }} (${{ inputs.request }})",
		})
		c.DocsWorkflow = "docs.yaml"
		docs = c
	}
	sp := &siteParts{builds: builds, endpoint: mc.Endpoint, preview: preview}
	sp.site = &Site{CI: docs, Builds: builds, StopCommand: o.StopCommand, StopTimeout: 10 * time.Second, Timeout: time.Hour,
		Preview: func(slot int) (s3cache.Preview, string) {
			dst := preview
			if slot > 1 {
				dst.Prefix = fmt.Sprintf("preview-%d", slot)
			}
			return dst, fmt.Sprintf("%s/%s/%s/index.html", mc.Endpoint, dst.Bucket, dst.Prefix)
		}}
	return sp
}

// siteFiles is a docs build's site for head.
func siteFiles(head string) map[string]string {
	return map[string]string{"index.html": "<h1>docs of " + head + "</h1>", "_static/site.css": "h1 {}", "api/plot.html": "plot"}
}

// uploadSite is the docs build uploading its site, as
// `refbot upload --kind website` does.
func (f *fixture) uploadSite(t *testing.T, build string, pr int, commit string, files map[string]string) {
	t.Helper()
	if _, err := f.site.builds.Upload(context.Background(), s3cache.UploadRequest{Build: build, Source: s3cache.Source{PR: pr},
		Commit: commit, Provider: "travis", Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
}

// fetch GETs a page of the preview over HTTP, as a reader does.
func (f *fixture) fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// runSites runs the website jobs scheduled so far, as the queue would,
// moving the clock to each one's time: each until it ends, waits longer
// than maxWait (a hold, the next day), or has been run polls times (a
// build that is not finished); then it stays scheduled.
func (f *fixture) runSites(t *testing.T, maxWait time.Duration, polls int) {
	t.Helper()
	f.jobs.mu.Lock()
	pending := f.jobs.websites
	f.jobs.websites = nil
	f.jobs.mu.Unlock()
	var left []websiteJob
	for _, j := range pending {
		for n := 0; ; n++ {
			if wait := j.at.Sub(f.clock.now()); wait > maxWait || n == polls {
				left = append(left, j)
				break
			} else if wait > 0 {
				f.clock.tick(wait)
			}
			again, err := f.bot.RunWebsite(context.Background(), j.pr, j.id)
			if err != nil {
				t.Fatalf("website job %d: %v", j.id, err)
			}
			if again == 0 {
				break
			}
			j.at = f.clock.now().Add(again)
		}
	}
	f.jobs.mu.Lock()
	f.jobs.websites = append(left, f.jobs.websites...)
	f.jobs.mu.Unlock()
}

// carryOut is Travis getting to every docs build request of pr: the
// builds exist, and each one's site is uploaded as the docs job would, for
// the head sha. It returns the builds' ids, newest last.
func (f *fixture) carryOut(t *testing.T, pr int, sha string) []string {
	t.Helper()
	var ids []string
	for _, tr := range f.travis.Triggers() {
		if !strings.Contains(tr.Message, fmt.Sprintf(" #%d ", pr)) {
			continue
		}
		b := f.travis.CarryOutRequest(tr.ID)
		id := fmt.Sprint(b.ID)
		ids = append(ids, id)
		if _, err := f.site.builds.Open(context.Background(), id, s3cache.Want{Source: s3cache.Source{PR: pr}}); err != nil {
			f.uploadSite(t, id, pr, sha, siteFiles(sha))
		}
	}
	return ids
}

func (f *fixture) website(t *testing.T, id int64) *store.Website {
	t.Helper()
	rec, err := f.state.WebsiteByID(context.Background(), id)
	if err != nil || rec == nil {
		t.Fatalf("WEBSITE %d: %v, %v", id, rec, err)
	}
	return rec
}

func (f *fixture) websiteStatus(sha string) fakegithub.Status {
	var last fakegithub.Status
	for _, s := range f.gh.fake.Statuses(sha) {
		if s.Context == "refbot/website" {
			last = s
		}
	}
	return last
}

var siteLimits = policy.Limits{Hold: 2 * time.Hour, MaxPerDay: 4, Slots: 1}

// TestWebsitePublishes: WEBSITE from the comment to a preview readers
// fetch over HTTP: the docs build asked of Travis with the PR and head,
// found though Travis makes it later, followed, its site checked and
// copied; the reply edited in place and the status link the preview and
// say until when it is held.
func TestWebsitePublishes(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Website: &siteLimits})
	f.travis.SetRequestLag(3)
	if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	comment := commentSeq
	trs := f.travis.Triggers()
	if len(trs) != 1 {
		t.Fatalf("%d docs build requests, want 1", len(trs))
	}
	env := fmt.Sprint(trs[0].Config)
	for _, want := range []string{"REFBOT_WEBSITE_PR=12", "REFBOT_WEBSITE_SHA=" + head, "REFBOT_WEBSITE_REQUEST=refbot-website-1"} {
		if !strings.Contains(env, want) {
			t.Errorf("the request's env %s lacks %s", env, want)
		}
	}
	if trs[0].Branch != "master" {
		t.Errorf("docs build on %q, want the PR's base", trs[0].Branch)
	}
	if r := f.gh.reply(comment, "WEBSITE:1"); !strings.Contains(r, "CI was asked for the docs build") {
		t.Errorf("reply while Travis has not made the build:\n%s", r)
	}
	// The site is there once Travis made the build; the fixture's Travis
	// runs it to passed as it is polled.
	ids := f.carryOut(t, 12, head)
	f.runSites(t, time.Minute, 50)

	rec := f.website(t, 1)
	if rec.Step != store.WebsitePublished || rec.Build != ids[0] {
		t.Fatalf("request at %s, build %q; want published, build %s (%s)", rec.Step, rec.Build, ids[0], rec.Detail)
	}
	if code, body := f.fetch(t, rec.PreviewURL); code != 200 || body != siteFiles(head)["index.html"] {
		t.Errorf("GET %s: %d %q", rec.PreviewURL, code, body)
	}
	if code, body := f.fetch(t, strings.TrimSuffix(rec.PreviewURL, "index.html")+"api/plot.html"); code != 200 || body != "plot" {
		t.Errorf("GET api/plot.html: %d %q", code, body)
	}
	if want := f.clock.now().Add(2 * time.Hour); rec.HeldUntil.Before(want.Add(-time.Minute)) || rec.HeldUntil.After(want) {
		t.Errorf("held until %v, want about %v", rec.HeldUntil, want)
	}
	st := f.websiteStatus(head)
	if st.State != "success" || st.TargetURL != rec.PreviewURL || !strings.Contains(st.Description, "held until") {
		t.Errorf("status %+v", st)
	}
	if n := len(f.gh.replies()); n != 1 {
		t.Errorf("%d replies, want one edited in place", n)
	}
	reply := f.gh.reply(comment, "WEBSITE:1")
	if !strings.Contains(reply, "published at **<"+rec.PreviewURL+">**") || !strings.Contains(reply, "No other pull request's WEBSITE replaces this preview before") {
		t.Errorf("reply:\n%s", reply)
	}
	golden(t, "website-published", regexpClock.ReplaceAllString(strings.ReplaceAll(reply, rec.PreviewURL, "PREVIEW"), "HH:MM UTC"))
	if len(f.travis.Triggers()) != 1 {
		t.Errorf("%d docs build requests, want 1", len(f.travis.Triggers()))
	}
}

// TestWebsiteHoldQueues: while PR 12's preview is held, PR 13's WEBSITE
// is queued: its reply says why and when it starts, nothing is asked of
// CI; at the hold's end it starts by itself, also after refbot restarted
// (a new Bot on the same database), and replaces the preview.
func TestWebsiteHoldQueues(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Website: &siteLimits})
	f.travis.SetRequestLag(0)
	f.travis.SetAdvanceOnPoll(false)
	const head13 = "1313131313131313131313131313131313131313"
	f.gh.fake.AddCommit(head13)
	f.gh.fake.AddPR(fakegithub.PR{Number: 13, HeadSHA: head13, BaseRef: "master", Author: "dave", HeadRef: "docs"})
	if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	passed := func(ids []string) {
		var build int64
		fmt.Sscan(ids[len(ids)-1], &build)
		f.travis.SetState(build, "passed")
	}
	passed(f.carryOut(t, 12, head))
	f.runSites(t, time.Minute, 50)
	first := f.website(t, 1)
	if first.Step != store.WebsitePublished {
		t.Fatalf("PR 12's request at %s: %s", first.Step, first.Detail)
	}

	f.clock.tick(30 * time.Minute)
	commentSeq++
	w := f.work("alice", "BUILDBOT: WEBSITE")
	w.PR = 13
	if err := f.bot.HandleComment(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	second := f.website(t, 2)
	if second.Step != store.WebsiteQueued || !second.Until.Equal(first.HeldUntil) {
		t.Fatalf("PR 13's request at %s until %v; want queued until PR 12's hold ends (%v)", second.Step, second.Until, first.HeldUntil)
	}
	if n := len(f.travis.Triggers()); n != 1 {
		t.Errorf("%d docs build requests while PR 12's preview is held, want 1", n)
	}
	var reply string
	for _, c := range f.gh.fake.Comments(13) {
		reply = c.Body
	}
	if !strings.Contains(reply, "WEBSITE's result for #12 is held until") || !strings.Contains(reply, "It starts by itself at **"+clock(first.HeldUntil, f.clock.now())+"**") {
		t.Errorf("PR 13's reply:\n%s", reply)
	}
	if st := f.websiteStatus(head13); st.State != "pending" || !strings.Contains(st.Description, "Queued: starts at") {
		t.Errorf("PR 13's status %+v", st)
	}

	// refbot restarts in the middle of the hold: a new Bot and policy
	// engine, the same database; the queue kept the job's time.
	pol := policy.New(policy.Config{Verbs: map[string]policy.Limits{"WEBSITE": siteLimits}}, nil, f.state, f.clock.now)
	restarted, err := New(f.bot.cfg, Deps{GitHub: f.bot.gh, CI: f.bot.ci, Store: f.bot.cache, Repo: f.bot.repo, Policy: pol,
		Jobs: f.jobs, State: f.state, Site: f.site.site})
	if err != nil {
		t.Fatal(err)
	}
	restarted.now = f.clock.now
	f.bot = restarted
	f.runSites(t, 3*time.Hour, 3)
	second = f.website(t, 2)
	if second.Step != store.WebsiteBuilding || !f.clock.now().Before(first.HeldUntil.Add(time.Minute)) {
		t.Fatalf("at the hold's end PR 13's request is at %s, want building (%s)", second.Step, second.Detail)
	}
	passed(f.carryOut(t, 13, head13))
	f.runSites(t, time.Minute, 10)
	second = f.website(t, 2)
	if second.Step != store.WebsitePublished {
		t.Fatalf("PR 13's request at %s: %s", second.Step, second.Detail)
	}
	if code, body := f.fetch(t, second.PreviewURL); code != 200 || body != siteFiles(head13)["index.html"] {
		t.Errorf("the preview after PR 13's WEBSITE: %d %q", code, body)
	}
}

var regexpClock = regexp.MustCompile(`[0-9]{2}:[0-9]{2} UTC( on [A-Z][a-z]{2} [0-9]+ [A-Z][a-z]{2})?`)

// TestWebsiteLimits: the daily cap queues to the next day or refuses, a
// blackout window queues to its end, the nightly build running queues
// until it ends, each reply saying why and when.
func TestWebsiteLimits(t *testing.T) {
	now := time.Now().UTC()
	inWindow := policy.Window{Start: time.Duration(now.Hour())*time.Hour - time.Hour, End: time.Duration(now.Hour())*time.Hour + 2*time.Hour}
	if now.Hour() == 0 || now.Hour() >= 22 {
		t.Skip("the window around now would cross midnight; the engine's own tests cover that")
	}
	tests := []struct {
		name    string
		limits  policy.Limits
		nightly bool
		step    string
		reason  string
		until   func(now time.Time) time.Time
	}{
		{name: "daily cap, queued", limits: policy.Limits{MaxPerDay: 1, Hold: time.Minute, Slots: 2}, step: store.WebsiteQueued,
			reason: "WEBSITE ran once today (UTC), its limit is 1 a day",
			until: func(now time.Time) time.Time {
				d := now.UTC()
				return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, time.UTC)
			}},
		{name: "daily cap, refused", limits: policy.Limits{MaxPerDay: 1, RefuseWhenCapped: true, Slots: 2}, step: store.WebsiteRefused,
			reason: "WEBSITE ran once today (UTC), its limit is 1 a day"},
		{name: "blackout", limits: policy.Limits{Blackout: []policy.Window{inWindow}}, step: store.WebsiteQueued,
			reason: "WEBSITE does not run between",
			until: func(now time.Time) time.Time {
				d := now.UTC()
				return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).Add(inWindow.End)
			}},
		{name: "nightly build", limits: policy.Limits{}, nightly: true, step: store.WebsiteQueued, reason: "is running, and WEBSITE never runs beside it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{Website: &tc.limits})
			f.travis.SetRequestLag(0)
			var nightly travistest.Build
			if tc.nightly {
				f.travis.SetAdvanceOnPoll(false)
				nightly = f.travis.AddBuild(travistest.Build{Repo: "octo-org/octo-repo", EventType: "cron", Branch: "master", State: "started"})
			}
			var id int64 = 1
			if tc.limits.MaxPerDay > 0 {
				// Today's one run, by another PR's request.
				if _, err := pol(f).Decide(context.Background(), 99, "WEBSITE", 99); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
				t.Fatal(err)
			}
			rec := f.website(t, id)
			if rec.Step != tc.step {
				t.Fatalf("request at %s (%s %s), want %s", rec.Step, rec.Reason, rec.Detail, tc.step)
			}
			reply := f.gh.reply(commentSeq, "WEBSITE:1")
			if !strings.Contains(reply, tc.reason) {
				t.Errorf("reply lacks %q:\n%s", tc.reason, reply)
			}
			if n := len(f.travis.Triggers()); n != 0 {
				t.Errorf("%d docs build requests, want none", n)
			}
			if tc.until != nil && !rec.Until.Equal(tc.until(f.clock.now())) {
				t.Errorf("queued until %v, want %v", rec.Until, tc.until(f.clock.now()))
			}
			if tc.until != nil && !strings.Contains(reply, "It starts by itself at **"+clock(rec.Until, f.clock.now())+"**") {
				t.Errorf("reply does not say when it starts:\n%s", reply)
			}
			if tc.nightly {
				// Still running at the next looks: still queued.
				f.runSites(t, time.Hour, 3)
				if rec := f.website(t, id); rec.Step != store.WebsiteQueued {
					t.Fatalf("request at %s while the nightly build runs", rec.Step)
				}
				f.travis.SetState(nightly.ID, "passed")
				f.runSites(t, time.Hour, 3)
				ids := f.carryOut(t, 12, head)
				var build int64
				fmt.Sscan(ids[0], &build)
				f.travis.SetState(build, "passed")
				f.runSites(t, time.Hour, 10)
				if rec := f.website(t, id); rec.Step != store.WebsitePublished {
					t.Errorf("after the nightly build: %s %s", rec.Step, rec.Detail)
				}
			}
		})
	}
}

func pol(f *fixture) *policy.Policy { return f.bot.policy.(*policy.Policy) }

// TestWebsiteStop: STOP (or SLAVE-STOP) ends a queued WEBSITE without
// asking CI anything, and one whose docs build runs has the build
// cancelled, its slot given back to the preview before it, and the
// builder's stop command run.
func TestWebsiteStop(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "stopped")
	f := newFixtureWith(t, fixtureOptions{Website: &siteLimits, StopCommand: []string{"sh", "-c", "echo stopped >> " + marker}})
	f.travis.SetRequestLag(0)
	f.travis.SetAdvanceOnPoll(false)
	if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	ids := f.carryOut(t, 12, head)
	f.runSites(t, time.Minute, 3)
	if rec := f.website(t, 1); rec.Step != store.WebsiteBuilding || rec.Build != ids[0] {
		t.Fatalf("request at %s build %q, want building %s", rec.Step, rec.Build, ids[0])
	}
	if err := f.post(t, "bob", "BUILDBOT: SLAVE-STOP"); err != nil {
		t.Fatal(err)
	}
	// bob may not command: nothing stopped.
	if rec := f.website(t, 1); rec.Step != store.WebsiteBuilding {
		t.Fatalf("a STOP by someone who may not command ended the request: %s", rec.Step)
	}
	if err := f.post(t, "alice", "BUILDBOT: SLAVE-STOP"); err != nil {
		t.Fatal(err)
	}
	rec := f.website(t, 1)
	if rec.Step != store.WebsiteCancelled || rec.EndedBy != "alice" {
		t.Fatalf("after STOP: %s by %q", rec.Step, rec.EndedBy)
	}
	var buildID int64
	fmt.Sscan(ids[0], &buildID)
	if n := f.travis.Cancels(buildID); n != 1 {
		t.Errorf("docs build cancelled %d times, want 1", n)
	}
	if out, err := os.ReadFile(marker); err != nil || string(out) != "stopped\n" {
		t.Errorf("the builder's stop command: %q, %v", out, err)
	}
	stop := f.gh.lastComment()
	if !strings.Contains(stop, "WEBSITE: ended 1 request and cancelled the docs build `"+ids[0]+"`; the builder's stop command was run") {
		t.Errorf("STOP's reply:\n%s", stop)
	}
	if r := f.gh.reply(commentSeq-2, "WEBSITE:1"); !strings.Contains(r, "stopped by @alice; the docs build") {
		t.Errorf("WEBSITE's reply after STOP:\n%s", r)
	}
	if st := f.websiteStatus(head); st.State != "error" || st.Description != "Stopped by @alice" {
		t.Errorf("status %+v", st)
	}
	state, err := pol(f).State(context.Background(), "WEBSITE")
	if err != nil {
		t.Fatal(err)
	}
	if state.Slots[0].PR != 0 || state.Today != 1 {
		t.Errorf("after STOP the slot is %+v and today's count %d; want the slot free, the run counted", state.Slots[0], state.Today)
	}

	// A queued one (another PR's preview is held): ended, CI not asked,
	// the builder left alone.
	if _, err := pol(f).Decide(context.Background(), 99, "WEBSITE", 99); err != nil {
		t.Fatal(err)
	}
	if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	queued := f.website(t, 2)
	if queued.Step != store.WebsiteQueued {
		t.Fatalf("second request at %s, want queued", queued.Step)
	}
	if err := f.post(t, "alice", "BUILDBOT: STOP"); err != nil {
		t.Fatal(err)
	}
	if rec := f.website(t, 2); rec.Step != store.WebsiteCancelled {
		t.Errorf("queued request at %s after STOP", rec.Step)
	}
	if n := len(f.travis.Triggers()); n != 1 {
		t.Errorf("%d docs build requests, want 1", n)
	}
	if out, _ := os.ReadFile(marker); string(out) != "stopped\n" {
		t.Errorf("the stop command ran %q; want once (STOP of a queued request leaves the builder alone)", out)
	}
	if stop := f.gh.lastComment(); !strings.Contains(stop, "WEBSITE: ended 1 request.") {
		t.Errorf("STOP's reply:\n%s", stop)
	}
}

// TestWebsiteFailures: a docs build that fails, a site that is missing or
// of another head, end the request without touching the preview: the slot
// goes back to the preview before it, which keeps its hold.
func TestWebsiteFailures(t *testing.T) {
	tests := []struct {
		name   string
		state  string // the docs build's end
		upload func(f *fixture, t *testing.T, build string)
		detail string
	}{
		{name: "docs build failed", state: "failed", detail: "the docs build ended `failed`"},
		{name: "no site uploaded", state: "passed", upload: func(*fixture, *testing.T, string) {}, detail: "its site cannot be published"},
		{name: "site of another head", state: "passed", upload: func(f *fixture, t *testing.T, build string) {
			f.uploadSite(t, build, 12, strings.Repeat("9", 40), siteFiles("other"))
		}, detail: "its site cannot be published"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{Website: &siteLimits})
			f.travis.SetRequestLag(0)
			f.travis.SetAdvanceOnPoll(false)
			if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
				t.Fatal(err)
			}
			tr := f.travis.Triggers()[0]
			b := f.travis.CarryOutRequest(tr.ID)
			id := fmt.Sprint(b.ID)
			if tc.upload != nil {
				tc.upload(f, t, id)
			} else {
				f.uploadSite(t, id, 12, head, siteFiles(head))
			}
			f.travis.SetState(b.ID, tc.state)
			f.runSites(t, time.Minute, 10)
			rec := f.website(t, 1)
			if rec.Step != store.WebsiteFailed || !strings.Contains(rec.Detail, tc.detail) {
				t.Fatalf("request at %s: %q; want failed, %q", rec.Step, rec.Detail, tc.detail)
			}
			if st := f.websiteStatus(head); st.State != "failure" {
				t.Errorf("status %+v", st)
			}
			if _, err := f.site.builds.ReadPreview(context.Background(), f.site.preview); err == nil {
				t.Error("something was published")
			}
			state, _ := pol(f).State(context.Background(), "WEBSITE")
			if state.Slots[0].PR != 0 {
				t.Errorf("the slot is still taken: %+v", state.Slots[0])
			}
		})
	}
}

// TestWebsiteCrashAfterAsking: refbot crashed after Travis accepted the
// request and before the answer was recorded: the next try finds the
// build by the request's marker and does not ask twice.
func TestWebsiteCrashAfterAsking(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Website: &policy.Limits{}})
	f.travis.SetRequestLag(0)
	ctx := context.Background()
	commentSeq++
	w := f.work("alice", "BUILDBOT: WEBSITE")
	rec, err := f.state.StartWebsite(ctx, store.Website{CommentID: w.CommentID, Key: "WEBSITE:1", PR: 12, Head: head, Branch: "master", Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Step, rec.TriggeredAt = store.WebsiteTriggering, f.clock.now()
	if err := f.state.SaveWebsite(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// What the crashed job asked for.
	if _, err := f.site.site.CI.TriggerDocs(ctx, docsRequest(rec)); err != nil {
		t.Fatal(err)
	}
	f.carryOut(t, 12, head)
	f.jobs.websites = append(f.jobs.websites, websiteJob{12, rec.ID, f.clock.now()})
	f.runSites(t, time.Minute, 50)
	if got := f.website(t, rec.ID); got.Step != store.WebsitePublished {
		t.Fatalf("request at %s: %s", got.Step, got.Detail)
	}
	if n := len(f.travis.Triggers()); n != 1 {
		t.Errorf("%d docs build requests, want 1", n)
	}
}

// TestWebsiteActions: on GitHub Actions the docs build is a
// workflow_dispatch with the inputs pr, sha and request; a workflow
// without that trigger is a failure that says what to add.
func TestWebsiteActions(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Actions: true, Website: &siteLimits})
	if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	rec := f.website(t, 1)
	if rec.Step != store.WebsiteBuilding || rec.Build == "" {
		t.Fatalf("request at %s build %q: %s", rec.Step, rec.Build, rec.Detail)
	}
	d := f.gh.fake.Dispatches()
	if len(d) != 1 || d[0].Inputs["pr"] != "12" || d[0].Inputs["sha"] != head || d[0].Inputs["request"] != "refbot-website-1" {
		t.Fatalf("dispatches %+v", d)
	}
	var run int64
	fmt.Sscan(rec.Build, &run)
	f.gh.fake.StartRun(run)
	f.gh.fake.CompleteRun(run)
	f.uploadSite(t, rec.Build, 12, head, siteFiles(head))
	f.runSites(t, time.Minute, 10)
	if rec := f.website(t, 1); rec.Step != store.WebsitePublished {
		t.Fatalf("request at %s: %s", rec.Step, rec.Detail)
	}

	// A docs workflow without workflow_dispatch.
	g := newFixtureWith(t, fixtureOptions{Actions: true, Website: &siteLimits})
	g.gh.fake.SetDispatchable(".github/workflows/docs.yaml", fakegithub.DispatchTrigger{})
	if err := g.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	rec = g.website(t, 1)
	if rec.Step != store.WebsiteFailed || !strings.Contains(rec.Detail, "workflow\\_dispatch") {
		t.Fatalf("request at %s: %q", rec.Step, rec.Detail)
	}
}

// TestWebsiteStopLeavesPublication: STOP while a site is being copied into
// the preview leaves the copy to finish, so that the preview is never
// left half old, half new; its reply says so.
func TestWebsiteStopLeavesPublication(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Website: &siteLimits})
	f.travis.SetRequestLag(0)
	f.travis.SetAdvanceOnPoll(false)
	if err := f.post(t, "alice", "BUILDBOT: WEBSITE"); err != nil {
		t.Fatal(err)
	}
	ids := f.carryOut(t, 12, head)
	var build int64
	fmt.Sscan(ids[0], &build)
	f.travis.SetState(build, "passed")
	// The job looked at the build and recorded that it publishes; a crash
	// (or a slow copy) keeps it there while STOP comes.
	ctx := context.Background()
	rec := f.website(t, 1)
	if _, err := f.bot.websiteFollow(ctx, rec); err != nil || rec.Step != store.WebsitePublishing {
		t.Fatalf("after the build passed: %s, %v", rec.Step, err)
	}
	if err := f.post(t, "alice", "BUILDBOT: STOP"); err != nil {
		t.Fatal(err)
	}
	if stop := f.gh.lastComment(); !strings.Contains(stop, "A WEBSITE whose site was already being copied into the preview was left to finish") {
		t.Errorf("STOP's reply:\n%s", stop)
	}
	if n := f.travis.Cancels(build); n != 0 {
		t.Errorf("the passed docs build was cancelled %d times", n)
	}
	if _, err := f.bot.RunWebsite(ctx, 12, 1); err != nil {
		t.Fatal(err)
	}
	if rec := f.website(t, 1); rec.Step != store.WebsitePublished {
		t.Fatalf("request at %s after STOP: %s", rec.Step, rec.Detail)
	}
}

// TestWebsiteSlots: with two preview slots, a second PR's WEBSITE during
// the first one's hold takes the other slot at once; a third waits for
// the first hold to end, and then takes the least recently used slot.
func TestWebsiteSlots(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Website: &policy.Limits{Hold: 2 * time.Hour, Slots: 2}})
	f.travis.SetRequestLag(0)
	f.travis.SetAdvanceOnPoll(false)
	ctx := context.Background()
	publish := func(pr int, sha string, id int64) *store.Website {
		t.Helper()
		ids := f.carryOut(t, pr, sha)
		var build int64
		fmt.Sscan(ids[len(ids)-1], &build)
		f.travis.SetState(build, "passed")
		f.runSites(t, time.Minute, 10)
		rec := f.website(t, id)
		if rec.Step != store.WebsitePublished {
			t.Fatalf("#%d's request at %s: %s", pr, rec.Step, rec.Detail)
		}
		return rec
	}
	ask := func(pr int, sha string) {
		t.Helper()
		if pr != 12 {
			f.gh.fake.AddCommit(sha)
			f.gh.fake.AddPR(fakegithub.PR{Number: pr, HeadSHA: sha, BaseRef: "master", Author: "dave", HeadRef: fmt.Sprint("b", pr)})
			f.clock.tick(time.Minute)
		}
		commentSeq++
		f.clock.tick(time.Second)
		w := f.work("alice", "BUILDBOT: WEBSITE")
		w.PR = pr
		if err := f.bot.HandleComment(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	ask(12, head)
	first := publish(12, head, 1)
	const head13, head14 = "1313131313131313131313131313131313131313", "1414141414141414141414141414141414141414"
	f.clock.tick(10 * time.Minute)
	ask(13, head13)
	second := publish(13, head13, 2)
	if first.Slot != 1 || second.Slot != 2 || first.PreviewURL == second.PreviewURL {
		t.Fatalf("slots %d (%s) and %d (%s); want 1 and 2, two previews", first.Slot, first.PreviewURL, second.Slot, second.PreviewURL)
	}
	if code, body := f.fetch(t, first.PreviewURL); code != 200 || body != siteFiles(head)["index.html"] {
		t.Errorf("slot 1 after #13 published: %d %q", code, body)
	}
	ask(14, head14)
	third := f.website(t, 3)
	if third.Step != store.WebsiteQueued || !third.Until.Equal(first.HeldUntil) {
		t.Fatalf("#14's request at %s until %v; want queued until slot 1's hold ends (%v)", third.Step, third.Until, first.HeldUntil)
	}
	f.runSites(t, 3*time.Hour, 3)
	third = publish(14, head14, 3)
	if third.Slot != 1 {
		t.Errorf("#14 took slot %d, want 1 (the least recently used, its hold over)", third.Slot)
	}
	if code, body := f.fetch(t, second.PreviewURL); code != 200 || body != siteFiles(head13)["index.html"] {
		t.Errorf("slot 2 after #14 published: %d %q", code, body)
	}
}
