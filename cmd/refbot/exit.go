package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes, which scripts can rely on.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed, or found problems
	exitUsage   = 2 // the command line was wrong; nothing was done
)

// exitError ends a command with a chosen exit code. A command returns it
// through RunE; any other error exits with exitFailure.
type exitError struct {
	code int
	err  error // printed by execute; nil when the command has already said what is wrong
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a mistake in the command line (exit 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// asUsageError marks err, which cobra returned about the command line, as a
// usage error.
func asUsageError(err error) error {
	if err == nil {
		return nil
	}
	var e *exitError
	if errors.As(err, &e) {
		return err
	}
	return &exitError{code: exitUsage, err: err}
}

// errReported ends a command that has printed its own findings with
// exitFailure and nothing more.
var errReported = &exitError{code: exitFailure}

// execute runs root with args and returns the process's exit code. It prints
// the error, if any, to stderr once: root silences cobra's own printing.
func execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var e *exitError
	if errors.As(err, &e) {
		code = e.code
		if e.err == nil {
			return code
		}
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}
