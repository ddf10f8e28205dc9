package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/failpoint"
)

// afterPush restarts the CI build of an update whose push is recorded, and
// hands over to the CI wait; the reply, which says what was pushed, comes
// with the restart. It records before it acts: the restart is marked as
// asked for before CI is asked, so that a crash or an error in between
// never leads to a second restart here (the wait asks again only if the
// build never restarts).
func (b *Bot) afterPush(ctx context.Context, u *store.Update) error {
	view, err := decodeView(u.View)
	if err != nil {
		return err
	}
	if u.Step == store.StepPushed {
		b.logc(ctx).Info("update: restart CI", zap.Int("pr", u.PR), zap.String("build", u.Build))
		if err := b.supersedeOthers(ctx, u); err != nil {
			return err
		}
		before, err := b.ci.Build(ctx, u.Build)
		if err != nil {
			return outage("read the CI build", err)
		}
		u.Step, u.RestartAt, u.RestartBefore = store.StepRestarting, b.now().UTC(), snapshot(before)
		if err := b.st.SaveUpdate(ctx, u); err != nil {
			return finalOK(err)
		}
		failpoint.Hit("restarting")
		if err := b.ci.Restart(ctx, u.Build); err != nil {
			// The restart may have been done (an answer lost): the wait
			// finds out, and asks again only if the build never restarts.
			b.logc(ctx).Warn("restart CI build", zap.String("build", u.Build), zap.Error(err))
		}
		failpoint.Hit("restarted")
	}
	if u.Step == store.StepRestarting {
		u.Step, u.Restarts = store.StepWaiting, u.Restarts+1
		if err := b.st.SaveUpdate(ctx, u); errors.Is(err, store.ErrFinal) {
			// STOP came while CI was asked: what it cancelled may have
			// restarted just after, so it is cancelled again.
			return b.cancelLate(ctx, u)
		} else if err != nil {
			return err
		}
		if err := b.setStatus(ctx, u.PR, u.Head, "pending", fmt.Sprintf("Data pushed; CI build %s restarted", buildName(view.Build))); err != nil {
			return err
		}
	}
	view.CI = "running"
	if err := b.replyUpdate(ctx, u, view); err != nil {
		return err
	}
	// Last: the wait runs under the PR's lease, which this job holds. Its
	// first look is at once: a wait scheduled later depends on the queue's
	// scheduler, which a restarted refbot runs only once it leads.
	return b.jobs.ScheduleCIWait(ctx, u.PR, u.ID, 0)
}

// cancelLate cancels the build of an update STOP ended while the update's
// job asked CI to restart it: the restart may have come after STOP's
// cancel. STOP cancelled the job's context, so the cancel has its own. A
// build a newer update of the PR restarted since is that update's.
func (b *Bot) cancelLate(ctx context.Context, u *store.Update) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	active, err := b.st.ActiveUpdates(ctx, u.PR, false)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(active, func(o store.Update) bool { return o.ID != u.ID && o.Build == u.Build }) {
		if err := b.ci.Cancel(ctx, u.Build); err != nil {
			return outage("cancel the CI build", err)
		}
	}
	return b.st.SetOutcome(ctx, u.ID, "cancelled")
}

// supersedeOthers ends the PR's other updates that pushed before u: their
// data is replaced by u's, and their CI result no longer says anything
// about the branch. Their replies say so.
func (b *Bot) supersedeOthers(ctx context.Context, u *store.Update) error {
	active, err := b.st.ActiveUpdates(ctx, u.PR, false)
	if err != nil {
		return err
	}
	for _, o := range active {
		if o.ID == u.ID {
			continue
		}
		view, err := decodeView(o.View)
		if err != nil {
			return err
		}
		view.CI, view.By = "superseded", u.Author
		if err := b.end(ctx, &o, store.StepSuperseded, view); err != nil {
			return err
		}
	}
	return b.reportEnds(ctx, u.PR, store.StepSuperseded)
}

// WaitCI follows the CI build an update restarted, without holding a
// worker: it looks once and asks to be run again after the poll interval
// until the build has visibly restarted and ended, or CITimeout passed.
// Then the update ends: the reply says how it went and the status is final.
func (b *Bot) WaitCI(ctx context.Context, pr int, id int64) (time.Duration, error) {
	u, err := b.st.UpdateByID(ctx, id)
	if err != nil || u == nil {
		return 0, err
	}
	if store.Final(u.Step) {
		// Ended by this wait before a crash kept it from telling.
		if !u.Reported && (u.Step == store.StepDone || u.Step == store.StepTimedOut) {
			return 0, b.report(ctx, u)
		}
		return 0, nil
	}
	if u.Step != store.StepWaiting {
		// The UPDATE's own job has not finished its steps (a crash, a
		// retry): it schedules this wait again when it has.
		return 0, nil
	}
	b.logc(ctx).Info("update: look at the CI build", zap.Int("pr", u.PR), zap.String("build", u.Build))
	view, err := decodeView(u.View)
	if err != nil {
		return 0, err
	}
	build, err := b.ci.Build(ctx, u.Build)
	if err != nil {
		return 0, outage("read the CI build", err)
	}
	if !u.SeenRunning && newRun(u.RestartBefore, build) {
		// From now on, a final state is the new run's.
		u.SeenRunning = true
		if err := b.st.SaveUpdate(ctx, u); err != nil {
			return 0, finalOK(err)
		}
	}
	timedOut := b.now().Sub(u.RestartAt) > b.cfg.CITimeout
	switch {
	case u.SeenRunning && build.Finished:
	case timedOut:
		view.CI, view.CIBuild = "timeout", build
		return 0, b.end(ctx, u, store.StepTimedOut, view)
	case u.SeenRunning:
		return b.cfg.PollInterval, nil
	default:
		// CI accepted the restart but has not carried it out yet: what the
		// build shows is still its old run.
		u.Polls++
		if u.Polls > 1 && b.now().Sub(u.RestartAt) > b.cfg.RestartGrace*time.Duration(u.Restarts) && u.Restarts < 2 {
			// Never restarted, though seen more than once and for long:
			// ask once more (an answer lost, a restart dropped, a crash
			// before it was asked). Recorded first, as the first time.
			u.Restarts, u.Polls = u.Restarts+1, 0
			if err := b.st.SaveUpdate(ctx, u); err != nil {
				return 0, finalOK(err)
			}
			b.logc(ctx).Info("CI build did not restart; asking again", zap.Int("pr", pr), zap.String("build", u.Build))
			if err := b.ci.Restart(ctx, u.Build); err != nil {
				b.logc(ctx).Warn("restart CI build", zap.String("build", u.Build), zap.Error(err))
			}
			return b.cfg.PollInterval, nil
		}
		return b.cfg.PollInterval, finalOK(b.st.SaveUpdate(ctx, u))
	}
	view.CIBuild, view.CI, u.Outcome = build, "passed", "passed"
	if !build.Passed {
		view.CI, u.Outcome = "failed", "failed"
	}
	return 0, b.end(ctx, u, store.StepDone, view)
}

// end finishes u, as read at its current step, at a final step with view
// as its reply, unless another job ended it first (then it is that job's to
// tell), and tells it. store.ErrMoved: u moved on since it was read.
func (b *Bot) end(ctx context.Context, u *store.Update, step string, view updateData) error {
	raw, err := encodeView(view)
	if err != nil {
		return err
	}
	from := u.Step
	u.Step, u.View = step, raw
	if err := b.st.EndUpdate(ctx, u, from); errors.Is(err, store.ErrFinal) {
		return nil
	} else if err != nil {
		u.Step = from
		return err
	}
	failpoint.Hit("update-ended")
	b.met.updateEnded(updateOutcome(u), u.CreatedAt, b.now())
	return b.report(ctx, u)
}

// reportEnds tells the ends at step of pr's updates that were recorded and
// not told (a crash came between).
func (b *Bot) reportEnds(ctx context.Context, pr int, step string) error {
	ended, err := b.st.Unreported(ctx, pr, step)
	if err != nil {
		return err
	}
	for _, u := range ended {
		if err := b.report(ctx, &u); err != nil {
			return err
		}
	}
	return nil
}

// report tells how update u ended: its reply, and the final status when the
// end is the update's own (CI's result, a timeout, giving up); the status
// of a stopped update is STOP's, and one superseded has the newer update's.
// Telling twice (a crash before it is marked) says the same twice.
func (b *Bot) report(ctx context.Context, u *store.Update) error {
	view, err := decodeView(u.View)
	if err != nil {
		return err
	}
	if u.View != "" {
		if err := b.replyUpdate(ctx, u, view); err != nil {
			return err
		}
	}
	failpoint.Hit("final-replied")
	build := buildName(view.CIBuild)
	switch {
	case u.Step == store.StepDone && u.Outcome == "unchanged":
		// The status is left to an update of the PR still following CI.
		active, err := b.st.ActiveUpdates(ctx, u.PR, false)
		if err != nil {
			return err
		}
		if len(active) == 0 {
			if err := b.setStatus(ctx, u.PR, u.Head, "success",
				fmt.Sprintf("Reference data unchanged: the data branch holds build %s's data", buildName(view.Build))); err != nil {
				return err
			}
		}
	case u.Step == store.StepDone:
		// Other PRs that overlapped this one while it waited for CI are in
		// its remembered status already; those whose data branches are
		// gone since are left out.
		others, err := b.rememberedOverlaps(ctx, u.PR, u.Head)
		if err != nil {
			return err
		}
		live, err := b.repo.PRBranches(ctx)
		if err != nil {
			return outage("list the data branches", err)
		}
		var overlaps []overlap
		for _, o := range view.Overlaps {
			if slices.Contains(live, o.PR) {
				overlaps, others = append(overlaps, o), addPR(others, o.PR)
			}
		}
		others = slices.DeleteFunc(others, func(n int) bool { return !slices.Contains(live, n) })
		if err := b.tellOverlaps(ctx, u.PR, overlaps, others); err != nil {
			return err
		}
		state, desc := "success", fmt.Sprintf("Reference data updated; CI build %s passed", build)
		if u.Outcome == "failed" {
			state, desc = "failure", fmt.Sprintf("Reference data updated; CI build %s %s", build, view.CIBuild.State)
		}
		if err := b.postStatus(ctx, u.PR, u.Head, state, desc, others); err != nil {
			return err
		}
	case u.Step == store.StepTimedOut:
		if err := b.setStatus(ctx, u.PR, u.Head, "error",
			fmt.Sprintf("Data pushed; CI build %s did not finish within %s", build, b.cfg.CITimeout)); err != nil {
			return err
		}
	case u.Step == store.StepGaveUp:
		if err := b.setStatus(ctx, u.PR, u.Head, "error", "Data pushed; refbot could not follow the CI build"); err != nil {
			return err
		}
	}
	return b.st.MarkReported(ctx, u.ID)
}

// finalOK: an update someone else ended meanwhile (STOP, a newer UPDATE)
// is not this job's error.
func finalOK(err error) error {
	if errors.Is(err, store.ErrFinal) {
		return nil
	}
	return err
}

// CIWaitGaveUp reports that refbot could not follow a restarted build (CI
// kept failing to answer).
func (b *Bot) CIWaitGaveUp(ctx context.Context, pr int, id int64, attempts int, err error) {
	b.logc(ctx).Error("gave up following a CI build", zap.Int("pr", pr), zap.Int("attempts", attempts), zap.Error(err))
	u, gerr := b.st.UpdateByID(ctx, id)
	if gerr != nil || u == nil || store.Final(u.Step) {
		return
	}
	view, _ := decodeView(u.View)
	view.CI, view.Reason = "gave-up", plainReason(err)
	if eerr := b.end(ctx, u, store.StepGaveUp, view); eerr != nil {
		b.logc(ctx).Error("report a CI wait that gave up", zap.Int("pr", pr), zap.Error(eerr))
	}
}

// buildState is what refbot remembers of a build just before restarting
// it, to tell its next run from the old one.
type buildState struct {
	Attempt    int       `json:"attempt,omitempty"`
	State      string    `json:"state"`
	Finished   bool      `json:"finished"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

func snapshot(b Build) string {
	raw, _ := json.Marshal(buildState{Attempt: b.Attempt, State: b.State, Finished: b.Finished, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt})
	return string(raw)
}

// newRun says whether build is visibly another run than the one snap
// describes: a later attempt (where the provider counts them), or it
// started at another time, or it had ended and now runs (or waits to)
// again, or it ended again at another time. A run that was already going
// when refbot restarted the build is not a new one; nor is the same
// attempt, whatever its times say, where attempts are counted.
func newRun(snap string, build Build) bool {
	var before buildState
	if json.Unmarshal([]byte(snap), &before) != nil {
		return false
	}
	switch {
	case build.Attempt > 0:
		return build.Attempt > before.Attempt
	case !build.StartedAt.IsZero() && !build.StartedAt.Equal(before.StartedAt):
		return true
	case before.Finished && !build.Finished:
		return true
	case before.Finished && build.Finished && !build.FinishedAt.Equal(before.FinishedAt):
		return true
	}
	return false
}

// replyUpdate renders u's reply from view.
func (b *Bot) replyUpdate(ctx context.Context, u *store.Update, view updateData) error {
	if err := b.reply(ctx, intake.CommentWork{PR: u.PR, CommentID: u.CommentID}, u.Key, renderUpdate(view)); err != nil {
		return err
	}
	// The check run repeats what the reply and the status say: a check
	// run GitHub refuses (an App without checks: write) must not hold
	// the update back. The next reply of the update brings it in line.
	if err := b.syncCheckRun(ctx, u, view); err != nil {
		b.logc(ctx).Warn("check run not brought in line with the update", zap.Int("pr", u.PR), zap.Int64("update", u.ID), zap.Error(err))
	}
	return nil
}
