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
// replies say so, and their pending statuses end. STOP holds no lease (it
// must not wait for the job it stops): an update that moves on while STOP
// looks at it is looked at again.
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
		for tries := 1; ; tries++ {
			err := b.stopUpdate(ctx, &u, w.Author, &builds)
			if !errors.Is(err, store.ErrMoved) || tries == 5 {
				if err != nil {
					return err
				}
				break
			}
			now, err := b.st.UpdateByID(ctx, u.ID)
			if err != nil {
				return err
			}
			if now == nil || store.Final(now.Step) {
				break
			}
			u = *now
		}
	}
	if err := b.reportEnds(ctx, pr.Number, store.StepStopped); err != nil {
		return err
	}
	sites, err := b.stopWebsites(ctx, pr.Number, w.Author)
	if err != nil {
		return err
	}
	if err := b.finishPending(ctx, pr.Number, "", "Stopped by @"+w.Author); err != nil {
		return err
	}
	return b.reply(ctx, w, replyKey(cmd), renderStop(stopData{Author: w.Author, Jobs: len(jobs), Builds: builds,
		Websites: sites.Ended, DocsBuilds: sites.DocsBuilds, StopCommand: sites.StopCommand, Publishing: sites.Publishing}))
}

// stopUpdate ends u, as read, at StepStopped: its restarted build is
// cancelled (once per build), and an update still publishing is told as
// stopped before its push unless its commit is on the branch already.
func (b *Bot) stopUpdate(ctx context.Context, u *store.Update, by string, builds *[]string) error {
	if !u.RestartAt.IsZero() && !slices.Contains(*builds, u.Build) {
		if err := b.ci.Cancel(ctx, u.Build); err != nil {
			return outage("cancel the CI build", err)
		}
		*builds = append(*builds, u.Build)
	}
	view, err := decodeView(u.View)
	if err != nil {
		return err
	}
	if u.Step == store.StepPublishing {
		mine, tip, err := b.pushedByThis(ctx, u)
		if err != nil {
			return err
		}
		if mine {
			view.Commit = tip
		} else {
			view.Unpushed = true
		}
		// Recorded before its plan was: what the reply needs.
		view.PR.Number, view.Branch, view.Build.ID = u.PR, refdata.PRBranch(u.PR), u.Build
		if view.PR.HeadSHA == "" {
			view.PR.HeadSHA = u.Head
		}
		if view.Author == "" {
			view.Author = u.Author
		}
	}
	view.CI, view.By = "stopped", by
	if err := b.end(ctx, u, store.StepStopped, view); err != nil {
		return err
	}
	if view.Unpushed {
		// Nothing changed: the next UPDATE need not wait.
		return b.policy.Release(ctx, u.PR, string(command.Update), u.CommentID)
	}
	return nil
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
		reason, _, ferr := b.fetchOutputs(ctx, build, s3cache.Source{PR: pr.Number}, pr.HeadSHA, pr.Fork)
		if ferr != nil && !userError(ferr) {
			return outage("bring the build's outputs into the cache", ferr)
		}
		_, oerr := b.cache.Open(ctx, build.ID, s3cache.Want{Source: s3cache.Source{PR: pr.Number}, Commit: pr.HeadSHA})
		switch {
		case ferr != nil:
			v.Artifacts = userMessage(build.ID, ferr)
		case reason != "":
			v.Artifacts = reason
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
	log := b.logc(ctx).With(zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID))
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
		case u != nil && (u.Step != store.StepPublishing || b.pushedUnrecorded(ctx, u)):
			// It pushed: that stays, and its cooldown too.
			view, _ := decodeView(u.View)
			view.CI, view.Reason = "gave-up", reason
			if u.Step == store.StepPublishing {
				view.Commit = u.DataCommit
			}
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
		} else {
			b.met.updateEnded("gave_up", startedAt(u), b.now())
		}
	}
	body := render("gaveup.md", map[string]any{"Author": w.Author, "Attempts": attempts, "Reason": reason, "Prefix": b.cfg.Prefix})
	if rerr := b.reply(ctx, w, "gave-up", body); rerr != nil {
		log.Error("report a failed comment", zap.NamedError("reply", rerr))
	}
}

// pushedUnrecorded says whether update u, still publishing, pushed its
// commit without recording it (and sets its DataCommit); when the branch
// cannot be read, it says no.
func (b *Bot) pushedUnrecorded(ctx context.Context, u *store.Update) bool {
	if u.View == "" {
		return false
	}
	mine, tip, err := b.pushedByThis(ctx, u)
	if err != nil {
		b.logc(ctx).Warn("read the data branch of an update that gave up", zap.Int("pr", u.PR), zap.Error(err))
		return false
	}
	if mine {
		u.DataCommit = tip
	}
	return mine
}
