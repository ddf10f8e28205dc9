// Package queue is refbot's durable state: webhook deliveries, comments
// already handled, per-PR leases and the jobs themselves, all in one
// database. Jobs run on River (riverqueue/river); the embedded default is
// SQLite, one file and no server. The PostgreSQL driver for several
// replicas slots in where Open builds the driver; everything else here goes
// through database/sql and River's driver interface.
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite", pure Go

	"github.com/refbot/refbot/bot/intake"
)

// Queue owns the database and the River client.
type Queue struct {
	db    *sql.DB
	river *river.Client[*sql.Tx]
	log   *zap.Logger
	owner string // this process, as the holder of PR leases

	// Statements prepared once: the SQLite driver would prepare them on
	// every call, which costs more than running them.
	insertDelivery, insertComment *sql.Stmt

	records    chan recordReq // to the writer, which group-commits them
	supersedes func(intake.CommentWork) bool
	closed     chan struct{}
	writerDone chan struct{}
}

// Handlers do the work of each job kind. They run on the daemon's context,
// one job per PR at a time.
type Handlers struct {
	Comment  func(ctx context.Context, w intake.CommentWork) error
	PRClosed func(ctx context.Context, w intake.PullRequestClosed) error
	// NeedsLease says whether a comment's job must hold its PR's lease;
	// nil means every job does. Commands that only read, or that stop the
	// others (STOP), must not wait for the job they would stop.
	NeedsLease func(w intake.CommentWork) bool
	// DeleteBranch deletes the data branch of a closed, unmerged PR when its
	// grace period is over (see ScheduleBranchDeletion).
	DeleteBranch func(ctx context.Context, pr int) error
	// GaveUp is told when a comment's job failed for the last time (its
	// attempts are used up), so the person who asked hears of it.
	GaveUp func(ctx context.Context, w intake.CommentWork, attempts int, err error)
	// Supersedes says whether a newer comment like w makes an older one
	// like it pointless while the older is still queued (a comment that
	// only asks for UPDATE); nil means never. Such comments are marked so
	// that NewerSupersedable finds them; the handler decides.
	Supersedes func(w intake.CommentWork) bool
}

// Config configures Open.
type Config struct {
	Path       string // the SQLite file; created if missing
	MaxWorkers int    // jobs run at once; default 4
	Handlers   Handlers
	Logger     *zap.Logger
	// LeaseWait is how long a job for a busy PR waits before trying again;
	// default 5s.
	LeaseWait time.Duration
}

// Open opens (creating if needed) the database at cfg.Path, brings River's
// and refbot's tables up to date, and builds the River client. Start runs
// the workers.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Path == "" {
		return nil, errors.New("queue: database path is required")
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 4
	}
	if cfg.LeaseWait <= 0 {
		cfg.LeaseWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	// WAL with synchronous=NORMAL: a committed delivery survives the
	// process being killed at any point (what the crash tests check); only
	// a power loss can take the last commits back.
	dsn := "file:" + cfg.Path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", cfg.Path, err)
	}
	// SQLite allows one writer; River's driver recommends one connection.
	db.SetMaxOpenConns(1)
	q := &Queue{db: db, log: cfg.Logger, owner: fmt.Sprintf("pid-%d-%d", os.Getpid(), time.Now().UnixNano())}
	if err := q.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if q.insertDelivery, err = db.PrepareContext(ctx, `INSERT INTO refbot_delivery (id, event, action, received_at, ignored)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`); err == nil {
		q.insertComment, err = db.PrepareContext(ctx, `INSERT INTO refbot_comment (comment_id, pr, delivery_id)
			VALUES (?, ?, ?) ON CONFLICT (comment_id) DO NOTHING`)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: prepare: %w", err)
	}
	q.records, q.closed, q.writerDone = make(chan recordReq), make(chan struct{}), make(chan struct{})
	q.supersedes = cfg.Handlers.Supersedes
	go q.writer()
	workers := river.NewWorkers()
	river.AddWorker(workers, &commentWorker{q: q, handle: cfg.Handlers.Comment, needsLease: cfg.Handlers.NeedsLease,
		gaveUp: cfg.Handlers.GaveUp, wait: cfg.LeaseWait})
	river.AddWorker(workers, &prClosedWorker{q: q, handle: cfg.Handlers.PRClosed, wait: cfg.LeaseWait})
	river.AddWorker(workers, &branchDeletionWorker{q: q, handle: cfg.Handlers.DeleteBranch, wait: cfg.LeaseWait})
	q.river, err = river.NewClient(riversqlite.New(db), &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}},
		Workers: workers,
		// A job that outlives this is stuck: River rescues it for a retry.
		JobTimeout:           2 * time.Hour,
		RescueStuckJobsAfter: 3 * time.Hour,
		// Completed jobs stay a week for `refbot status` and the dashboard.
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		Logger:                      nil,
	})
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: river client: %w", err)
	}
	return q, nil
}

func (q *Queue) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(riversqlite.New(q.db), nil)
	if err != nil {
		return fmt.Errorf("queue: migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: migrate River's tables: %w", err)
	}
	for _, stmt := range schema {
		if _, err := q.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("queue: migrate refbot's tables: %w", err)
		}
	}
	return nil
}

// schema is refbot's own tables; every statement is idempotent.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS refbot_delivery (
		id TEXT PRIMARY KEY,
		event TEXT NOT NULL,
		action TEXT NOT NULL,
		received_at TEXT NOT NULL,
		ignored TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE TABLE IF NOT EXISTS refbot_comment (
		comment_id INTEGER PRIMARY KEY,
		pr INTEGER NOT NULL,
		delivery_id TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS refbot_pr_lease (
		pr INTEGER PRIMARY KEY,
		owner TEXT NOT NULL,
		job_id INTEGER NOT NULL,
		expires_at TEXT NOT NULL
	)`,
}

// Start runs the workers. With SQLite only one process works on the
// database, so what an earlier process left behind is its own: its PR leases
// are released, and jobs it was running when it died are made available
// again at once (River would rescue them only after RescueStuckJobsAfter).
// Every job is written to be run again safely. ctx serves the start only:
// the workers run until Stop.
func (q *Queue) Start(ctx context.Context) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM refbot_pr_lease`); err != nil {
		return fmt.Errorf("queue: clear stale leases: %w", err)
	}
	// A job STOP cancelled while it ran is still marked running, with the
	// cancellation in its metadata: it is finished as cancelled, not resumed.
	if _, err := q.db.ExecContext(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = datetime('now', 'subsec')
		WHERE state = 'running' AND json_extract(metadata, '$.cancel_attempted_at') IS NOT NULL`); err != nil {
		return fmt.Errorf("queue: finish cancelled jobs: %w", err)
	}
	res, err := q.db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = datetime('now', 'subsec')
		WHERE state = 'running'`)
	if err != nil {
		return fmt.Errorf("queue: resume interrupted jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		q.log.Info("resuming jobs interrupted by the last stop", zap.Int64("jobs", n))
	}
	// River cancels running jobs when its start context ends: detached, so
	// that a shutdown goes through Stop, which lets them finish first.
	return q.river.Start(context.WithoutCancel(ctx))
}

// Stop stops taking jobs and waits for running ones to finish, until ctx
// ends; then it cancels them (their work is retried after a restart).
func (q *Queue) Stop(ctx context.Context) error {
	err := q.river.Stop(ctx)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, q.river.StopAndCancel(cctx))
	}
	return err
}

// Close stops recording and closes the database. Call Stop first.
func (q *Queue) Close() error {
	select {
	case <-q.closed:
	default:
		close(q.closed)
		<-q.writerDone
	}
	return q.db.Close()
}

// Ping checks the database answers (for /readyz).
func (q *Queue) Ping(ctx context.Context) error { return q.db.PingContext(ctx) }

// Record stores a delivery and queues its work durably before it returns,
// so that an answered delivery is never lost and never done twice: a
// delivery id seen before is a Duplicate, a comment seen before (under any
// delivery id) is AlreadyHandled. The job's arguments carry the delivery and
// comment ids, which link the three.
//
// Deliveries arriving together share one transaction (group commit): SQLite
// has one writer, and a commit per delivery would cap intake well below what
// GitHub can send.
func (q *Queue) Record(ctx context.Context, d intake.Delivery) (intake.Outcome, error) {
	req := recordReq{d: d, done: make(chan recordResult, 1)}
	select {
	case q.records <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-q.closed:
		return 0, errors.New("queue: closed")
	}
	select {
	case r := <-req.done:
		return r.outcome, r.err
	case <-ctx.Done():
		// The writer still finishes the batch; the delivery may be
		// recorded, and GitHub's redelivery will be answered Duplicate.
		return 0, ctx.Err()
	}
}

type recordReq struct {
	d    intake.Delivery
	done chan recordResult
}

type recordResult struct {
	outcome intake.Outcome
	err     error
}

// CommentAttempts bounds the tries of a comment's job; with River's
// backoff (attempt⁴ seconds) the last comes about 2.5 hours after the first.
const CommentAttempts = 8

// maxBatch bounds one group commit.
const maxBatch = 128

// writer records deliveries in batches until the queue closes.
func (q *Queue) writer() {
	defer close(q.writerDone)
	for {
		var batch []recordReq
		select {
		case r := <-q.records:
			batch = append(batch, r)
		case <-q.closed:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-q.records:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		results, err := q.recordBatch(batch)
		if err != nil && len(batch) > 1 {
			// One delivery's failure must not fail the others: each alone.
			for i := range batch {
				r, err := q.recordBatch(batch[i : i+1])
				batch[i].done <- recordResult{r[0], err}
			}
			continue
		}
		for i := range batch {
			batch[i].done <- recordResult{results[i], err}
		}
	}
}

// recordBatch records deliveries in one transaction.
func (q *Queue) recordBatch(batch []recordReq) ([]intake.Outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]intake.Outcome, len(batch))
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	insDelivery := tx.StmtContext(ctx, q.insertDelivery)
	insComment := tx.StmtContext(ctx, q.insertComment)
	var jobs []river.InsertManyParams
	for i, r := range batch {
		d := r.d
		res, err := insDelivery.ExecContext(ctx, d.ID, d.Event, d.Action, d.Received.Format(time.RFC3339Nano), d.Ignored)
		if err != nil {
			return out, fmt.Errorf("record delivery %s: %w", d.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			out[i] = intake.Duplicate
			continue
		}
		switch w := d.Work.(type) {
		case nil:
		case intake.CommentWork:
			res, err := insComment.ExecContext(ctx, w.CommentID, w.PR, d.ID)
			if err != nil {
				return out, fmt.Errorf("record comment %d: %w", w.CommentID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				out[i] = intake.AlreadyHandled
				continue
			}
			jobs = append(jobs, river.InsertManyParams{Args: CommentArgs{CommentWork: w, Delivery: d.ID,
				Supersedable: q.supersedes != nil && q.supersedes(w)},
				InsertOpts: &river.InsertOpts{MaxAttempts: CommentAttempts}})
		case intake.PullRequestClosed:
			jobs = append(jobs, river.InsertManyParams{Args: PRClosedArgs{PullRequestClosed: w, Delivery: d.ID}})
		default:
			return out, fmt.Errorf("record delivery %s: unknown work %T", d.ID, w)
		}
		out[i] = intake.Recorded
	}
	if len(jobs) > 0 {
		if _, err := q.river.InsertManyTx(ctx, tx, jobs); err != nil {
			return out, fmt.Errorf("queue %d deliveries: %w", len(jobs), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return out, fmt.Errorf("record %d deliveries: %w", len(batch), err)
	}
	return out, nil
}

// errBusy: another job holds the PR's lease.
var errBusy = errors.New("another job is working on this PR")

// withPRLease runs f holding PR pr's lease, so that two jobs for one PR
// never run at once. A busy PR returns errBusy at once.
func (q *Queue) withPRLease(ctx context.Context, pr int, jobID int64, f func() error) error {
	now := time.Now().UTC()
	res, err := q.db.ExecContext(ctx, `INSERT INTO refbot_pr_lease (pr, owner, job_id, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (pr) DO UPDATE SET owner = excluded.owner, job_id = excluded.job_id, expires_at = excluded.expires_at
		WHERE refbot_pr_lease.expires_at < ? OR refbot_pr_lease.job_id = excluded.job_id`,
		pr, q.owner, jobID, now.Add(3*time.Hour).Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("lease PR %d: %w", pr, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errBusy
	}
	defer func() {
		// Release even when ctx is done (shutdown): the next process would
		// clear it anyway, but another worker of this one should not wait.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := q.db.ExecContext(rctx, `DELETE FROM refbot_pr_lease WHERE pr = ? AND job_id = ?`, pr, jobID); err != nil {
			q.log.Error("release PR lease", zap.Int("pr", pr), zap.Error(err))
		}
	}()
	return f()
}

// DB is the database, for the other parts of refbot's state that live
// beside the jobs (cooldowns).
func (q *Queue) DB() *sql.DB { return q.db }

// CancelPR cancels the queued and running comment jobs of pull request pr,
// except the job of comment keep (the STOP asking for it), and returns their
// ids. A running job's context is cancelled; River does not retry it.
// Merge promotions and branch deletions are not a commenter's to stop.
func (q *Queue) CancelPR(ctx context.Context, pr int, keep int64) ([]int64, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id FROM river_job
		WHERE kind = 'comment'
		AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
		AND json_extract(args, '$.pr') = ?
		AND coalesce(json_extract(args, '$.comment_id'), 0) != ?`, pr, keep)
	if err != nil {
		return nil, fmt.Errorf("find jobs of #%d: %w", pr, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := q.river.JobCancel(ctx, id); err != nil {
			return ids, fmt.Errorf("cancel job %d of #%d: %w", id, pr, err)
		}
	}
	return ids, nil
}

// NewerSupersedable returns the comments marked by Handlers.Supersedes
// that were queued on pr after comment's and have not run yet, newest
// first. One marked running is counted too: while comment's job holds the
// PR's lease, a newer one is running only to find the PR busy. Whether one of them replaces comment is the handler's to decide
// when comment's job runs: it knows who may command, the queue does not.
func (q *Queue) NewerSupersedable(ctx context.Context, pr int, comment int64) ([]intake.CommentWork, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT json(args) FROM river_job
		WHERE kind = 'comment' AND state IN ('available', 'scheduled', 'retryable', 'pending', 'running')
		AND json_extract(args, '$.pr') = ? AND json_extract(args, '$.supersedable') = 1
		AND id > (SELECT coalesce(max(id), 0) FROM river_job WHERE kind = 'comment'
			AND json_extract(args, '$.pr') = ? AND json_extract(args, '$.comment_id') = ?)
		ORDER BY id DESC`, pr, pr, comment)
	if err != nil {
		return nil, fmt.Errorf("find newer comments of #%d: %w", pr, err)
	}
	defer rows.Close()
	var out []intake.CommentWork
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var args CommentArgs
		if err := json.Unmarshal(raw, &args); err != nil {
			return nil, fmt.Errorf("read a newer comment of #%d: %w", pr, err)
		}
		out = append(out, args.CommentWork)
	}
	return out, rows.Err()
}

// ScheduleBranchDeletion queues the deletion of pr's data branch at at.
// Scheduling it again while one is waiting does nothing.
func (q *Queue) ScheduleBranchDeletion(ctx context.Context, pr int, at time.Time) error {
	_, err := q.river.Insert(ctx, BranchDeletionArgs{PR: pr}, &river.InsertOpts{
		ScheduledAt: at,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateScheduled, rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning}},
	})
	if err != nil {
		return fmt.Errorf("schedule deletion of #%d's data branch: %w", pr, err)
	}
	return nil
}

// JobSummary is one job as refbot's pages show it.
type JobSummary struct {
	ID        int64
	Kind      string
	State     string
	Attempt   int
	Author    string // for a comment's job
	Body      string
	CreatedAt time.Time
	LastError string
}

// JobsForPR lists pr's jobs, newest first (at most limit).
func (q *Queue) JobsForPR(ctx context.Context, pr, limit int) ([]JobSummary, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, kind, state, attempt,
		coalesce(json_extract(args, '$.author'), ''), coalesce(json_extract(args, '$.body'), ''),
		created_at, coalesce(json_extract(errors, '$[#-1].error'), '')
		FROM river_job WHERE json_extract(args, '$.pr') = ? ORDER BY id DESC LIMIT ?`, pr, limit)
	if err != nil {
		return nil, fmt.Errorf("jobs of #%d: %w", pr, err)
	}
	defer rows.Close()
	var out []JobSummary
	for rows.Next() {
		var j JobSummary
		var created string
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &j.Attempt, &j.Author, &j.Body, &created, &j.LastError); err != nil {
			return nil, err
		}
		for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, created); err == nil {
				j.CreatedAt = t
				break
			}
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
