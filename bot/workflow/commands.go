package workflow

import (
	"context"
	"errors"
	"slices"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// stop cancels the PR's other jobs, its CI waits and the CI builds refbot
// restarted for it; the updates it stops end (those still publishing too,
// so that a push already under way is not followed by a restart), their
// replies say so, and their pending statuses end.
func (b *Bot) stop(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	jobs, err := b.jobs.CancelPR(ctx, pr.Number, w.CommentID)
	if err != nil {
		return err
	}
	active, err := b.st.ActiveUpdates(ctx, pr.Number, true)
	if err != nil {
		return err
	}
	var builds []string
	for _, u := range active {
		if !u.RestartAt.IsZero() && !slices.Contains(builds, u.Build) {
			if err := b.ci.Cancel(ctx, u.Build); err != nil {
				return outage("cancel the CI build", err)
			}
			builds = append(builds, u.Build)
		}
		view, err := decodeView(u.View)
		if err != nil {
			return err
		}
		view.CI, view.By = "stopped", w.Author
		if err := b.end(ctx, &u, store.StepStopped, view); err != nil {
			return err
		}
	}
	if err := b.reportEnds(ctx, pr.Number, store.StepStopped); err != nil {
		return err
	}
	if err := b.finishPending(ctx, pr.Number, "", "Stopped by @"+w.Author); err != nil {
		return err
	}
	return b.reply(ctx, w, replyKey(cmd), renderStop(w.Author, len(jobs), builds))
}

// status reports the PR's data branch, the newest CI build of its head and
// whether that build's artifacts are complete in S3.
func (b *Bot) status(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	v := statusView{PR: pr, Branch: refdata.PRBranch(pr.Number), BaseBranch: b.cfg.BaseBranch, URL: b.prURL(pr.Number)}
	var err error
	if v.Data, err = b.repo.Branch(ctx, v.Branch); err != nil {
		return outage("read the data branch", err)
	}
	build, err := b.ci.NewestBuild(ctx, pr.Number, pr.HeadSHA)
	switch {
	case errors.Is(err, ErrNoBuild):
	case err != nil:
		return outage("ask CI for the head's build", err)
	default:
		v.Build = &build
		_, oerr := b.cache.Open(ctx, build.ID, s3cache.Want{Source: s3cache.Source{PR: pr.Number}, Commit: pr.HeadSHA})
		switch {
		case oerr == nil:
			v.Artifacts = "complete in the cache"
		case userError(oerr):
			v.Artifacts = userMessage(build.ID, oerr)
		default:
			return outage("read the build's outputs in S3", oerr)
		}
	}
	return b.reply(ctx, w, replyKey(cmd), renderStatus(v))
}

// GaveUp tells the commenter that refbot stopped trying their comment's
// commands (an outage outlasted the job's attempts), in plain words; the
// error itself is in the log. An UPDATE of the comment that never pushed
// gives its cooldown back and its pending status ends; one that pushed
// ends as given up, its reply and status saying so.
func (b *Bot) GaveUp(ctx context.Context, w intake.CommentWork, attempts int, err error) {
	log := b.log.With(zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID))
	log.Error("gave up on a comment", zap.Int("attempts", attempts), zap.Error(err))
	reason := plainReason(err)
	for _, cmd := range commands(command.Parse(w.Body, b.cfg.Prefix)) {
		if cmd.Verb != command.Update {
			continue
		}
		key := replyKey(cmd)
		u, gerr := b.st.Update(ctx, w.CommentID, key)
		switch {
		case gerr != nil:
			log.Error("read a command that gave up", zap.Error(gerr))
			continue
		case u != nil && store.Final(u.Step):
			continue
		case u != nil && u.Step != store.StepPublishing:
			// It pushed: that stays, and its cooldown too.
			view, _ := decodeView(u.View)
			view.CI, view.Reason = "gave-up", reason
			if eerr := b.end(ctx, u, store.StepGaveUp, view); eerr != nil {
				log.Error("report an update that gave up", zap.Error(eerr))
			}
			continue
		case u != nil:
			if serr := b.setStatus(ctx, w.PR, u.Head, "error", "refbot gave up; see its reply"); serr != nil {
				log.Error("end a pending status", zap.Error(serr))
			}
		}
		if rerr := b.policy.Release(ctx, w.PR, string(cmd.Verb), w.CommentID); rerr != nil {
			log.Error("give a cooldown back", zap.Error(rerr))
		}
		if ferr := b.st.FinishUnpushed(ctx, w.CommentID, key, store.StepGaveUp); ferr != nil {
			log.Error("record a command that gave up", zap.Error(ferr))
		}
	}
	body := render("gaveup.md", map[string]any{"Author": w.Author, "Attempts": attempts, "Reason": reason, "Prefix": b.cfg.Prefix})
	if rerr := b.reply(ctx, w, "gave-up", body); rerr != nil {
		log.Error("report a failed comment", zap.NamedError("reply", rerr))
	}
}
