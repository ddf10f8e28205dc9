package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// HandleClosed acts on a closed pull request, as steps over its merge
// record (docs/design.md, "Merge"). It runs holding the PR's lease and the
// base branch's, so every change to the base branch happens one at a time.
//
// Merged: the data branch is promoted onto the base branch as one commit,
// but only when it was made for the merged head and applies cleanly;
// otherwise refbot waits (a snooze, no worker held) for the base branch's
// post-merge build and applies its outputs as a change against the base
// tip of the merge's time, so that nothing promoted meanwhile is reverted.
// Then the data branch is deleted (kept under refs/refbot/archive/), the
// PR gets its reply and the other PRs' branches are rebased.
//
// Closed without merging: the branch is deleted after ClosedGrace.
func (b *Bot) HandleClosed(ctx context.Context, w intake.PullRequestClosed) (time.Duration, error) {
	log := b.logc(ctx).With(zap.Int("pr", w.PR), zap.Bool("merged", w.Merged))
	if !w.Merged {
		info, err := b.repo.Branch(ctx, refdata.PRBranch(w.PR))
		if err != nil {
			return 0, outage("read the data branch", err)
		}
		if !info.Exists {
			return 0, nil
		}
		at := b.now().Add(b.cfg.ClosedGrace)
		log.Info("closed without merging; data branch deleted later", zap.Time("at", at))
		return 0, b.jobs.ScheduleBranchDeletion(ctx, w.PR, at)
	}
	m, err := b.st.Merge(ctx, w.PR)
	if err != nil {
		return 0, err
	}
	if m == nil {
		info, err := b.repo.Branch(ctx, refdata.PRBranch(w.PR))
		if err != nil {
			return 0, outage("read the data branch", err)
		}
		if !info.Exists {
			log.Info("merged pull request has no data branch; nothing to do")
			return 0, nil
		}
		codeBase := w.BaseRef
		if codeBase == "" {
			codeBase = b.cfg.BaseBranch
		}
		mergedAt := w.MergedAt
		if mergedAt.IsZero() {
			mergedAt = b.now()
		}
		if m, err = b.st.StartMerge(ctx, store.Merge{PR: w.PR, MergeCommit: w.MergeCommit, Head: w.HeadSHA,
			CodeBase: codeBase, MergedAt: mergedAt, MergedBy: w.MergedBy}); err != nil {
			return 0, err
		}
	}
	switch m.Step {
	case store.MergeStarted:
		return b.promote(ctx, m)
	case store.MergeWaiting:
		return b.applyPostMerge(ctx, m)
	case store.MergeApplied:
		return b.finishMerge(ctx, m, false)
	}
	return 0, nil
}

// mergeView is the merge reply's content.
type mergeView struct {
	PR            int
	Branch, Base  string
	MergedBy      string
	MergeCommit   string
	Commit        string
	Why           string // why the data branch was not promoted as it is
	Waiting       bool   // for the post-merge build
	Build         *Build // the post-merge build whose outputs were taken
	Restarted     string // the post-merge build restarted
	RestartFailed string // the post-merge build that could not be restarted
	Failed        string
	CleanupFailed string // applied, but the data branch could not be deleted
	BranchDeleted bool   `json:",omitempty"` // the data branch is deleted (archived)
	// The restart of the post-merge build, recorded before it is asked
	// for: the build, how it looked just before, and when it was asked.
	RestartAsked  string    `json:",omitempty"`
	RestartBefore string    `json:",omitempty"`
	RestartAt     time.Time `json:",omitempty"`
}

func (b *Bot) mergeView(m *store.Merge) mergeView {
	v := mergeView{PR: m.PR, Branch: refdata.PRBranch(m.PR), Base: b.cfg.BaseBranch, MergedBy: m.MergedBy, MergeCommit: m.MergeCommit}
	if m.View != "" {
		json.Unmarshal([]byte(m.View), &v)
	}
	return v
}

func (b *Bot) saveMerge(ctx context.Context, m *store.Merge, v mergeView) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.View = string(raw)
	return b.st.SaveMerge(ctx, m)
}

// promote takes the PR's data branch onto the base branch when it was made
// for the merged head and applies to the base as it is; otherwise it goes
// to the post-merge build's route.
func (b *Bot) promote(ctx context.Context, m *store.Merge) (time.Duration, error) {
	b.logc(ctx).Info("merge: promote the data branch", zap.Int("pr", m.PR))
	branch := refdata.PRBranch(m.PR)
	v := b.mergeView(m)
	info, err := b.repo.Branch(ctx, branch)
	if err != nil {
		return 0, outage("read the data branch", err)
	}
	if !info.Exists {
		// Deleted by hand meanwhile (or a promotion done by hand).
		m.Step = store.MergeDone
		return 0, b.saveMerge(ctx, m, v)
	}
	var why string
	var conflict *refdata.ConflictError
	made := info.Trailers["Refbot-Commit"]
	switch {
	case m.Head != "" && made != m.Head:
		why = fmt.Sprintf("was made for %s, not for the merged head %s", code(short(made)), code(short(m.Head)))
	default:
		res, err := b.repo.Promote(ctx, branch, false)
		switch {
		case errors.As(err, &conflict):
			why = "changes " + codesList(conflict.Files) + ", which also changed on " + code(b.cfg.BaseBranch) + " since it was made"
		case err != nil:
			return 0, outage("promote the data branch", err)
		default:
			failpoint.Hit("promoted")
			v.Commit = res.Commit.String()
			m.Step, m.DataCommit = store.MergeApplied, res.Commit.String()
			// Its post-merge build, if already running, tests the old data.
			if m.MergeCommit != "" {
				build, err := b.ci.NewestBranchBuild(ctx, m.CodeBase, m.MergeCommit)
				switch {
				case err == nil && build.Started:
					v.RestartAsked, v.RestartBefore, v.RestartAt = build.ID, snapshot(build), b.now().UTC()
				case err != nil && !errors.Is(err, ErrNoBuild):
					b.logc(ctx).Warn("find the post-merge build", zap.Int("pr", m.PR), zap.Error(err))
				}
			}
			if err := b.saveMerge(ctx, m, v); err != nil {
				return 0, err
			}
			return b.finishMerge(ctx, m, true)
		}
	}
	if m.MergeCommit == "" {
		return 0, b.failMerge(ctx, m, v, "the merge commit is unknown, so no post-merge build can be found")
	}
	// The base tip of the merge's time: the reference data of the code the
	// post-merge build tests (the base's code plus this PR's), before
	// whatever was promoted after the merge.
	against, err := b.repo.BaseAt(ctx, m.MergedAt)
	if errors.Is(err, refdata.ErrNoBranch) {
		return 0, b.failMerge(ctx, m, v, "the base branch of the data repository has no commit as old as the merge, so the post-merge build's outputs have nothing to be compared with")
	}
	if err != nil {
		return 0, outage("read the base branch's history", err)
	}
	v.Why, v.Waiting = why, true
	m.Step, m.Reason, m.Against = store.MergeWaiting, why, against.String()
	if err := b.saveMerge(ctx, m, v); err != nil {
		return 0, err
	}
	if err := b.replyMerged(ctx, v); err != nil {
		return 0, err
	}
	return b.cfg.PollInterval, nil
}

// applyPostMerge waits for the base branch's post-merge build and applies
// its outputs as a change against the base tip of the merge's time.
func (b *Bot) applyPostMerge(ctx context.Context, m *store.Merge) (time.Duration, error) {
	b.logc(ctx).Info("merge: look for the post-merge build", zap.Int("pr", m.PR), zap.String("commit", short(m.MergeCommit)))
	v := b.mergeView(m)
	fail := func(why string) (time.Duration, error) { return 0, b.failMerge(ctx, m, v, why) }
	if b.now().Sub(m.StartedAt) > b.cfg.MergeWait {
		return fail(fmt.Sprintf("no post-merge build of %s finished within %s", code(short(m.MergeCommit)), b.cfg.MergeWait))
	}
	build, err := b.ci.NewestBranchBuild(ctx, m.CodeBase, m.MergeCommit)
	switch {
	case errors.Is(err, ErrNoBuild):
		return b.cfg.PollInterval, nil
	case err != nil:
		return 0, outage("ask CI for the post-merge build", err)
	case !build.Finished:
		return b.cfg.PollInterval, nil
	}
	reason, _, err := b.fetchOutputs(ctx, build, s3cache.Source{Branch: m.CodeBase}, m.MergeCommit, false)
	switch {
	case err != nil && userError(err):
		return fail(userMessage(build.ID, err))
	case err != nil:
		return 0, outage("bring the post-merge build's outputs into the cache", err)
	case reason != "":
		return fail(reason)
	}
	pub, err := publish.Publish(ctx, b.cache, b.repo, publish.Request{
		Build:   build.ID,
		Want:    s3cache.Want{Source: s3cache.Source{Branch: m.CodeBase}, Commit: m.MergeCommit},
		Branch:  b.cfg.BaseBranch,
		Against: plumbing.NewHash(m.Against),
		WorkDir: b.workDir(m.PR),
		Subject: fmt.Sprintf("Reference data of %s after #%d, from build %s", b.cfg.BaseBranch, m.PR, buildName(build)),
		Trailers: refdata.Trailers{PR: m.PR, Build: build.ID, Commit: m.MergeCommit,
			ApprovedBy: m.MergedBy},
	})
	if err != nil {
		if userError(err) {
			return fail(userMessage(build.ID, err))
		}
		return 0, outage("apply the post-merge build's outputs", err)
	}
	failpoint.Hit("promoted")
	v.Waiting, v.Build, v.Commit = false, &build, pub.Update.Commit.String()
	m.Step, m.Build, m.DataCommit = store.MergeApplied, build.ID, pub.Update.Commit.String()
	// The build that made these outputs ran against the old data.
	v.RestartAsked, v.RestartBefore, v.RestartAt = build.ID, snapshot(build), b.now().UTC()
	if err := b.saveMerge(ctx, m, v); err != nil {
		return 0, err
	}
	return b.finishMerge(ctx, m, true)
}

// failMerge ends a merge that could take nothing to the base branch: the
// reply first, then the record, so that a failed reply is retried.
func (b *Bot) failMerge(ctx context.Context, m *store.Merge, v mergeView, why string) error {
	v.Failed, v.Waiting = why, false
	if err := b.replyMerged(ctx, v); err != nil {
		return err
	}
	m.Step = store.MergeFailed
	if err := b.saveMerge(ctx, m, v); err != nil {
		return err
	}
	b.met.mergeEnded("failed")
	return nil
}

// restartPostMerge restarts the post-merge build recorded in v, once:
// the restart was recorded before it is asked for, so a crash right after
// asking does not ask twice. A build that shows a new run was restarted;
// one that does not is looked at again until ci.restart_grace has passed
// (Travis carries a restart out later), then asked. fresh: this run just
// recorded it. It returns how long to wait before looking again, or 0 when
// the restart is settled.
func (b *Bot) restartPostMerge(ctx context.Context, m *store.Merge, v *mergeView, fresh bool) (time.Duration, error) {
	id := v.RestartAsked
	if id == "" || v.Restarted != "" || v.RestartFailed != "" {
		return 0, nil
	}
	if !fresh {
		// Recorded by an earlier run: did that run get to ask?
		build, err := b.ci.Build(ctx, id)
		if err != nil {
			return 0, outage("read the post-merge build", err)
		}
		if newRun(v.RestartBefore, build) {
			v.Restarted = id
			return 0, b.saveMerge(ctx, m, *v)
		}
		if wait := v.RestartAt.Add(b.cfg.RestartGrace).Sub(b.now()); wait > 0 {
			// Looked at again each poll: the new run shows as soon as
			// CI starts it, well within the grace.
			return min(wait, b.cfg.PollInterval), nil
		}
	}
	failpoint.Hit("merge-restarting")
	if err := b.ci.Restart(ctx, id); err != nil {
		b.logc(ctx).Warn("restart the post-merge build", zap.String("build", id), zap.Error(err))
		v.RestartFailed = id
	} else {
		v.Restarted = id
	}
	failpoint.Hit("merge-restarted")
	return 0, b.saveMerge(ctx, m, *v)
}

// finishMerge restarts the post-merge build if recorded, deletes the
// merged PR's data branch, reports and rebases the other PRs' branches
// onto the base that changed.
func (b *Bot) finishMerge(ctx context.Context, m *store.Merge, fresh bool) (time.Duration, error) {
	b.logc(ctx).Info("merge: delete the data branch, reply and rebase the others", zap.Int("pr", m.PR))
	v := b.mergeView(m)
	if again, err := b.restartPostMerge(ctx, m, &v, fresh); again > 0 || err != nil {
		return again, err
	}
	if !v.BranchDeleted {
		if _, err := b.repo.DeleteBranch(ctx, v.Branch); err != nil {
			return 0, outage("delete the merged pull request's data branch", err)
		}
		failpoint.Hit("branch-deleted")
		v.BranchDeleted = true
		if err := b.saveMerge(ctx, m, v); err != nil {
			return 0, err
		}
	}
	b.logc(ctx).Info("data promoted", zap.Int("pr", m.PR), zap.String("commit", m.DataCommit))
	if err := b.replyMerged(ctx, v); err != nil {
		return 0, err
	}
	failpoint.Hit("merge-replied")
	b.rebaseOthers(ctx, m.PR)
	m.Step = store.MergeDone
	if err := b.saveMerge(ctx, m, v); err != nil {
		return 0, err
	}
	outcome := "promoted"
	if v.Build != nil {
		outcome = "rebuilt" // from the post-merge build's outputs
	}
	b.met.mergeEnded(outcome)
	return 0, nil
}

// MergeGaveUp tells a merged PR that refbot could not take its data to the
// base branch (an outage outlasted the job's attempts).
func (b *Bot) MergeGaveUp(ctx context.Context, w intake.PullRequestClosed, attempts int, err error) {
	b.logc(ctx).Error("gave up on a merge", zap.Int("pr", w.PR), zap.Int("attempts", attempts), zap.Error(err))
	m, gerr := b.st.Merge(ctx, w.PR)
	if gerr != nil || m == nil || m.Step == store.MergeDone || m.Step == store.MergeFailed {
		return
	}
	v := b.mergeView(m)
	if m.Step == store.MergeApplied {
		// The data is on the base; only the clean-up could not be done,
		// or the reply.
		if !v.BranchDeleted {
			v.CleanupFailed = plainReason(err)
		} else {
			b.rebaseOthers(ctx, m.PR)
		}
		m.Step = store.MergeDone
	} else {
		v.Failed, v.Waiting = plainReason(err), false
		m.Step = store.MergeFailed
	}
	if serr := b.saveMerge(ctx, m, v); serr != nil {
		b.logc(ctx).Error("record a merge that gave up", zap.Int("pr", w.PR), zap.Error(serr))
	} else {
		b.met.mergeEnded("gave_up")
	}
	if rerr := b.replyMerged(ctx, v); rerr != nil {
		b.logc(ctx).Error("report a merge that gave up", zap.Int("pr", w.PR), zap.Error(rerr))
	}
}

// rebaseOthers moves the other PRs' data branches onto the base that just
// changed; a branch that no longer applies gets a comment asking for a new
// UPDATE. A failure here is logged, not retried: the branch keeps working
// on the old base, and the next UPDATE rebuilds it anyway.
func (b *Bot) rebaseOthers(ctx context.Context, merged int) {
	prs, err := b.repo.PRBranches(ctx)
	if err != nil {
		b.logc(ctx).Warn("list data branches to rebase", zap.Error(err))
		return
	}
	for _, n := range prs {
		if n == merged {
			continue
		}
		log := b.logc(ctx).With(zap.Int("pr", n), zap.Int("merged", merged))
		// A PR merged itself, whose data is on its way to the base, is
		// its merge's to finish.
		if m, err := b.st.Merge(ctx, n); err != nil || m != nil {
			continue
		}
		res, err := b.repo.Rebase(ctx, refdata.PRBranch(n))
		if errors.Is(err, refdata.ErrLeaseLost) {
			// The PR's own UPDATE pushed meanwhile: rebase what it pushed.
			res, err = b.repo.Rebase(ctx, refdata.PRBranch(n))
		}
		var conflict *refdata.ConflictError
		switch {
		case errors.As(err, &conflict):
			if p, err := b.gh.PullRequest(ctx, n); err != nil || !p.Open {
				continue // a closed PR's branch goes with its grace period
			}
			body := render("rebase-conflict.md", map[string]any{"Merged": merged, "Branch": refdata.PRBranch(n), "Base": b.cfg.BaseBranch,
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
			failpoint.Hit("rebased")
			log.Info("data branch rebuilt on the new base", zap.String("commit", res.Commit.String()))
		}
	}
	// The merged PR's files are on the base now: no status should still
	// say another PR shares them.
	if err := b.forgetOverlaps(ctx, merged); err != nil {
		b.logc(ctx).Warn("restate statuses that named the merged PR", zap.Int("merged", merged), zap.Error(err))
	}
}

// replyMerged posts the merge report once (a later step edits it).
func (b *Bot) replyMerged(ctx context.Context, v mergeView) error {
	return b.reply(ctx, intake.CommentWork{PR: v.PR, CommentID: -int64(v.PR)}, "merged", render("merged.md", v))
}

// DeleteClosedBranch deletes the data branch of a PR closed without
// merging once the grace period of its last close is over, unless it was
// reopened (or merged) meanwhile. A PR closed, reopened and closed again
// gets a fresh grace period: the job waits on until then.
func (b *Bot) DeleteClosedBranch(ctx context.Context, n int) (time.Duration, error) {
	pr, err := b.gh.PullRequest(ctx, n)
	if err != nil {
		return 0, outage("read the pull request", err)
	}
	if pr.Open || pr.Merged {
		b.logc(ctx).Info("keeping the data branch: the pull request was reopened or merged", zap.Int("pr", n))
		return 0, nil
	}
	if end := pr.ClosedAt.Add(b.cfg.ClosedGrace); !pr.ClosedAt.IsZero() && b.now().Before(end) {
		return end.Sub(b.now()), nil
	}
	tip, err := b.repo.DeleteBranch(ctx, refdata.PRBranch(n))
	if err != nil {
		return 0, outage("delete the data branch", err)
	}
	if !tip.IsZero() {
		b.logc(ctx).Info("deleted the data branch of a closed pull request", zap.Int("pr", n), zap.String("tip", tip.String()))
	}
	return 0, b.forgetOverlaps(ctx, n)
}

// DeleteGaveUp tells a closed PR that its data branch could not be deleted.
func (b *Bot) DeleteGaveUp(ctx context.Context, pr int, attempts int, err error) {
	b.logc(ctx).Error("gave up deleting a closed pull request's data branch", zap.Int("pr", pr), zap.Int("attempts", attempts), zap.Error(err))
	body := fmt.Sprintf("refbot could not delete this closed pull request's data branch `%s`: %s. A maintainer can delete it by hand.",
		refdata.PRBranch(pr), plainReason(err))
	if rerr := b.reply(ctx, intake.CommentWork{PR: pr, CommentID: -int64(pr)}, "delete-branch", body); rerr != nil {
		b.logc(ctx).Error("report a branch deletion that gave up", zap.Int("pr", pr), zap.Error(rerr))
	}
}

func codesList(files []string) string {
	more := ""
	if len(files) > 10 {
		more = fmt.Sprintf(" and %d more", len(files)-10)
		files = files[:10]
	}
	out := ""
	for i, f := range files {
		if i > 0 {
			out += ", "
		}
		out += code(f)
	}
	return out + more
}
