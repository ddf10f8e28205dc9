package refdata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxHistory bounds how far back BaseAt walks, and how deep the cache's
// copy of a branch is ever fetched.
const maxHistory = 10000

// minDeepen is the depth of the first deepening of a branch's history: a
// merge or a build seldom lies more than a few commits back.
const minDeepen = 16

// BaseAt returns the base branch's tip as it was at t: the newest commit of
// its first-parent history committed at or before t. A merged PR's
// post-merge build was made by the code of its merge, whose reference data
// is the base of that time: what refbot (or anyone) committed to the base
// after the merge belongs to later code and must not be compared against
// (docs/design.md, "Merge"). Committer dates are refbot's own for its
// commits. The cache holds the base's tip only; the walk fetches as much
// more of its history as it needs. It fails with ErrNoBranch when the
// base is missing or has no commit that old.
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
	hist := r.history(base, h)
	for dist := 1; dist <= maxHistory; dist++ {
		if h.IsZero() {
			break
		}
		c, err := hist.commit(ctx, h, dist)
		if err != nil {
			return plumbing.ZeroHash, err
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

// onHistory reports whether commit a is tip (base's tip) or one of its
// ancestors, walking tip's history in the cache and fetching more of it
// when the walk reaches past what the cache holds. When it is, the cache
// holds a.
func (r *Repo) onHistory(ctx context.Context, base string, a, tip plumbing.Hash) (bool, error) {
	hist := r.history(base, tip)
	seen := map[plumbing.Hash]bool{tip: true}
	level := []plumbing.Hash{tip}
	for dist := 1; len(level) > 0 && dist <= maxHistory; dist++ {
		var next []plumbing.Hash
		for _, h := range level {
			c, err := hist.commit(ctx, h, dist)
			if err != nil {
				return false, err
			}
			if h == a {
				return true, nil // and the cache holds it
			}
			for _, p := range c.ParentHashes {
				if !seen[p] {
					seen[p] = true
					next = append(next, p)
				}
			}
		}
		level = next
	}
	return false, nil
}

// branchHistory reads the commits of a branch's history from the cache,
// deepening the cache's copy of the branch when a walk reaches a commit it
// lacks: the cache holds only the tips operations work on.
type branchHistory struct {
	r      *Repo
	branch string
	tip    plumbing.Hash // where the walk started, as fetched
	depth  int           // how deep the last deepening fetched the branch
}

func (r *Repo) history(branch string, tip plumbing.Hash) *branchHistory {
	return &branchHistory{r: r, branch: branch, tip: tip, depth: tipOnly}
}

// commit returns commit h, which lies dist generations down from the tip
// (the tip is 1), fetching more of the branch's history until the cache
// holds it. Should the branch have moved since the walk started, the
// deepening counts from its new tip and goes on until h is there or
// maxHistory is reached.
func (hs *branchHistory) commit(ctx context.Context, h plumbing.Hash, dist int) (*object.Commit, error) {
	c, err := object.GetCommit(hs.r.store, h)
	if !errors.Is(err, plumbing.ErrObjectNotFound) {
		if err != nil {
			return nil, fmt.Errorf("read %s's history: %w", hs.branch, err)
		}
		return c, nil
	}
	for hs.depth < maxHistory {
		hs.depth = min(maxHistory, max(minDeepen, 2*dist, 2*hs.depth))
		remote, err := hs.r.fetchSpec(ctx, fetchSpec{tips: []string{hs.branch}, deepen: hs.depth})
		if err != nil {
			return nil, fmt.Errorf("read %s's history: %w", hs.branch, err)
		}
		c, err = object.GetCommit(hs.r.store, h)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("read %s's history: %w", hs.branch, err)
		}
		if remote.tip(hs.branch) == hs.tip && hs.depth >= dist {
			break // deep enough from an unmoved tip, and not there: a server without shallow fetches, or a rewritten history
		}
	}
	return nil, fmt.Errorf("read %s's history: commit %s, %d back from %s: not found in the data repo", hs.branch, shortHash(h), dist-1, shortHash(hs.tip))
}
