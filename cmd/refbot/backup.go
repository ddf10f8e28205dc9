package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/config"
)

func newBackupCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of refbot's database to FILE, also while refbot serve runs",
		Long: `Write a consistent copy of refbot's SQLite database (its own tables and the
job queue's) to FILE: what was committed when the copy began, whole, while
refbot serve goes on working. The copy is checked (SQLite's integrity check)
before it takes FILE's name, so FILE is never half written. FILE "-" writes
the copy to standard output, for a backup through kubectl exec.

An existing FILE is kept unless --force. A PostgreSQL database is backed up
with PostgreSQL's own tools (pg_dump). docs/upgrading.md says how to restore.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return backup(cmd, cfg, args[0], force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

func backup(cmd *cobra.Command, cfg *config.Config, file string, force bool) error {
	ctx := cmd.Context()
	if !store.IsPostgres(cfg.Database) {
		if _, err := os.Stat(cfg.Database); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no database at %s to back up: refbot serve has not run with this configuration", cfg.Database)
		}
	}
	// Read-only: the backup neither waits for nor holds back a running
	// serve, and never migrates what it copies.
	st, err := store.Open(ctx, cfg.Database, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if file == "-" {
		return backupToStdout(cmd, st)
	}
	info, err := st.Backup(ctx, file, store.BackupOptions{Overwrite: force})
	if errors.Is(err, store.ErrBackupExists) {
		return &exitError{code: exitRefused, err: fmt.Errorf("%s exists: give another file, or --force to replace it", file)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s: %d bytes, schema version %d, integrity checked\n",
		st.Name(), file, info.Bytes, info.SchemaVersion)
	return nil
}

// backupToStdout writes the backup to a temporary folder and copies it to
// standard output; the report goes to standard error.
func backupToStdout(cmd *cobra.Command, st *store.Store) error {
	dir, err := os.MkdirTemp("", "refbot-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "refbot.db")
	info, err := st.Backup(cmd.Context(), file, store.BackupOptions{})
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(cmd.OutOrStdout(), f); err != nil {
		return fmt.Errorf("write the backup to standard output: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "backed up %s to standard output: %d bytes, schema version %d, integrity checked\n",
		st.Name(), info.Bytes, info.SchemaVersion)
	return nil
}

// loadConfig loads the configuration file that --config or $REFBOT_CONFIG
// names.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	path, err := configFile(cmd, "")
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}
