package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPruneFinished: deliveries received before the cutoff go; UPDATE,
// WEBSITE and merge records go when they are final and last changed
// before it, and so do the old heads of PRs that are not open; a record
// still in progress stays however old, and so does everything newer, and
// the comments already queued (the guard against doing a comment twice)
// stay for good.
func TestPruneFinished(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	old, recent := formatTime(now.Add(-8*24*time.Hour)), formatTime(now.Add(-time.Hour))
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	delivery := func(id, at string) {
		exec(`INSERT INTO refbot_delivery (id, event, action, received_at) VALUES ($1, 'issue_comment', 'created', $2)`, id, at)
	}
	update := func(comment int64, step, at string) {
		exec(`INSERT INTO refbot_update (comment_id, cmd_key, pr, head, build, author, step, created_at, updated_at)
			VALUES ($1, 'UPDATE', 7, 'abc', '1', 'alice', $2, $3, $3)`, comment, step, at)
	}
	website := func(comment int64, step, at string) {
		exec(`INSERT INTO refbot_website (comment_id, cmd_key, pr, head, branch, author, step, created_at, updated_at)
			VALUES ($1, 'WEBSITE', 7, 'abc', 'b', 'alice', $2, $3, $3)`, comment, step, at)
	}
	merge := func(pr int, step, at string) {
		exec(`INSERT INTO refbot_merge (pr, merge_commit, head, code_base, merged_at, merged_by, step, started_at, updated_at)
			VALUES ($1, 'm', 'h', 'b', $2, 'alice', $3, $2, $2)`, pr, at, step)
	}
	delivery("old", old)
	delivery("recent", recent)
	exec(`INSERT INTO refbot_comment (comment_id, pr, delivery_id) VALUES (1, 7, 'old')`)
	update(1, StepDone, old)
	update(2, StepWaiting, old) // still following CI
	update(3, StepRefused, recent)
	update(4, StepGaveUp, old)
	website(1, WebsitePublished, old)
	website(2, WebsiteQueued, old)
	for _, h := range []struct {
		pr      int
		sha, at string
	}{{7, "a1", old}, {7, "a2", recent}, {8, "b1", old}} {
		exec(`INSERT INTO refbot_head (pr, sha, seen_at, source) VALUES ($1, $2, $3, 'webhook')`, h.pr, h.sha, h.at)
	}
	exec(`INSERT INTO refbot_open_pr (pr, title, author, head, base, updated_at) VALUES (8, 't', 'bob', 'b1', 'master', $1)`, old)
	merge(7, MergeDone, old)
	merge(8, MergeWaiting, old)
	merge(9, MergeFailed, recent)

	got, err := s.PruneFinished(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := Pruned{"refbot_delivery": 1, "refbot_update": 2, "refbot_website": 1, "refbot_merge": 1, "refbot_head": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	left := func(q string) []string {
		t.Helper()
		rows, err := s.db.QueryContext(ctx, q)
		var out []string
		for err == nil && rows.Next() {
			var v string
			err = rows.Scan(&v)
			out = append(out, v)
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows.Close()
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{`SELECT id FROM refbot_delivery`, []string{"recent"}},
		{`SELECT step FROM refbot_update`, []string{StepRefused, StepWaiting}},
		{`SELECT step FROM refbot_website`, []string{WebsiteQueued}},
		{`SELECT step FROM refbot_merge`, []string{MergeFailed, MergeWaiting}},
		{`SELECT delivery_id FROM refbot_comment`, []string{"old"}},
		// #7 is closed: its old head goes; #8 is open: its heads stay.
		{`SELECT sha FROM refbot_head`, []string{"a2", "b1"}},
	} {
		if diff := cmp.Diff(tc.want, left(tc.query)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.query, diff)
		}
	}
	// Nothing more to prune: a second run removes nothing.
	again, err := s.PruneFinished(ctx, now.Add(-7*24*time.Hour))
	if err != nil || again.Total() != 0 {
		t.Errorf("second run: %v, %v; want nothing pruned", again, err)
	}
}
