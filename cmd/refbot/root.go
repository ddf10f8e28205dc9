package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

const (
	configFlag = "config"
	configEnv  = "REFBOT_CONFIG"
)

// newRootCmd builds the refbot command tree. Each subcommand is built by its
// own newXCmd function and listed below.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "refbot",
		Short: "Keep a project's reference test data in step with its pull requests",
		// execute prints errors once; usage is printed only on --help, since
		// most failures are not mistakes in the command line.
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: checkFlags,
	}
	root.PersistentFlags().String(configFlag, "", "configuration file (default $"+configEnv+")")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsageError(err) })

	for _, cmd := range []*cobra.Command{
		newVersionCmd(),
		newConfigCmd(),
		newUploadCmd(),
		newServeCmd(),
		newUpdateCmd(),
		newPromoteCmd(),
		newSnapshotCmd(),
		newPruneCmd(),
		newPruneRefsCmd(),
		newPinCmd(),
		newStatusCmd(),
		newDoctorCmd(),
		newBackupCmd(),
		newMigrateCmd(),
		// Add new subcommands here, e.g. newServeCmd().
	} {
		root.AddCommand(cmd)
	}
	strictTree(root)
	return root
}

// strictTree makes every command in the tree report a wrong command line as
// a usage error (exit 2): positional-argument checks are marked, and a
// command that only groups subcommands refuses an unknown one, where cobra
// on its own prints help and exits 0.
func strictTree(cmd *cobra.Command) {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, which SuggestionsFor does not apply
		cmd.Args = unknownSubcommand
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error { return asUsageError(check(cmd, args)) }
	}
	for _, sub := range cmd.Commands() {
		strictTree(sub)
	}
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if guesses := cmd.SuggestionsFor(args[0]); len(guesses) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(guesses, " or "))
	}
	return usageErrorf("%s", msg)
}

// checkFlags runs cobra's checks of required and grouped flags early, so
// that their errors are usage errors; cobra would run them after the
// pre-run hooks and return plain errors. A subcommand that sets its own
// PersistentPreRunE replaces this one and must call it.
func checkFlags(cmd *cobra.Command, _ []string) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return asUsageError(err)
	}
	return asUsageError(cmd.ValidateFlagGroups())
}

// configFile returns the configuration file a command should use: arg when
// given, else --config, else $REFBOT_CONFIG.
func configFile(cmd *cobra.Command, arg string) (string, error) {
	if arg != "" {
		return arg, nil
	}
	if path, _ := cmd.Flags().GetString(configFlag); path != "" {
		return path, nil
	}
	if path := os.Getenv(configEnv); path != "" {
		return path, nil
	}
	return "", usageErrorf("no configuration file: give one with --%s or $%s", configFlag, configEnv)
}
