package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// CacheStatus works out the cache status of a PR's head (docs/design.md,
// "Cache status"):
// pending while CI has not finished, success when the newest build's
// outputs are complete in S3, failure when they are missing or unusable.
// The description says what to do next, and says when the PR has no data
// branch (hasBranch false) so that CI compares with the base branch; for a
// fork's PR (fork true), never to re-run a build that cannot upload. Where
// CI keeps outputs as workflow artifacts, a finished build's are brought
// into the cache first. Build is the CI build it is about ("" when there
// is none yet).
func (b *Bot) CacheStatus(ctx context.Context, pr int, head string, fork, hasBranch bool) (st Status, build string, err error) {
	st = Status{Context: b.cfg.CacheContext, TargetURL: b.prURL(pr)}
	against := "its data branch " + refdata.PRBranch(pr)
	if !hasBranch {
		against = "the " + b.cfg.BaseBranch + " branch's data (no data branch yet)"
	}
	bld, err := b.ci.NewestBuild(ctx, pr, head)
	switch {
	case errors.Is(err, ErrNoBuild):
		st.State, st.Description = "pending", fmt.Sprintf("Waiting for CI to build %s; it compares with %s", short(head), against)
		return st, "", nil
	case err != nil:
		return st, "", err
	case !bld.Finished:
		st.State, st.Description = "pending", fmt.Sprintf("CI build %s is %s; it compares with %s", buildName(bld), bld.State, against)
		return st, bld.ID, nil
	}
	reason, why, err := b.fetchOutputs(ctx, bld, s3cache.Source{PR: pr}, head, fork)
	switch {
	case err != nil && userError(err):
		st.State, st.Description = "failure", fmt.Sprintf("Outputs of build %s unusable: %s", buildName(bld), shortReason(err))
		return st, bld.ID, nil
	case err != nil:
		return st, bld.ID, err
	case reason != "" && bld.Passed:
		// Tests passed and nothing was uploaded: the data already fits.
		st.State, st.Description = "success", fmt.Sprintf("CI build %s passed against %s; no data change needed", buildName(bld), against)
		return st, bld.ID, nil
	case reason != "":
		st.State, st.Description = "failure", fmt.Sprintf("Build %s: %s", buildName(bld), why)
		return st, bld.ID, nil
	}
	_, err = b.cache.Open(ctx, bld.ID, s3cache.Want{Source: s3cache.Source{PR: pr}, Commit: head})
	switch {
	case err == nil:
		next := "if they are right, say " + b.cfg.Prefix + " UPDATE"
		if bld.Passed {
			next = "tests passed against " + against
		}
		st.State, st.Description = "success", fmt.Sprintf("Outputs of build %s are cached; %s", buildName(bld), next)
	case errors.Is(err, s3cache.ErrNotFound) && bld.Passed:
		// Tests passed and nothing was uploaded: the data already fits.
		st.State, st.Description = "success", fmt.Sprintf("CI build %s passed against %s; no data change needed", buildName(bld), against)
	case errors.Is(err, s3cache.ErrNotFound):
		st.State, st.Description = "failure", fmt.Sprintf("Build %s uploaded no outputs (refbot upload); re-run it", buildName(bld))
	case userError(err):
		st.State, st.Description = "failure", fmt.Sprintf("Outputs of build %s unusable: %s", buildName(bld), shortReason(err))
	default:
		return st, bld.ID, err
	}
	return st, bld.ID, nil
}
