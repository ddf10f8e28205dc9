package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// restateOverlaps changes the list of overlapping PRs at the end of pr's
// last update status and posts the status again when it is final and still
// on the PR's open head (a status of an older head is history). While the
// PR's own job runs (its status pending), the list is only remembered: the
// job's final status says it.
func (b *Bot) restateOverlaps(ctx context.Context, pr int, change func([]int) []int) error {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	var sha, state, desc, list string
	err := b.db.QueryRowContext(ctx, `SELECT sha, state, description, overlaps FROM refbot_update_status WHERE pr = ?`, pr).
		Scan(&sha, &state, &desc, &list)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	old := parsePRs(list)
	now := change(slices.Clone(old))
	if slices.Equal(old, now) {
		return nil
	}
	if state == "pending" {
		_, err := b.db.ExecContext(ctx, `UPDATE refbot_update_status SET overlaps = ? WHERE pr = ? AND sha = ?`, joinPRs(now), pr, sha)
		return err
	}
	p, err := b.gh.PullRequest(ctx, pr)
	if err != nil {
		return err
	}
	if !p.Open || p.HeadSHA != sha {
		return nil
	}
	return b.postStatusLocked(ctx, pr, sha, state, desc, now)
}

// forgetOverlaps drops gone, whose data branch was promoted or deleted or
// no longer changes their files, from every PR's update status that names
// it, except those of keep.
func (b *Bot) forgetOverlaps(ctx context.Context, gone int, keep ...int) error {
	rows, err := b.db.QueryContext(ctx, `SELECT pr, overlaps FROM refbot_update_status WHERE overlaps != ''`)
	if err != nil {
		return err
	}
	var prs []int
	for rows.Next() {
		var pr int
		var list string
		if err := rows.Scan(&pr, &list); err != nil {
			rows.Close()
			return err
		}
		if slices.Contains(parsePRs(list), gone) && !slices.Contains(keep, pr) {
			prs = append(prs, pr)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, pr := range prs {
		if err := b.restateOverlaps(ctx, pr, func(l []int) []int { return slices.DeleteFunc(l, func(n int) bool { return n == gone }) }); err != nil {
			return err
		}
	}
	return nil
}

// markConflict sets the update status of pr's open head to failure: its
// data branch no longer applies to the base after merged's promotion, and
// it needs a new UPDATE.
func (b *Bot) markConflict(ctx context.Context, pr, merged int) error {
	p, err := b.gh.PullRequest(ctx, pr)
	if err != nil {
		return err
	}
	if !p.Open {
		return nil
	}
	return b.postStatus(ctx, pr, p.HeadSHA, "failure",
		fmt.Sprintf("Data conflicts with #%d's, now on %s; say %s UPDATE", merged, b.cfg.BaseBranch, b.cfg.Prefix), nil)
}

func addPR(prs []int, n int) []int {
	if slices.Contains(prs, n) {
		return prs
	}
	prs = append(prs, n)
	slices.Sort(prs)
	return prs
}

func joinPRs(prs []int) string {
	s := make([]string, len(prs))
	for i, n := range prs {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parsePRs(list string) []int {
	var prs []int
	for _, f := range strings.Split(list, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			prs = append(prs, n)
		}
	}
	return prs
}
