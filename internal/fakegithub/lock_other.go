//go:build !unix

package fakegithub

// lockFile is a no-op where flock(2) is missing: refbot's tests run on Linux.
func lockFile(string) (func(), error) { return func() {}, nil }
