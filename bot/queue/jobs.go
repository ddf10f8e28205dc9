package queue

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/refbot/refbot/bot/intake"
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

// lastAttempt says whether a job's error ends it: its attempts are used
// up, and it was not a snooze or a shutdown.
func lastAttempt(ctx context.Context, row *rivertype.JobRow, err error) bool {
	var snooze *rivertype.JobSnoozeError
	var cancel *rivertype.JobCancelError
	return err != nil && !errors.As(err, &snooze) && !errors.As(err, &cancel) && ctx.Err() == nil &&
		row.Attempt >= row.MaxAttempts
}

// again turns a handler's "run me again after d" into a snooze.
func again(d time.Duration, err error) error {
	if err == nil && d > 0 {
		return river.JobSnooze(d)
	}
	return err
}

type commentWorker struct {
	river.WorkerDefaults[CommentArgs]
	q    *Queue
	wait time.Duration
}

func (w *commentWorker) Work(ctx context.Context, job *river.Job[CommentArgs]) error {
	h := w.q.handlers
	work := func() error {
		if h.Comment == nil {
			return river.JobCancel(errors.New("no comment handler configured"))
		}
		return h.Comment(ctx, job.Args.CommentWork)
	}
	var err error
	if h.NeedsLease != nil && !h.NeedsLease(job.Args.CommentWork) {
		err = work()
	} else {
		err = w.q.run(ctx, []string{store.PRLease(job.Args.PR)}, job.ID, w.wait, work)
	}
	if lastAttempt(ctx, job.JobRow, err) && h.GaveUp != nil {
		h.GaveUp(ctx, job.Args.CommentWork, job.Attempt, err)
	}
	return err
}

type prClosedWorker struct {
	river.WorkerDefaults[PRClosedArgs]
	q    *Queue
	wait time.Duration
}

func (w *prClosedWorker) Work(ctx context.Context, job *river.Job[PRClosedArgs]) error {
	h := w.q.handlers
	leases := []string{store.PRLease(job.Args.PR), store.BaseLease(w.q.base)}
	err := w.q.run(ctx, leases, job.ID, w.wait, func() error {
		if h.PRClosed == nil {
			return river.JobCancel(errors.New("no pull request handler configured"))
		}
		return again(h.PRClosed(ctx, job.Args.PullRequestClosed))
	})
	if lastAttempt(ctx, job.JobRow, err) && h.MergeGaveUp != nil {
		h.MergeGaveUp(ctx, job.Args.PullRequestClosed, job.Attempt, err)
	}
	return err
}

type branchDeletionWorker struct {
	river.WorkerDefaults[BranchDeletionArgs]
	q    *Queue
	wait time.Duration
}

func (w *branchDeletionWorker) Work(ctx context.Context, job *river.Job[BranchDeletionArgs]) error {
	h := w.q.handlers
	err := w.q.run(ctx, []string{store.PRLease(job.Args.PR)}, job.ID, w.wait, func() error {
		if h.DeleteBranch == nil {
			return river.JobCancel(errors.New("no branch deletion handler configured"))
		}
		return again(h.DeleteBranch(ctx, job.Args.PR))
	})
	if lastAttempt(ctx, job.JobRow, err) && h.DeleteGaveUp != nil {
		h.DeleteGaveUp(ctx, job.Args.PR, job.Attempt, err)
	}
	return err
}

type ciWaitWorker struct {
	river.WorkerDefaults[CIWaitArgs]
	q    *Queue
	wait time.Duration
}

func (w *ciWaitWorker) Work(ctx context.Context, job *river.Job[CIWaitArgs]) error {
	h := w.q.handlers
	err := w.q.run(ctx, []string{store.PRLease(job.Args.PR)}, job.ID, w.wait, func() error {
		if h.CIWait == nil {
			return river.JobCancel(errors.New("no CI wait handler configured"))
		}
		return again(h.CIWait(ctx, job.Args.PR, job.Args.Update))
	})
	if lastAttempt(ctx, job.JobRow, err) && h.CIWaitGaveUp != nil {
		h.CIWaitGaveUp(ctx, job.Args.PR, job.Args.Update, job.Attempt, err)
	}
	return err
}

// run runs f under leases; when one is busy the job is snoozed (River tries
// it again later without counting an attempt).
func (q *Queue) run(ctx context.Context, leases []string, jobID int64, wait time.Duration, f func() error) error {
	err := q.withLeases(ctx, leases, jobID, f)
	if errors.Is(err, errBusy) {
		return river.JobSnooze(wait)
	}
	return err
}
