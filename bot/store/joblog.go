package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// JobLogLine is one line of a job's log, as its page shows it.
type JobLogLine struct {
	Seq     int // from 1, in the order written, across the job's attempts
	Attempt int
	At      time.Time
	Level   string // debug, info, warn, error
	Message string // the message and its fields, as the job logged them
}

// MaxJobLogLines bounds the lines kept of one job: past it, one line says
// that the rest were dropped, and nothing more is written.
const MaxJobLogLines = 1000

// JobLogDropped is the message of the line that ends a full log.
const JobLogDropped = "further lines were dropped: a job keeps at most 1000"

// AppendJobLog adds one line to job jobID's log.
func (s *Store) AppendJobLog(ctx context.Context, jobID int64, attempt int, at time.Time, level, message string) error {
	return s.AppendJobLogs(ctx, jobID, []JobLogLine{{Attempt: attempt, At: at, Level: level, Message: message}})
}

// AppendJobLogs adds lines to job jobID's log in one transaction,
// numbering them after the job's last (their Seq is ignored). Writers of
// one job take turns: a job's attempts run one after another.
func (s *Store) AppendJobLogs(ctx context.Context, jobID int64, lines []JobLogLine) error {
	if len(lines) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var last int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM refbot_job_log WHERE job_id = $1`, jobID).
			Scan(&last); err != nil {
			return err
		}
		if last > MaxJobLogLines {
			return nil // full: the line saying so is written
		}
		insert, err := tx.PrepareContext(ctx, `INSERT INTO refbot_job_log (job_id, seq, attempt, at, level, message)
			VALUES ($1, $2, $3, $4, $5, $6)`)
		if err != nil {
			return err
		}
		defer insert.Close()
		for _, l := range lines {
			last++
			if last > MaxJobLogLines {
				l.Level, l.Message = "warn", JobLogDropped
			}
			if _, err := insert.ExecContext(ctx, jobID, last, l.Attempt, formatTime(l.At), l.Level, l.Message); err != nil {
				return err
			}
			if last > MaxJobLogLines {
				break
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: append to the log of job %d: %w", jobID, err)
	}
	return nil
}

// JobLog returns job jobID's log lines after afterSeq (0: all), in order:
// a page polling a running job asks for what came since its last line.
func (s *Store) JobLog(ctx context.Context, jobID int64, afterSeq int) ([]JobLogLine, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, attempt, at, level, message FROM refbot_job_log
		WHERE job_id = $1 AND seq > $2 ORDER BY seq`, jobID, afterSeq)
	out, err := collect(rows, err, func(r *sql.Rows) (JobLogLine, error) {
		var l JobLogLine
		var at string
		err := r.Scan(&l.Seq, &l.Attempt, &at, &l.Level, &l.Message)
		l.At = parseTime(at)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: read the log of job %d: %w", jobID, err)
	}
	return out, nil
}

// PruneJobLogs removes the log lines of jobs the queue no longer has
// (River deletes ended jobs after their retention period), and returns
// how many lines went. It reads River's job table, which the queue
// creates in the same database.
func (s *Store) PruneJobLogs(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM refbot_job_log
		WHERE NOT EXISTS (SELECT 1 FROM river_job WHERE river_job.id = refbot_job_log.job_id)`)
	if err != nil {
		return 0, fmt.Errorf("store: prune job logs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
