package sandbox

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestNoWorkerHeldByCI: 20 UPDATEs on 20 PRs whose CI takes hours. refbot
// serve (with its default workers: two for updates) pushes all 20 and
// follows their builds without holding a worker; then a STOP on one PR and
// a merge of another both finish at once, while the other 18 keep waiting
// for CI. With CI waits inside the jobs, the third UPDATE would not even
// start, and STOP and the merge would wait hours.
func TestNoWorkerHeldByCI(t *testing.T) {
	ctx, sb := start(t, true)
	const n = 20
	prs := []int{PR}
	for i := 1; i < n; i++ {
		pr := PR + i
		if _, err := sb.AddPR(ctx, refbotBin, pr, DemoOutputs); err != nil {
			t.Fatal(err)
		}
		prs = append(prs, pr)
	}
	// Every restarted build runs for as long as the test lasts.
	sb.Travis.SetAdvanceOnPoll(false)
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Stop(context.Background())
	waitFor := func(what string, limit time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for deadline := start.Add(limit); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(rb.Log)
				t.Fatalf("%s: not within %s\n%s", what, limit, log)
			}
		}
		return time.Since(start)
	}
	waitingForCI := func(pr int) bool {
		r := sb.RepliesOn(pr)
		return len(r) == 1 && strings.Contains(r[0].Body, "refbot will edit this comment when it finishes")
	}
	for _, pr := range prs {
		if d, err := sb.CommentOn(ctx, pr, "BUILDBOT: UPDATE"); err != nil || d.Status != 200 {
			t.Fatalf("UPDATE on #%d: %d, %v", pr, d.Status, err)
		}
	}
	all := waitFor("all 20 UPDATEs pushed and waiting for CI", 3*time.Minute, func() bool {
		for _, pr := range prs {
			if !waitingForCI(pr) {
				return false
			}
		}
		return true
	})

	stopped, merged := prs[1], prs[2]
	if d, err := sb.CommentOn(ctx, stopped, "BUILDBOT: STOP"); err != nil || d.Status != 200 {
		t.Fatalf("STOP: %d, %v", d.Status, err)
	}
	if d, err := sb.Merge(ctx, merged); err != nil || d.Status != 200 {
		t.Fatalf("merge: %d, %v", d.Status, err)
	}
	stop := waitFor("STOP answered", time.Minute, func() bool {
		r := sb.RepliesOn(stopped)
		return len(r) == 2 && strings.Contains(r[1].Body, "**STOP**")
	})
	merge := waitFor("the merge promoted and reported", time.Minute, func() bool {
		r := sb.RepliesOn(merged)
		return len(r) == 2 && strings.Contains(r[1].Body, "**Merged**")
	})
	t.Logf("20 UPDATEs waiting for CI after %s; then STOP answered in %s, the merge reported in %s", all.Round(time.Millisecond),
		stop.Round(time.Millisecond), merge.Round(time.Millisecond))
	if r := sb.RepliesOn(stopped); !strings.Contains(r[0].Body, "Stopped by @"+Maintainer) {
		t.Errorf("the stopped UPDATE's reply: %s", r[0].Body)
	}
	for _, pr := range prs {
		if pr != stopped && pr != merged && !waitingForCI(pr) {
			t.Errorf("#%d no longer waits for its CI build: %+v", pr, sb.RepliesOn(pr))
		}
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}
