//go:build failpoint

package failpoint

import (
	"os"
	"syscall"
)

var armed = os.Getenv("REFBOT_FAILPOINT")

// Hit kills the process if name is the armed failpoint.
func Hit(name string) {
	if armed != "" && armed == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
