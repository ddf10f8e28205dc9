package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/testenv"
)

// refbotBin is refbot, built once for the package's tests.
var refbotBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refbot-bin-")
	if err != nil {
		panic(err)
	}
	refbotBin = filepath.Join(dir, "refbot")
	root, _ := testenv.RepoRoot()
	// With failpoints: the crash tests kill refbot at named steps.
	build := exec.Command("go", "build", "-tags", "failpoint", "-o", refbotBin, "./cmd/refbot")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build refbot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testenv.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// start starts a sandbox that ends with the test, and a context for the
// test's calls. With upload, CI has uploaded DemoOutputs for the PR's
// build, as refbot upload does.
func start(t *testing.T, upload bool) (context.Context, *Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	sb, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	if upload {
		if _, err := sb.Upload(ctx, refbotBin, DemoOutputs); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, sb
}
