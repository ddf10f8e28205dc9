package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes at dir (made if missing) for the
// test, so that writes under dir fail with ENOSPC once it is full: a full
// disk where refbot keeps its work folder. It needs the right to mount
// (root with CAP_SYS_ADMIN, as in CI's containers); without it the test is
// skipped, saying so. The tmpfs is detached at the test's end even if a
// process still holds files on it.
func SmallDisk(t testing.TB, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.FormatInt(size, 10)+",mode=0755")
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("a full disk needs a tmpfs, and this process may not mount one (%v): run the test as root with CAP_SYS_ADMIN", err)
	}
	if err != nil {
		t.Fatalf("mount a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// FillDisk writes a file under dir until the file system holding it is
// full (ENOSPC) and returns a function that removes it, freeing the space.
func FillDisk(t testing.TB, dir string) (free func()) {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill %s: %v, want ENOSPC", dir, err)
	}
	return func() {
		if err := os.Remove(name); err != nil {
			t.Errorf("free the disk: %v", err)
		}
	}
}
