//go:build !linux

package testenv

import "testing"

// SmallDisk skips the test: a small tmpfs is mounted on Linux only.
func SmallDisk(t testing.TB, dir string, size int64) {
	t.Helper()
	t.Skip("a full disk is made with a tmpfs, on Linux only")
}

// FillDisk is not reached: SmallDisk skipped the test.
func FillDisk(t testing.TB, dir string) (free func()) {
	t.Helper()
	t.Skip("a full disk is made with a tmpfs, on Linux only")
	return nil
}
