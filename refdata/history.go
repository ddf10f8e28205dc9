package refdata

import (
	"context"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxHistory bounds how far back BaseAt walks.
const maxHistory = 10000

// BaseAt returns the base branch's tip as it was at t: the newest commit of
// its first-parent history committed at or before t. A merged PR's
// post-merge build was made by the code of its merge, whose reference data
// is the base of that time: what refbot (or anyone) committed to the base
// after the merge belongs to later code and must not be compared against
// (docs/design.md, "Merge"). Committer dates are refbot's own for its
// commits. It fails with ErrNoBranch when the base is missing or has no
// commit that old.
func (r *Repo) BaseAt(ctx context.Context, t time.Time) (plumbing.Hash, error) {
	if err := r.lock(ctx); err != nil {
		return plumbing.ZeroHash, err
	}
	defer r.unlock()
	base := r.opts.BaseBranch
	remote, err := r.fetch(ctx, base)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h := remote.tip(base)
	for range maxHistory {
		if h.IsZero() {
			break
		}
		c, err := object.GetCommit(r.store, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read %s's history: %w", base, err)
		}
		if !c.Committer.When.After(t) {
			return h, nil
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return plumbing.ZeroHash, fmt.Errorf("%s at %s: no commit that old: %w", base, t.UTC().Format(time.RFC3339), ErrNoBranch)
}
