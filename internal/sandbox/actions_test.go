package sandbox

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/testenv"
)

// TestActionsForkAsApp runs refbot serve as a maintainer of a GitHub
// Actions project would: installed as a GitHub App (pushing to the data
// repo with the App's installation token, no personal token anywhere),
// with a PR from a fork whose run has no secrets and keeps its outputs as
// a workflow artifact. workflow_run deliveries drive it: the poll interval
// is a minute, so the test finishing in seconds shows events woke refbot.
func TestActionsForkAsApp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb, err := StartWith(ctx, t.TempDir(), Options{Actions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Stop(context.Background())
	logOnFail := func() {
		if t.Failed() {
			log, _ := os.ReadFile(rb.Log)
			t.Logf("refbot's log:\n%s", log)
		}
	}
	defer logOnFail()

	// The fork's CI: tests fail against the old data; the outputs go up
	// as an artifact; GitHub tells refbot the run completed.
	if _, err := sb.ForkCI(ctx, refbotBin, DemoOutputs, "failure"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the cache status to say the outputs are cached", func() bool {
		st, ok := sb.Status(sb.Head, "s3-reference-data-cache")
		return ok && st.State == "success"
	})

	// The maintainer approves; GitHub Actions re-runs the run when refbot
	// asks (the fork's CI again, passing now) and tells refbot.
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	followed := make(chan error, 1)
	go func() { _, err := sb.FollowReruns(followCtx, refbotBin, DemoOutputs); followed <- err }()
	if d, err := sb.Comment(ctx, "Looks right.\n\nBUILDBOT: UPDATE"); err != nil || d.Status != 200 {
		t.Fatalf("comment delivery: %d %s, %v", d.Status, d.Body, err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 40*time.Second)
	defer wcancel()
	st, err := sb.WaitUpdateDone(wctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "success" {
		t.Errorf("update status %s: %s", st.State, st.Description)
	}
	stopFollowing()
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	if got := sb.GitHub.Reruns(sb.BuildID); len(got) != 1 {
		t.Errorf("re-runs asked: %v, want one", got)
	}
	// The data branch holds the fork's outputs, pushed with the App's
	// token (the git server takes nothing else).
	if out, err := testenv.GitEnv(sb.Bare, nil, "show", "PR42:data/plots/hist.png"); err != nil || !strings.Contains(out, "new histogram") {
		t.Errorf("PR42:data/plots/hist.png = %q, %v", out, err)
	}
	checks := sb.GitHub.CheckRuns(sb.Head)
	if len(checks) != 1 || checks[0].Conclusion != "success" {
		t.Errorf("check runs %+v, want one success", checks)
	}
	replies := sb.Replies()
	if len(replies) != 1 || !strings.Contains(replies[0].Body, "attempt 2") {
		t.Errorf("replies %+v, want one saying attempt 2 passed", replies)
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("fake github: %s", v)
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestActionsCLIUpdate forces an update of a fork's PR from the command
// line, as a maintainer would when GitHub's delivery of the run was lost:
// the CLI takes the run's artifact into S3 itself (checked as refbot serve
// does), pushes with the App's installation token and re-runs the run. An
// expired artifact is refused with exit code 3 and nothing pushed.
func TestActionsCLIUpdate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := StartWith(ctx, t.TempDir(), Options{Actions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := sb.ForkRun(ctx, refbotBin, DemoOutputs, "failure"); err != nil {
		t.Fatal(err)
	}
	arts := sb.GitHub.Downloads()
	out, code := sb.refbot(t, "update", "--pr", "42", "--json")
	if code != 0 {
		t.Fatalf("refbot update: exit %d\n%s", code, out)
	}
	if sb.GitHub.Downloads() != arts+1 {
		t.Errorf("artifact downloads %d, want one", sb.GitHub.Downloads()-arts)
	}
	if got, err := testenv.GitEnv(sb.Bare, nil, "show", "PR42:data/plots/hist.png"); err != nil || !strings.Contains(got, "new histogram") {
		t.Errorf("PR42:data/plots/hist.png = %q, %v\n%s", got, err, out)
	}
	if got := sb.GitHub.Reruns(sb.BuildID); len(got) != 1 {
		t.Errorf("re-runs %v, want one", got)
	}

	// The next run of the head (a re-run) has an expired artifact: the
	// CLI says so and pushes nothing.
	tip, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "PR42")
	if err := sb.ForkRun(ctx, refbotBin, map[string]string{"plots/other.png": "x"}, "failure"); err != nil {
		t.Fatal(err)
	}
	for _, a := range sb.Artifacts {
		sb.GitHub.ExpireArtifact(a)
	}
	out, code = sb.refbot(t, "update", "--pr", "42")
	if code != 3 || !strings.Contains(out, "expired") {
		t.Errorf("refbot update with an expired artifact: exit %d, want 3 saying it expired\n%s", code, out)
	}
	if now, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "PR42"); now != tip {
		t.Errorf("PR42 moved from %s to %s", tip, now)
	}
}
