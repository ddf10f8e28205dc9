// Command refbot keeps a project's reference test data in step with its pull
// requests: it runs the service that answers BUILDBOT commands, and the
// commands a maintainer or a CI job runs by hand.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, newRootCmd(), os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
