// Command benchpages measures refbot's review pages (docs/design.md,
// "Review pages") as a maintainer meets them on a large project, with
// real HTTP GETs against a real `refbot serve` and every outside system a
// real part on loopback (internal/sandbox: MinIO, a git server holding the
// data repo, the fake GitHub checked against GitHub's API description, a
// fake Travis):
//
//   - 500 open pull requests, which refbot learns as a deployment does,
//     from its reconciler's first pass; 200 of them have a data branch
//     (pushed with the git CLI, with the trailers refbot writes), some a
//     build whose outputs are in S3, some a build that uploaded nothing;
//   - a data repo whose base holds 5,000 files (300 PNG plots of
//     800×600, ~100–130 KB each, and CSV, JSON and log files); PR #42's
//     data branch, made by a real UPDATE of a first build; and a build
//     of a newer head of #42 that changes 50 of the plots (a region
//     redrawn), 30 text files, and adds and removes 5 files each.
//
// It then times GET / (first and repeated), GET /pr/42 cold (the review
// computed, and the first page's image differences) and warm, the second
// page, and the difference image of each of the 50 plots (against the
// base, a comparison no page has asked for yet: cold, then warm), and
// reads the serve process's peak RSS over the measurements from
// /proc/PID/status (VmHWM, reset first through clear_refs). It prints a
// Markdown table. Run it with `make bench` or
// `go run ./internal/cmd/benchpages` (which builds refbot from the tree
// unless -refbot names a binary).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// The project's pull requests.
const (
	openPRs     = 500 // #42 and 499 more
	firstOther  = 100 // the others are #100 …
	withBranch  = 200 // of the others, with a data branch
	withOutputs = 30  // of the others, with a build whose outputs are in S3
	noOutputs   = 20  // of the others, with a failed build that uploaded nothing
	repeats     = 20  // requests per warm figure
	// cacheContext is the context of refbot's cache statuses.
	cacheContext = "s3-reference-data-cache"
)

func main() {
	bin := flag.String("refbot", "", "the refbot binary to run (default: built from this tree)")
	keep := flag.Bool("keep", false, "keep the bench's folder (its path is printed)")
	flag.Parse()
	err := run(*bin, *keep)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchpages:", err)
		os.Exit(1)
	}
}

func run(bin string, keep bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "refbot-benchpages-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("bench folder:", work)
	} else {
		defer os.RemoveAll(work)
	}
	if bin == "" {
		if bin, err = buildRefbot(ctx, work); err != nil {
			return err
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	loadBefore := loadAvg()
	start := time.Now()
	fmt.Println("setting up: MinIO, a git server, the fake GitHub and Travis on loopback; generating the data …")
	b, err := setUp(ctx, bin, work)
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Printf("set up in %s: %d open PRs, %d data branches; base %d files (%.0f MB), build %s of #%d changes %d files\n",
		time.Since(start).Round(time.Second), openPRs, withBranch+1, len(b.data.base), mb(b.data.base.size()), b.build2, sandbox.PR, b.changes)

	res, err := b.measure(ctx)
	if err != nil {
		return err
	}
	if v := b.sb.GitHub.Violations(); len(v) > 0 {
		return fmt.Errorf("GitHub API description violated: %s", strings.Join(v, "; "))
	}
	res.print(loadBefore, loadAvg())
	return nil
}

// buildRefbot builds refbot from the tree into work.
func buildRefbot(ctx context.Context, work string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("find the repository (run from inside it): %w", err)
	}
	out := filepath.Join(work, "refbot")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/refbot")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build refbot: %w\n%s", err, b)
	}
	return out, nil
}

// bench is the running setup.
type bench struct {
	bin     string
	work    string
	sb      *sandbox.Sandbox
	rb      *sandbox.Refbot
	data    *dataset
	heads   map[int]string // the open PRs' heads
	head2   string         // #42's head under review
	build2  string         // its build
	changes int            // files the build changes against the data branch
	client  *http.Client
}

func (b *bench) close() {
	if b.rb != nil {
		b.rb.Stop(context.Background())
	}
	b.sb.Close()
}

// setUp starts the sandbox and refbot serve, and makes the project's
// state: the data repo, the open PRs and their builds, #42's data branch
// (by UPDATE) and the build under review.
func setUp(ctx context.Context, bin, work string) (*bench, error) {
	sb, err := sandbox.Start(ctx, work)
	if err != nil {
		return nil, err
	}
	b := &bench{bin: bin, work: work, sb: sb, client: &http.Client{Timeout: 2 * time.Minute}}
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	t := time.Now()
	done := func(what string) {
		fmt.Printf("  %-56s %s\n", what, time.Since(t).Round(100*time.Millisecond))
		t = time.Now()
	}
	if b.data, err = generate(); err != nil {
		return nil, err
	}
	done("data generated")
	heads, built, err := b.openPRs(ctx)
	if err != nil {
		return nil, err
	}
	b.heads = heads
	done(fmt.Sprintf("%d PRs opened, %d built, %d uploaded", openPRs, len(built), withOutputs))
	if err := b.pushData(ctx, heads); err != nil {
		return nil, err
	}
	done(fmt.Sprintf("master and %d data branches pushed", withBranch))
	// #42's first build: the data its branch will hold.
	dir := filepath.Join(work, "build1")
	if err := b.data.build1.write(dir, ""); err != nil {
		return nil, err
	}
	if err := b.upload(ctx, sandbox.PR, sb.BuildID, sb.Head, dir); err != nil {
		return nil, err
	}
	done(fmt.Sprintf("#%d's first build uploaded", sandbox.PR))

	if b.rb, err = sb.Serve(ctx, bin); err != nil {
		return nil, err
	}
	// The reconciler's first pass, at start, lists the open PRs, then
	// sets each head's cache status, oldest PR first, at GitHub's pace
	// for writes (one a second: 500 take 8 minutes). The bench goes on
	// once the PRs with builds, the oldest, have theirs; the rest of the
	// pass goes on beside it.
	if err := b.waitFor(ctx, "the reconciler's first pass", func() (bool, error) {
		for _, n := range built {
			if _, ok := sb.Status(heads[n], cacheContext); !ok {
				return false, fmt.Errorf("#%d has no cache status yet", n)
			}
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	done("refbot serve started; its first pass reached the builds")
	// #42's data branch, as a maintainer makes it.
	if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
		return nil, fmt.Errorf("deliver UPDATE: %d %v", d.Status, err)
	}
	if st, err := sb.WaitUpdateDone(ctx, b.rb); err != nil {
		return nil, err
	} else if st.State != "success" {
		return nil, fmt.Errorf("#%d's UPDATE: %s: %s", sandbox.PR, st.State, st.Description)
	}
	done(fmt.Sprintf("UPDATE made #%d's data branch", sandbox.PR))

	// The contributor pushes again; CI builds the new head and uploads.
	b.head2 = randomSHA()
	sb.GitHub.AddCommit(b.head2)
	sb.GitHub.SetHead(sandbox.PR, b.head2)
	tb := sb.Travis.AddBuild(travistest.Build{Repo: sandbox.Repo, PullRequestNumber: sandbox.PR, CommitSHA: b.head2, State: "failed", Outcome: "passed"})
	b.build2 = strconv.FormatInt(tb.ID, 10)
	dir = filepath.Join(work, "build2")
	if err := b.data.build2.write(dir, ""); err != nil {
		return nil, err
	}
	if err := b.upload(ctx, sandbox.PR, tb.ID, b.head2, dir); err != nil {
		return nil, err
	}
	d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", sandbox.WebhookSecret, "pull_request",
		sb.GitHub.PullRequestPayload(sandbox.PR, "synchronize", "contributor"))
	if err != nil || d.Status != http.StatusOK {
		return nil, fmt.Errorf("deliver the push to #%d: %d %v", sandbox.PR, d.Status, err)
	}
	done(fmt.Sprintf("#%d's new head built and uploaded", sandbox.PR))
	b.changes = changedFiles(b.data.build1, b.data.build2)
	ok = true
	return b, nil
}

// openPRs opens #100 … beside the sandbox's #42, some with a CI build of
// their head (whose outputs are uploaded, or not), and returns every
// open PR's head and the PRs with a build.
func (b *bench) openPRs(ctx context.Context) (heads map[int]string, built []int, err error) {
	sb := b.sb
	heads = map[int]string{sandbox.PR: sb.Head}
	rng := rand.New(rand.NewPCG(1, 2))
	authors := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	now := time.Now().Truncate(time.Second)
	for i := range withOutputs + noOutputs {
		built = append(built, firstOther+withBranch/2+i) // some with a data branch, some without
	}
	for i := range openPRs - 1 {
		n := firstOther + i
		head := randomSHA()
		sb.GitHub.AddCommit(head)
		// Opened over the last two months, most touched days ago: the
		// reconciler's first pass reads no comments of those. Those with
		// a build are the oldest, pushed to lately.
		created := now.Add(-time.Duration(48+rng.IntN(59*24)) * time.Hour)
		updated := created
		if slices.Contains(built, n) {
			created = now.Add(-time.Duration(61*24+i) * time.Hour)
			updated = now.Add(-time.Duration(1+rng.IntN(47)) * time.Hour)
		}
		sb.GitHub.AddPR(fakegithub.PR{Number: n, HeadSHA: head, BaseRef: "master", Author: authors[rng.IntN(len(authors))],
			Title: fmt.Sprintf("Plots: %s <%d> & friends", []string{"tidy axes", "new colour map", "fix units", "faster solver"}[i%4], n),
			Draft: i%17 == 0, CreatedAt: created, UpdatedAt: updated})
		heads[n] = head
	}
	small := filepath.Join(b.work, "small-build")
	if err := (files{"tables/summary.csv": []byte("x,y\n1,2\n")}).write(small, ""); err != nil {
		return nil, nil, err
	}
	for i, n := range built {
		tb := sb.Travis.AddBuild(travistest.Build{Repo: sandbox.Repo, PullRequestNumber: n, CommitSHA: heads[n], State: "failed"})
		if i < withOutputs {
			if err := b.upload(ctx, n, tb.ID, heads[n], small); err != nil {
				return nil, nil, err
			}
		}
	}
	return heads, built, nil
}

// pushData makes the data repo's master hold the base, and the data
// branches of the first withBranch other PRs, their commits carrying the
// trailers refbot writes (half of them at the PR's head, the rest at an
// older one), in one push from a clone.
func (b *bench) pushData(ctx context.Context, heads map[int]string) error {
	clone := filepath.Join(b.work, "clone")
	git := func(args ...string) (string, error) { return testenv.GitEnv(clone, nil, args...) }
	if _, err := testenv.GitEnv("", nil, "clone", "--quiet", b.sb.Bare, clone); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(clone, "data")); err != nil {
		return err
	}
	if err := b.data.base.write(clone, "data"); err != nil {
		return err
	}
	if _, err := git("add", "-A"); err != nil {
		return err
	}
	if _, err := git("commit", "--quiet", "-m", "Reference data of 300 plots and their tables"); err != nil {
		return err
	}
	tree, err := git("rev-parse", "HEAD^{tree}")
	if err != nil {
		return err
	}
	for i := range withBranch {
		n := firstOther + i
		commit := heads[n]
		if i%2 == 1 {
			commit = randomSHA() // an older head's build
		}
		msg := fmt.Sprintf("Update reference data from build %d\n\nRefbot-PR: %d\nRefbot-Build: %d\nRefbot-Commit: %s\nRefbot-Approved-By: maintainer\n",
			9000+n, n, 9000+n, commit)
		c, err := git("commit-tree", tree, "-p", "HEAD", "-m", msg)
		if err != nil {
			return err
		}
		if _, err := git("update-ref", "refs/heads/PR"+strconv.Itoa(n), c); err != nil {
			return err
		}
	}
	_, err = git("push", "--quiet", "origin", "master", "refs/heads/PR*:refs/heads/PR*")
	return err
}

// upload runs `refbot upload` for build id of pr's head, as CI does.
func (b *bench) upload(ctx context.Context, pr int, id int64, head, dir string) error {
	cmd := exec.CommandContext(ctx, b.bin, "upload", "--config", b.sb.Config,
		"--build", strconv.FormatInt(id, 10), "--source", strconv.Itoa(pr), "--commit", head, dir)
	cmd.Env = b.sb.Env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("refbot upload of build %d: %w: %s", id, err, out)
	}
	return nil
}

// get fetches refbot's path and returns the body, timed.
func (b *bench) get(ctx context.Context, path string) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.sb.URL()+path, nil)
	if err != nil {
		return "", 0, err
	}
	start := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), took, fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, body)
	}
	return string(body), took, nil
}

// waitFor polls ok until it holds; an error ends the wait only when the
// time is up.
func (b *bench) waitFor(ctx context.Context, what string, ok func() (bool, error)) error {
	var last error
	for {
		done, err := ok()
		if done {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(b.rb.Log)
			return fmt.Errorf("waiting for %s: %w (last: %v)\n%s", what, ctx.Err(), last, tail(string(log), 40))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// figure is one row of the results.
type figure struct {
	what   string
	median time.Duration
	p95    time.Duration
	n      int
	bytes  int
	note   string
}

type results struct {
	rows      []figure
	rssBefore int64 // VmRSS when the measurements began, KB
	hwm       int64 // VmHWM over the measurements, KB
	states    map[string]int
	changes   int
	statuses  int // open PRs with a cache status when the measurements ended
}

var (
	stateClass   = regexp.MustCompile(`class="data-([a-z]+)"`)
	shareMarker  = `class="rv-share"`
	pendMarker   = `class="rv-pending"`
	reviewMarker = `id="review"`
)

// measure makes the GETs.
func (b *bench) measure(ctx context.Context) (*results, error) {
	res := &results{states: map[string]int{}, changes: b.changes}
	pid := b.rb.Cmd.Process.Pid
	res.rssBefore = procStatus(pid, "VmRSS")
	// Peak RSS from here on: writing 5 to clear_refs resets VmHWM.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return nil, fmt.Errorf("reset refbot's peak RSS: %w", err)
	}

	// GET /: first, then repeated.
	body, took, err := b.get(ctx, "/")
	if err != nil {
		return nil, err
	}
	for _, m := range stateClass.FindAllStringSubmatch(body, -1) {
		res.states[m[1]]++
	}
	res.rows = append(res.rows, figure{what: "`GET /` first", median: took, p95: took, n: 1, bytes: len(body),
		note: fmt.Sprintf("%d open PRs, %d a page", openPRs, strings.Count(body, `class="data-`))})
	row, err := b.repeat(ctx, "`GET /` repeated", "/", nil)
	if err != nil {
		return nil, err
	}
	res.rows = append(res.rows, row)

	// GET /pr/42: cold, then warm; then the second page.
	pr := "/pr/" + strconv.Itoa(sandbox.PR)
	// Page 3 is text files, read from the data repo and S3 at each view.
	for _, page := range []struct{ name, path string }{{"`GET /pr/42`", pr}, {"`GET /pr/42?page=2`", pr + "?page=2"},
		{"`GET /pr/42?page=3`", pr + "?page=3"}} {
		body, took, err := b.get(ctx, page.path)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(body, reviewMarker) || !strings.Contains(body, b.build2) {
			return nil, fmt.Errorf("GET %s shows no review of build %s:\n%s", page.path, b.build2, tail(body, 60))
		}
		done, pending := strings.Count(body, shareMarker), strings.Count(body, pendMarker)
		res.rows = append(res.rows, figure{what: page.name + " cold", median: took, p95: took, n: 1, bytes: len(body),
			note: fmt.Sprintf("%d image differences shown, %d still computing", done, pending)})
		row, err := b.repeat(ctx, page.name+" warm", page.path, func(body string) string {
			return fmt.Sprintf("%d image differences shown, %d still computing", strings.Count(body, shareMarker), strings.Count(body, pendMarker))
		})
		if err != nil {
			return nil, err
		}
		res.rows = append(res.rows, row)
	}

	// The difference image of each changed plot against the base, which
	// no page has asked for: cold, then warm.
	var paths []string
	for _, p := range b.data.changedPlots {
		old, err := testenv.GitEnv(b.sb.Bare, nil, "rev-parse", "master:data/"+p)
		if err != nil {
			return nil, err
		}
		paths = append(paths, fmt.Sprintf("%s/diff/%s/%s?against=base&old=%s", pr, b.build2, p, old))
	}
	for _, pass := range []string{"cold", "warm"} {
		var durs []time.Duration
		var total time.Duration
		size := 0
		for _, p := range paths {
			body, took, err := b.get(ctx, p)
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(body, "\x89PNG") {
				return nil, fmt.Errorf("GET %s: not a PNG", p)
			}
			durs, total, size = append(durs, took), total+took, size+len(body)
		}
		f := summarize(fmt.Sprintf("difference image, each of %d, %s", len(paths), pass), durs)
		f.bytes = size / len(paths)
		f.note = fmt.Sprintf("%s for all %d, one after another", total.Round(time.Millisecond), len(paths))
		res.rows = append(res.rows, f)
	}
	res.hwm = procStatus(pid, "VmHWM")
	for _, head := range b.heads {
		if _, ok := b.sb.Status(head, cacheContext); ok {
			res.statuses++
		}
	}
	return res, nil
}

// repeat GETs path repeats times; describe, if set, notes the last body.
func (b *bench) repeat(ctx context.Context, what, path string, describe func(string) string) (figure, error) {
	var durs []time.Duration
	var body string
	for range repeats {
		var took time.Duration
		var err error
		if body, took, err = b.get(ctx, path); err != nil {
			return figure{}, err
		}
		durs = append(durs, took)
	}
	f := summarize(what, durs)
	f.bytes = len(body)
	if describe != nil {
		f.note = describe(body)
	}
	return f, nil
}

func summarize(what string, durs []time.Duration) figure {
	slices.Sort(durs)
	p95 := (len(durs)*95 + 99) / 100
	return figure{what: what, median: durs[len(durs)/2], p95: durs[max(p95-1, 0)], n: len(durs)}
}

func (r *results) print(loadBefore, loadAfter string) {
	fmt.Printf("\nrefbot's review pages: 500 open PRs; PR #42's build changes %d files of 5,000 (50 PNG plots); one refbot serve on SQLite, this machine, loopback\n\n", r.changes)
	fmt.Println("| request | n | median | p95 | size | |")
	fmt.Println("|---|---:|---:|---:|---:|---|")
	for _, f := range r.rows {
		fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", f.what, f.n, ms(f.median), ms(f.p95), kb(f.bytes), f.note)
	}
	var states []string
	for _, k := range slices.Sorted(maps.Keys(r.states)) {
		states = append(states, fmt.Sprintf("%s %d", k, r.states[k]))
	}
	fmt.Printf("\nrefbot serve: %.0f MB resident when the measurements began, peak %.0f MB during them (VmHWM)\n", float64(r.rssBefore)/1024, float64(r.hwm)/1024)
	fmt.Printf("data states on the index's first page: %s\n", strings.Join(states, ", "))
	fmt.Printf("the reconciler's first pass went on beside the measurements, setting cache statuses at GitHub's pace for writes: %d of %d set at the end\n",
		r.statuses, openPRs)
	fmt.Printf("machine: %d cores; load average %s before, %s after\n", runtime.NumCPU(), loadBefore, loadAfter)
}

// changedFiles counts the files new adds, changes or removes against old.
func changedFiles(old, new files) int {
	n := 0
	for p, b := range new {
		if ob, ok := old[p]; !ok || string(ob) != string(b) {
			n++
		}
	}
	for p := range old {
		if _, ok := new[p]; !ok {
			n++
		}
	}
	return n
}

// procStatus reads a field of /proc/PID/status, in KB (0 if unreadable).
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func randomSHA() string {
	var b [20]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return fmt.Sprintf("%x", b)
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f ms", float64(d)/1e6)
}

func kb(n int) string { return fmt.Sprintf("%.0f KB", float64(n)/1024) }

func mb(n int64) float64 { return float64(n) / (1 << 20) }
