// Package queue runs refbot's jobs on River (riverqueue/river) over the
// store's database: webhook deliveries become jobs in one durable step,
// jobs for one pull request (or one base branch) never run at once, and a
// job that waits for something outside (CI, a busy PR) is snoozed rather
// than holding a worker (docs/design.md, "Jobs").
//
// The jobs run in separate River queues, each with its own workers, so
// that quick commands and merges never wait behind long updates:
//
//	commands  HELP, STATUS, STOP, PLAN
//	updates   comments that change data (UPDATE)
//	merges    merged and closed pull requests, branch deletions
//	ci        waits for CI builds refbot restarted, CI events, and WEBSITE
//	          requests (queued, building, publishing)
//
// and the reconciler's passes in a queue of their own, one at a time.
//
// On PostgreSQL several `refbot serve` replicas share the queue
// (replicas.go): any of them takes any job, River's elected leader runs
// the periodic work, and a replica that dies is taken over by the others.
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/failpoint"
)

// The River queues.
const (
	Commands = "commands"
	Updates  = "updates"
	Merges   = "merges"
	CI       = "ci"
)

// DefaultWorkers are the workers of each queue unless configured.
var DefaultWorkers = map[string]int{Commands: 4, Updates: 2, Merges: 2, CI: 4}

// Attempts bound the tries of each job kind. River waits (errors so far)⁴
// seconds before each retry, so the 8th attempt comes about 78 minutes
// after the first, and a CI wait's 10th about 4 hours and 15 minutes after
// its first: long enough to outlast a GitHub or CI outage. Snoozes
// (waiting for CI, for a busy PR) do not count.
const (
	CommentAttempts = 8
	MergeAttempts   = 8
	DeleteAttempts  = 8
	CIWaitAttempts  = 10
	// A CI event only hastens what polling and the reconciler do anyway.
	CIEventAttempts = 3
	WebsiteAttempts = 10
)

// DefaultJobTimeout bounds one run of a job (Config.JobTimeout).
const DefaultJobTimeout = time.Hour

// DefaultKeepFinished is how long ended jobs are kept (Config.KeepFinished).
const DefaultKeepFinished = 7 * 24 * time.Hour

// StopTimeout is how long `refbot serve` lets running jobs finish when it
// stops; the deploy files' stop grace periods allow for it.
const StopTimeout = 30 * time.Second

// Queue owns the River client.
type Queue struct {
	st     *store.Store
	db     *sql.DB
	sql    jobSQL
	river  riverClient
	log    *zap.Logger
	holder string // this process, as the holder of leases and River's client: "serve-…"
	base   string
	// leaseWait is how long a job waits for a busy lease (Config.LeaseWait).
	leaseWait time.Duration

	rec        *store.Recording
	records    chan recordReq // to the writer, which group-commits them
	handlers   Handlers
	closed     chan struct{}
	writerDone chan struct{}

	// replicas: this one's part among the replicas sharing PostgreSQL
	// (nil with SQLite).
	replicas *replicaKeeper
}

// Handlers do the work of each job kind. They run on the daemon's context.
// A handler that returns a duration > 0 with no error asks to run again
// after it (a snooze: no attempt is counted and no worker waits).
type Handlers struct {
	Comment func(ctx context.Context, w intake.CommentWork) error
	// PRClosed handles a closed (maybe merged) pull request, holding the
	// PR's lease and the base branch's.
	PRClosed func(ctx context.Context, w intake.PullRequestClosed) (time.Duration, error)
	// DeleteBranch deletes the data branch of a closed, unmerged PR when its
	// grace period is over (see ScheduleBranchDeletion).
	DeleteBranch func(ctx context.Context, pr int) (time.Duration, error)
	// CIWait follows the CI build an UPDATE restarted (see ScheduleCIWait).
	CIWait func(ctx context.Context, pr int, update int64) (time.Duration, error)
	// CIEvent handles what the CI told of a run or a pull request's head
	// (GitHub Actions; see intake.CIEvent).
	CIEvent func(ctx context.Context, ev intake.CIEvent) error
	// Website takes a WEBSITE request on (see ScheduleWebsite).
	Website func(ctx context.Context, pr int, id int64) (time.Duration, error)

	// QueueFor says which queue a comment's job goes to (Commands or
	// Updates); nil means Updates.
	QueueFor func(w intake.CommentWork) string
	// NeedsLease says whether a comment's job must hold its PR's lease;
	// nil means every job does. Commands that only read, or that stop the
	// others (STOP), must not wait for the job they would stop.
	NeedsLease func(w intake.CommentWork) bool
	// Supersedes says whether a newer comment like w makes an older one
	// like it pointless while the older is still queued (a comment that
	// only asks for UPDATE); nil means never. Such comments are marked so
	// that NewerSupersedable finds them; the handler decides.
	Supersedes func(w intake.CommentWork) bool

	// The GaveUp handlers are told when a job failed for the last time
	// (its attempts are used up), so that the people who asked hear of it.
	GaveUp        func(ctx context.Context, w intake.CommentWork, attempts int, err error)
	MergeGaveUp   func(ctx context.Context, w intake.PullRequestClosed, attempts int, err error)
	CIWaitGaveUp  func(ctx context.Context, pr int, update int64, attempts int, err error)
	DeleteGaveUp  func(ctx context.Context, pr int, attempts int, err error)
	WebsiteGaveUp func(ctx context.Context, pr int, id int64, attempts int, err error)

	// Reconcile runs one pass of the reconciler (see Config.ReconcileEvery);
	// nil: none.
	Reconcile func(ctx context.Context) error
}

// Config configures Open.
type Config struct {
	Store *store.Store
	// Workers per queue (Commands, Updates, Merges, CI); a queue left out
	// gets DefaultWorkers.
	Workers  map[string]int
	Handlers Handlers
	Logger   *zap.Logger
	// BaseBranch is the data repo's base branch, whose lease merges hold.
	BaseBranch string
	// LeaseWait is how long a job for a busy PR waits before trying again;
	// default 5s.
	LeaseWait time.Duration
	// ReconcileEvery is how often Handlers.Reconcile runs: as a periodic
	// job that River's leader queues (so that among replicas one pass runs
	// at a time), at start and then at this interval; default 5m.
	ReconcileEvery time.Duration
	// ReplicaTimeout is how long a replica sharing PostgreSQL may go
	// without renewing its record before the others take over its leases
	// and running jobs; default DefaultReplicaTimeout. It renews its record
	// ten times as often.
	ReplicaTimeout time.Duration
	// JobTimeout bounds one run of a job (River cancels its context); a
	// job stuck past one and a half times it is rescued for a retry.
	// Default DefaultJobTimeout.
	JobTimeout time.Duration
	// KeepFinished is how long ended jobs (completed, cancelled or
	// discarded) stay in River's table, which River's cleaner then
	// deletes; their log lines go at the next reconcile pass. Default
	// DefaultKeepFinished.
	KeepFinished time.Duration
	// OnLost is told when this replica finds that the others took it over
	// (it could not renew its record in time): its jobs may be running
	// elsewhere, and it should stop at once. PostgreSQL only.
	OnLost func(error)
}

// Open brings River's tables up to date and builds the River client on the
// store's database. Start runs the workers.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Store == nil {
		return nil, errors.New("queue: a store is required")
	}
	if cfg.LeaseWait <= 0 {
		cfg.LeaseWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.BaseBranch == "" {
		cfg.BaseBranch = "master"
	}
	if cfg.ReconcileEvery <= 0 {
		cfg.ReconcileEvery = 5 * time.Minute
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.KeepFinished <= 0 {
		cfg.KeepFinished = DefaultKeepFinished
	}
	q := &Queue{st: cfg.Store, db: cfg.Store.DB(), sql: jobSQL{postgres: cfg.Store.Postgres() != nil}, log: cfg.Logger,
		handlers: cfg.Handlers, base: cfg.BaseBranch, leaseWait: cfg.LeaseWait,
		holder: fmt.Sprintf("serve-%d-%d", os.Getpid(), time.Now().UnixNano())}
	if q.sql.postgres {
		q.replicas = newReplicaKeeper(q, cfg.ReplicaTimeout, cfg.OnLost)
	}
	var err error
	if q.rec, err = cfg.Store.PrepareRecording(ctx); err != nil {
		return nil, err
	}
	q.records, q.closed, q.writerDone = make(chan recordReq), make(chan struct{}), make(chan struct{})
	go q.writer()
	queues := map[string]river.QueueConfig{}
	for name, n := range DefaultWorkers {
		if v, ok := cfg.Workers[name]; ok && v > 0 {
			n = v
		}
		queues[name] = river.QueueConfig{MaxWorkers: n}
	}
	queues[reconcileQueue] = river.QueueConfig{MaxWorkers: 1}
	for name := range cfg.Workers {
		if _, ok := DefaultWorkers[name]; !ok {
			q.Close()
			return nil, fmt.Errorf("queue: no queue named %q (the queues are commands, updates, merges and ci)", name)
		}
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &commentWorker{q: q})
	river.AddWorker(workers, &prClosedWorker{q: q})
	river.AddWorker(workers, &branchDeletionWorker{q: q})
	river.AddWorker(workers, &ciWaitWorker{q: q})
	river.AddWorker(workers, &ciEventWorker{q: q})
	river.AddWorker(workers, &websiteWorker{q: q})
	river.AddWorker(workers, &reconcileWorker{q: q})
	var periodic []*river.PeriodicJob
	// The durability test switches the reconciler off, so that a
	// delivery done after a crash was done from its record, not caught up.
	if cfg.Handlers.Reconcile != nil && !failpoint.Off("reconcile") {
		periodic = append(periodic, reconcilePeriodically(cfg.ReconcileEvery))
	}
	q.river, err = newRiver(ctx, cfg.Store, &river.Config{
		// River's client id is the replica's: the jobs it works name it
		// (attempted_by), and so does River's leader.
		ID:           q.holder,
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		// Jobs wait for nothing in a worker: CI and busy PRs are snoozes.
		// A job that outlives this is stuck; River rescues it for a retry.
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.JobTimeout * 3 / 2,
		// Ended jobs stay for `refbot status` and the pages.
		CompletedJobRetentionPeriod: cfg.KeepFinished,
		CancelledJobRetentionPeriod: cfg.KeepFinished,
		DiscardedJobRetentionPeriod: cfg.KeepFinished,
		Logger:                      riverLogger(cfg.Logger),
	})
	if err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// riverLogger hands River's own log lines to refbot's logger, named
// "river", from warnings up: River's Info lines are every maintenance
// pass's. Left without one, River writes text to standard output, where
// the CLI writes its answers, JSON included.
func riverLogger(l *zap.Logger) *slog.Logger {
	core, err := zapcore.NewIncreaseLevelCore(l.Core(), zapcore.WarnLevel)
	if err != nil { // l is set above warnings already
		core = l.Core()
	}
	return slog.New(zapslog.NewHandler(core, zapslog.WithName("river")))
}

// Replica is this process's name among the replicas, River's client id.
func (q *Queue) Replica() string { return q.holder }

// Start runs the workers. ctx serves the start only: the workers run
// until Stop.
//
// With SQLite, refbot serve holds the database alone (see
// store.LockExclusive), so what an earlier serve left behind is its own:
// its leases are released, the leader it was is forgotten, and jobs it was
// running when it died are made available again at once (River would
// rescue them only after RescueStuckJobsAfter). Every job is written to be
// run again safely. With PostgreSQL the other replicas' state is theirs:
// this one records itself, and takes over only the replicas that stopped
// renewing their records (replicas.go).
func (q *Queue) Start(ctx context.Context) error {
	if q.replicas != nil {
		if err := q.replicas.start(ctx); err != nil {
			return err
		}
		// River cancels running jobs when its start context ends:
		// detached, so that a shutdown goes through Stop, which lets them
		// finish first.
		return q.river.Start(context.WithoutCancel(ctx))
	}
	if err := q.st.ReleaseLeasesHeldBy(ctx, "serve-"); err != nil {
		return fmt.Errorf("queue: clear stale leases: %w", err)
	}
	// A leader that died keeps its place until its term runs out: this
	// serve leads at once, and so runs the periodic work at start.
	if _, err := q.db.ExecContext(ctx, `DELETE FROM river_leader`); err != nil {
		return fmt.Errorf("queue: forget the last leader: %w", err)
	}
	// A job STOP cancelled while it ran is still marked running, with the
	// cancellation in its metadata: it is finished as cancelled, not resumed.
	if _, err := q.db.ExecContext(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = `+q.sql.now()+`
		WHERE state = 'running' AND `+q.sql.metaSet("cancel_attempted_at")); err != nil {
		return fmt.Errorf("queue: finish cancelled jobs: %w", err)
	}
	// Jobs queued by a refbot before the queues were separate are in
	// River's default queue, which nothing works any more: each goes to
	// the queue of its kind.
	if err := q.moveDefaultQueueJobs(ctx); err != nil {
		return err
	}
	res, err := q.db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = `+q.sql.now()+`
		WHERE state = 'running'`)
	if err != nil {
		return fmt.Errorf("queue: resume interrupted jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		q.log.Info("resuming jobs interrupted by the last stop", zap.Int64("jobs", n))
	}
	return q.river.Start(context.WithoutCancel(ctx))
}

// moveDefaultQueueJobs moves each job still to run that a refbot before
// the queues were separate left in River's default queue to its queue: a comment's
// to the one QueueFor names (a STOP must not wait behind UPDATEs).
func (q *Queue) moveDefaultQueueJobs(ctx context.Context) error {
	rows, err := q.db.QueryContext(ctx, `SELECT id, kind, `+q.sql.args()+` FROM river_job WHERE state IN `+activeStates+` AND queue = $1`,
		river.QueueDefault)
	if err != nil {
		return fmt.Errorf("queue: list jobs of an earlier refbot: %w", err)
	}
	type job struct {
		id    int64
		queue string
	}
	var moves []job
	for rows.Next() {
		var j job
		var kind string
		var args []byte
		if err := rows.Scan(&j.id, &kind, &args); err != nil {
			rows.Close()
			return fmt.Errorf("queue: list jobs of an earlier refbot: %w", err)
		}
		switch kind {
		case CommentArgs{}.Kind():
			j.queue = Updates
			var a CommentArgs
			if json.Unmarshal(args, &a) == nil && q.handlers.QueueFor != nil {
				j.queue = q.handlers.QueueFor(a.CommentWork)
			}
		case PRClosedArgs{}.Kind(), BranchDeletionArgs{}.Kind():
			j.queue = Merges
		case CIWaitArgs{}.Kind(), CIEventArgs{}.Kind():
			j.queue = CI
		default:
			continue
		}
		moves = append(moves, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue: list jobs of an earlier refbot: %w", err)
	}
	if len(moves) == 0 {
		return nil
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, j := range moves {
		if _, err := tx.ExecContext(ctx, `UPDATE river_job SET queue = $1 WHERE id = $2`, j.queue, j.id); err != nil {
			return fmt.Errorf("queue: move job %d of an earlier refbot: %w", j.id, err)
		}
	}
	return tx.Commit()
}

// ErrInterrupted is Stop's error when ctx ended before the running jobs
// finished and they were cancelled: an orderly end, since each runs
// again from where it stands at the next start.
var ErrInterrupted = errors.New("running jobs interrupted at the stop deadline; they run again at the next start")

// Stop stops taking jobs and waits for running ones to finish, until ctx
// ends; then it cancels them (their work is retried after a restart) and
// returns ErrInterrupted once they have returned.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.river.Stop(ctx)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := q.river.StopAndCancel(cctx); cerr != nil {
			err = errors.Join(err, cerr)
		} else if errors.Is(err, context.DeadlineExceeded) {
			err = ErrInterrupted
		}
	}
	if q.replicas != nil {
		err = errors.Join(err, q.replicas.stop(context.WithoutCancel(ctx)))
	}
	return err
}

// Close stops recording. Call Stop first; the store is the caller's to
// close.
func (q *Queue) Close() error {
	if q.closed != nil {
		select {
		case <-q.closed:
		default:
			close(q.closed)
			<-q.writerDone
		}
	}
	if q.rec != nil {
		q.rec.Close()
	}
	return nil
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

// recordBatch records deliveries in one transaction, on disk when it
// returns: each will be answered 200 and GitHub will not send it again.
func (q *Queue) recordBatch(batch []recordReq) ([]intake.Outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]intake.Outcome, len(batch))
	err := q.river.inSyncedTx(ctx, func(tx riverTx) error {
		var jobs []river.InsertManyParams
		for i, r := range batch {
			d := r.d
			fresh, err := q.rec.Delivery(ctx, tx, d.ID, d.Event, d.Action, d.Received, d.Ignored)
			if err != nil {
				return err
			}
			if !fresh {
				out[i] = intake.Duplicate
				continue
			}
			if h := d.Head; h != nil {
				if err := q.rec.Head(ctx, tx, h.PR, h.SHA, h.At, store.HeadFromWebhook); err != nil {
					return err
				}
			}
			if p := d.OpenPR; p != nil {
				if err := q.rec.OpenPR(ctx, tx, store.OpenPR(*p)); err != nil {
					return err
				}
			}
			if c, ok := d.Work.(intake.PullRequestClosed); ok {
				if err := q.rec.ClosedPR(ctx, tx, c.PR); err != nil {
					return err
				}
			}
			switch w := d.Work.(type) {
			case nil:
			case intake.CommentWork:
				fresh, err := q.rec.Comment(ctx, tx, w.CommentID, w.PR, d.ID)
				if err != nil {
					return err
				}
				if !fresh {
					out[i] = intake.AlreadyHandled
					continue
				}
				jobs = append(jobs, q.commentJob(w, d.ID))
			case intake.PullRequestClosed:
				jobs = append(jobs, river.InsertManyParams{Args: PRClosedArgs{PullRequestClosed: w, Delivery: d.ID},
					InsertOpts: &river.InsertOpts{Queue: Merges, MaxAttempts: MergeAttempts}})
			case intake.CIEvent:
				jobs = append(jobs, river.InsertManyParams{Args: CIEventArgs{CIEvent: w, Delivery: d.ID},
					InsertOpts: &river.InsertOpts{Queue: CI, MaxAttempts: CIEventAttempts}})
			default:
				return fmt.Errorf("record delivery %s: unknown work %T", d.ID, w)
			}
			out[i] = intake.Recorded
		}
		if len(jobs) > 0 {
			if err := tx.insertMany(ctx, jobs); err != nil {
				return fmt.Errorf("queue %d deliveries: %w", len(jobs), err)
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("record %d deliveries: %w", len(batch), err)
	}
	return out, nil
}

func (q *Queue) commentJob(w intake.CommentWork, delivery string) river.InsertManyParams {
	h := q.handlers
	queue := Updates
	if h.QueueFor != nil {
		queue = h.QueueFor(w)
	}
	return river.InsertManyParams{Args: CommentArgs{CommentWork: w, Delivery: delivery,
		Supersedable: h.Supersedes != nil && h.Supersedes(w)},
		InsertOpts: &river.InsertOpts{Queue: queue, MaxAttempts: CommentAttempts}}
}

// errBusy: another job holds one of the leases.
var errBusy = errors.New("another job holds the lease")

// withLeases runs f holding leases, so that two jobs for one PR (or one
// base branch) never run at once. When one is busy it returns errBusy at
// once.
func (q *Queue) withLeases(ctx context.Context, leases []string, jobID int64, f func() error) error {
	holder := fmt.Sprintf("%s/job-%d", q.holder, jobID)
	ok, err := q.st.TakeLeases(ctx, leases, holder, 3*time.Hour)
	if err != nil {
		return err
	}
	if !ok {
		return errBusy
	}
	defer func() {
		// Release even when ctx is done (shutdown): the next process would
		// clear it anyway, but another worker of this one should not wait.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := q.st.ReleaseLeases(rctx, leases, holder); err != nil {
			q.log.Error("release leases", zap.Strings("leases", leases), zap.Error(err))
		}
	}()
	// STOP may have cancelled the job while it waited for its leases. River
	// records the cancellation at once but tells a running job of it a
	// moment later on PostgreSQL (another replica may have asked): the
	// job's work must not start meanwhile.
	var cancelled bool
	if err := q.db.QueryRowContext(ctx, `SELECT `+q.sql.metaSet("cancel_attempted_at")+` FROM river_job WHERE id = $1`, jobID).
		Scan(&cancelled); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	} else if cancelled {
		return river.JobCancel(errors.New("cancelled (STOP) while it waited for its leases"))
	}
	return f()
}

// DB is the database, for the tests' look at River's tables.
func (q *Queue) DB() *sql.DB { return q.db }

// activeStates are the states of a job that has not ended.
const activeStates = `('available', 'pending', 'retryable', 'running', 'scheduled')`

// CancelPR cancels the queued and running comment jobs, CI waits and
// WEBSITE jobs of pull request pr, except the job of comment keep (the STOP asking for
// it; 0 keeps none), and returns their ids. A running job's context is cancelled; River
// does not retry it. Merge promotions and branch deletions are not a
// commenter's to stop.
func (q *Queue) CancelPR(ctx context.Context, pr int, keep int64) ([]int64, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id FROM river_job
		WHERE kind IN ('comment', 'ci_wait', 'website')
		AND state IN `+activeStates+`
		AND `+q.sql.argInt("pr")+` = $1
		AND (kind != 'comment' OR `+q.sql.argInt("comment_id")+` != $2)`, pr, keep)
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
// that are queued on pr, have not run yet, and were written after
// comment (after, by the comments' own creation times: a comment the
// reconciler recorded late is still an old one), newest first. One marked
// running is counted too: while comment's job holds the PR's lease, a
// newer one is running only to find the PR busy. Whether one of them
// replaces comment is the handler's to decide: it knows who may command,
// the queue does not.
func (q *Queue) NewerSupersedable(ctx context.Context, pr int, comment int64, after time.Time) ([]intake.CommentWork, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+q.sql.args()+` FROM river_job
		WHERE kind = 'comment' AND state IN `+activeStates+`
		AND `+q.sql.argInt("pr")+` = $1 AND `+q.sql.argTrue("supersedable")+`
		AND `+q.sql.argInt("comment_id")+` != $2`, pr, comment)
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
		if args.CreatedAt.After(after) {
			out = append(out, args.CommentWork)
		}
	}
	slices.SortFunc(out, func(a, b intake.CommentWork) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, rows.Err()
}

// uniqueWhileActive makes a job unique by its arguments among jobs that
// have not ended.
var uniqueWhileActive = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateScheduled,
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning}}

// ScheduleBranchDeletion queues the deletion of pr's data branch at at.
// Scheduling it again while one is waiting does nothing; the job itself
// checks, when it runs, that the grace period of the PR's last close is
// over.
func (q *Queue) ScheduleBranchDeletion(ctx context.Context, pr int, at time.Time) error {
	_, err := q.river.Insert(ctx, BranchDeletionArgs{PR: pr}, &river.InsertOpts{
		Queue: Merges, ScheduledAt: scheduleAt(at), MaxAttempts: DeleteAttempts, UniqueOpts: uniqueWhileActive,
	})
	if err != nil {
		return fmt.Errorf("schedule deletion of #%d's data branch: %w", pr, err)
	}
	return nil
}

// ScheduleCIWait queues the wait for the CI build that update restarted,
// to run after after (0: at once). Scheduling it again while it waits does
// nothing.
func (q *Queue) ScheduleCIWait(ctx context.Context, pr int, update int64, after time.Duration) error {
	_, err := q.river.Insert(ctx, CIWaitArgs{PR: pr, Update: update}, &river.InsertOpts{
		Queue: CI, ScheduledAt: scheduleAt(time.Now().Add(after)), MaxAttempts: CIWaitAttempts, UniqueOpts: uniqueWhileActive,
	})
	if err != nil {
		return fmt.Errorf("schedule the CI wait of #%d: %w", pr, err)
	}
	return nil
}

// ScheduleWebsite queues the job of WEBSITE request id of pr, to run at
// at (now when it is past). Scheduling it again while it waits does
// nothing: the job snoozes itself until its request's next step.
func (q *Queue) ScheduleWebsite(ctx context.Context, pr int, id int64, at time.Time) error {
	_, err := q.river.Insert(ctx, WebsiteArgs{PR: pr, Website: id}, &river.InsertOpts{
		Queue: CI, ScheduledAt: scheduleAt(at), MaxAttempts: WebsiteAttempts, UniqueOpts: uniqueWhileActive,
	})
	if err != nil {
		return fmt.Errorf("schedule WEBSITE %d of #%d: %w", id, pr, err)
	}
	return nil
}

// WakeCIWaits makes pr's snoozed CI waits run now instead of at their next
// poll: the CI told of a change (a workflow_run delivery). A wait that is
// running or not yet due is left alone (it looks soon anyway); one that
// ended between the listing and the wake runs once more, which finds its
// update final and does nothing.
func (q *Queue) WakeCIWaits(ctx context.Context, pr int) (int, error) {
	return q.wake(ctx, fmt.Sprintf("the CI waits of #%d", pr),
		`SELECT id FROM river_job WHERE kind = $1 AND state = 'scheduled' AND `+q.sql.argInt("pr")+` = $2`, CIWaitArgs{}.Kind(), pr)
}

// WakeMergeWaits makes the snoozed merge jobs (those waiting for a
// post-merge build) look now: a push run of the base branch was reported.
func (q *Queue) WakeMergeWaits(ctx context.Context) (int, error) {
	return q.wake(ctx, "the waiting merges", `SELECT id FROM river_job WHERE kind = $1 AND state = 'scheduled'`, PRClosedArgs{}.Kind())
}

// wake makes the jobs the query lists available now (River's JobRetry).
func (q *Queue) wake(ctx context.Context, what, query string, args ...any) (int, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", what, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	woken := 0
	for _, id := range ids {
		ok, err := q.wakeJob(ctx, id)
		if err != nil {
			return woken, fmt.Errorf("wake %s (job %d): %w", what, id, err)
		}
		if ok {
			woken++
		}
	}
	return woken, nil
}

// wakeJob makes job id available now if it is still scheduled. River's
// JobRetry would also revive a job that ended meanwhile (completed,
// cancelled by STOP): the state is checked in the same transaction, which
// locks the job's row (SQLite: the whole database) until the retry is
// written.
func (q *Queue) wakeJob(ctx context.Context, id int64) (bool, error) {
	woken := false
	err := q.river.inTx(ctx, func(tx riverTx) error {
		state, err := tx.jobState(ctx, id)
		if err != nil || state != rivertype.JobStateScheduled {
			return err
		}
		woken = true
		return tx.retry(ctx, id)
	})
	return woken && err == nil, err
}

// scheduleAt is River's ScheduledAt for a job due at at: none when it is
// due already, so that the job is available at once. River inserts a job
// with a ScheduledAt as scheduled, even one in the past, and only its
// scheduler makes it available: every few seconds, and after a restart
// only once this process leads.
func scheduleAt(at time.Time) time.Time {
	if at.After(time.Now()) {
		return at
	}
	return time.Time{}
}

// JobSummary is one job as refbot's pages show it.
type JobSummary struct {
	ID        int64
	Kind      string
	State     string
	Attempt   int
	PR        int    // 0 for a job of no one PR
	Author    string // for a comment's job
	Body      string
	CreatedAt time.Time
	// Failed says the job's last attempt ended in an error (it waits to
	// be tried again, or has given up); what the error was is in
	// refbot's log, not here (it may name internals).
	Failed bool
}

// JobsForPR lists pr's jobs, newest first (at most limit).
func (q *Queue) JobsForPR(ctx context.Context, pr, limit int) ([]JobSummary, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, kind, state, attempt,
		coalesce(`+q.sql.argText("author")+`, ''), coalesce(`+q.sql.argText("body")+`, ''),
		created_at, state IN ('retryable', 'discarded')
		FROM river_job WHERE `+q.sql.argInt("pr")+` = $1 ORDER BY id DESC LIMIT $2`, pr, limit)
	if err != nil {
		return nil, fmt.Errorf("jobs of #%d: %w", pr, err)
	}
	defer rows.Close()
	var out []JobSummary
	for rows.Next() {
		j := JobSummary{PR: pr}
		var created string
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &j.Attempt, &j.Author, &j.Body, &created, &j.Failed); err != nil {
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
