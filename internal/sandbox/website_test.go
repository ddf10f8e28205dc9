package sandbox

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/s3cache"
)

// startSite starts a sandbox whose WEBSITE hold is hold.
func startSite(t *testing.T, o Options) (context.Context, *Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	sb, err := StartWith(ctx, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return ctx, sb
}

// waitWebsite waits until sha's refbot/website status is state.
func waitWebsite(ctx context.Context, t *testing.T, sb *Sandbox, rb *Refbot, sha, state string) fakegithub.Status {
	t.Helper()
	for {
		if st, ok := sb.WebsiteStatus(sha); ok && st.State == state {
			return st
		}
		select {
		case <-ctx.Done():
			st, _ := sb.WebsiteStatus(sha)
			log, _ := os.ReadFile(rb.Log)
			t.Fatalf("no %s website status (now %+v)\n%s", state, st, log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// get fetches a page of the preview as a reader does.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// checkSite checks that the preview is site, whole: every page, nothing
// else the test knows of (old lists files that must be gone).
func checkSite(t *testing.T, sb *Sandbox, site map[string]string, gone ...string) {
	t.Helper()
	base := strings.TrimSuffix(sb.PreviewURL(), "index.html")
	for path, want := range site {
		if code, body := get(t, base+path); code != http.StatusOK || body != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, code, body, want)
		}
	}
	for _, path := range gone {
		if code, _ := get(t, base+path); code == http.StatusOK {
			t.Errorf("GET %s: 200, want it gone", path)
		}
	}
}

// TestWebsite runs WEBSITE through `refbot serve` as a project uses it:
// PR 42's docs are built and published, readers fetch them over HTTP; PR
// 43's WEBSITE during the hold is queued, refbot restarts meanwhile, and
// at the hold's end it starts by itself and replaces the preview, the
// pages PR 43's site lacks removed.
func TestWebsite(t *testing.T) {
	for _, actions := range []bool{false, true} {
		name := "travis"
		if actions {
			name = "actions"
		}
		t.Run(name, func(t *testing.T) {
			ctx, sb := startSite(t, Options{Actions: actions, WebsiteHold: 6 * time.Second})
			rb, err := sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { rb.Stop(context.Background()) }()
			if d, err := sb.Comment(ctx, "BUILDBOT: WEBSITE"); err != nil || d.Status != 200 {
				t.Fatalf("delivery: %d, %v", d.Status, err)
			}
			if _, err := sb.DocsBuild(ctx, refbotBin, 1, DemoSite); err != nil {
				t.Fatal(err)
			}
			st := waitWebsite(ctx, t, sb, rb, sb.Head, "success")
			if st.TargetURL != sb.PreviewURL() || !strings.Contains(st.Description, "held until") {
				t.Errorf("status %+v", st)
			}
			checkSite(t, sb, DemoSite)
			reply := sb.Replies()[0].Body
			if !strings.Contains(reply, "published at **<"+sb.PreviewURL()+">**") {
				t.Errorf("reply:\n%s", reply)
			}
			status := exec.CommandContext(ctx, refbotBin, "status", "--website", "--config", sb.Config)
			status.Env = sb.Env
			out, err := status.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "WEBSITE: 1 of 4 docs builds today") ||
				!strings.Contains(string(out), "preview 1 "+sb.PreviewURL()+": #42 at "+sb.Head[:12]) {
				t.Errorf("refbot status --website: %v\n%s", err, out)
			}
			if actions {
				// The PR is a fork's: the next one need not be, and the
				// Actions sandbox has no AddPR; the hold is shown there.
				return
			}

			// PR 43 during the hold: queued.
			second := map[string]string{"index.html": "<h1>docs of #43</h1>", "_static/style.css": "h1 { color: teal; }\n"}
			b, err := sb.AddPR(ctx, refbotBin, 43, DemoOutputs)
			if err != nil {
				t.Fatal(err)
			}
			if err := sb.announce(ctx); err != nil {
				t.Fatal(err)
			}
			if d, err := sb.CommentOn(ctx, 43, "BUILDBOT: WEBSITE"); err != nil || d.Status != 200 {
				t.Fatalf("delivery: %d, %v", d.Status, err)
			}
			waitWebsite(ctx, t, sb, rb, b.CommitSHA, "pending")
			for deadline := time.Now().Add(10 * time.Second); len(sb.RepliesOn(43)) == 0 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			if r := sb.RepliesOn(43); len(r) != 1 || !strings.Contains(r[0].Body, "WEBSITE's result for #42 is held until") ||
				!strings.Contains(r[0].Body, "It starts by itself at") {
				t.Errorf("PR 43's reply: %+v", r)
			}
			if n := len(sb.Travis.Triggers()); n != 1 {
				t.Errorf("%d docs build requests during the hold, want 1", n)
			}
			status = exec.CommandContext(ctx, refbotBin, "status", "--config", sb.Config)
			status.Env = sb.Env
			if out, err := status.CombinedOutput(); err != nil || !strings.Contains(string(out), "queued: #43 at "+b.CommitSHA[:12]+", asked by maintainer, starts at") {
				t.Errorf("refbot status: %v\n%s", err, out)
			}
			// refbot restarts while the request waits.
			if err := rb.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if rb, err = sb.Serve(ctx, refbotBin); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.DocsBuild(ctx, refbotBin, 2, second); err != nil {
				t.Fatal(err)
			}
			waitWebsite(ctx, t, sb, rb, b.CommitSHA, "success")
			var gone []string
			for p := range maps.Keys(DemoSite) {
				if _, ok := second[p]; !ok {
					gone = append(gone, p)
				}
			}
			checkSite(t, sb, second, gone...)
			for _, v := range sb.GitHub.Violations() {
				t.Errorf("GitHub API description violated: %s", v)
			}
		})
	}
}

// TestWebsiteCrashDuringPublication kills `refbot serve` with SIGKILL just
// before it copies a site into the preview (the old site is whole), in
// the middle of the copy, and after the marker was written (the new site
// is whole, the old one's leftovers still there), and starts it again:
// the publication resumes, and the preview ends as the new site, whole,
// the leftovers gone; the request gets one reply and one docs build.
func TestWebsiteCrashDuringPublication(t *testing.T) {
	for _, point := range []string{"website-publishing", "publish-copying", "publish-marked"} {
		t.Run(point, func(t *testing.T) {
			ctx, sb := startSite(t, Options{WebsiteHold: time.Second})
			// The preview holds an older site, published before.
			rb, err := sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sb.Comment(ctx, "BUILDBOT: WEBSITE"); err != nil {
				t.Fatal(err)
			}
			old := map[string]string{"index.html": "old", "old/page.html": "old page", "_static/style.css": "old css"}
			if _, err := sb.DocsBuild(ctx, refbotBin, 1, old); err != nil {
				t.Fatal(err)
			}
			waitWebsite(ctx, t, sb, rb, sb.Head, "success")
			if err := rb.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // the hold ends

			rb, err = sb.Serve(ctx, refbotBin, "REFBOT_FAILPOINT="+point)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sb.Comment(ctx, "BUILDBOT: WEBSITE"); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.DocsBuild(ctx, refbotBin, 2, DemoSite); err != nil {
				t.Fatal(err)
			}
			diesAt(ctx, t, rb, point)
			info, err := sb.Store.ReadPreview(ctx, s3cache.Preview{Bucket: PreviewBucket, Prefix: PreviewPrefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("died at %s with the marker naming build %s", point, info.Build)
			switch point {
			case "website-publishing":
				// Before the first copy: the old site, whole.
				checkSite(t, sb, old)
			case "publish-marked":
				// Every new page in place, the old leftovers not yet gone.
				checkSite(t, sb, DemoSite)
				if code, _ := get(t, strings.TrimSuffix(sb.PreviewURL(), "index.html")+"old/page.html"); code != http.StatusOK {
					t.Errorf("the old site's leftover went before the marker said the new site was complete")
				}
			}
			// At publish-copying the preview is part old, part new until
			// refbot is back and finishes the copy (docs/design.md).

			rb, err = sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			defer rb.Stop(context.Background())
			// The second request's reply is the newest: wait for its end.
			for {
				r := sb.Replies()
				if len(r) == 2 && strings.Contains(r[1].Body, "published at **") {
					break
				}
				select {
				case <-ctx.Done():
					log, _ := os.ReadFile(rb.Log)
					t.Fatalf("the second WEBSITE was not published after the restart: %+v\n%s", r, log)
				case <-time.After(50 * time.Millisecond):
				}
			}
			checkSite(t, sb, DemoSite, "old/page.html")
			if n := len(sb.Travis.Triggers()); n != 2 {
				t.Errorf("%d docs build requests, want 2", n)
			}
			if n := len(sb.Replies()); n != 2 {
				t.Errorf("%d replies, want 2 (one per WEBSITE)", n)
			}
			if _, err := sb.Store.ReadPreview(ctx, s3cache.Preview{Bucket: PreviewBucket, Prefix: "nothing"}); !errors.Is(err, s3cache.ErrNotFound) {
				t.Errorf("ReadPreview of an empty folder: %v", err)
			}
		})
	}
}
