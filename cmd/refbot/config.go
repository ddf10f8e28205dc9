package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/refbot/refbot/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with refbot's configuration file",
	}
	cmd.AddCommand(newConfigCheckCmd())
	return cmd
}

func newConfigCheckCmd() *cobra.Command {
	var secrets bool
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a configuration file and print every problem in it",
		Long: `Check a configuration file: unknown keys, missing or invalid values, and
secrets written inline. It prints "FILE: ok" and a summary, or every problem,
one per line, and exits 1.

FILE defaults to --config, then to $` + configEnv + `. With --secrets it also
reads every secret (environment variables and files) the file refers to.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var arg string
			if len(args) == 1 {
				arg = args[0]
			}
			path, err := configFile(cmd, arg)
			if err != nil {
				return err
			}
			return checkConfig(cmd.OutOrStdout(), cmd.ErrOrStderr(), path, secrets)
		},
	}
	cmd.Flags().BoolVar(&secrets, "secrets", false, "also read every secret and report the ones that cannot be read")
	return cmd
}

// checkConfig loads path and prints a summary to stdout, or the problems to
// stderr, one per line.
func checkConfig(stdout, stderr io.Writer, path string, secrets bool) error {
	cfg, err := config.Load(path)
	if err == nil && secrets {
		err = cfg.CheckSecrets()
	}
	var problems config.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return errReported
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	printSummary(stdout, cfg, secrets)
	return nil
}

// printSummary prints what a maintainer checks at a glance: where refbot
// will connect to and where it keeps its state.
func printSummary(w io.Writer, cfg *config.Config, secretsChecked bool) {
	auth := "token (" + cfg.GitHub.Token.String() + ")"
	if app := cfg.GitHub.App; app != nil {
		auth = fmt.Sprintf("app %d, installation %d", app.ID, app.InstallationID)
	}
	bucket := "s3://" + cfg.S3.Bucket + "/" + cfg.S3.Prefix
	if cfg.S3.Endpoint != "" {
		bucket += " at " + cfg.S3.Endpoint
	}
	secrets := "not read (add --secrets to read them)"
	if secretsChecked {
		secrets = "all readable"
	}
	ci := fmt.Sprintf("%s %s at %s", cfg.CI.Provider, cfg.CI.Repo, cfg.CI.APIURL)
	if cfg.CI.Provider == config.ProviderGitHubActions {
		ci = fmt.Sprintf("%s, workflows %s, outputs %s (artifact %s), through github.api_url", cfg.CI.Provider,
			strings.Join(cfg.CI.Workflows, ", "), cfg.CI.Outputs, cfg.CI.Artifact)
	}
	push := "with data_repo.token"
	if cfg.AppPushes() {
		push = "with the App's installation token (" + cfg.DataRepo.GitHubRepo + ")"
	}
	rows := [][2]string{
		{"github", fmt.Sprintf("%s at %s, as %s", cfg.GitHub.Repo, cfg.GitHub.APIURL, auth)},
		{"s3", fmt.Sprintf("%s (%s)", bucket, cfg.S3.Region)},
		{"data repo", fmt.Sprintf("%s, branch %s, folder %s, pushed %s", cfg.DataRepo.URL, cfg.DataRepo.BaseBranch, cfg.DataRepo.DataRoot, push)},
		{"ci", ci},
		{"server", "listens on " + cfg.Server.Listen},
		{"state", fmt.Sprintf("%s (database %s)", cfg.StateDir, cfg.Database)},
		{"secrets", secrets},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-10s %s\n", r[0], r[1])
	}
}
