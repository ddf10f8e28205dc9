package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// "overlaps" is quoted: PostgreSQL reserves the word (SQLite takes the
// quoted name as well).

// AddPending remembers that refbot left pr's update status on sha pending,
// so that STOP, giving up or a moved head can finish it.
func (s *Store) AddPending(ctx context.Context, pr int, sha string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_pending (pr, sha) VALUES ($1, $2) ON CONFLICT DO NOTHING`, pr, sha)
	return err
}

// RemovePending forgets a pending status once refbot set another state.
func (s *Store) RemovePending(ctx context.Context, pr int, sha string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM refbot_pending WHERE pr = $1 AND sha = $2`, pr, sha)
	return err
}

// PendingHeads returns the heads of pr whose update status refbot left
// pending, except keep.
func (s *Store) PendingHeads(ctx context.Context, pr int, keep string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha FROM refbot_pending WHERE pr = $1 AND sha != $2 ORDER BY sha`, pr, keep)
	return collect(rows, err, func(r *sql.Rows) (string, error) {
		var sha string
		return sha, r.Scan(&sha)
	})
}

// UpdateStatus is the last update status refbot set on a PR, with the
// other PRs whose data branches change the same files.
type UpdateStatus struct {
	PR          int
	SHA         string
	State       string
	Description string // without the overlapping PRs
	Overlaps    []int
}

// UpdateStatus returns pr's last update status, or nil.
func (s *Store) UpdateStatus(ctx context.Context, pr int) (*UpdateStatus, error) {
	st := UpdateStatus{PR: pr}
	var list string
	err := s.db.QueryRowContext(ctx, `SELECT sha, state, description, "overlaps" FROM refbot_update_status WHERE pr = $1`, pr).
		Scan(&st.SHA, &st.State, &st.Description, &list)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	st.Overlaps = parsePRs(list)
	return &st, err
}

// RememberUpdateStatus remembers st as pr's last update status. A pending
// status following a pending one on the same head keeps the overlaps
// remembered meanwhile: they go into the job's final status.
func (s *Store) RememberUpdateStatus(ctx context.Context, st UpdateStatus) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_update_status (pr, sha, state, description, "overlaps") VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (pr) DO UPDATE SET sha = excluded.sha, state = excluded.state, description = excluded.description,
		"overlaps" = CASE WHEN excluded.state = 'pending' AND refbot_update_status.state = 'pending'
			AND refbot_update_status.sha = excluded.sha THEN refbot_update_status."overlaps" ELSE excluded."overlaps" END`,
		st.PR, st.SHA, st.State, st.Description, joinPRs(st.Overlaps))
	return err
}

// SetOverlaps changes the overlapping PRs remembered for pr's status on sha.
func (s *Store) SetOverlaps(ctx context.Context, pr int, sha string, overlaps []int) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_update_status SET "overlaps" = $1 WHERE pr = $2 AND sha = $3`, joinPRs(overlaps), pr, sha)
	return err
}

// EndUpdateStatus records that pr's status on sha became state with desc
// and no overlaps, when it is the remembered one.
func (s *Store) EndUpdateStatus(ctx context.Context, pr int, sha, state, desc string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_update_status SET state = $1, description = $2, "overlaps" = ''
		WHERE pr = $3 AND sha = $4`, state, desc, pr, sha)
	return err
}

// StatusesNaming returns the PRs whose remembered status names gone among
// its overlaps.
func (s *Store) StatusesNaming(ctx context.Context, gone int) ([]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pr, "overlaps" FROM refbot_update_status WHERE "overlaps" != '' ORDER BY pr`)
	all, err := collect(rows, err, func(r *sql.Rows) (UpdateStatus, error) {
		var st UpdateStatus
		var list string
		err := r.Scan(&st.PR, &list)
		st.Overlaps = parsePRs(list)
		return st, err
	})
	var out []int
	for _, st := range all {
		if slices.Contains(st.Overlaps, gone) {
			out = append(out, st.PR)
		}
	}
	return out, err
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
