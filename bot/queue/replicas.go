package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/refbot/refbot/internal/failpoint"
)

// Replicas on PostgreSQL (docs/design.md, "Replicas"). Every replica works
// every queue; what must hold across them is in the store's transactions
// and leases, never in a replica's memory. River elects one leader among
// them, which alone runs River's upkeep (scheduled jobs made available,
// old ones deleted, stuck ones rescued) and queues the periodic jobs: the
// reconciler's passes. What a replica that dies leaves behind, the others
// take over: its leases are released and the jobs it was running made
// available again, once its record has gone ReplicaTimeout without being
// renewed. If it was the leader, River elects another once its term
// runs out.

// DefaultReplicaTimeout is how long a replica may go silent before the
// others take over what it held. Longer than any pause a live replica
// makes (a slow disk, a garbage collection); short enough that a PR's jobs
// do not wait long for a dead replica's lease.
const DefaultReplicaTimeout = 20 * time.Second

// replicaKeeper renews this replica's record and takes over dead ones.
type replicaKeeper struct {
	q       *Queue
	timeout time.Duration
	onLost  func(error)

	stopOnce sync.Once
	stopped  chan struct{}
	done     chan struct{}
}

func newReplicaKeeper(q *Queue, timeout time.Duration, onLost func(error)) *replicaKeeper {
	if timeout <= 0 {
		timeout = DefaultReplicaTimeout
	}
	if onLost == nil {
		onLost = func(error) {}
	}
	return &replicaKeeper{q: q, timeout: timeout, onLost: onLost, stopped: make(chan struct{}), done: make(chan struct{})}
}

// start records the replica, takes over those already dead, and renews
// its record until stop.
func (k *replicaKeeper) start(ctx context.Context) error {
	if err := k.q.st.RegisterReplica(ctx, k.q.holder); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := k.takeOverDead(ctx); err != nil {
		return err
	}
	go k.run()
	return nil
}

// stop ends the renewals and removes the record: what this replica held
// is let go already (its jobs finished or were cancelled, their leases
// released).
func (k *replicaKeeper) stop(ctx context.Context) error {
	first := false
	k.stopOnce.Do(func() { close(k.stopped); first = true })
	if !first {
		return nil
	}
	select {
	case <-k.done:
	case <-ctx.Done():
	}
	if err := k.q.st.RemoveReplica(ctx, k.q.holder); err != nil {
		return fmt.Errorf("queue: forget replica %s: %w", k.q.holder, err)
	}
	return nil
}

func (k *replicaKeeper) run() {
	defer close(k.done)
	t := time.NewTicker(k.timeout / 10)
	defer t.Stop()
	for {
		select {
		case <-k.stopped:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout/2)
		alive, err := k.q.st.Heartbeat(ctx, k.q.holder)
		switch {
		case err != nil:
			// The next tick tries again; the others take over only after
			// the timeout, and this replica learns it if they did.
			k.q.log.Warn("renew the replica's record", zap.Error(err))
		case !alive:
			cancel()
			k.q.log.Error("the other replicas took this one over: stopping", zap.String("replica", k.q.holder))
			k.onLost(fmt.Errorf("queue: replica %s was silent for %s and the others took over its jobs", k.q.holder, k.timeout))
			return
		default:
			if err := k.takeOverDead(ctx); err != nil {
				k.q.log.Warn("take over silent replicas", zap.Error(err))
			}
		}
		cancel()
	}
}

// takeOverDead takes over each replica whose record was not renewed within
// the timeout: its leases are released, and the jobs River shows it
// running are made available again (or cancelled, when STOP cancelled them
// as they ran). Each dead replica is taken over by one replica only.
func (k *replicaKeeper) takeOverDead(ctx context.Context) error {
	reps, err := k.q.st.Replicas(ctx)
	if err != nil {
		return fmt.Errorf("queue: list replicas: %w", err)
	}
	stale := time.Now().Add(-k.timeout)
	for _, r := range reps {
		if r.ID == k.q.holder || !r.Seen.Before(stale) {
			continue
		}
		var resumed, cancelled int64
		ok, err := k.q.st.TakeOverReplica(ctx, r.ID, stale, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			cancelled, resumed, err = k.q.releaseJobsOf(ctx, tx, r.ID)
			return err
		})
		if err != nil {
			return fmt.Errorf("queue: take over replica %s: %w", r.ID, err)
		}
		if ok {
			k.q.log.Info("took over a replica that went silent", zap.String("replica", r.ID), zap.Time("seen", r.Seen),
				zap.Int64("resumed", resumed), zap.Int64("cancelled", cancelled))
		}
	}
	return nil
}

// releaseJobsOf makes the jobs replica was running available again, at
// once, in tx; those STOP cancelled as they ran are finished as
// cancelled. Every job is written to be run again safely.
func (q *Queue) releaseJobsOf(ctx context.Context, tx *sql.Tx, replica string) (cancelled, resumed int64, err error) {
	const ranBy = `state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`
	res, err := tx.ExecContext(ctx, `UPDATE river_job SET state = 'cancelled', finalized_at = now()
		WHERE `+ranBy+` AND `+q.sql.metaSet("cancel_attempted_at"), replica)
	if err != nil {
		return 0, 0, fmt.Errorf("finish the cancelled jobs of %s: %w", replica, err)
	}
	cancelled, _ = res.RowsAffected()
	if res, err = tx.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now() WHERE `+ranBy, replica); err != nil {
		return cancelled, 0, fmt.Errorf("resume the jobs of %s: %w", replica, err)
	}
	resumed, _ = res.RowsAffected()
	return cancelled, resumed, nil
}

// reconcileQueue is the queue of the reconciler's passes: one worker, so
// that passes never overlap.
const reconcileQueue = "reconcile"

// ReconcileArgs is the job of one pass of the reconciler.
type ReconcileArgs struct{}

// Kind names the job kind in the database; it must never change.
func (ReconcileArgs) Kind() string { return "reconcile" }

// reconcilePeriodically is the periodic job River's leader queues: a pass
// when it starts leading, and one every every. A pass that is queued or
// running keeps another from being queued; one that fails is not tried
// again before the next.
func reconcilePeriodically(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		// The leader's moment: the replica test kills a leader here.
		failpoint.Hit("leading")
		return ReconcileArgs{}, &river.InsertOpts{Queue: reconcileQueue, MaxAttempts: 1, UniqueOpts: uniqueWhileActive}
	}, &river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true})
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	q *Queue
}

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	if w.q.handlers.Reconcile == nil {
		return river.JobCancel(errors.New("no reconcile handler configured"))
	}
	// The queue's own upkeep rides on the pass: one replica, every few
	// minutes.
	w.q.pruneJobLogs(ctx)
	return w.q.handlers.Reconcile(ctx)
}
