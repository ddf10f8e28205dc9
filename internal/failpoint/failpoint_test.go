package failpoint

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refbot/refbot/internal/testenv"
)

// TestShippedBinaryHasNoFailpoints: refbot built as it is shipped (no build
// tag) holds no trace of failpoints, not even the name of the variable
// that arms them; built with the tag, for the crash tests, it does.
func TestShippedBinaryHasNoFailpoints(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tags []string
		want bool
	}{{nil, false}, {[]string{"-tags", "failpoint"}, true}} {
		bin := filepath.Join(t.TempDir(), "refbot")
		args := append(append([]string{"build"}, tc.tags...), "-o", bin, "./cmd/refbot")
		build := exec.Command("go", args...)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte("REFBOT_FAILPOINT")); got != tc.want {
			t.Errorf("tags %v: the binary names REFBOT_FAILPOINT: %v, want %v", tc.tags, got, tc.want)
		}
	}
}
