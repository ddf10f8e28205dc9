package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPruneRefsCmd() *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "prune-refs",
		Short: "Delete the data repo's old backup and archive refs (data_repo.keep_archives, keep_archives_for, keep_backups)",
		Long: `Delete the backup refs (refs/refbot/backup/) and archive refs
(refs/refbot/archive/) of the data repo that fall out of retention: each
branch keeps its newest data_repo.keep_backups backups, and of the deleted
branches only the newest data_repo.keep_archives, deleted within
data_repo.keep_archives_for, keep their archive and backups. refbot also
does this each time it deletes a data branch; run it after lowering the
retention. Refs refbot did not name are left alone. The local cache forgets
the branches the data repo no longer has.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			res, err := p.repo.PruneRefs(cmd.Context(), dryRun)
			if err != nil {
				return refused(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, map[string]any{"dry_run": dryRun, "deleted": res.Deleted, "kept": res.Kept, "forgotten": res.Forgotten})
			}
			verb := "deleted"
			if dryRun {
				verb = "would delete (dry run)"
			}
			for _, ref := range res.Deleted {
				fmt.Fprintf(out, "%s %s\n", verb, ref)
			}
			fmt.Fprintf(out, "%d refs %s, %d backup and archive refs kept; the cache forgot %d gone branches\n",
				len(res.Deleted), verb, res.Kept, len(res.Forgotten))
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted; delete nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
