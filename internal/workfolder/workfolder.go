// Package workfolder makes the folders refbot downloads into real folders.
// They live in the state folder, which the operator trusts and may well
// reach through a symlink (to a larger disk, say); below it, every folder is
// refbot's own. A symlink, a file or anything else planted where one of
// those folders belongs is removed, never followed, and a fresh folder made
// in its place, so that nothing refbot writes or removes there lands
// outside (docs/design.md, "S3 layout").
//
// It guards against what was planted before a job starts. A process that
// can write into the state folder while refbot runs could swap a folder for
// a link between this check and the next write; such a process can also
// edit refbot's database, so that is not defended against here.
package workfolder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Make returns filepath.Join(base, elems...) after making base (with
// os.MkdirAll, following any symlinks in it, as the operator set it up)
// and then each of elems below it a real folder with permissions perm.
// An element that exists as anything other than a folder (a symlink,
// whatever it points at, a file, a pipe) is removed first; what a symlink
// points at is never touched. Each element is one name: no separator, not
// empty, "." or "..".
func Make(base string, perm fs.FileMode, elems ...string) (string, error) {
	for _, e := range elems {
		if e == "" || e == "." || e == ".." || strings.ContainsAny(e, `/\`) {
			return "", fmt.Errorf("work folder %s: %q is not a folder name", base, e)
		}
	}
	if err := os.MkdirAll(base, perm); err != nil {
		return "", fmt.Errorf("work folder: %w", err)
	}
	// Through an os.Root on base, no step below it can leave it, even if a
	// link appears midway.
	root, err := os.OpenRoot(base)
	if err != nil {
		return "", fmt.Errorf("work folder: %w", err)
	}
	defer root.Close()
	rel := ""
	for _, e := range elems {
		rel = filepath.Join(rel, e)
		if err := makeOne(root, rel, perm); err != nil {
			return "", fmt.Errorf("work folder %s: %w", filepath.Join(base, rel), err)
		}
	}
	return filepath.Join(append([]string{base}, elems...)...), nil
}

// makeOne makes rel, whose parent is a real folder, a real folder.
func makeOne(root *os.Root, rel string, perm fs.FileMode) error {
	fi, err := root.Lstat(rel)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		// Remove works on the entry itself: a symlink goes, its target
		// stays.
		if err := root.Remove(rel); err != nil {
			return fmt.Errorf("remove the %s in the way: %w", describe(fi.Mode()), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	err = root.Mkdir(rel, perm)
	if err == nil {
		return nil
	}
	// Made meanwhile by another job: fine if it is a folder.
	if fi, lerr := root.Lstat(rel); lerr == nil && fi.IsDir() {
		return nil
	}
	return err
}

func describe(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}
