package workflow

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
)

// setStatus sets the update status on sha (see postStatus).
func (b *Bot) setStatus(ctx context.Context, pr int, sha, state, desc string) error {
	return b.postStatus(ctx, pr, sha, state, desc, nil)
}

// postStatus sets the update status on sha, its description ending with
// the other PRs whose data branches change the same files. It remembers the
// PR's last status, so that another PR's update or merge can restate it
// (restateOverlaps).
func (b *Bot) postStatus(ctx context.Context, pr int, sha, state, desc string, overlaps []int) error {
	return b.st.WithLock(ctx, statusLock(pr), func() error { return b.postStatusLocked(ctx, pr, sha, state, desc, overlaps) })
}

// statusLock names the store's lock of pr's update status, which every
// change to it holds, on whichever replica: a PR's job and another PR's
// job restating its overlaps must not interleave.
func statusLock(pr int) string { return fmt.Sprintf("update-status:%d", pr) }

func (b *Bot) postStatusLocked(ctx context.Context, pr int, sha, state, desc string, overlaps []int) error {
	full := desc
	if len(overlaps) > 0 {
		refs := make([]string, len(overlaps))
		for i, n := range overlaps {
			refs[i] = fmt.Sprintf("#%d", n)
		}
		full += "; same files as " + strings.Join(refs, ", ")
	}
	if err := b.sendStatus(ctx, pr, sha, state, full); err != nil {
		return err
	}
	return b.st.RememberUpdateStatus(ctx, store.UpdateStatus{PR: pr, SHA: sha, State: state, Description: desc, Overlaps: overlaps})
}

// rememberedOverlaps returns the overlapping PRs remembered for pr's status
// on sha.
func (b *Bot) rememberedOverlaps(ctx context.Context, pr int, sha string) ([]int, error) {
	st, err := b.st.UpdateStatus(ctx, pr)
	if err != nil || st == nil || st.SHA != sha {
		return nil, err
	}
	return st.Overlaps, nil
}

// sendStatus posts the update status on sha and remembers which are
// pending, so that STOP, giving up or a moved head can finish them.
func (b *Bot) sendStatus(ctx context.Context, pr int, sha, state, desc string) error {
	if err := b.gh.SetStatus(ctx, sha, Status{State: state, Context: b.cfg.StatusContext, Description: desc, TargetURL: b.prURL(pr)}); err != nil {
		return outage("set a commit status", err)
	}
	if state == "pending" {
		return b.st.AddPending(ctx, pr, sha)
	}
	return b.st.RemovePending(ctx, pr, sha)
}

// finishPending sets the pending update statuses of pr to error with desc,
// except on keep. The PR's remembered last status changes only if it is
// one of them.
func (b *Bot) finishPending(ctx context.Context, pr int, keep, desc string) error {
	shas, err := b.st.PendingHeads(ctx, pr, keep)
	if err != nil {
		return err
	}
	return b.st.WithLock(ctx, statusLock(pr), func() error {
		for _, sha := range shas {
			if err := b.sendStatus(ctx, pr, sha, "error", desc); err != nil {
				return err
			}
			if err := b.st.EndUpdateStatus(ctx, pr, sha, "error", desc); err != nil {
				return err
			}
		}
		return nil
	})
}

// restateOverlaps changes the list of overlapping PRs at the end of pr's
// last update status and posts the status again when it is final and still
// on the PR's open head (a status of an older head is history). While the
// PR's own job runs (its status pending), the list is only remembered: the
// job's final status says it.
func (b *Bot) restateOverlaps(ctx context.Context, pr int, change func([]int) []int) error {
	return b.st.WithLock(ctx, statusLock(pr), func() error { return b.restateOverlapsLocked(ctx, pr, change) })
}

func (b *Bot) restateOverlapsLocked(ctx context.Context, pr int, change func([]int) []int) error {
	st, err := b.st.UpdateStatus(ctx, pr)
	if err != nil || st == nil {
		return err
	}
	now := change(slices.Clone(st.Overlaps))
	if slices.Equal(st.Overlaps, now) {
		return nil
	}
	if st.State == "pending" {
		return b.st.SetOverlaps(ctx, pr, st.SHA, now)
	}
	p, err := b.gh.PullRequest(ctx, pr)
	if err != nil {
		return outage("read the pull request", err)
	}
	if !p.Open || p.HeadSHA != st.SHA {
		return nil
	}
	return b.postStatusLocked(ctx, pr, st.SHA, st.State, st.Description, now)
}

// forgetOverlaps drops gone, whose data branch was promoted or deleted or
// no longer changes their files, from every PR's update status that names
// it, except those of keep.
func (b *Bot) forgetOverlaps(ctx context.Context, gone int, keep ...int) error {
	prs, err := b.st.StatusesNaming(ctx, gone)
	if err != nil {
		return err
	}
	for _, pr := range prs {
		if slices.Contains(keep, pr) {
			continue
		}
		if err := b.restateOverlaps(ctx, pr, func(l []int) []int { return slices.DeleteFunc(l, func(n int) bool { return n == gone }) }); err != nil {
			return err
		}
	}
	return nil
}

// tellOverlaps tells each overlapping PR that this one's data now changes
// some of its files too: by a comment, once per pair and set of files, and
// in its update status. A PR whose status named this one, and which is not
// among still (the PRs this one overlaps now), has the name taken out.
func (b *Bot) tellOverlaps(ctx context.Context, pr int, overlaps []overlap, still []int) error {
	if err := b.forgetOverlaps(ctx, pr, still...); err != nil {
		return err
	}
	for _, o := range overlaps {
		body := render("overlap-notice.md", map[string]any{"PR": pr, "Other": o.PR, "Files": o.Files})
		// The files are the build's names: keyed by their digest, so the
		// reply's hidden marker holds nothing from outside.
		key := fmt.Sprintf("overlap:%d:%x", pr, sha256.Sum256([]byte(strings.Join(o.Files, "\x00"))))
		if err := b.reply(ctx, intake.CommentWork{PR: o.PR, CommentID: -int64(o.PR)*1_000_000 - int64(pr)}, key, body); err != nil {
			return err
		}
		if err := b.restateOverlaps(ctx, o.PR, func(prs []int) []int { return addPR(prs, pr) }); err != nil {
			return err
		}
	}
	return nil
}

// markConflict sets the update status of pr's open head to failure: its
// data branch no longer applies to the base after merged's promotion, and
// it needs a new UPDATE.
func (b *Bot) markConflict(ctx context.Context, pr, merged int) error {
	p, err := b.gh.PullRequest(ctx, pr)
	if err != nil {
		return outage("read the pull request", err)
	}
	if !p.Open {
		return nil
	}
	return b.postStatus(ctx, pr, p.HeadSHA, "failure",
		fmt.Sprintf("Data conflicts with #%d's, now on %s; say %s UPDATE", merged, b.cfg.BaseBranch, b.cfg.Prefix), nil)
}

func addPR(prs []int, n int) []int {
	if slices.Contains(prs, n) {
		return prs
	}
	prs = append(prs, n)
	slices.Sort(prs)
	return prs
}
