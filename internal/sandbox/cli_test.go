package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// refbot runs the refbot CLI with the sandbox's configuration.
func (s *Sandbox) refbot(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(refbotBin, append(args, "--config", s.Config)...)
	cmd.Env = s.Env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("refbot %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// TestMaintenanceCommands runs the forced-update, promote, snapshot, prune
// and status commands as a maintainer would, against the sandbox.
func TestMaintenanceCommands(t *testing.T) {
	ctx, sb := start(t, true)
	expect := func(want int, args ...string) string {
		t.Helper()
		out, code := sb.refbot(t, args...)
		if code != want {
			t.Fatalf("refbot %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	branch := func(name string) string {
		out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+name)
		return out
	}

	expect(2, "update")                                     // neither --pr nor --branch
	expect(2, "update", "--branch", "master")               // --branch needs --build
	expect(2, "update", "--branch", "PR42", "--build", "1") // a PR's data branch: --pr
	expect(3, "update", "--pr", "42", "--build", "999999")  // no such build
	out := expect(0, "update", "--pr", "42", "--dry-run", "--json")
	var plan struct {
		Branch   string                          `json:"branch"`
		DryRun   bool                            `json:"dry_run"`
		Changes  []struct{ Action, Path string } `json:"changes"`
		Variants []struct {
			Variant string `json:"variant"`
		} `json:"variants"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || plan.Branch != "PR42" || !plan.DryRun || len(plan.Variants) != 1 || len(plan.Changes) != 3 {
		t.Errorf("dry run JSON: %v\n%s", err, out)
	}
	if branch("PR42") != "" || sb.Travis.Restarts(sb.BuildID) != 0 {
		t.Error("the dry run changed something")
	}
	out = expect(0, "update", "--pr", "42")
	if !strings.Contains(out, "PR42: now ") || !strings.Contains(out, "restarted build") {
		t.Errorf("update output:\n%s", out)
	}
	if branch("PR42") == "" || sb.Travis.Restarts(sb.BuildID) != 1 {
		t.Errorf("update: PR42 %q, %d restarts", branch("PR42"), sb.Travis.Restarts(sb.BuildID))
	}
	if out := expect(0, "update", "--pr", "42", "--no-restart"); !strings.Contains(out, "nothing to push") {
		t.Errorf("repeated update:\n%s", out)
	}
	out = expect(0, "status")
	if !strings.Contains(out, "PR42: ") || !strings.Contains(out, fmt.Sprintf("build %d", sb.BuildID)) || !strings.Contains(out, "in the cache: yes") {
		t.Errorf("status:\n%s", out)
	}
	tip := branch("PR42")
	expect(0, "promote", "--pr", "42", "--dry-run")
	if branch("PR42") != tip {
		t.Error("promote --dry-run changed something")
	}
	out = expect(0, "promote", "--pr", "42")
	// A commit of its own on master (dated now, never a fast-forward to
	// the PR's), holding the PR branch's tree.
	promoted := branch("master")
	if tree := testenv.Git(t, sb.Bare, "rev-parse", tip+"^{tree}"); testenv.Git(t, sb.Bare, "rev-parse", "master^{tree}") != tree ||
		testenv.Git(t, sb.Bare, "rev-parse", "master^") != testenv.Git(t, sb.Bare, "rev-parse", tip+"^") || branch("PR42") != "" {
		t.Errorf("promote: master %s is not PR42's change on its base, PR42 %q\n%s", promoted, branch("PR42"), out)
	}
	expect(3, "promote", "--pr", "42") // nothing left to promote
	expect(0, "snapshot", "release-1.0")
	if branch("release-1.0") != promoted {
		t.Error("snapshot is not master")
	}
	expect(3, "snapshot", "release-1.0") // exists

	// A forced rebuild of master from a build of master.
	mb := sb.Travis.AddBuild(travistest.Build{Repo: Repo, Branch: "master", EventType: "push", State: "passed"})
	upload := exec.CommandContext(ctx, refbotBin, "upload", "--config", sb.Config, "--build", fmt.Sprint(mb.ID), "--source", "master",
		testenv.Tree(t, map[string]string{"plots/line.png": "\x89PNG master's own"}))
	upload.Env = sb.Env
	if out, err := upload.CombinedOutput(); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	expect(3, "update", "--branch", "master", "--build", fmt.Sprint(sb.BuildID)) // a PR's build, not master's
	expect(0, "update", "--branch", "master", "--build", fmt.Sprint(mb.ID), "--no-restart")
	if got := testenv.Git(t, sb.Bare, "show", "master:data/plots/line.png"); got != "\x89PNG master's own" {
		t.Errorf("master after the forced rebuild: %q", got)
	}
	if n := testenv.Git(t, sb.Bare, "rev-list", "--count", promoted+"..master"); n != "1" {
		t.Errorf("the forced rebuild added %s commits to master, want 1", n)
	}
	out = expect(0, "prune", "--dry-run", "--json")
	if !strings.Contains(out, `"dry_run": true`) {
		t.Errorf("prune --dry-run:\n%s", out)
	}
	// Pinning: a build that is not there is refused; one that is, kept.
	expect(3, "pin", "999999")
	pinned := func() bool {
		t.Helper()
		builds, err := sb.Store.ListBuilds(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range builds {
			if b.ID == fmt.Sprint(mb.ID) {
				return b.Pinned
			}
		}
		t.Fatalf("build %d is not in S3", mb.ID)
		return false
	}
	expect(0, "pin", fmt.Sprint(mb.ID), "--reason", "release 1.0")
	if !pinned() {
		t.Error("refbot pin did not pin the build")
	}
	expect(0, "pin", "--remove", fmt.Sprint(mb.ID))
	if pinned() {
		t.Error("refbot pin --remove left the pin")
	}
}

// TestCLIWaitsForServe: a forced update or promotion waits while a job of
// refbot serve holds the PR's lease, then goes ahead; it leaves no lease
// behind.
func TestCLIWaitsForServe(t *testing.T) {
	ctx, sb := start(t, true)
	st, err := store.Open(ctx, filepath.Join(sb.Work, "state", "refbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, args := range [][]string{{"update", "--pr", "42", "--no-restart"}, {"promote", "--pr", "42"}} {
		if ok, err := st.TakeLeases(ctx, []string{store.PRLease(PR)}, "serve-job-1", 3*time.Second); !ok || err != nil {
			t.Fatalf("take the lease as a job would: %v, %v", ok, err)
		}
		start := time.Now()
		out, code := sb.refbot(t, args...)
		if code != 0 || !strings.Contains(out, "waiting for refbot's running jobs to let go of pr:42") {
			t.Errorf("refbot %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		if waited := time.Since(start); waited < 2*time.Second {
			t.Errorf("refbot %s went ahead after %s, while the job held the lease", strings.Join(args, " "), waited)
		}
		// The job's turn again: the command let go of the lease.
		if ok, err := st.TakeLeases(ctx, []string{store.PRLease(PR)}, "serve-job-2", time.Second); !ok || err != nil {
			t.Errorf("after refbot %s the lease is still held: %v, %v", strings.Join(args, " "), ok, err)
		}
		st.ReleaseLeases(ctx, []string{store.PRLease(PR)}, "serve-job-2")
	}
}
