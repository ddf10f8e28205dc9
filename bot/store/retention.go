package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Pruned counts the rows PruneFinished removed, by table.
type Pruned map[string]int64

// Total is the number of rows removed.
func (p Pruned) Total() int64 {
	var n int64
	for _, c := range p {
		n += c
	}
	return n
}

// PruneFinished removes the record of what ended before before: webhook
// deliveries received before it, UPDATE, WEBSITE and merge records at a
// final step whose last change was before it, and the heads seen before it
// of PRs that are not open (the open PRs' are capped per PR, heads.go; a
// reopened PR's head is recorded again from its reopening). What a later
// delivery or reconcile pass checks against is kept: the comments already
// queued (refbot_comment), the commands done and the replies made, one
// small row each per command comment.
// River's ended jobs are River's to delete (queue.Config.KeepFinished).
func (s *Store) PruneFinished(ctx context.Context, before time.Time) (Pruned, error) {
	at := formatTime(before.UTC())
	out := Pruned{}
	for _, p := range []struct {
		table, where string
	}{
		{"refbot_delivery", `received_at < $1`},
		{"refbot_update", `updated_at < $1 AND step IN ` + sqlList(finalStepList)},
		{"refbot_website", `updated_at < $1 AND step IN ` + websiteFinalSQL},
		{"refbot_merge", `updated_at < $1 AND step IN ` + sqlList([]string{MergeDone, MergeFailed})},
		{"refbot_head", `seen_at < $1 AND pr NOT IN (SELECT pr FROM refbot_open_pr)`},
	} {
		res, err := s.db.ExecContext(ctx, `DELETE FROM `+p.table+` WHERE `+p.where, at)
		if err != nil {
			return out, fmt.Errorf("store: prune %s: %w", p.table, err)
		}
		out[p.table], _ = res.RowsAffected()
	}
	return out, nil
}

// sqlList writes constants as an SQL list: ('a', 'b').
func sqlList(values []string) string {
	return "('" + strings.Join(values, "', '") + "')"
}
