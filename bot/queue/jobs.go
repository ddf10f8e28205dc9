package queue

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/joblog"
	"github.com/refbot/refbot/bot/store"
)

// CommentArgs is the job for a comment that holds refbot commands.
type CommentArgs struct {
	intake.CommentWork
	Delivery string `json:"delivery"`
	// Supersedable: a newer comment of the same kind on the PR may make
	// this one pointless while it is still queued (see NewerSupersedable).
	Supersedable bool `json:"supersedable,omitempty"`
}

// Kind names the job kind in the database; it must never change.
func (CommentArgs) Kind() string { return "comment" }

// PRClosedArgs is the job for a closed (maybe merged) pull request.
type PRClosedArgs struct {
	intake.PullRequestClosed
	Delivery string `json:"delivery"`
}

// Kind names the job kind in the database; it must never change.
func (PRClosedArgs) Kind() string { return "pr_closed" }

// BranchDeletionArgs is the job that deletes a closed, unmerged PR's data
// branch once its grace period is over.
type BranchDeletionArgs struct {
	PR int `json:"pr"`
}

// Kind names the job kind in the database; it must never change.
func (BranchDeletionArgs) Kind() string { return "delete_branch" }

// CIWaitArgs is the job that follows the CI build an UPDATE restarted.
type CIWaitArgs struct {
	PR     int   `json:"pr"`
	Update int64 `json:"update"`
}

// Kind names the job kind in the database; it must never change.
func (CIWaitArgs) Kind() string { return "ci_wait" }

// CIEventArgs is the job for a CI event (see intake.CIEvent): it wakes the
// PR's CI wait and sets its cache status.
type CIEventArgs struct {
	intake.CIEvent
	Delivery string `json:"delivery"`
}

// Kind names the job kind in the database; it must never change.
func (CIEventArgs) Kind() string { return "ci_event" }

// WebsiteArgs is the job that takes a WEBSITE request through its steps:
// queued until its limits lift, following its docs build, publishing.
type WebsiteArgs struct {
	PR      int   `json:"pr"`
	Website int64 `json:"website"`
}

// Kind names the job kind in the database; it must never change.
func (WebsiteArgs) Kind() string { return "website" }

// lastAttempt says whether a job's error ends it: its attempts are used
// up, and it was not a snooze or a shutdown (a timeout is an attempt).
func lastAttempt(ctx context.Context, row *rivertype.JobRow, err error) bool {
	var snooze *rivertype.JobSnoozeError
	var cancel *rivertype.JobCancelError
	return err != nil && !errors.As(err, &snooze) && !errors.As(err, &cancel) &&
		(ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)) && row.Attempt >= row.MaxAttempts
}

// again turns a handler's "run me again after d" into a snooze.
func again(d time.Duration, err error) error {
	if err == nil && d > 0 {
		return river.JobSnooze(d)
	}
	return err
}

// retryAt is an error that says when trying again may work (a rate
// limit): the job is snoozed until then instead of using up an attempt.
type retryAt interface{ RetryAt() time.Time }

type commentWorker struct {
	river.WorkerDefaults[CommentArgs]
	q *Queue
}

func (w *commentWorker) Work(ctx context.Context, job *river.Job[CommentArgs]) error {
	h := w.q.handlers
	var leases []string
	if h.NeedsLease == nil || h.NeedsLease(job.Args.CommentWork) {
		leases = []string{store.PRLease(job.Args.PR)}
	}
	return w.q.run(ctx, job.JobRow, leases, func(ctx context.Context) error {
		if h.Comment == nil {
			return river.JobCancel(errors.New("no comment handler configured"))
		}
		return h.Comment(ctx, job.Args.CommentWork)
	}, func(ctx context.Context, err error) {
		if h.GaveUp != nil {
			h.GaveUp(ctx, job.Args.CommentWork, job.Attempt, err)
		}
	})
}

type prClosedWorker struct {
	river.WorkerDefaults[PRClosedArgs]
	q *Queue
}

func (w *prClosedWorker) Work(ctx context.Context, job *river.Job[PRClosedArgs]) error {
	h := w.q.handlers
	leases := []string{store.PRLease(job.Args.PR), store.BaseLease(w.q.base)}
	return w.q.run(ctx, job.JobRow, leases, func(ctx context.Context) error {
		if h.PRClosed == nil {
			return river.JobCancel(errors.New("no pull request handler configured"))
		}
		return again(h.PRClosed(ctx, job.Args.PullRequestClosed))
	}, func(ctx context.Context, err error) {
		if h.MergeGaveUp != nil {
			h.MergeGaveUp(ctx, job.Args.PullRequestClosed, job.Attempt, err)
		}
	})
}

type branchDeletionWorker struct {
	river.WorkerDefaults[BranchDeletionArgs]
	q *Queue
}

func (w *branchDeletionWorker) Work(ctx context.Context, job *river.Job[BranchDeletionArgs]) error {
	h := w.q.handlers
	return w.q.run(ctx, job.JobRow, []string{store.PRLease(job.Args.PR)}, func(ctx context.Context) error {
		if h.DeleteBranch == nil {
			return river.JobCancel(errors.New("no branch deletion handler configured"))
		}
		return again(h.DeleteBranch(ctx, job.Args.PR))
	}, func(ctx context.Context, err error) {
		if h.DeleteGaveUp != nil {
			h.DeleteGaveUp(ctx, job.Args.PR, job.Attempt, err)
		}
	})
}

type ciWaitWorker struct {
	river.WorkerDefaults[CIWaitArgs]
	q *Queue
}

func (w *ciWaitWorker) Work(ctx context.Context, job *river.Job[CIWaitArgs]) error {
	h := w.q.handlers
	return w.q.run(ctx, job.JobRow, []string{store.PRLease(job.Args.PR)}, func(ctx context.Context) error {
		if h.CIWait == nil {
			return river.JobCancel(errors.New("no CI wait handler configured"))
		}
		return again(h.CIWait(ctx, job.Args.PR, job.Args.Update))
	}, func(ctx context.Context, err error) {
		if h.CIWaitGaveUp != nil {
			h.CIWaitGaveUp(ctx, job.Args.PR, job.Args.Update, job.Attempt, err)
		}
	})
}

type websiteWorker struct {
	river.WorkerDefaults[WebsiteArgs]
	q *Queue
}

func (w *websiteWorker) Work(ctx context.Context, job *river.Job[WebsiteArgs]) error {
	h := w.q.handlers
	return w.q.run(ctx, job.JobRow, []string{store.PRLease(job.Args.PR)}, func(ctx context.Context) error {
		if h.Website == nil {
			return river.JobCancel(errors.New("no website handler configured"))
		}
		return again(h.Website(ctx, job.Args.PR, job.Args.Website))
	}, func(ctx context.Context, err error) {
		if h.WebsiteGaveUp != nil {
			h.WebsiteGaveUp(ctx, job.Args.PR, job.Args.Website, job.Attempt, err)
		}
	})
}

// gaveUpTimeout bounds the telling that a job gave up.
const gaveUpTimeout = 2 * time.Minute

// run runs f under leases (none: without); when one is busy the job is
// snoozed (River tries it again later without counting an attempt). When
// f's error ends the job (its last attempt), gaveUp is told, still under
// the leases and on a context of its own (the job's may have timed out);
// so is an error taking the leases on the last attempt, without them. An
// error that says when to try again (a rate limit) snoozes the job until
// then.
//
// The job's context carries its log (see joblog), which f and gaveUp
// write to; what it holds is written when run returns.
func (q *Queue) run(ctx context.Context, row *rivertype.JobRow, leases []string, f func(ctx context.Context) error,
	gaveUp func(context.Context, error)) error {
	logs := joblog.NewWriter(q.st, row.ID, row.Attempt, q.log)
	defer logs.Close()
	ctx = joblog.With(ctx, logs)
	tell := func(err error) {
		if lastAttempt(ctx, row, err) {
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gaveUpTimeout)
			defer cancel()
			gaveUp(gctx, err)
		}
	}
	ran := false
	work := func() error {
		ran = true
		err := f(ctx)
		var later retryAt
		if errors.As(err, &later) {
			return river.JobSnooze(max(time.Until(later.RetryAt()), time.Second))
		}
		tell(err)
		return err
	}
	if len(leases) == 0 {
		err := work()
		q.failed(ctx, row, err)
		return err
	}
	err := q.withLeases(ctx, leases, row.ID, work)
	switch {
	case errors.Is(err, errBusy):
		return river.JobSnooze(q.leaseWait)
	case err != nil && !ran:
		tell(err)
	}
	q.failed(ctx, row, err)
	return err
}

// failed logs an attempt that ended in an error (not a snooze), with the
// error's text for the operator; the job's page says only that it failed
// and points here.
func (q *Queue) failed(ctx context.Context, row *rivertype.JobRow, err error) {
	var snooze *rivertype.JobSnoozeError
	if err == nil || errors.As(err, &snooze) {
		return
	}
	zap.New(joblog.Core(ctx, q.log.Core())).Warn("job attempt failed", zap.Int64("job", row.ID), zap.String("kind", row.Kind),
		zap.Int("attempt", row.Attempt), zap.Int("max_attempts", row.MaxAttempts), zap.Error(err))
}

type ciEventWorker struct {
	river.WorkerDefaults[CIEventArgs]
	q *Queue
}

// Work handles a CI event without a lease: it only wakes jobs and sets the
// cache status, as the reconciler does, and a lost one is made up for by
// the next poll or pass.
func (w *ciEventWorker) Work(ctx context.Context, job *river.Job[CIEventArgs]) error {
	h := w.q.handlers
	return w.q.run(ctx, job.JobRow, nil, func(ctx context.Context) error {
		if h.CIEvent == nil {
			return river.JobCancel(errors.New("no CI event handler configured"))
		}
		return h.CIEvent(ctx, job.Args.CIEvent)
	}, func(ctx context.Context, err error) {
		w.q.log.Warn("gave up on a CI event; the next poll or reconcile pass makes up for it",
			zap.Int64("run", job.Args.RunID), zap.Int("pr", job.Args.PR), zap.Int("attempts", job.Attempt), zap.Error(err))
	})
}
