//go:build !failpoint

package failpoint

import "time"

// Hit does nothing: this binary was built without failpoints.
func Hit(string) {}

// Duration returns d: this binary was built without failpoints.
func Duration(_ string, d time.Duration) time.Duration { return d }

// Off is false: this binary was built without failpoints.
func Off(string) bool { return false }
