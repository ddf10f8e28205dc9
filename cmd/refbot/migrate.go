package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/config"
)

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring refbot's database to this version's schema, without serving",
		Long: `Run the schema migrations of refbot's database, refbot's own tables' and the
job queue's (River's), and print each schema's version before and after. A
database that does not exist yet is created.

refbot serve runs the same migrations at its start; migrate runs them ahead,
to see them done before the new version serves. On SQLite it refuses while a
refbot serve holds the database (exit 3): stop the serve first. A database
written by a newer refbot is refused, as serve refuses it. On PostgreSQL the
replicas share the database: migrate runs beside them, one migration at a
time with the replicas that start. docs/upgrading.md says when to run it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return migrate(cmd, cfg)
		},
	}
}

func migrate(cmd *cobra.Command, cfg *config.Config) error {
	ctx := cmd.Context()
	from, err := schemaVersionBefore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	// Exclusive: a serve holding the SQLite database is waited for a
	// moment, then refused; none starts while this migrates.
	st, err := store.Open(ctx, cfg.Database, store.Options{Exclusive: true})
	if errors.Is(err, store.ErrLocked) {
		return &exitError{code: exitRefused, err: fmt.Errorf("%w: stop it first; nothing was migrated (refbot serve migrates at its start too)", err)}
	}
	if err != nil {
		return err
	}
	defer st.Close()
	to, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	riverFrom, riverTo, err := queue.MigrateRiver(ctx, st)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s:\n", st.Name())
	fmt.Fprintf(out, "  refbot's tables  %s\n", versionChange(from, to))
	fmt.Fprintf(out, "  River's tables   %s\n", versionChange(riverFrom, riverTo))
	return nil
}

// schemaVersionBefore reads the schema version of refbot's tables before
// migrate changes it: 0 for a database that does not exist yet or has no
// tables. Read through a read-only store, which neither migrates nor takes
// the serve's lock: a CLI command migrating at the same moment (the serve
// refuses migrate altogether) could make it older than what Open finds.
func schemaVersionBefore(ctx context.Context, database string) (int, error) {
	if !store.IsPostgres(database) {
		if _, err := os.Stat(database); errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
	}
	st, err := store.Open(ctx, database, store.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	// SQLite's and PostgreSQL's words for a table that is not there yet.
	if err != nil && (strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "does not exist")) {
		return 0, nil
	}
	return v, err
}

// versionChange says how a schema's version changed.
func versionChange(from, to int) string {
	switch {
	case from == to:
		return fmt.Sprintf("version %d, up to date", to)
	case from == 0:
		return fmt.Sprintf("created at version %d", to)
	}
	return fmt.Sprintf("version %d → %d", from, to)
}
