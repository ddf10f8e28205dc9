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
// restarted for it that are still running; the replies of the updates it
// stops say so, and their pending statuses end.
func (b *Bot) stop(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	jobs, err := b.jobs.CancelPR(ctx, pr.Number, w.CommentID)
	if err != nil {
		return err
	}
	active, err := b.st.ActiveUpdates(ctx, pr.Number)
	if err != nil {
		return err
	}
	var builds []string
	for _, u := range active {
		if u.Step != store.StepPushed && !slices.Contains(builds, u.Build) {
			if err := b.ci.Cancel(ctx, u.Build); err != nil {
				return outage("cancel the CI build", err)
			}
			builds = append(builds, u.Build)
		}
		view, err := decodeView(u.View)
		if err != nil {
			return err
		}
		u.Step = store.StepStopped
		if err := b.st.SaveUpdate(ctx, &u); errors.Is(err, store.ErrFinal) {
			continue
		} else if err != nil {
			return err
		}
		view.CI, view.By = "stopped", w.Author
		if err := b.replyUpdate(ctx, &u, view); err != nil {
			return err
		}
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
// error itself is in the log. The cooldown the comment took is given back.
// If GitHub itself is what is down, the reply fails too; that is logged.
func (b *Bot) GaveUp(ctx context.Context, w intake.CommentWork, attempts int, err error) {
	log := b.log.With(zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID))
	log.Error("gave up on a comment", zap.Int("attempts", attempts), zap.Error(err))
	for _, cmd := range commands(command.Parse(w.Body, b.cfg.Prefix)) {
		if cmd.Verb != command.Update {
			continue
		}
		// An update that pushed changed something: its cooldown stays.
		if u, gerr := b.st.Update(ctx, w.CommentID, replyKey(cmd)); gerr != nil || (u != nil && u.Step != store.StepPublishing) {
			continue
		}
		if rerr := b.policy.Release(ctx, w.PR, string(cmd.Verb), w.CommentID); rerr != nil {
			log.Error("give a cooldown back", zap.Error(rerr))
		}
		if ferr := b.st.FinishUnpushed(ctx, w.CommentID, replyKey(cmd), store.StepGaveUp); ferr != nil {
			log.Error("record a command that gave up", zap.Error(ferr))
		}
	}
	if ferr := b.finishPending(ctx, w.PR, "", "refbot gave up; see its reply"); ferr != nil {
		log.Error("finish pending statuses", zap.Error(ferr))
	}
	body := render("gaveup.md", map[string]any{"Author": w.Author, "Attempts": attempts, "Reason": plainReason(err), "Prefix": b.cfg.Prefix})
	if rerr := b.reply(ctx, w, "gave-up", body); rerr != nil {
		log.Error("report a failed comment", zap.NamedError("reply", rerr))
	}
}
