// Command soak runs a real `refbot serve` (internal/sandbox: SQLite,
// MinIO, a git server, the fake GitHub and Travis on loopback) through
// many UPDATEs and merges and shows whether what it keeps stays bounded:
// its work folders, its database's tables (refbot's and River's jobs), its
// local cache of the data repo (size, refs, objects), its memory and open
// files. It prints a row every -every UPDATEs.
//
// Each PR goes through -per cycles (a push, CI uploading the new head's
// outputs with refbot upload, "BUILDBOT: UPDATE", its final status) and is
// then merged (promotion); -workers PRs go at once, so the run adds PRs
// and ends them as a project does. refbot runs with short retention
// (jobs.keep_finished, jobs.keep_work_folders: 2m), a small bound on its
// clone of the data repo (data_repo.cache_max_bytes: 1MiB) and a
// reconcile pass every 20 s, so that the upkeep shows within minutes, and
// without the UPDATE cooldown. It is a failpoint build whose GitHub writes are
// paced at 20 ms instead of 1 s (the burst benchmark measures the pacing;
// this one what is left behind). Run it with `make soak`.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

func main() {
	prs := flag.Int("prs", 100, "pull requests, each merged at its end")
	per := flag.Int("per", 10, "UPDATEs of each pull request")
	workers := flag.Int("workers", 4, "pull requests in progress at once")
	every := flag.Int("every", 50, "print a row every this many UPDATEs")
	keep := flag.Duration("keep", 2*time.Minute, "jobs.keep_finished and jobs.keep_work_folders of the run (0: the defaults)")
	cacheMax := flag.String("cache-max", "1MiB", "data_repo.cache_max_bytes of the run (\"\": the default)")
	flag.Parse()
	err := run(*prs, *per, *workers, *every, *keep, *cacheMax)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(prs, per, workers, every int, keep time.Duration, cacheMax string) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "refbot-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "refbot")
	root, _ := testenv.RepoRoot()
	build := exec.Command("go", "build", "-tags", "failpoint", "-o", bin, "./cmd/refbot")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build refbot: %w\n%s", err, out)
	}
	extra := "policy:\n  cooldowns: {UPDATE: 0s}\n"
	if keep > 0 {
		extra += fmt.Sprintf("jobs:\n  keep_finished: %s\n  keep_work_folders: %s\n", keep, keep)
	}
	if err := os.Mkdir(filepath.Join(work, "sandbox"), 0o755); err != nil {
		return err
	}
	sb, err := sandbox.StartWith(ctx, filepath.Join(work, "sandbox"), sandbox.Options{ReconcileInterval: 20 * time.Second, ExtraConfig: extra,
		CacheMaxBytes: cacheMax})
	if err != nil {
		return err
	}
	defer sb.Close()
	sb.GitHub.SetRateLimit(10_000_000)
	rb, err := sb.Serve(ctx, bin, "REFBOT_FAILPOINT_GITHUB_WRITE_INTERVAL=20ms")
	if err != nil {
		return err
	}
	defer func() { rb.Stop(context.Background()) }()

	fmt.Printf("soak: %d PRs × %d UPDATEs and a merge each, %d PRs at once, through refbot serve (SQLite); "+
		"keep_finished and keep_work_folders %s, cache_max_bytes %s; %s\n\n", prs, per, workers, keep, cacheMax, sandbox.MachineLoad())
	fmt.Printf("%7s %6s %8s %6s %5s %9s %9s %8s %8s %7s %6s %8s %6s\n", "UPDATEs", "merges", "elapsed", "RSS", "fds",
		"work", "refbot_*", "river", "delivery", "cache", "refs", "objects", "failed")
	var updates, merges, failed atomic.Int64
	var mu sync.Mutex
	printed := 0
	start := time.Now()
	sample := func(force bool) error {
		mu.Lock()
		defer mu.Unlock()
		n := int(updates.Load())
		if !force && n < printed+every {
			return nil
		}
		printed = n
		return printRow(ctx, sb, rb, n, int(merges.Load()), int(failed.Load()), time.Since(start))
	}
	if err := sample(true); err != nil {
		return err
	}
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for pr := range next {
				if err := lifecycle(ctx, sb, bin, pr, per, &updates, &failed, func() error { return sample(false) }); err != nil {
					errs <- fmt.Errorf("#%d: %w", pr, err)
					return
				}
				merges.Add(1)
			}
		})
	}
	go func() {
		defer close(next)
		for i := range prs {
			select {
			case next <- sandbox.PR + 1 + i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		log, _ := os.ReadFile(rb.Log)
		return fmt.Errorf("%w\nrefbot's log ends:\n%s", err, tail(log, 4000))
	}
	took := time.Since(start)
	if err := sample(true); err != nil {
		return err
	}
	// Then one more retention period and two reconcile passes, with
	// nothing coming in: what is left is what refbot keeps for good.
	time.Sleep(keep + 45*time.Second)
	if err := sample(true); err != nil {
		return err
	}
	rows, err := sb.TableRows(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("\nrows per table at the end:\n")
	for _, n := range names {
		fmt.Printf("  %-28s %7d\n", n, rows[n])
	}
	fmt.Printf("\n%d UPDATEs and %d merges in %s; after: %s\n", updates.Load(), merges.Load(), took.Round(time.Second), sandbox.MachineLoad())
	if v := sb.GitHub.Violations(); len(v) > 0 {
		fmt.Printf("GitHub API description violated: %v\n", v)
	}
	return nil
}

// lifecycle opens pull request pr, takes it through per UPDATEs of new
// heads and merges it.
func lifecycle(ctx context.Context, sb *sandbox.Sandbox, bin string, pr, per int, updates, failed *atomic.Int64, sample func() error) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	// AddPR opens it with a build CI uploaded; GitHub tells refbot.
	if _, err := sb.AddPR(cctx, bin, pr, sandbox.DemoOutputs); err != nil {
		return err
	}
	if d, err := sb.GitHub.Deliver(cctx, sb.URL()+"/webhook", sandbox.WebhookSecret, "pull_request",
		sb.GitHub.PullRequestPayload(pr, "opened", "contributor")); err != nil || d.Status != http.StatusOK {
		return fmt.Errorf("opened: %d %s, %v", d.Status, d.Body, err)
	}
	for i := range per {
		head, err := push(cctx, sb, bin, pr, i)
		if err != nil {
			return err
		}
		// GitHub's times are whole seconds, and refbot takes a head for
		// the one a comment saw only when it was pushed in an earlier
		// second: the maintainer comments in the next one.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		if d, err := sb.CommentOn(cctx, pr, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
			return fmt.Errorf("UPDATE: %d %s, %v", d.Status, d.Body, err)
		}
		for {
			st, ok := sb.Status(head, "refbot/update")
			if ok && st.State != "pending" {
				if st.State != "success" {
					if failed.Add(1) <= 5 {
						fmt.Fprintf(os.Stderr, "soak: #%d's UPDATE %d: %s: %s\n", pr, i+1, st.State, st.Description)
					}
				}
				break
			}
			select {
			case <-cctx.Done():
				return fmt.Errorf("UPDATE %d did not end: %w", i+1, cctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
		updates.Add(1)
		if err := sample(); err != nil {
			return err
		}
	}
	merged.Lock()
	merged.files[ownFile(pr)] = ownContent(pr, per-1)
	merged.Unlock()
	if d, err := sb.Merge(cctx, pr); err != nil || d.Status != http.StatusOK {
		return fmt.Errorf("merge: %d %s, %v", d.Status, d.Body, err)
	}
	// A promotion that waits for a post-merge build (the data
	// conflicted) would wait for CI for hours: counted, not waited for.
	mctx, cancel := context.WithTimeout(cctx, 3*time.Minute)
	defer cancel()
	for {
		ended, any, err := sb.JobsEnded(mctx, pr, "pr_closed")
		if err != nil && mctx.Err() == nil {
			return err
		}
		if ended && any {
			return nil
		}
		select {
		case <-mctx.Done():
			fmt.Fprintf(os.Stderr, "soak: #%d's merge did not end within 3 minutes\n", pr)
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// merged is what the PRs merged so far added to the data: a build of a
// head pushed after a merge has the merged PR's outputs too, as CI tests
// the PR merged with its base.
var merged = struct {
	sync.Mutex
	files map[string]string
}{files: map[string]string{}}

// push gives pr a new head, as a contributor's push does, with a Travis
// build whose outputs CI uploaded, and delivers the synchronize event; it
// returns the head. The outputs are the reference data as it is, the
// files of the PRs merged so far, and a file of this PR's own that each
// push changes: PRs never change the same file, so each merge promotes
// its data at once (a conflict would wait for a post-merge build).
func push(ctx context.Context, sb *sandbox.Sandbox, bin string, pr, i int) (string, error) {
	head := fmt.Sprintf("%08x%032x", pr, time.Now().UnixNano())
	sb.GitHub.AddCommit(head)
	sb.GitHub.SetHead(pr, head)
	b := sb.Travis.AddBuild(travistest.Build{Repo: sandbox.Repo, PullRequestNumber: pr, CommitSHA: head, State: "failed", Outcome: "passed"})
	files := map[string]string{}
	for p, c := range sandbox.DemoData {
		if rest, ok := strings.CutPrefix(p, "data/"); ok {
			files[rest] = c
		}
	}
	merged.Lock()
	for p, c := range merged.files {
		files[p] = c
	}
	merged.Unlock()
	files[ownFile(pr)] = ownContent(pr, i)
	if err := sb.UploadBuild(ctx, bin, pr, b.ID, head, files); err != nil {
		return "", err
	}
	d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", sandbox.WebhookSecret, "pull_request",
		sb.GitHub.PullRequestPayload(pr, "synchronize", "contributor"))
	if err != nil || d.Status != http.StatusOK {
		return "", fmt.Errorf("synchronize: %d %s, %v", d.Status, d.Body, err)
	}
	return head, nil
}

// ownFile is the file of pr's outputs that only it changes, and
// ownContent its content at push i.
func ownFile(pr int) string { return fmt.Sprintf("tables/pr%d.json", pr) }

func ownContent(pr, i int) string { return fmt.Sprintf("{\n  \"pr\": %d,\n  \"push\": %d\n}\n", pr, i) }

func printRow(ctx context.Context, sb *sandbox.Sandbox, rb *sandbox.Refbot, updates, merges, failed int, elapsed time.Duration) error {
	mem, err := rb.Memory()
	if err != nil {
		return err
	}
	work, err := sandbox.FolderSize(filepath.Join(sb.StateDir(), "work"))
	if err != nil {
		return err
	}
	rows, err := sb.TableRows(ctx)
	if err != nil {
		return err
	}
	var refbot int64
	for n, c := range rows {
		if n != "river_job" {
			refbot += c
		}
	}
	cache, err := sb.DataRepoCache(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%7d %6d %8s %6s %5d %9s %9d %8d %8d %7s %6d %8d %6d\n", updates, merges, elapsed.Round(time.Second),
		mib(mem.RSS), rb.OpenFiles(), mib(work.Bytes), refbot, rows["river_job"], rows["refbot_delivery"], mib(cache.Bytes),
		cache.Refs, cache.Objects, failed)
	return nil
}

func tail(b []byte, n int) string { return string(b[max(0, len(b)-n):]) }

// mib writes b in MiB, or KiB when under one.
func mib(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0fK", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.1fM", float64(b)/(1<<20))
}
