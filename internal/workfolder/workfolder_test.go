package workfolder

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// snapshot lists what is under dir, without following links: each path
// with its type and, for files and links, content or target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = "file " + string(b)
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMakeReplacesWhatIsPlanted: whatever stands where a work folder goes
// (a link to a folder outside, a dangling link, a file, a pipe, at any
// depth) is removed and a real folder made; what a link points at is left
// as it was.
func TestMakeReplacesWhatIsPlanted(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, base, sentinel string)
	}{
		{name: "nothing there"},
		{name: "link to a folder outside at the first element", plant: func(t *testing.T, base, sentinel string) {
			mustSymlink(t, sentinel, filepath.Join(base, "pr5"))
		}},
		{name: "link to a folder outside at the last element", plant: func(t *testing.T, base, sentinel string) {
			mustMkdir(t, filepath.Join(base, "pr5", "files"))
			mustSymlink(t, sentinel, filepath.Join(base, "pr5", "files", "_default"))
		}},
		{name: "relative link climbing out", plant: func(t *testing.T, base, sentinel string) {
			mustMkdir(t, filepath.Join(base, "pr5"))
			rel, _ := filepath.Rel(filepath.Join(base, "pr5"), sentinel)
			mustSymlink(t, rel, filepath.Join(base, "pr5", "files"))
		}},
		{name: "link to a file outside", plant: func(t *testing.T, base, sentinel string) {
			mustSymlink(t, filepath.Join(sentinel, "keep.txt"), filepath.Join(base, "pr5"))
		}},
		{name: "dangling link", plant: func(t *testing.T, base, sentinel string) {
			mustSymlink(t, filepath.Join(sentinel, "missing"), filepath.Join(base, "pr5"))
		}},
		{name: "file in the way", plant: func(t *testing.T, base, sentinel string) {
			if err := os.WriteFile(filepath.Join(base, "pr5"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "named pipe in the way", plant: func(t *testing.T, base, sentinel string) {
			mustMkdir(t, filepath.Join(base, "pr5"))
			if err := syscall.Mkfifo(filepath.Join(base, "pr5", "files"), 0o644); err != nil {
				t.Skip("no named pipes here:", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			sentinel := t.TempDir()
			if err := os.WriteFile(filepath.Join(sentinel, "keep.txt"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			mustMkdir(t, filepath.Join(sentinel, "sub"))
			if tc.plant != nil {
				tc.plant(t, base, sentinel)
			}
			before := snapshot(t, sentinel)
			got, err := Make(base, 0o755, "pr5", "files", "_default")
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(base, "pr5", "files", "_default"); got != want {
				t.Errorf("Make = %s, want %s", got, want)
			}
			for _, p := range []string{"pr5", "pr5/files", "pr5/files/_default"} {
				fi, err := os.Lstat(filepath.Join(base, p))
				if err != nil || !fi.IsDir() {
					t.Errorf("%s is not a real folder: %v, %v", p, fi, err)
				}
			}
			// A write through the path made lands inside base.
			if err := os.WriteFile(filepath.Join(got, "a.txt"), []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, snapshot(t, sentinel)); diff != "" {
				t.Errorf("sentinel changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestMakeFollowsBase: base is the operator's and may be reached through
// a link (a state folder on another disk); only what lies below it is
// checked.
func TestMakeFollowsBase(t *testing.T) {
	real := t.TempDir()
	base := filepath.Join(t.TempDir(), "work")
	mustSymlink(t, real, base)
	got, err := Make(base, 0o700, "artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(real, "artifacts")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, %v; want a folder 0700 in base's target", got, fi, err)
	}
}

func TestMakeRefusesBadNames(t *testing.T) {
	base := t.TempDir()
	for _, e := range []string{"", ".", "..", "a/b", `a\b`} {
		if _, err := Make(base, 0o755, "pr5", e); err == nil || !strings.Contains(err.Error(), "not a folder name") {
			t.Errorf("Make(%q): err = %v, want it refused", e, err)
		}
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("made %v before refusing", entries)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
