package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// JobDetail is one job as its page shows it.
type JobDetail struct {
	JobSummary
	Queue       string
	MaxAttempts int
	// ScheduledAt is when the job runs next, while it waits (a snoozed
	// job: "waiting for CI until …"), or when it last became due.
	ScheduledAt time.Time
	AttemptedAt time.Time // when its last attempt started (zero: never)
	FinalizedAt time.Time // when it ended (zero: not yet)
	// Failures are the attempts that ended in an error, oldest first:
	// when, not what (the error is in refbot's log; it may name
	// internals).
	Failures []JobFailure
}

// JobFailure is an attempt that ended in an error.
type JobFailure struct {
	Attempt int
	At      time.Time
}

// jobSummaryColumns are what scanSummary reads, in order.
func (q *Queue) jobSummaryColumns() string {
	return `id, kind, state, attempt, coalesce(` + q.sql.argInt("pr") + `, 0),
		coalesce(` + q.sql.argText("author") + `, ''), coalesce(` + q.sql.argText("body") + `, ''),
		created_at, state IN ('retryable', 'discarded')`
}

func scanSummary(row interface{ Scan(...any) error }, extra ...any) (JobSummary, error) {
	var j JobSummary
	var created string
	err := row.Scan(append([]any{&j.ID, &j.Kind, &j.State, &j.Attempt, &j.PR, &j.Author, &j.Body, &created, &j.Failed}, extra...)...)
	j.CreatedAt = parseJobTime(created)
	return j, err
}

// JobByID returns job id, or nil when the queue has no such job (it never
// existed, or River deleted it after its retention period).
func (q *Queue) JobByID(ctx context.Context, id int64) (*JobDetail, error) {
	var d JobDetail
	var scheduled, attempted, finalized sql.NullString
	var failures string
	var err error
	d.JobSummary, err = scanSummary(q.db.QueryRowContext(ctx, `SELECT `+q.jobSummaryColumns()+`,
		queue, max_attempts, scheduled_at, attempted_at, finalized_at, `+q.sql.errorsJSON()+`
		FROM river_job WHERE id = $1`, id), &d.Queue, &d.MaxAttempts, &scheduled, &attempted, &finalized, &failures)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read job %d: %w", id, err)
	}
	d.ScheduledAt, d.AttemptedAt, d.FinalizedAt = parseJobTime(scheduled.String), parseJobTime(attempted.String), parseJobTime(finalized.String)
	// River's errors: only the attempt and the time are read.
	var errs []struct {
		Attempt int    `json:"attempt"`
		At      string `json:"at"`
	}
	if err := json.Unmarshal([]byte(failures), &errs); err != nil {
		return nil, fmt.Errorf("read the failures of job %d: %w", id, err)
	}
	for _, e := range errs {
		d.Failures = append(d.Failures, JobFailure{Attempt: e.Attempt, At: parseJobTime(e.At)})
	}
	return &d, nil
}

// ActiveJobs returns the jobs that have not ended (queued, waiting,
// running, to be retried), oldest first, at most limit. The reconciler's
// passes are left out: they are refbot's own upkeep.
func (q *Queue) ActiveJobs(ctx context.Context, limit int) ([]JobSummary, error) {
	// By creation, which no index orders: PostgreSQL's planner then finds
	// the few active jobs by River's index on state, instead of walking
	// every job of the week in id order (4.6 ms against 0.3 ms with 10,000
	// jobs).
	return q.summaries(ctx, "active jobs", `SELECT `+q.jobSummaryColumns()+` FROM river_job
		WHERE state IN `+activeStates+` AND kind != $1 ORDER BY created_at, id LIMIT $2`, ReconcileArgs{}.Kind(), limit)
}

// RecentFailures returns the jobs whose last attempt failed since since:
// those that gave up, and those waiting to be tried again; newest first,
// at most limit.
func (q *Queue) RecentFailures(ctx context.Context, since time.Time, limit int) ([]JobSummary, error) {
	// Each state by River's index on (state, finalized_at) or on
	// (state, queue, …): a few rows, never a scan of every job.
	return q.summaries(ctx, "recent failures", `SELECT `+q.jobSummaryColumns()+` FROM river_job
		WHERE (state = 'discarded' AND finalized_at >= $1) OR (state = 'retryable' AND attempted_at >= $2)
		ORDER BY id DESC LIMIT $3`, q.sql.time(since), q.sql.time(since), limit)
}

func (q *Queue) summaries(ctx context.Context, what, query string, args ...any) ([]JobSummary, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	var out []JobSummary
	for rows.Next() {
		j, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// pruneJobLogs drops the log lines of jobs River deleted; a failure waits
// for the next pass.
func (q *Queue) pruneJobLogs(ctx context.Context) {
	n, err := q.st.PruneJobLogs(ctx)
	switch {
	case err != nil:
		q.log.Warn("prune job logs", zap.Error(err))
	case n > 0:
		q.log.Debug("pruned job logs", zap.Int64("lines", n))
	}
}

// parseJobTime reads a time of River's table: text in SQLite, as River's
// driver writes it; a timestamptz through database/sql on PostgreSQL.
func parseJobTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// time is t as River's table compares it: SQLite's text, in the one format
// River's SQLite driver writes (riversqlite's timeString), or a
// timestamptz.
func (d jobSQL) time(t time.Time) any {
	if d.postgres {
		return t
	}
	return t.UTC().Round(time.Millisecond).Format("2006-01-02 15:04:05.000")
}

// errorsJSON is River's errors column as a JSON array ("[]" when none).
func (d jobSQL) errorsJSON() string {
	if d.postgres {
		return "coalesce(array_to_json(errors)::text, '[]')"
	}
	return "coalesce(json(errors), '[]')"
}
