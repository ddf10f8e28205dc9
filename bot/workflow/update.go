package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// update runs an UPDATE as steps over its record in the store: choose and
// check the build, push its data, restart CI, then hand over to the CI
// wait (WaitCI) and end. A retry or a resumed job goes on from the last
// step recorded; once the push is recorded it never publishes again (the
// restarted build may be re-uploading under the same id).
func (b *Bot) update(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	key := replyKey(cmd)
	// Ends of the PR's updates that could not be told (this one's, when
	// its reply failed, or a give-up's) are told first.
	if err := b.reportEnds(ctx, pr.Number, ""); err != nil {
		return err
	}
	u, err := b.st.Update(ctx, w.CommentID, key)
	if err != nil {
		return err
	}
	if u != nil && store.Final(u.Step) {
		// Finished before (and told, above): a retry of a later command,
		// or of this one after its build's late cancel failed.
		if u.Step == store.StepStopped && !u.RestartAt.IsZero() && u.Outcome != "cancelled" {
			return b.cancelLate(ctx, u)
		}
		return nil
	}
	if u != nil && u.Step != store.StepPublishing {
		return b.afterPush(ctx, u)
	}
	if u != nil && u.View != "" {
		// An earlier run got as far as recording what it would push. If
		// the branch is its commit, it pushed and died before recording
		// it: that push is this update's, whatever moved since.
		mine, tip, err := b.pushedByThis(ctx, u)
		if err != nil {
			return err
		}
		if mine {
			return b.resumePush(ctx, u, tip)
		}
	}
	replyRefusal := func(reason string) error {
		if err := b.reply(ctx, w, key, renderRefusal(cmd, w.Author, reason)); err != nil {
			return err
		}
		b.met.updateEnded("refused", startedAt(u), b.now())
		return nil
	}
	if !pr.Open {
		why := "this pull request is closed"
		if pr.Merged {
			if why, err = b.mergedReason(ctx, pr.Number); err != nil {
				return err
			}
		}
		return replyRefusal(why)
	}
	// A newer plain UPDATE, still queued, will do what this one would:
	// say so and leave the work (and the cooldown) to it. A retry that got
	// as far as recording its build finishes what it started.
	if u == nil {
		by, err := b.supersededBy(ctx, w)
		if err != nil {
			return err
		}
		if by != nil {
			if err := b.reply(ctx, w, key, render("superseded.md", map[string]any{"Author": w.Author, "By": by.Author, "ByURL": by.URL})); err != nil {
				return err
			}
			b.met.updateEnded("superseded", startedAt(u), b.now())
			return nil
		}
	}
	log := b.logc(ctx).With(zap.Int("pr", pr.Number))
	log.Info("update: check the head", zap.String("head", short(pr.HeadSHA)))
	if reason, err := b.checkHead(ctx, w, cmd, pr); err != nil {
		return err
	} else if reason != "" {
		return replyRefusal(reason)
	}
	log.Info("update: find the build")
	build, reason, err := b.findBuild(ctx, pr, true)
	if err != nil {
		return err
	}
	if reason != "" {
		return replyRefusal(reason)
	}
	took, pending := false, false
	// The reply first, the status (ours only) last, then the record: a
	// crash before the record runs the checks again and says the same.
	fail := func(err error) error {
		if took {
			if rerr := b.policy.Release(ctx, pr.Number, string(cmd.Verb), w.CommentID); rerr != nil {
				return rerr
			}
		}
		reason := userMessage(build.ID, err)
		if err := replyRefusal(reason); err != nil {
			return err
		}
		if pending {
			if err := b.setStatus(ctx, pr.Number, pr.HeadSHA, "failure", "Not updated: "+statusText(reason)); err != nil {
				return err
			}
		}
		return b.st.FinishUnpushed(ctx, w.CommentID, key, store.StepRefused)
	}
	// The cooldown is taken once the build is known, before its outputs
	// are looked at, and given back when the update is refused: a refused
	// UPDATE does not keep the next one waiting.
	if !w.Trusted {
		if ref, err := b.policy.Take(ctx, w.PR, string(cmd.Verb), w.CommentID); err != nil {
			return err
		} else if ref != nil {
			return replyRefusal(ref.Reason)
		}
		took = true
	}
	// Look before leaping: a dry run reads only the manifests and the
	// trees. It checks the build's provenance, which of its variants this
	// run uploaded, and the large-change guard; the push reuses what it
	// opened.
	req := b.publishRequest(w, cmd, pr, build, true)
	log.Info("update: check the build's outputs", zap.String("build", build.ID))
	checked, notes, err := b.checkOutputs(ctx, build, cmd, &req)
	if err != nil {
		if userError(err) {
			return fail(err)
		}
		return outage("read the build's outputs in S3", err)
	}
	plan, err := publish.Publish(ctx, b.cache, b.repo, req)
	if err != nil {
		if userError(err) {
			return fail(err)
		}
		return outage("compare the build's outputs with the data repository", err)
	}
	if v := planView(w, cmd, pr, build, plan, b.cfg.LargeChangeShare); v.Large && !cmd.All {
		return fail(refuse("%s", fmt.Sprintf("this update would change or remove %d of %d files (%.0f%%, more than the %.0f%% refbot changes without confirmation); if that is intended, say `%s UPDATE --all`",
			v.ChangedOrRemoved, v.Before, 100*v.Share, 100*b.cfg.LargeChangeShare, b.cfg.Prefix)))
	}
	if u, err = b.st.StartUpdate(ctx, store.Update{CommentID: w.CommentID, Key: key, PR: pr.Number, Head: pr.HeadSHA,
		Build: build.ID, Author: w.Author}); err != nil {
		return err
	}
	// Recorded before the push: what it changes, as the reply says it. A
	// run that dies after pushing and before recording the push finds its
	// commit on the branch, and this record (see the top).
	planned := updateView(w, pr, build, plan)
	planned.Notes = notes
	planned.Thumbs = b.thumbs(pr.Number, build.ID, plan.Update.Changes, true)
	planned.Review = b.reviewURL(pr.Number, true)
	if planned.Overlaps, err = b.overlaps(ctx, pr.Number, plan); err != nil {
		return outage("compare with the other pull requests' data", err)
	}
	if u.View, err = encodeView(planned); err != nil {
		return err
	}
	if err := b.st.SaveUpdate(ctx, u); errors.Is(err, store.ErrFinal) {
		return nil // stopped meanwhile: STOP says so
	} else if err != nil {
		return err
	}
	// An update refbot left pending on an older head is over: say so.
	if err := b.finishPending(ctx, pr.Number, pr.HeadSHA, "Abandoned: the head of the pull request moved"); err != nil {
		return err
	}
	if err := b.setStatus(ctx, pr.Number, pr.HeadSHA, "pending", fmt.Sprintf("Updating reference data from build %s", buildName(build))); err != nil {
		return err
	}
	pending = true
	log.Info("update: push the data", zap.String("build", build.ID))
	req.DryRun, req.Opened = false, checked
	req.BeforePush = func(ctx context.Context) error {
		failpoint.Hit("downloaded")
		now, err := b.gh.PullRequest(ctx, pr.Number)
		if err != nil {
			return outage("read the pull request", err)
		}
		if now.HeadSHA != pr.HeadSHA {
			return &errHeadMoved{from: pr.HeadSHA, to: now.HeadSHA}
		}
		return nil
	}
	res, err := publish.Publish(ctx, b.cache, b.repo, req)
	if err != nil {
		if userError(err) || fullBeforePush(res, err) {
			return fail(err)
		}
		return outage("push the data to the data repository", err)
	}
	failpoint.Hit("pushed")
	// The push is confirmed: record it with what the reply says of it,
	// the plan's, with the commit made.
	view := pushedView(b.cfg.DataWebURL, planned, res.Update.Commit.String())
	view.NoChange = res.Update.NoChange
	if !view.NoChange {
		view.Diffs = b.textDiffs(ctx, res)
	}
	u.DataCommit = view.Commit
	if view.NoChange {
		// The branch held exactly this already: nothing new for CI to
		// test, so it is not restarted (a wait of the same data goes on).
		view.CI, u.Outcome = "unchanged", "unchanged"
		return b.end(ctx, u, store.StepDone, view)
	}
	if u.View, err = encodeView(view); err != nil {
		return err
	}
	u.Step = store.StepPushed
	if err := b.st.SaveUpdate(ctx, u); errors.Is(err, store.ErrFinal) {
		return b.stoppedWhilePushing(ctx, u, view)
	} else if err != nil {
		return err
	}
	failpoint.Hit("recorded")
	return b.afterPush(ctx, u)
}

// mergedReason is why an UPDATE of merged PR n is refused, saying what
// becomes of its data: its merge promotes the data branch, or failed to;
// a PR merged without a data branch (its UPDATE delivered after the merge,
// say) has nothing to promote, and the base keeps its data.
func (b *Bot) mergedReason(ctx context.Context, n int) (string, error) {
	m, err := b.st.Merge(ctx, n)
	if err != nil {
		return "", err
	}
	if m != nil && m.Step == store.MergeFailed {
		return "this pull request is merged, and refbot could not take its data to " + code(b.cfg.BaseBranch) + " (the merge's reply says why)", nil
	}
	if m == nil {
		info, err := b.repo.Branch(ctx, refdata.PRBranch(n))
		if err != nil {
			return "", outage("read the data branch", err)
		}
		if !info.Exists {
			return fmt.Sprintf("this pull request is merged, and it had no data branch when it was merged: nothing of this build goes to %s, which keeps its reference data (a maintainer can update it from the post-merge build with %s)",
				code(b.cfg.BaseBranch), code("refbot update --branch "+b.cfg.BaseBranch+" --build ID")), nil
		}
	}
	return "this pull request is merged; its data was promoted (or will be) to " + b.cfg.BaseBranch, nil
}

// pushedByThis says whether the PR's data branch is update u's own commit
// (its trailers name its comment, its build and its head), and returns the
// branch's tip.
func (b *Bot) pushedByThis(ctx context.Context, u *store.Update) (bool, string, error) {
	info, err := b.repo.Branch(ctx, refdata.PRBranch(u.PR))
	if err != nil {
		return false, "", outage("read the data branch", err)
	}
	t := info.Trailers
	by := t["Refbot-Comment"]
	mine := info.Exists && t["Refbot-Build"] == u.Build && t["Refbot-Commit"] == u.Head &&
		(strings.HasSuffix(by, fmt.Sprintf("#issuecomment-%d", u.CommentID)) || by == commentRef(intake.CommentWork{CommentID: u.CommentID, Trusted: true}))
	return mine, info.Tip.String(), nil
}

// resumePush goes on with an update whose push an earlier run made and did
// not record (it died in between): the push is recorded, with the reply
// recorded before it, and the build restarted.
func (b *Bot) resumePush(ctx context.Context, u *store.Update, tip string) error {
	planned, err := decodeView(u.View)
	if err != nil {
		return err
	}
	u.DataCommit, u.Step = tip, store.StepPushed
	if u.View, err = encodeView(pushedView(b.cfg.DataWebURL, planned, tip)); err != nil {
		return err
	}
	if err := b.st.SaveUpdate(ctx, u); err != nil {
		return finalOK(err)
	}
	return b.afterPush(ctx, u)
}

// pushedView is the reply's view of a push made as planned: the plan's,
// with the commit and links to the images in it.
func pushedView(web string, planned updateData, commit string) updateData {
	v := planned
	v.Changes.Files = slices.Clone(planned.Changes.Files)
	v.Commit = commit
	linkImages(&v.Changes, web, commit)
	return v
}

// findBuild finds the build UPDATE and PLAN use: the newest build of the
// head. With finished, it must have ended: a running build (a restart
// reuses the build id) may be uploading its outputs again.
func (b *Bot) findBuild(ctx context.Context, pr PullRequest, finished bool) (Build, string, error) {
	build, err := b.ci.NewestBuild(ctx, pr.Number, pr.HeadSHA)
	if errors.Is(err, ErrNoBuild) {
		return Build{}, fmt.Sprintf("CI has no build of the head commit %s yet; try again when it has run", short(pr.HeadSHA)), nil
	}
	if err != nil {
		return Build{}, "", outage("ask CI for the head's build", err)
	}
	if finished && !build.Finished {
		return build, fmt.Sprintf("CI build %s of the head commit %s is %s; its outputs are not final until it ends: say it again when it has finished",
			buildName(build), short(pr.HeadSHA), build.State), nil
	}
	reason, _, err := b.fetchOutputs(ctx, build, s3cache.Source{PR: pr.Number}, pr.HeadSHA, pr.Fork)
	if err != nil && !userError(err) {
		return Build{}, "", outage("bring the build's outputs into the cache", err)
	}
	if err != nil {
		return build, userMessage(build.ID, err), nil
	}
	return build, reason, nil
}

// variantNote names a variant of the data that an update leaves as it was,
// and why.
type variantNote struct {
	Variant string
	Why     string
}

// checkOutputs opens the build's outputs and checks them against the run
// of the build that CI reports: a variant whose manifest is older than the
// run was uploaded by an earlier run of the same build id and is left out
// (a restarted build whose job failed before uploading). It narrows req to
// the variants this run uploaded and returns the notes the reply gives.
func (b *Bot) checkOutputs(ctx context.Context, build Build, cmd command.Command, req *publish.Request) (*s3cache.Build, []variantNote, error) {
	opened, err := b.cache.Open(ctx, build.ID, req.Want)
	if err != nil {
		return nil, nil, err
	}
	stale := func(v string) bool { return !variantFromThisRun(opened, v, build) }
	if cmd.Variant != "" {
		if _, ok := opened.Manifests[cmd.Variant]; !ok {
			has := "it has no variants"
			if len(opened.Variants) > 0 && opened.Variants[0] != "" {
				has = "it has " + codesList(opened.Variants)
			}
			return nil, nil, refuse("build %s has no variant %s (%s)", build.ID, code(cmd.Variant), has)
		}
		if stale(cmd.Variant) {
			return nil, nil, refuse("the outputs of variant %s were uploaded by an earlier run of build %s, not its last one", code(cmd.Variant), build.ID)
		}
		return opened, nil, nil
	}
	var fresh []string
	var notes []variantNote
	for _, v := range opened.Variants {
		if stale(v) {
			notes = append(notes, variantNote{Variant: v, Why: "its outputs are from an earlier run of the build (this run's job did not upload)"})
			continue
		}
		fresh = append(fresh, v)
	}
	switch {
	case len(fresh) == 0:
		return nil, nil, refuse("the outputs of build %s were uploaded by an earlier run of it, not its last one; re-run the build", build.ID)
	case slices.Contains(fresh, ""):
		return opened, nil, nil
	}
	// Variants the data has and the build did not upload are kept as
	// they are; unless every job ran, in which case a variant is missing
	// for no reason refbot can see.
	have, err := b.repo.Variants(ctx, req.Branch)
	if err != nil {
		return nil, nil, outage("list the data's variants", err)
	}
	for _, v := range have {
		if slices.Contains(opened.Variants, v) {
			continue
		}
		if !build.JobsNotRun {
			return nil, nil, refuse("build %s uploaded no outputs for variant %s although all its jobs ran; re-run it (or, if that variant is gone from the CI matrix, remove its folder from the data repository by hand)",
				build.ID, code(v))
		}
		notes = append(notes, variantNote{Variant: v, Why: "its CI job did not run"})
	}
	sort.Slice(notes, func(i, j int) bool { return notes[i].Variant < notes[j].Variant })
	if len(notes) > 0 {
		req.Variants = fresh
	}
	return opened, notes, nil
}

func (b *Bot) plan(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	key := replyKey(cmd)
	build, reason, err := b.findBuild(ctx, pr, false)
	if err != nil {
		return err
	}
	if reason != "" {
		return b.reply(ctx, w, key, renderRefusal(cmd, w.Author, reason))
	}
	req := b.publishRequest(w, cmd, pr, build, true)
	checked, notes, err := b.checkOutputs(ctx, build, cmd, &req)
	if err == nil {
		req.Opened = checked
		var res *publish.Result
		if res, err = publish.Publish(ctx, b.cache, b.repo, req); err == nil {
			v := planView(w, cmd, pr, build, res, b.cfg.LargeChangeShare)
			v.Notes, v.Prefix = notes, b.cfg.Prefix
			v.Thumbs = b.thumbs(pr.Number, build.ID, res.Update.Changes, false)
			v.Review = b.reviewURL(pr.Number, false)
			if v.Overlaps, err = b.overlaps(ctx, pr.Number, res); err != nil {
				return outage("compare with the other pull requests' data", err)
			}
			return b.reply(ctx, w, key, renderPlan(v))
		}
	}
	if userError(err) {
		return b.reply(ctx, w, key, renderRefusal(cmd, w.Author, userMessage(build.ID, err)))
	}
	return outage("read the build's outputs", err)
}

// overlaps lists the other PRs whose data branches change files this
// result changes.
func (b *Bot) overlaps(ctx context.Context, pr int, res *publish.Result) ([]overlap, error) {
	found, err := b.repo.Overlaps(ctx, refdata.PRBranch(pr), res.Update.FromBase)
	if err != nil {
		return nil, err
	}
	var out []overlap
	for branch, files := range found {
		out = append(out, overlap{PR: refdata.PRBranchNumber(branch), Files: files})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PR < out[j].PR })
	return out, nil
}

// stoppedWhilePushing: STOP ended u while its job pushed. If STOP's reply
// says nothing was pushed, it is set right: the data is pushed, and the
// build was not restarted.
func (b *Bot) stoppedWhilePushing(ctx context.Context, u *store.Update, pushed updateData) error {
	now, err := b.st.UpdateByID(ctx, u.ID)
	if err != nil || now == nil || now.Step != store.StepStopped {
		return err
	}
	view, err := decodeView(now.View)
	if err != nil || !view.Unpushed {
		return err
	}
	pushed.CI, pushed.By = view.CI, view.By
	if now.View, err = encodeView(pushed); err != nil {
		return err
	}
	now.DataCommit = pushed.Commit
	if err := b.st.ReviseEnd(ctx, now); err != nil {
		return err
	}
	return b.report(ctx, now)
}

// commentRef is what the Refbot-Comment trailer says of w: its link, or
// for a command from the API, its id.
func commentRef(w intake.CommentWork) string {
	if w.URL == "" && w.Trusted {
		return fmt.Sprintf("api:%d", -w.CommentID)
	}
	return w.URL
}

func (b *Bot) publishRequest(w intake.CommentWork, cmd command.Command, pr PullRequest, build Build, dry bool) publish.Request {
	comment := commentRef(w)
	var variants []string
	if cmd.Variant != "" {
		variants = []string{cmd.Variant}
	}
	return publish.Request{
		Build:    build.ID,
		Want:     s3cache.Want{Source: s3cache.Source{PR: pr.Number}, Commit: pr.HeadSHA},
		Branch:   refdata.PRBranch(pr.Number),
		Variants: variants,
		WorkDir:  b.workDir(pr.Number),
		Subject:  fmt.Sprintf("Update reference data for PR #%d from build %s", pr.Number, buildName(build)),
		Trailers: refdata.Trailers{PR: pr.Number, Build: build.ID, Commit: pr.HeadSHA,
			ApprovedBy: w.Author, Comment: comment},
		DryRun: dry,
	}
}

func encodeView(v updateData) (string, error) {
	raw, err := json.Marshal(v)
	return string(raw), err
}

func decodeView(s string) (updateData, error) {
	var v updateData
	if s == "" {
		return v, nil
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return v, fmt.Errorf("read a recorded update: %w", err)
	}
	return v, nil
}
