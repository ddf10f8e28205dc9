// Package failpoint lets the crash tests kill refbot at an exact step: when
// the environment variable REFBOT_FAILPOINT names a point, the process sends
// itself SIGKILL on reaching it, as a power cut or the OOM killer would.
// Without the variable, Hit does nothing.
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
