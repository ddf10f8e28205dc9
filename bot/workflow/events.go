package workflow

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/intake"
)

// CacheStatusSetter sets the cache status of a PR's head if it changed (the
// reconciler's, so that both paths remember what they posted alike).
type CacheStatusSetter func(ctx context.Context, pr int, head string, fork bool) error

// HandleCIEvent acts on what the CI told (docs/design.md, "GitHub
// Actions"): the PR a run is for has its waiting UPDATE woken, so that it
// looks at the run now instead of at its next poll, and its cache status
// set at once; a push run wakes the merges waiting for a post-merge build.
// A fork's run names no pull request: the PR is the one open PR whose head
// is the run's head repository, branch and commit; when that is not
// exactly one, refbot does nothing (the reconciler still polls).
func (b *Bot) HandleCIEvent(ctx context.Context, ev intake.CIEvent, setStatus CacheStatusSetter) error {
	log := b.logc(ctx).With(zap.Int64("run", ev.RunID), zap.Int("attempt", ev.Attempt), zap.String("head", short(ev.HeadSHA)))
	if ev.RunID > 0 && ev.RunEvent == "push" {
		if ev.Action != "completed" {
			return nil // a merge waits for its build to end
		}
		n, err := b.jobs.WakeMergeWaits(ctx)
		if n > 0 {
			log.Info("woke merges waiting for a post-merge build", zap.Int("jobs", n))
		}
		return err
	}
	heads, err := b.ciEventPRs(ctx, ev)
	if err != nil {
		return err
	}
	for _, h := range heads {
		n, err := b.jobs.WakeCIWaits(ctx, h.Number)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("woke the CI wait", zap.Int("pr", h.Number))
		}
		if !h.Open || h.HeadSHA != ev.HeadSHA {
			continue // a run of an older head: its status is history
		}
		if setStatus != nil {
			if err := setStatus(ctx, h.Number, h.HeadSHA, h.Fork); err != nil {
				return err
			}
		}
	}
	return nil
}

// ciEventPRs returns the pull requests a CI event is about, as GitHub has
// them now.
func (b *Bot) ciEventPRs(ctx context.Context, ev intake.CIEvent) ([]PullRequest, error) {
	switch {
	case ev.PR > 0:
		return []PullRequest{{Number: ev.PR, Open: true, HeadSHA: ev.HeadSHA, Fork: ev.Fork}}, nil
	case ev.RunEvent != "pull_request" && ev.RunEvent != "pull_request_target":
		return nil, nil
	case len(ev.PRs) > 0:
		var out []PullRequest
		for _, n := range ev.PRs {
			pr, err := b.gh.PullRequest(ctx, n)
			if err != nil {
				return nil, outage("read the pull request", err)
			}
			out = append(out, pr)
		}
		return out, nil
	}
	owner, _, ok := strings.Cut(ev.HeadRepo, "/")
	if !ok || ev.HeadBranch == "" {
		b.logc(ctx).Warn("a run without pull requests or head repository; left to the reconciler", zap.Int64("run", ev.RunID))
		return nil, nil
	}
	prs, err := b.gh.PullRequestsByHead(ctx, owner, ev.HeadBranch)
	if err != nil {
		return nil, outage("find the fork's pull request", err)
	}
	match := prsOfHead(prs, ev.HeadRepo, ev.HeadSHA)
	if len(match) != 1 {
		nums := make([]string, len(match))
		for i, p := range match {
			nums[i] = fmt.Sprintf("#%d", p.Number)
		}
		b.logc(ctx).Warn("the run of a fork's branch is not exactly one open pull request's; not acting on it",
			zap.Int64("run", ev.RunID), zap.String("head_repo", ev.HeadRepo), zap.String("branch", ev.HeadBranch),
			zap.Strings("pull_requests", nums))
		return nil, nil
	}
	return match, nil
}
