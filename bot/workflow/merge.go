package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// HandleClosed acts on a closed pull request. Merged: its data branch's
// change goes onto the base branch as one commit (or, if files it changes
// also changed on the base since, the base branch's post-merge build's
// outputs are taken instead), the post-merge build is restarted, the data
// branch is deleted (kept under refs/refbot/archive/) and the PR gets a
// reply. Closed without merging: the branch is deleted after ClosedGrace.
// A repeated event finds no branch and does nothing.
func (b *Bot) HandleClosed(ctx context.Context, w intake.PullRequestClosed) error {
	log := b.log.With(zap.Int("pr", w.PR), zap.Bool("merged", w.Merged))
	branch := refdata.PRBranch(w.PR)
	info, err := b.repo.Branch(ctx, branch)
	if err != nil {
		return err
	}
	if !info.Exists {
		log.Info("closed pull request has no data branch; nothing to do")
		return nil
	}
	if !w.Merged {
		at := time.Now().Add(b.cfg.ClosedGrace)
		log.Info("closed without merging; data branch deleted later", zap.Time("at", at))
		return b.jobs.ScheduleBranchDeletion(ctx, w.PR, at)
	}
	// base is the data repo's base branch; codeBase the code repo's branch
	// the PR merged into, which names its post-merge build and that build's
	// SOURCE. They may differ (main against master).
	base, codeBase := b.cfg.BaseBranch, w.BaseRef
	if codeBase == "" {
		codeBase = base
	}
	v := mergeView{PR: w.PR, Branch: branch, Base: base, MergedBy: w.MergedBy}
	res, err := b.repo.Promote(ctx, branch, false)
	var conflict *refdata.ConflictError
	switch {
	case errors.As(err, &conflict):
		// The base changed the same files since: take what the base branch's
		// own build produced after the merge, as the seed did.
		v.Conflict = conflict.Files
		build, err := b.waitBranchBuild(ctx, codeBase, w.MergeCommit, true)
		if err != nil {
			return err
		}
		v.Build = &build
		pub, err := publish.Publish(ctx, b.store, b.repo, publish.Request{
			Build:   build.ID,
			Want:    s3cache.Want{Source: s3cache.Source{Branch: codeBase}, Commit: w.MergeCommit},
			Branch:  base,
			WorkDir: b.workDir(w.PR),
			Subject: fmt.Sprintf("Reference data of %s after #%d, from build %s", base, w.PR, buildName(build)),
			Trailers: refdata.Trailers{PR: w.PR, Build: build.ID, Commit: w.MergeCommit,
				ApprovedBy: info.Trailers["Refbot-Approved-By"], Comment: info.Trailers["Refbot-Comment"]},
		})
		if err != nil {
			if userError(err) {
				v.Failed = err.Error()
				return b.replyMerged(ctx, v)
			}
			return err
		}
		v.Commit, v.Files = pub.Update.Commit.String(), len(pub.Update.Changes)
	case err != nil:
		return err
	default:
		v.Commit, v.FastForward, v.Files = res.Commit.String(), res.FastForward, len(res.Changes)
	}
	// The post-merge build ran (or runs) against the old base data:
	// restart it so that it tests the merged data.
	if v.Build == nil && w.MergeCommit != "" {
		if build, err := b.waitBranchBuild(ctx, codeBase, w.MergeCommit, false); err == nil {
			v.Build = &build
		} else if !errors.Is(err, ErrNoBuild) {
			return err
		}
	}
	if v.Build != nil {
		if err := b.ci.Restart(ctx, v.Build.ID); err != nil {
			log.Warn("restart the post-merge build", zap.String("build", v.Build.ID), zap.Error(err))
			v.RestartFailed = err.Error()
		} else {
			v.Restarted = true
		}
	}
	if _, err := b.repo.DeleteBranch(ctx, branch); err != nil {
		return err
	}
	log.Info("data promoted", zap.String("commit", v.Commit))
	if err := b.replyMerged(ctx, v); err != nil {
		return err
	}
	b.rebaseOthers(ctx, w.PR, base)
	return nil
}

// rebaseOthers moves the other PRs' data branches onto the base that just
// changed; a branch that no longer applies gets a comment asking for a new
// UPDATE. A failure here is logged, not retried: the branch keeps working
// on the old base, and the next UPDATE rebuilds it anyway.
func (b *Bot) rebaseOthers(ctx context.Context, merged int, base string) {
	prs, err := b.repo.PRBranches(ctx)
	if err != nil {
		b.log.Warn("list data branches to rebase", zap.Error(err))
		return
	}
	for _, n := range prs {
		if n == merged {
			continue
		}
		log := b.log.With(zap.Int("pr", n), zap.Int("merged", merged))
		res, err := b.repo.Rebase(ctx, refdata.PRBranch(n))
		var conflict *refdata.ConflictError
		switch {
		case errors.As(err, &conflict):
			body := render("rebase-conflict.md", map[string]any{"Merged": merged, "Branch": refdata.PRBranch(n), "Base": base,
				"Files": conflict.Files, "Prefix": b.cfg.Prefix})
			// Keyed by both PRs, so a repeated merge event does not comment twice.
			if err := b.reply(ctx, intake.CommentWork{PR: n, CommentID: -int64(n)*1_000_000 - int64(merged)}, "rebase", body); err != nil {
				log.Warn("say a data branch conflicts", zap.Error(err))
			}
			if err := b.markConflict(ctx, n, merged); err != nil {
				log.Warn("mark a conflicting data branch in its status", zap.Error(err))
			}
		case err != nil:
			log.Warn("rebase a data branch", zap.Error(err))
		case !res.UpToDate:
			log.Info("data branch rebuilt on the new base", zap.String("commit", res.Commit.String()))
		}
	}
	// The merged PR's files are on the base now: no status should still
	// say another PR shares them.
	if err := b.forgetOverlaps(ctx, merged); err != nil {
		b.log.Warn("restate statuses that named the merged PR", zap.Int("merged", merged), zap.Error(err))
	}
}

// waitBranchBuild finds the build of branch at sha, waiting for it to
// appear (CI starts it shortly after the merge) and, with finished, to end.
func (b *Bot) waitBranchBuild(ctx context.Context, branch, sha string, finished bool) (Build, error) {
	if sha == "" {
		return Build{}, fmt.Errorf("%s: the merge commit is unknown: %w", branch, ErrNoBuild)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PollTimeout)
	defer cancel()
	for tries := 0; ; tries++ {
		build, err := b.ci.NewestBranchBuild(ctx, branch, sha)
		switch {
		case err == nil && (!finished || build.Finished):
			return build, nil
		case err == nil:
			if build, err = b.waitForCI(ctx, build.ID); err != nil {
				return Build{}, err
			}
			return build, nil
		case !errors.Is(err, ErrNoBuild):
			return Build{}, err
		case !finished && tries >= 10:
			return Build{}, err
		}
		if err := b.sleep(ctx, b.cfg.PollInterval); err != nil {
			return Build{}, fmt.Errorf("wait for the build of %s at %s: %w", branch, short(sha), err)
		}
	}
}

type mergeView struct {
	PR            int
	Branch, Base  string
	MergedBy      string
	Commit        string
	FastForward   bool
	Files         int
	Conflict      []string
	Build         *Build
	Restarted     bool
	RestartFailed string
	Failed        string
}

// replyMerged posts the merge report once (a retried job edits it).
func (b *Bot) replyMerged(ctx context.Context, v mergeView) error {
	return b.reply(ctx, intake.CommentWork{PR: v.PR, CommentID: -int64(v.PR)}, "merged", render("merged.md", v))
}

// DeleteClosedBranch deletes the data branch of a PR closed without
// merging, once its grace period is over, unless it was reopened (or merged)
// meanwhile.
func (b *Bot) DeleteClosedBranch(ctx context.Context, n int) error {
	pr, err := b.gh.PullRequest(ctx, n)
	if err != nil {
		return err
	}
	if pr.Open || pr.Merged {
		b.log.Info("keeping the data branch: the pull request was reopened or merged", zap.Int("pr", n))
		return nil
	}
	tip, err := b.repo.DeleteBranch(ctx, refdata.PRBranch(n))
	if err != nil {
		return err
	}
	if !tip.IsZero() {
		b.log.Info("deleted the data branch of a closed pull request", zap.Int("pr", n), zap.String("tip", tip.String()))
	}
	return b.forgetOverlaps(ctx, n)
}
