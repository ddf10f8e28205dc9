package refdata

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/refbot/refbot/internal/statcache"
)

// TestTreeFromFilesModes: the trees refbot builds from a build's files
// hold only plain files (100644), executables (100755) and folders: never a
// symlink (120000) or a submodule (160000), whatever the files are.
func TestTreeFromFilesModes(t *testing.T) {
	blob := plumbing.NewHash("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391") // the empty blob
	files := []File{
		{Path: "a.txt", Blob: blob},
		{Path: "run.sh", Blob: blob, Exec: true},
		{Path: "deep/er/x.png", Blob: blob},
		{Path: "deep/y", Blob: blob, Exec: true},
	}
	n := newNewObjects()
	if _, err := treeFromFiles(files, n); err != nil {
		t.Fatal(err)
	}
	seen := map[filemode.FileMode]int{}
	for h, obj := range n.encoded {
		var tree object.Tree
		if err := tree.Decode(obj); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		for _, e := range tree.Entries {
			seen[e.Mode]++
			if e.Mode != filemode.Regular && e.Mode != filemode.Executable && e.Mode != filemode.Dir {
				t.Errorf("%s has mode %s", e.Name, e.Mode)
			}
		}
	}
	if seen[filemode.Regular] != 2 || seen[filemode.Executable] != 2 || seen[filemode.Dir] != 2 {
		t.Errorf("modes seen = %v, want 2 files, 2 executables, 2 folders", seen)
	}
}

// TestScanDirSpecialFiles: a data folder with a named pipe or a device in
// it is refused (neither is opened), and a hard link to a file outside is
// taken as a plain file with that file's content, not as a link.
func TestScanDirSpecialFiles(t *testing.T) {
	ctx := context.Background()
	t.Run("named pipe", func(t *testing.T) {
		dir := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
			t.Skip("no named pipes here:", err)
		}
		if _, err := scanDir(ctx, dir, statcache.Load("")); err == nil || !strings.Contains(err.Error(), "only regular files") {
			t.Errorf("err = %v, want the pipe refused", err)
		}
	})
	t.Run("device", func(t *testing.T) {
		dir := t.TempDir()
		// /dev/null's numbers (1, 3); making one needs root.
		if err := syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o644, 1<<8|3); err != nil {
			t.Skip("cannot make a device here:", err)
		}
		if _, err := scanDir(ctx, dir, statcache.Load("")); err == nil || !strings.Contains(err.Error(), "only regular files") {
			t.Errorf("err = %v, want the device refused", err)
		}
	})
	t.Run("hard link", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(outside, []byte("outside\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.Link(outside, filepath.Join(dir, "linked")); err != nil {
			t.Skip("no hard links here:", err)
		}
		files, err := scanDir(ctx, dir, statcache.Load(""))
		if err != nil {
			t.Fatal(err)
		}
		want := plumbing.ComputeHash(plumbing.BlobObject, []byte("outside\n"))
		if len(files) != 1 || files[0].Blob != want || files[0].Exec {
			t.Errorf("files = %+v, want one plain file with blob %s", files, want)
		}
	})
}
