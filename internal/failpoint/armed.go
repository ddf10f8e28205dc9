//go:build failpoint

package failpoint

import (
	"os"
	"strings"
	"syscall"
	"time"
)

var armed = os.Getenv("REFBOT_FAILPOINT")

// Off reports whether REFBOT_FAILPOINT_OFF names the step name: a test
// switches a safety net off ("reconcile": the reconciler) to show what
// holds without it.
func Off(name string) bool {
	off := os.Getenv("REFBOT_FAILPOINT_OFF")
	return off != "" && off == name
}

// Hit kills the process if name is the armed failpoint, and panics if
// "panic:" + name is (the canary test makes a job panic so).
func Hit(name string) {
	switch {
	case armed == "":
	case armed == name:
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case armed == "panic:"+name:
		panic("failpoint " + name)
	}
}

// Duration returns the duration the environment variable
// REFBOT_FAILPOINT_<NAME> gives (name in upper case, "-" as "_"), or d
// when it is unset or not a duration.
func Duration(name string, d time.Duration) time.Duration {
	v, err := time.ParseDuration(os.Getenv("REFBOT_FAILPOINT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))))
	if err != nil {
		return d
	}
	return v
}
