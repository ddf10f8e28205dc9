package queue

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/refbot/refbot/bot/intake"
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

type commentWorker struct {
	river.WorkerDefaults[CommentArgs]
	q          *Queue
	handle     func(context.Context, intake.CommentWork) error
	needsLease func(intake.CommentWork) bool
	gaveUp     func(context.Context, intake.CommentWork, int, error)
	wait       time.Duration
}

func (w *commentWorker) Work(ctx context.Context, job *river.Job[CommentArgs]) error {
	work := func() error {
		if w.handle == nil {
			return river.JobCancel(errors.New("no comment handler configured"))
		}
		return w.handle(ctx, job.Args.CommentWork)
	}
	var err error
	if w.needsLease != nil && !w.needsLease(job.Args.CommentWork) {
		err = work()
	} else {
		err = w.q.run(ctx, job.Args.PR, job.ID, w.wait, work)
	}
	var snooze *rivertype.JobSnoozeError
	if err != nil && !errors.As(err, &snooze) && ctx.Err() == nil && job.Attempt >= job.MaxAttempts && w.gaveUp != nil {
		w.gaveUp(ctx, job.Args.CommentWork, job.Attempt, err)
	}
	return err
}

type prClosedWorker struct {
	river.WorkerDefaults[PRClosedArgs]
	q      *Queue
	handle func(context.Context, intake.PullRequestClosed) error
	wait   time.Duration
}

func (w *prClosedWorker) Work(ctx context.Context, job *river.Job[PRClosedArgs]) error {
	return w.q.run(ctx, job.Args.PR, job.ID, w.wait, func() error {
		if w.handle == nil {
			return river.JobCancel(errors.New("no pull request handler configured"))
		}
		return w.handle(ctx, job.Args.PullRequestClosed)
	})
}

// run runs f under the PR's lease; a busy PR snoozes the job (River tries
// it again later without counting an attempt).
func (q *Queue) run(ctx context.Context, pr int, jobID int64, wait time.Duration, f func() error) error {
	err := q.withPRLease(ctx, pr, jobID, f)
	if errors.Is(err, errBusy) {
		return river.JobSnooze(wait)
	}
	return err
}

// BranchDeletionArgs is the job that deletes a closed, unmerged PR's data
// branch once its grace period is over.
type BranchDeletionArgs struct {
	PR int `json:"pr"`
}

// Kind names the job kind in the database; it must never change.
func (BranchDeletionArgs) Kind() string { return "delete_branch" }

type branchDeletionWorker struct {
	river.WorkerDefaults[BranchDeletionArgs]
	q      *Queue
	handle func(context.Context, int) error
	wait   time.Duration
}

func (w *branchDeletionWorker) Work(ctx context.Context, job *river.Job[BranchDeletionArgs]) error {
	return w.q.run(ctx, job.Args.PR, job.ID, w.wait, func() error {
		if w.handle == nil {
			return river.JobCancel(errors.New("no branch deletion handler configured"))
		}
		return w.handle(ctx, job.Args.PR)
	})
}
