package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The steps of a merge.
const (
	// MergeStarted: the merge is known; nothing changed yet.
	MergeStarted = "started"
	// MergeWaiting: the PR's data could not be promoted (Reason); refbot
	// waits for the base branch's post-merge build, to apply its outputs
	// against Against, the base tip of the merge's time.
	MergeWaiting = "waiting"
	// MergeApplied: the base branch holds the PR's data (DataCommit); the
	// data branch is still to be deleted and the others rebased.
	MergeApplied = "applied"
	// Final steps.
	MergeDone   = "done"   // applied, cleaned up and reported
	MergeFailed = "failed" // nothing could be applied; reported
)

// Merge is one merged PR's promotion.
type Merge struct {
	PR          int
	MergeCommit string
	Head        string // the PR head that was merged
	CodeBase    string // the code repo's branch it merged into
	MergedAt    time.Time
	MergedBy    string
	Step        string
	Reason      string // why the data branch was not promoted as it is
	Against     string // with MergeWaiting: the base tip the build is compared with
	Build       string // the post-merge build whose outputs were taken
	DataCommit  string // the base branch's new tip
	View        string // the reply, as data
	StartedAt   time.Time
	UpdatedAt   time.Time
}

// Merge returns pr's merge record, or nil.
func (s *Store) Merge(ctx context.Context, pr int) (*Merge, error) {
	var m Merge
	var mergedAt, started, updated string
	err := s.db.QueryRowContext(ctx, `SELECT pr, merge_commit, head, code_base, merged_at, merged_by, step, reason, against,
		build, data_commit, view, started_at, updated_at FROM refbot_merge WHERE pr = $1`, pr).Scan(&m.PR, &m.MergeCommit,
		&m.Head, &m.CodeBase, &mergedAt, &m.MergedBy, &m.Step, &m.Reason, &m.Against, &m.Build, &m.DataCommit, &m.View,
		&started, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read merge of #%d: %w", pr, err)
	}
	m.MergedAt, m.StartedAt, m.UpdatedAt = parseTime(mergedAt), parseTime(started), parseTime(updated)
	return &m, nil
}

// StartMerge records m at MergeStarted unless pr has a record already,
// and returns the record.
func (s *Store) StartMerge(ctx context.Context, m Merge) (*Merge, error) {
	now := formatTime(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_merge (pr, merge_commit, head, code_base, merged_at, merged_by, step,
		started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (pr) DO NOTHING`,
		m.PR, m.MergeCommit, m.Head, m.CodeBase, formatTime(m.MergedAt), m.MergedBy, MergeStarted, now, now)
	if err != nil {
		return nil, fmt.Errorf("record merge of #%d: %w", m.PR, err)
	}
	return s.Merge(ctx, m.PR)
}

// SaveMerge writes m's progress, to disk (durableExec).
func (s *Store) SaveMerge(ctx context.Context, m *Merge) error {
	m.UpdatedAt = s.now().UTC()
	_, err := s.durableExec(ctx, `UPDATE refbot_merge SET step = $1, reason = $2, against = $3, build = $4, data_commit = $5,
		view = $6, updated_at = $7 WHERE pr = $8`, m.Step, m.Reason, m.Against, m.Build, m.DataCommit, m.View,
		formatTime(m.UpdatedAt), m.PR)
	if err != nil {
		return fmt.Errorf("record merge of #%d at %s: %w", m.PR, m.Step, err)
	}
	return nil
}
