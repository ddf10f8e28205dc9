package refdata

import (
	"context"
	"sort"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Variants lists the variant folders of the data on branch, or on the base
// branch when branch does not exist: the folders directly under the data
// root (protected names at the top of the repo left out). A data root
// holding files directly has no variants, and none are listed. It fetches
// both branches, as an update does.
func (r *Repo) Variants(ctx context.Context, branch string) ([]string, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	remote, err := r.fetch(ctx, r.opts.BaseBranch, branch)
	if err != nil {
		return nil, err
	}
	tip := remote.tip(branch)
	if tip.IsZero() {
		tip = remote.tip(r.opts.BaseBranch)
	}
	if tip.IsZero() {
		return nil, nil
	}
	c, err := object.GetCommit(r.store, tip)
	if err != nil {
		return nil, err
	}
	h, err := r.subtree(nil, c.TreeHash, r.dataPath(""))
	if err != nil || h.IsZero() {
		return nil, err
	}
	t, err := r.tree(nil, h)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range t.Entries {
		// (Nothing is protected unless the data is at the top.)
		if e.Mode != filemode.Dir {
			if !r.protected(e.Name, false) {
				return nil, nil // files at the data root: not variant folders
			}
			continue
		}
		if r.protected(e.Name, true) {
			continue
		}
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out, nil
}
