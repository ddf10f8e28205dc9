package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
)

// The review pages through `refbot serve` as people meet them (issue 11):
// a maintainer's PLAN and UPDATE replies with thumbnails served by refbot,
// the review of the PR's build in Chromium, the index and job pages, and,
// for a private repository, the sign-in with GitHub that stands before
// all of it.

// Hostile names of the pages' build: a file name that is markup, a folder
// whose name is a script, and quotes, ampersands and Unicode. Each must be
// shown as text and run nothing.
const (
	hostileImage = `weird/<img src=x onerror=window.pwned=1>.png`
	hostileTable = `weird/<script>window.pwnedDir=1</script>.csv`
	hostileText  = `weird/"quotes' & ampersands ünïcode ✓.txt`
	// hostileCells is hostileTable's content.
	hostileCells = "name,value\n<b>bold</b>,\"<script>window.pwnedCell=1</script>\"\n"
)

// pagesBuild is the data repo's master of the pages' tests (Data) and the
// PR's build (Outputs): line.png changes in a 10×10 square, scatter.png
// keeps its pixels in other bytes, hist.png is new, stats.json changes,
// the files of hostile names are new, and enough tables stay as they are
// for UPDATE to go ahead without --all.
type pagesBuild struct {
	Data, Outputs map[string]string
	// Changed and Total are line.png's changed and all pixels, counted
	// here, not by refbot.
	Changed, Total int
}

func newPagesBuild(t *testing.T) pagesBuild {
	t.Helper()
	oldLine, newLine := plot(t, 80, 60, true, false, png.DefaultCompression), plot(t, 80, 60, true, true, png.DefaultCompression)
	oldScatter, newScatter := plot(t, 64, 64, false, false, png.DefaultCompression), plot(t, 64, 64, false, false, png.NoCompression)
	if bytes.Equal(oldScatter, newScatter) {
		t.Fatal("scatter.png re-encoded has the same bytes: it would not be a change")
	}
	b := pagesBuild{
		Data: map[string]string{
			"README.md":              "Reference data of demo-project.\n",
			"data/plots/line.png":    string(oldLine),
			"data/plots/scatter.png": string(oldScatter),
			"data/tables/stats.json": "{\n  \"mean\": 1.0,\n  \"median\": 0.9,\n  \"n\": 100\n}\n",
			"data/tables/counts.csv": "bin,count\n0,12\n1,30\n2,41\n3,17\n",
		},
		Outputs: map[string]string{
			"plots/line.png":    string(newLine),
			"plots/scatter.png": string(newScatter),
			"plots/hist.png":    string(plot(t, 40, 30, false, true, png.DefaultCompression)),
			"tables/stats.json": "{\n  \"mean\": 1.02,\n  \"median\": 0.9,\n  \"n\": 100\n}\n",
			"tables/counts.csv": "bin,count\n0,12\n1,30\n2,41\n3,17\n",
			hostileImage:        string(plot(t, 24, 24, false, true, png.DefaultCompression)),
			hostileTable:        hostileCells,
			hostileText:         "<p>&amp; \"quoted\"</p>\n",
		},
	}
	for i := range 8 {
		table := fmt.Sprintf("tables/same-%d.csv", i)
		b.Data["data/"+table] = fmt.Sprintf("i,v\n%d,%d\n", i, i*i)
		b.Outputs[table] = b.Data["data/"+table]
	}
	o, n := decodePNG(t, oldLine), decodePNG(t, newLine)
	for y := range o.Bounds().Dy() {
		for x := range o.Bounds().Dx() {
			b.Total++
			if o.At(x, y) != n.At(x, y) {
				b.Changed++
			}
		}
	}
	return b
}

// plot is a w×h gradient PNG (wide: another gradient); square paints a
// 10×10 red square at (20, 10).
func plot(t *testing.T, w, h int, wide, square bool, level png.CompressionLevel) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: uint8(x * 3), G: uint8(y * 4), B: 200, A: 255}
			if wide {
				c.B = uint8(x + y)
			}
			if square && x >= 20 && x < 30 && y >= 10 && y < 20 {
				c = color.NRGBA{R: 255, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

// startPages starts a sandbox of pagesBuild's data, with pages (YAML under
// "pages:"), CI's upload of the build done, and refbot serving; env adds
// variables to refbot's. private makes the fake GitHub's repository
// private first.
func startPages(t *testing.T, pb pagesBuild, pages string, private bool, env ...string) (context.Context, *Sandbox, *Refbot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	sb, err := StartWith(ctx, t.TempDir(), Options{Data: pb.Data, Pages: pages})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.GitHub.SetPrivate(private)
	// refbot's token may read the repository, as a real one may, so that
	// GitHub, not a failed request, tells pages.access auto it is private.
	sb.GitHub.SetPermission("refbot", fakegithub.PermWrite)
	if _, err := sb.Upload(ctx, refbotBin, pb.Outputs); err != nil {
		t.Fatal(err)
	}
	sb.Env = append(sb.Env, env...)
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Stop(context.Background()) })
	return ctx, sb, rb
}

// waitReply waits for refbot's reply on the PR that contains want, and
// returns its body.
func waitReply(ctx context.Context, t *testing.T, sb *Sandbox, rb *Refbot, want string) string {
	t.Helper()
	for {
		for _, c := range sb.Replies() {
			if strings.Contains(c.Body, want) {
				return c.Body
			}
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(rb.Log)
			t.Fatalf("no reply with %q: %+v\n%s", want, sb.Replies(), log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var thumbLink = regexp.MustCompile(`!\[thumbnail\]\((\S+)\)`)

// thumbnails are the thumbnail links of a reply.
func thumbnails(t *testing.T, reply string) []string {
	t.Helper()
	var out []string
	for _, m := range thumbLink.FindAllStringSubmatch(reply, -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("the reply has no thumbnail:\n%s", reply)
	}
	return out
}

// plainClient asks as a script or GitHub's image proxy does: no cookie,
// redirects not followed.
var plainClient = &http.Client{
	Timeout:       time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type answer struct {
	Status      int
	ContentType string
	Location    string
	Body        []byte
}

// fetch GETs u with headers (name, value, …).
func fetch(t *testing.T, u string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), body}
}

// thumbBuild is the build a PLAN's thumbnail link names.
func thumbBuild(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	build, _, _ := strings.Cut(strings.TrimPrefix(p.Path, "/pr/42/thumb/"), "/")
	return build
}

// checkThumbnail checks that u is served as a PNG picture.
func checkThumbnail(t *testing.T, u string) {
	t.Helper()
	a := fetch(t, u)
	if a.Status != http.StatusOK || a.ContentType != "image/png" {
		t.Errorf("GET %s: %d %s %.200s", u, a.Status, a.ContentType, a.Body)
		return
	}
	img, err := png.Decode(bytes.NewReader(a.Body))
	if err != nil || img.Bounds().Empty() {
		t.Errorf("GET %s: not a PNG picture: %v", u, err)
	}
}

// loadImages loads every image of the review (they load lazily, as they
// scroll in) and returns each one's naturalWidth, keyed by its file's path
// and its class (empty for the side-by-side ones) and its alt's first
// word: "plots/line.png rv-diff difference".
func loadImages(b *testenv.Browser) map[string]int {
	var widths map[string]int
	b.Eval(`(async () => {
		const out = {};
		for (const img of document.querySelectorAll('#review img')) {
			img.loading = 'eager';
			if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; });
			const path = img.closest('[data-path]').dataset.path;
			out[path + ' ' + img.className + ' ' + img.alt.split(' ')[0]] = img.naturalWidth;
		}
		return out;
	})()`, &widths)
	return widths
}

// waitReview reloads the page the tab shows until its review is computed
// and every image difference of it too: a page waits for them only a few
// seconds (bot/pages, reviewWait and detailWait), and says so when that
// was not enough, which a busy machine may make happen.
func waitReview(ctx context.Context, t *testing.T, b *testenv.Browser) {
	t.Helper()
	for {
		b.Text("#review h2")
		var pending struct {
			Where, Why string
		}
		b.Eval(`(() => {
			const e = document.querySelector('#review > p.error, #review .rv-pending');
			return {Where: location.href, Why: e ? e.textContent : ''};
		})()`, &pending)
		if pending.Why == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the review of %s was not done: %s", pending.Where, pending.Why)
		case <-time.After(200 * time.Millisecond):
		}
		if err := b.Open(pending.Where); err != nil {
			t.Fatal(err)
		}
	}
}

// fileText is what the review says of a file: its heading, the share of
// pixels that changed, and the mark of an image that looks identical.
type fileText struct {
	Heading, Share, Identical string
}

// fileTexts are the review's fileTexts, by path.
func fileTexts(b *testenv.Browser) map[string]fileText {
	var out map[string]fileText
	b.Eval(`(() => {
		const out = {};
		const text = (a, sel) => { const e = a.querySelector(sel); return e ? e.textContent : ''; };
		for (const a of document.querySelectorAll('#review article[data-path]')) {
			out[a.dataset.path] = {Heading: text(a, 'h3 code'), Share: text(a, '.rv-share'), Identical: text(a, '.rv-identical')};
		}
		return out;
	})()`, &out)
	return out
}

// TestReviewPagesPublic: a public repository's maintainer asks for a PLAN,
// whose reply shows thumbnails refbot serves; opens the review page it
// links, sees line.png's difference and share of changed pixels and that
// scatter.png only changed its bytes, the hostile names as text; copies
// the command of the copy box and comments it; UPDATE's reply shows
// thumbnails of the pushed data; the index lists the PR with its data
// state and links to its page, whose jobs table links to the UPDATE's job
// page with its log.
func TestReviewPagesPublic(t *testing.T) {
	pb := newPagesBuild(t)
	ctx, sb, rb := startPages(t, pb, "", false)
	b := testenv.Chromium(t)

	if d, err := sb.Comment(ctx, "BUILDBOT: PLAN"); err != nil || d.Status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", d.Status, err)
	}
	plan := waitReply(ctx, t, sb, rb, "**PLAN**")
	build := ""
	t.Run("PLAN's thumbnails", func(t *testing.T) {
		thumbs := thumbnails(t, plan)
		changed := false
		for _, u := range thumbs {
			p, err := url.Parse(u)
			if err != nil || !strings.HasPrefix(u, sb.URL()+"/pr/42/thumb/") || p.Query().Has("sig") {
				t.Errorf("thumbnail %s: want an unsigned /pr/42/thumb/ link of refbot's", u)
				continue
			}
			build = thumbBuild(t, u)
			changed = changed || p.Query().Get("old") != ""
			checkThumbnail(t, u)
		}
		if !changed {
			t.Errorf("no thumbnail of a changed image (with ?old=): %v", thumbs)
		}
		if !strings.Contains(plan, "[refbot's review page]("+sb.URL()+"/pr/42#review)") {
			t.Errorf("PLAN's reply does not link the review page:\n%s", plan)
		}
	})

	if err := b.Open(sb.URL() + "/pr/42"); err != nil {
		t.Fatal(err)
	}
	waitReview(ctx, t, b)
	widths := loadImages(b)
	texts := fileTexts(b)
	var command string
	b.Eval(`document.getElementById('rv-command').value`, &command)
	b.Screenshot("public-review")
	t.Run("review", func(t *testing.T) {
		for _, want := range []string{"plots/line.png rv-diff difference", "plots/line.png  old", "plots/line.png  new",
			"plots/scatter.png  old", "plots/scatter.png  new", "plots/hist.png  new"} {
			if widths[want] == 0 {
				t.Errorf("image %q not shown (naturalWidth 0); widths: %v", want, widths)
			}
		}
		if want := fmt.Sprintf("of pixels changed (%d of %d)", pb.Changed, pb.Total); !strings.Contains(texts["plots/line.png"].Share, want) {
			t.Errorf("line.png's share %q, want it to say %q", texts["plots/line.png"].Share, want)
		}
		// The same pixels in other bytes: said so, and no difference image.
		if s := texts["plots/scatter.png"]; s.Identical == "" || s.Share != "" {
			t.Errorf("scatter.png: %+v, want it marked identical-looking", s)
		}
		if _, ok := widths["plots/scatter.png rv-diff difference"]; ok {
			t.Errorf("scatter.png has a difference image: %v", widths)
		}
		if want := "BUILDBOT: UPDATE " + sb.Head; command != want {
			t.Errorf("copy box %q, want %q", command, want)
		}
	})
	t.Run("hostile names", func(t *testing.T) {
		for _, p := range []string{hostileImage, hostileTable, hostileText} {
			if got, ok := texts[p]; !ok || got.Heading != p {
				t.Errorf("file %q shown as %q (found %v); files: %v", p, got.Heading, ok, slices.Collect(maps.Keys(texts)))
			}
		}
		if widths[hostileImage+"  new"] == 0 {
			t.Errorf("%s not shown; widths: %v", hostileImage, widths)
		}
		var ran struct {
			Flags    []any
			Injected int
			Text     string
		}
		b.Eval(`({
			Flags: [window.pwned, window.pwnedDir, window.pwnedCell].filter(v => v !== undefined),
			Injected: document.querySelectorAll('img[src="x"], #review b').length +
				[...document.scripts].filter(s => s.textContent.includes('pwned')).length,
			Text: document.getElementById('review').textContent,
		})`, &ran)
		if len(ran.Flags) > 0 || ran.Injected > 0 {
			t.Errorf("a build's file name or content ran or became markup: flags %v, %d injected elements", ran.Flags, ran.Injected)
		}
		// The folder's name and the table's cells, as text.
		for _, want := range []string{"weird/<script>window.pwnedDir=1<", "<b>bold</b>", "<script>window.pwnedCell=1</script>"} {
			if !strings.Contains(ran.Text, want) {
				t.Errorf("the review does not show %q as text", want)
			}
		}
		if errs := b.Console(); len(errs) > 0 {
			t.Errorf("console errors on the review page: %v", errs)
		}
	})
	if t.Failed() {
		log, _ := os.ReadFile(rb.Log)
		t.Logf("refbot's log:\n%s", log)
	}

	// The maintainer approves with the copy box's command.
	if d, err := sb.Comment(ctx, command); err != nil || d.Status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", d.Status, err)
	}
	if st, err := sb.WaitUpdateDone(ctx, rb); err != nil || st.State != "success" {
		t.Fatalf("UPDATE: %+v, %v", st, err)
	}
	update := waitReply(ctx, t, sb, rb, "**UPDATE**")
	t.Run("UPDATE's thumbnails", func(t *testing.T) {
		both := false
		for _, u := range thumbnails(t, update) {
			ids, ok := strings.CutPrefix(u, sb.URL()+"/thumb/")
			old, new, _ := strings.Cut(strings.TrimSuffix(ids, ".png"), "-")
			if !ok || !strings.HasSuffix(u, ".png") || new == "" {
				t.Errorf("thumbnail %s: want %s/thumb/OLD-NEW.png", u, sb.URL())
				continue
			}
			both = both || old != ""
			checkThumbnail(t, u)
		}
		if !both {
			t.Errorf("no thumbnail of a changed image (both blob ids) in:\n%s", update)
		}
	})

	t.Run("index, PR and job pages", func(t *testing.T) {
		if err := b.Open(sb.URL() + "/"); err != nil {
			t.Fatal(err)
		}
		row := b.Text(`#prs tr:has(a[href="/pr/42"])`)
		state := b.Text(`#prs tr:has(a[href="/pr/42"]) td[class^="data-"]`)
		b.Screenshot("public-index")
		if !strings.Contains(row, "Make the plots prettier") ||
			!strings.Contains(state, "data branch at build "+build+" for head "+sb.Head[:12]) {
			t.Errorf("index row of #42 %q, data state %q; want the title and the data branch at build %s", row, state, build)
		}
		b.Click(`#prs a[href="/pr/42"]`)
		// The review of the data branch, which holds the build now.
		if got := b.Text("#review"); !strings.Contains(got, "The data branch holds this build already") {
			t.Errorf("review after UPDATE: %q", got)
		}
		var jobs []string
		b.Eval(`[...document.querySelectorAll('a[href^="/jobs/"]')]
			.filter(a => a.closest('tr') && a.closest('tr').textContent.includes('UPDATE'))
			.map(a => a.getAttribute('href'))`, &jobs)
		if len(jobs) == 0 {
			t.Fatalf("the PR page links no UPDATE job")
		}
		b.Click(`a[href="` + jobs[0] + `"]`)
		state = b.Text("#job-state")
		var lines []string
		b.Eval(`[...document.querySelectorAll('#log-lines tr')].map(tr => tr.textContent)`, &lines)
		b.Screenshot("public-job")
		if state != "completed" || len(lines) == 0 {
			t.Errorf("job page %s: state %q, log lines %q", jobs[0], state, lines)
		}
		if h := b.Text("h1"); !strings.Contains(h, "#42") || !strings.Contains(h, strings.TrimPrefix(jobs[0], "/jobs/")) {
			t.Errorf("job page heading %q", h)
		}
		// The review against the base shows what the PR's data changes.
		if err := b.Open(sb.URL() + "/pr/42?against=base"); err != nil {
			t.Fatal(err)
		}
		waitReview(ctx, t, b)
		// Every picture of the comparison with the base loads, for a
		// visitor whose browser has none of them cached yet: the links
		// carry the comparison they were made for.
		var srcs []string
		b.Eval(`[...document.querySelectorAll('#review img')].map(img => img.src)`, &srcs)
		for _, src := range srcs {
			resp, err := http.Get(src)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("against the base, %s: %s", src, resp.Status)
			}
		}
		if w := loadImages(b)["plots/line.png rv-diff difference"]; w == 0 {
			t.Errorf("against the base, line.png's difference image is not shown")
		}
	})
	// The repository is made private while refbot runs (pages.access
	// auto): GitHub's repository event closes the pages at once, and
	// making it public again opens them once GitHub says so.
	t.Run("made private", func(t *testing.T) {
		visibility := func(action string) {
			t.Helper()
			sb.GitHub.SetPrivate(action == "privatized")
			body := fmt.Sprintf(`{"action":%q,"repository":{"full_name":%q,"private":%t},"sender":{"login":"octocat","type":"User"}}`,
				action, Repo, action == "privatized")
			if d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, "repository", []byte(body)); err != nil || d.Status/100 != 2 {
				t.Fatalf("repository %s: %d %s, %v", action, d.Status, d.Body, err)
			}
		}
		get := func(path string) int {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sb.URL()+path, nil)
			resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		visibility("privatized")
		if code := get("/pr/42"); code != http.StatusUnauthorized {
			t.Errorf("GET /pr/42 of a repository made private: %d, want 401", code)
		}
		// Opening waits for GitHub's word (the event could be a replay).
		visibility("publicized")
		waitUntil(ctx, t, rb, "the pages of a repository made public again to open", func() bool { return get("/pr/42") == http.StatusOK })
	})
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}

// The private repository's sign-in: an OAuth App registered at the fake
// GitHub, and a token for scripts.
const (
	oauthClientID = "Ov23liRefbotPages01"
	oauthSecret   = "oauth-client-secret-of-the-sandbox"
	pagesToken    = "pages-token-for-scripts-0123456789"
	reader        = "reader"   // may read the repository
	stranger      = "stranger" // may not
)

// TestReviewPagesPrivate: for a private repository (pages.access auto, so
// refbot asks GitHub), nothing of the PR reaches a visitor who has not
// signed in, nor one GitHub says may not read the repository; a reader
// signed in with GitHub sees the review; a configured token reads the
// pages over plain HTTP; and PLAN's thumbnails carry a signature that lets
// GitHub's image proxy fetch them without a cookie, and only them.
func TestReviewPagesPrivate(t *testing.T) {
	pb := newPagesBuild(t)
	// GitHub's web address, where people sign in, is derived from the
	// fake's API address (…/api/v3/), as for GitHub Enterprise Server.
	pages := "  access: auto\n  oauth:\n    client_id: " + oauthClientID + "\n    client_secret: {env: DEMO_OAUTH_SECRET}\n" +
		"  tokens: {env: DEMO_PAGES_TOKENS}\n"
	ctx, sb, rb := startPages(t, pb, pages, true, "DEMO_OAUTH_SECRET="+oauthSecret, "DEMO_PAGES_TOKENS="+pagesToken)
	sb.GitHub.AddOAuthClient(fakegithub.OAuthClient{ID: oauthClientID, Secret: oauthSecret, CallbackURL: sb.URL() + "/login/callback"})
	sb.GitHub.SetPermission(reader, fakegithub.PermRead)
	sb.GitHub.AddUser(stranger)

	if d, err := sb.Comment(ctx, "BUILDBOT: PLAN"); err != nil || d.Status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", d.Status, err)
	}
	plan := waitReply(ctx, t, sb, rb, "**PLAN**")
	// What the PR's pages show, which nobody unknown may see.
	secrets := []string{"Make the plots prettier", "line.png", "stats.json", "weird/"}
	leaks := func(body string) []string {
		var out []string
		for _, s := range secrets {
			if strings.Contains(body, s) {
				out = append(out, s)
			}
		}
		return out
	}

	t.Run("signed thumbnails", func(t *testing.T) {
		// The old sides the links name: a signature of one must not
		// serve another's picture.
		var olds []string
		for _, u := range thumbnails(t, plan) {
			if p, err := url.Parse(u); err == nil && p.Query().Get("old") != "" {
				olds = append(olds, p.Query().Get("old"))
			}
		}
		if len(olds) < 2 {
			t.Fatalf("PLAN's reply has %d thumbnails of changed images, want 2:\n%s", len(olds), plan)
		}
		for _, u := range thumbnails(t, plan) {
			p, err := url.Parse(u)
			if err != nil || !strings.HasPrefix(u, sb.URL()+"/pr/42/thumb/") || p.Query().Get("sig") == "" || p.Query().Get("exp") == "" {
				t.Errorf("thumbnail %s: want a signed /pr/42/thumb/ link of refbot's", u)
				continue
			}
			// As GitHub's image proxy fetches it: no cookie, no token.
			checkThumbnail(t, u)
			q := p.Query()
			unsigned := *p
			q.Del("sig")
			q.Del("exp")
			unsigned.RawQuery = q.Encode()
			tampered := *p
			q = p.Query()
			sig := q.Get("sig")
			q.Set("sig", strings.Map(func(r rune) rune {
				if r == 'A' {
					return 'B'
				}
				return 'A'
			}, sig[:1])+sig[1:])
			tampered.RawQuery = q.Encode()
			later := *p
			q = p.Query()
			exp := q.Get("exp")
			q.Set("exp", exp+"0")
			later.RawQuery = q.Encode()
			// The signature of a thumbnail is no key to the PR's page.
			page := *p
			page.Path = "/pr/42"
			cases := map[string]string{"unsigned": unsigned.String(), "tampered": tampered.String(), "expiry moved": later.String(),
				"another path": page.String()}
			if old := p.Query().Get("old"); old != "" {
				other := *p
				q = p.Query()
				q.Set("old", olds[(slices.Index(olds, old)+1)%len(olds)])
				other.RawQuery = q.Encode()
				cases["another old side"] = other.String()
			}
			for name, v := range cases {
				if a := fetch(t, v); a.Status != http.StatusUnauthorized || a.ContentType == "image/png" || len(leaks(string(a.Body))) > 0 {
					t.Errorf("%s thumbnail %s: %d %s %.100q, want 401", name, v, a.Status, a.ContentType, a.Body)
				}
			}
		}
	})

	t.Run("no sign-in", func(t *testing.T) {
		log, err := os.ReadFile(rb.Log)
		if err != nil || !strings.Contains(string(log), `"access": "private"`) || strings.Contains(string(log), "could not tell") {
			t.Errorf("pages.access auto did not learn from GitHub that the repository is private: %v\n%s", err, log)
		}
		build := thumbBuild(t, thumbnails(t, plan)[0])
		for _, p := range []string{"/", "/pr/42", "/jobs/1", "/pr/42/new/" + build + "/plots/line.png"} {
			// The redirect repeats the address asked for, nothing more.
			a := fetch(t, sb.URL()+p, "Accept", "text/html")
			body := strings.ReplaceAll(string(a.Body), url.QueryEscape(p), "")
			if a.Status != http.StatusFound || a.Location != "/login?next="+url.QueryEscape(p) || len(leaks(body)) > 0 {
				t.Errorf("GET %s as a browser: %d to %q, leaks %v; want 302 to /login", p, a.Status, a.Location, leaks(body))
			}
			a = fetch(t, sb.URL()+p)
			if a.Status != http.StatusUnauthorized || a.ContentType == "image/png" || len(leaks(string(a.Body))) > 0 {
				t.Errorf("GET %s: %d %s, leaks %v; want 401", p, a.Status, a.ContentType, leaks(string(a.Body)))
			}
		}
	})

	t.Run("token", func(t *testing.T) {
		if a := fetch(t, sb.URL()+"/", "Authorization", "Bearer "+pagesToken); a.Status != http.StatusOK ||
			!strings.Contains(string(a.Body), "Make the plots prettier") {
			t.Errorf("GET / with the token: %d\n%.300s", a.Status, a.Body)
		}
		if a := fetch(t, sb.URL()+"/pr/42", "Authorization", "Bearer "+pagesToken); a.Status != http.StatusOK ||
			!strings.Contains(string(a.Body), "BUILDBOT: UPDATE "+sb.Head) || !strings.Contains(string(a.Body), "plots/line.png") {
			t.Errorf("GET /pr/42 with the token: %d\n%.300s", a.Status, a.Body)
		}
		if a := fetch(t, sb.URL()+"/pr/42", "Authorization", "Bearer "+pagesToken+"x"); a.Status != http.StatusUnauthorized ||
			len(leaks(string(a.Body))) > 0 {
			t.Errorf("GET /pr/42 with a wrong token: %d, leaks %v", a.Status, leaks(string(a.Body)))
		}
	})

	t.Run("browser", func(t *testing.T) {
		b := testenv.Chromium(t)
		page := func() (where, text string) {
			var p struct{ Where, Text string }
			b.Eval(`({Where: location.pathname + location.search, Text: document.documentElement.outerHTML})`, &p)
			return p.Where, p.Text
		}
		if err := b.Open(sb.URL() + "/pr/42"); err != nil {
			t.Fatal(err)
		}
		b.Text("#github")
		where, html := page()
		b.Screenshot("private-sign-in")
		if where != "/login?next=%2Fpr%2F42" || len(leaks(html)) > 0 {
			t.Errorf("an unknown visitor of /pr/42 is at %s, and sees %v", where, leaks(html))
		}

		// Someone GitHub says may not read the repository.
		sb.GitHub.SignInBrowser(stranger)
		b.Click("#github")
		if got := b.Text("#cannot-read"); !strings.Contains(got, stranger) {
			t.Errorf("refusal %q", got)
		}
		where, html = page()
		b.Screenshot("private-cannot-read")
		if len(leaks(html)) > 0 {
			t.Errorf("%s, refused at %s, sees %v", stranger, where, leaks(html))
		}
		if err := b.Open(sb.URL() + "/pr/42"); err != nil {
			t.Fatal(err)
		}
		b.Text("#github") // no session was made: back to the sign-in

		// A reader. (The refusal's 403 is a console error of its own.)
		seen := len(b.Console())
		sb.GitHub.SignInBrowser(reader)
		b.Click("#github")
		waitReview(ctx, t, b)
		var command string
		b.Eval(`document.getElementById('rv-command').value`, &command)
		widths := loadImages(b)
		where, html = page()
		b.Screenshot("private-review")
		if where != "/pr/42" || command != "BUILDBOT: UPDATE "+sb.Head || !strings.Contains(html, reader) {
			t.Errorf("%s signed in: at %s, copy box %q, page names the user: %v", reader, where, command, strings.Contains(html, reader))
		}
		if widths["plots/line.png rv-diff difference"] == 0 || widths["plots/line.png  new"] == 0 {
			t.Errorf("the signed-in reader's images did not load: %v", widths)
		}
		if errs := b.Console()[seen:]; len(errs) > 0 {
			t.Errorf("console errors on the private review page: %v", errs)
		}
		grants := sb.GitHub.OAuthGrants()
		if len(grants) != 2 || grants[0].Login != stranger || grants[1].Login != reader || grants[1].Scope != "repo" {
			t.Errorf("OAuth grants %+v, want the stranger's and the reader's, with the repo scope", grants)
		}
	})
	if t.Failed() {
		log, _ := os.ReadFile(rb.Log)
		t.Logf("refbot's log:\n%s", log)
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}
