// Command demo shows refbot doing its main job on this machine with no
// outside accounts: MinIO, a git server, a fake GitHub and a fake Travis on
// loopback (internal/sandbox), `refbot serve` on its embedded SQLite, a CI
// build uploaded with `refbot upload`, and a signed `BUILDBOT: UPDATE`
// comment, then `BUILDBOT: WEBSITE`: the docs build, its site published
// to the preview bucket and fetched over HTTP. A second scenario does the same for a GitHub Actions project
// with refbot installed as a GitHub App and a pull request from a fork,
// whose outputs come as a workflow artifact. It prints what happens step
// by step and exits non-zero if anything fails. Run it with `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
)

func main() {
	refbot := flag.String("refbot", "bin/refbot", "the refbot binary to run")
	keep := flag.Bool("keep", false, "keep the demo's folder (its path is printed)")
	hold := flag.Duration("hold", 0, "keep everything running this long after the demo, to look around (refbot's page, /metrics)")
	scenario := flag.String("scenario", "both", "travis, actions (a fork's PR on GitHub Actions, refbot as an App) or both")
	flag.Parse()
	var err error
	switch *scenario {
	case "travis", "both":
		err = run(*refbot, *keep, *hold)
		if err == nil && *scenario == "both" {
			fmt.Println()
			err = runActions(*refbot, *keep, *hold)
		}
	case "actions":
		err = runActions(*refbot, *keep, *hold)
	default:
		err = fmt.Errorf("-scenario %q: travis, actions or both", *scenario)
	}
	testenv.Stop()
	if err != nil {
		fmt.Printf("\n✘ demo failed: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }
func say(format string, args ...any)  { fmt.Printf("    "+format+"\n", args...) }

// setup is what both scenarios start with: a time limit, the binary's
// absolute path, and a folder (kept with -keep); done ends them.
func setup(bin string, keep bool, prefix string) (ctx context.Context, abs, work string, done func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	if abs, err = filepath.Abs(bin); err == nil {
		work, err = os.MkdirTemp("", prefix)
	}
	if err != nil {
		cancel()
		return nil, "", "", nil, err
	}
	if keep {
		fmt.Println("demo folder:", work)
	}
	return ctx, abs, work, func() {
		cancel()
		if !keep {
			os.RemoveAll(work)
		}
	}, nil
}

// checked says that every call refbot made to the fake GitHub matched
// GitHub's description, or returns the mismatches.
func checked(sb *sandbox.Sandbox) error {
	if v := sb.GitHub.Violations(); len(v) > 0 {
		return fmt.Errorf("refbot's calls broke GitHub's API description:\n%s", strings.Join(v, "\n"))
	}
	say("every call refbot made to the fake GitHub matched GitHub's API description (%d requests)", sb.GitHub.RequestCount())
	return nil
}

func run(bin string, keep bool, hold time.Duration) error {
	ctx, bin, work, done, err := setup(bin, keep, "refbot-demo-")
	if err != nil {
		return err
	}
	defer done()

	step("starting MinIO, a git server, a fake GitHub and a fake Travis on 127.0.0.1")
	sb, err := sandbox.Start(ctx, work)
	if err != nil {
		return err
	}
	defer sb.Close()
	say("MinIO      %s (bucket %s)", sb.MinIO.Endpoint, sandbox.Bucket)
	say("data repo  %s (master: data/ with 5 files)", sb.Git.URL("data.git"))
	say("GitHub     %s (PR #%d, head %s)", sb.GitHub.APIURL(), sandbox.PR, sb.Head[:7])
	say("Travis     %s (build %d of PR #%d: failed, the plots differ from the reference)", sb.Travis.URL, sb.BuildID, sandbox.PR)

	step("CI uploads build %d's test outputs with refbot upload", sb.BuildID)
	out, err := sb.Upload(ctx, bin, sandbox.DemoOutputs)
	if err != nil {
		return err
	}
	say("%s", out)

	step("starting refbot serve")
	rb, err := sb.Serve(ctx, bin)
	if err != nil {
		return err
	}
	defer rb.Stop(context.Background())
	say("refbot     %s (log: %s)", sb.URL(), rb.Log)
	say("GitHub delivered PR #%d's \"opened\" event: refbot knows %s was its head before anyone commented", sandbox.PR, sb.Head[:7])

	step("@%s comments on PR #%d", sandbox.Maintainer, sandbox.PR)
	body := "The new plots look right to me.\n\nBUILDBOT: UPDATE\n"
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		say("> %s", line)
	}
	sent := time.Now()
	d, err := sb.Comment(ctx, body)
	if err != nil {
		return fmt.Errorf("deliver the comment: %w", err)
	}
	say("GitHub delivered it (signed, delivery %s); refbot answered %d %q in %s",
		d.ID[:8], d.Status, strings.TrimSpace(string(d.Body)), time.Since(sent).Round(time.Millisecond))
	if d.Status != http.StatusOK {
		return fmt.Errorf("refbot answered the delivery with %d", d.Status)
	}

	step("watching the commit status and refbot's reply")
	final, err := watch(ctx, sb)
	if err != nil {
		return err
	}
	fmt.Println()
	replies := sb.Replies()
	if len(replies) != 1 {
		return fmt.Errorf("refbot posted %d replies, want one", len(replies))
	}
	step("refbot's reply on PR #%d", sandbox.PR)
	for _, line := range strings.Split(strings.TrimSpace(replies[0].Body), "\n") {
		say("│ %s", line)
	}
	branch := fmt.Sprintf("PR%d", sandbox.PR)
	step("the new commit on branch %s of the data repo", branch)
	log, err := testenv.GitEnv(sb.Bare, nil, "log", "-1", "--format=%H%n%s%n%n%(trailers)", branch)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(log, "\n") {
		say("%s", line)
	}
	files, _ := testenv.GitEnv(sb.Bare, nil, "diff", "--stat", "master", branch)
	for _, line := range strings.Split(files, "\n") {
		say("%s", strings.TrimSpace(line))
	}
	count, _ := testenv.GitEnv(sb.Bare, nil, "rev-list", "--count", "master.."+branch)
	if count != "1" {
		return fmt.Errorf("%s is master + %s commits, want 1", branch, count)
	}
	if n := sb.Travis.Restarts(sb.BuildID); n != 1 {
		return fmt.Errorf("the CI build was restarted %d times, want 1", n)
	}
	if final != "success" {
		return fmt.Errorf("the update status ended %s", final)
	}
	if err := checked(sb); err != nil {
		return err
	}
	if err := reviewPage(ctx, sb); err != nil {
		return err
	}
	preview, err := website(ctx, sb, bin)
	if err != nil {
		return err
	}
	fmt.Printf("\n✔ demo passed: refbot took build %d's outputs from S3 into branch %s of the data repo (master + 1 commit), restarted the build, and reported success on PR #%d; WEBSITE published the PR's docs at %s\n",
		sb.BuildID, branch, sandbox.PR, preview)
	if hold > 0 {
		holdOn(sb, hold)
	}
	return nil
}

// holdOn says where refbot's pages are and waits.
func holdOn(sb *sandbox.Sandbox, hold time.Duration) {
	fmt.Printf("\nrefbot stays up for %s:\n", hold)
	fmt.Printf("    open pull requests  %s/\n", sb.URL())
	fmt.Printf("    PR #%d's page        %s/pr/%d\n", sandbox.PR, sb.URL(), sandbox.PR)
	fmt.Printf("    its review          %s/pr/%d#review (the data branch holds the build now)\n", sb.URL(), sandbox.PR)
	fmt.Printf("    what the PR changes %s/pr/%d?against=base#review (images side by side)\n", sb.URL(), sandbox.PR)
	fmt.Printf("    metrics             %s/metrics\n", sb.URL())
	time.Sleep(hold)
}

// reviewPage opens the review of the PR's build against the base, as a
// maintainer would before approving, and shows the changed plot's share
// of changed pixels and its difference image, which refbot computed.
func reviewPage(ctx context.Context, sb *sandbox.Sandbox) error {
	page := fmt.Sprintf("%s/pr/%d?against=base", sb.URL(), sandbox.PR)
	step("the review page: what the build changes against master, %s#review", page)
	body, err := get(ctx, page)
	if err != nil {
		return err
	}
	share := shareText.FindStringSubmatch(body)
	diff := diffLink.FindStringSubmatch(body)
	if share == nil || diff == nil {
		return fmt.Errorf("the review page shows no difference image for plots/line.png")
	}
	img, err := get(ctx, fmt.Sprintf("%s/pr/%s", sb.URL(), html.UnescapeString(diff[1])))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(img, "\x89PNG") {
		return fmt.Errorf("the difference image of plots/line.png is not a PNG")
	}
	say("plots/line.png: old and new side by side; %s; difference image %d bytes", strings.TrimSuffix(html.UnescapeString(share[1]), "."), len(img))
	if strings.Contains(body, "BUILDBOT: UPDATE "+sb.Head) {
		say("the page's command to approve exactly this: BUILDBOT: UPDATE %s", sb.Head)
	}
	return nil
}

var (
	shareText = regexp.MustCompile(`class="rv-share">([^<]*)<`)
	diffLink  = regexp.MustCompile(`src="(\d+/diff/[^"]*plots/line\.png[^"]*)"`)
)

// get fetches url and returns the body of a 200 answer.
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// website is the WEBSITE part of the Travis scenario: a comment, the docs
// build Travis runs for it, and the preview fetched over HTTP, as a reader
// would. It returns the preview's address.
func website(ctx context.Context, sb *sandbox.Sandbox, bin string) (string, error) {
	fmt.Println()
	step("@%s comments on PR #%d: BUILDBOT: WEBSITE", sandbox.Maintainer, sandbox.PR)
	if d, err := sb.Comment(ctx, "Let's see the docs too.\n\nBUILDBOT: WEBSITE\n"); err != nil || d.Status != http.StatusOK {
		return "", fmt.Errorf("deliver the comment: %d %v", d.Status, err)
	}
	step("Travis runs the docs build refbot asked for: it checks out %s, builds the site, uploads it with refbot upload --kind website", sb.Head[:7])
	build, err := sb.DocsBuild(ctx, bin, 1, sandbox.DemoSite)
	if err != nil {
		return "", err
	}
	tr := sb.Travis.Triggers()[0]
	say("build request %d on %s: %q, docs build %s", tr.ID, tr.Branch, tr.Message, build)
	step("watching the refbot/website status")
	seen := 0
	for {
		var final bool
		for _, st := range sb.GitHub.Statuses(sb.Head) {
			if st.Context != "refbot/website" {
				continue
			}
			if seen--; seen < 0 {
				say("status %-14s %-8s %s", st.Context, st.State, st.Description)
				final = st.State != "pending"
			}
		}
		seen = 0
		for _, st := range sb.GitHub.Statuses(sb.Head) {
			if st.Context == "refbot/website" {
				seen++
			}
		}
		if final {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no final refbot/website status within the time limit")
		case <-time.After(100 * time.Millisecond):
		}
	}
	st, _ := sb.WebsiteStatus(sb.Head)
	if st.State != "success" {
		return "", fmt.Errorf("WEBSITE ended %s: %s", st.State, st.Description)
	}
	replies := sb.Replies()
	step("refbot's reply to WEBSITE")
	for _, line := range strings.Split(strings.TrimSpace(replies[len(replies)-1].Body), "\n") {
		say("│ %s", line)
	}
	step("a reader opens the preview: plain HTTP GETs to MinIO, which serves the preview bucket")
	base := strings.TrimSuffix(sb.PreviewURL(), "index.html")
	for _, page := range []string{"index.html", "api/plotting.html", "_static/style.css"} {
		resp, err := http.Get(base + page)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		say("GET %s → %d %s", base+page, resp.StatusCode, resp.Header.Get("Content-Type"))
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %d", base+page, resp.StatusCode)
		}
	}
	return sb.PreviewURL(), nil
}

// watch prints status and reply changes until the update status settles.
func watch(ctx context.Context, sb *sandbox.Sandbox) (string, error) {
	seenStatus, seenReply := 0, ""
	for {
		sts := sb.GitHub.Statuses(sb.Head)
		for _, st := range sts[seenStatus:] {
			say("status %-14s %-8s %s", st.Context, st.State, st.Description)
			seenStatus++
		}
		if rs := sb.Replies(); len(rs) > 0 && rs[len(rs)-1].Body != seenReply {
			r := strings.TrimSpace(rs[len(rs)-1].Body)
			lines := strings.Split(r, "\n")
			say("reply  %s", lines[len(lines)-1])
			seenReply = rs[len(rs)-1].Body
		}
		if st, ok := sb.UpdateStatus(); ok && st.State != "pending" {
			return st.State, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no final status within the time limit")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runActions is the GitHub Actions scenario: refbot as a GitHub App, a PR
// from a fork whose run has no secrets and uploads its outputs as an
// artifact, workflow_run deliveries driving refbot.
func runActions(bin string, keep bool, hold time.Duration) error {
	ctx, bin, work, done, err := setup(bin, keep, "refbot-demo-actions-")
	if err != nil {
		return err
	}
	defer done()
	fmt.Println("── Second scenario: GitHub Actions, a pull request from a fork, refbot as a GitHub App ──")
	step("starting MinIO, a git server and a fake GitHub with Actions on 127.0.0.1")
	sb, err := sandbox.StartWith(ctx, work, sandbox.Options{Actions: true})
	if err != nil {
		return err
	}
	defer sb.Close()
	say("GitHub     %s (PR #%d from the fork %s, head %s; workflow %s)", sb.GitHub.APIURL(), sandbox.PR, sandbox.ForkRepo, sb.Head[:7], sandbox.Workflow)
	say("App        %q, installed on %s and on the data repo %s: refbot pushes with its token, no personal token anywhere",
		sb.App.Slug, sandbox.Repo, sandbox.DataRepo)

	step("starting refbot serve (ci.provider github-actions, poll every minute: GitHub's deliveries drive it)")
	rb, err := sb.Serve(ctx, bin)
	if err != nil {
		return err
	}
	defer rb.Stop(context.Background())
	say("refbot     %s (log: %s)", sb.URL(), rb.Log)

	step("the fork's run %d: tests fail against the old data; no secrets, so `refbot upload --artifact` and actions/upload-artifact", sb.BuildID)
	d, err := sb.ForkCI(ctx, bin, sandbox.DemoOutputs, "failure")
	if err != nil {
		return err
	}
	say("GitHub delivered workflow_run completed; refbot answered %d %q", d.Status, strings.TrimSpace(string(d.Body)))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st, ok := sb.Status(sb.Head, "s3-reference-data-cache"); ok && st.State == "success" {
			say("status %-24s %-8s %s", st.Context, st.State, st.Description)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no cache status: refbot did not take the artifact")
		}
	}
	m, err := sb.Store.Open(ctx, fmt.Sprint(sb.BuildID), s3cacheWant())
	if err != nil {
		return fmt.Errorf("the run's outputs are not in S3: %w", err)
	}
	mf := m.Manifests[""]
	say("refbot checked the artifact and wrote it to S3 as build %s: %d files, provenance from GitHub's API (repo %s, PR #%d, head %s, attempt %d)",
		mf.Build, len(mf.Files), mf.Repo, mf.PR, mf.Commit[:7], mf.Attempt)

	followCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sb.FollowReruns(followCtx, bin, sandbox.DemoOutputs)
	step("@%s comments on PR #%d: BUILDBOT: UPDATE", sandbox.Maintainer, sandbox.PR)
	if d, err := sb.Comment(ctx, "The fork's plots look right.\n\nBUILDBOT: UPDATE\n"); err != nil || d.Status != http.StatusOK {
		return fmt.Errorf("deliver the comment: %d %v", d.Status, err)
	}
	step("watching the commit status and refbot's reply (GitHub re-runs the run; the fork's CI passes this time)")
	final, err := watch(ctx, sb)
	if err != nil {
		return err
	}
	stop()
	replies := sb.Replies()
	if len(replies) != 1 {
		return fmt.Errorf("refbot posted %d replies, want one", len(replies))
	}
	step("refbot's reply on PR #%d", sandbox.PR)
	for _, line := range strings.Split(strings.TrimSpace(replies[0].Body), "\n") {
		say("│ %s", line)
	}
	for _, c := range sb.GitHub.CheckRuns(sb.Head) {
		step("check run %q: %s, %q", c.Name, c.Conclusion, c.Title)
	}
	branch := fmt.Sprintf("PR%d", sandbox.PR)
	count, _ := testenv.GitEnv(sb.Bare, nil, "rev-list", "--count", "master.."+branch)
	if count != "1" {
		return fmt.Errorf("%s is master + %s commits, want 1", branch, count)
	}
	if final != "success" {
		return fmt.Errorf("the update status ended %s", final)
	}
	if err := checked(sb); err != nil {
		return err
	}
	if err := reviewPage(ctx, sb); err != nil {
		return err
	}
	fmt.Printf("\n✔ second scenario passed: the fork's artifact became branch %s of the data repo (master + 1 commit), pushed with the App's token; run %d re-ran and passed\n",
		branch, sb.BuildID)
	if hold > 0 {
		holdOn(sb, hold)
	}
	return nil
}

func s3cacheWant() s3cache.Want { return s3cache.Want{Source: s3cache.Source{PR: sandbox.PR}} }
