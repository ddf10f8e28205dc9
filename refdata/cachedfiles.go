package refdata

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// CachedFiles lists the files of branch's data root in refbot's copy of the
// data repo, without contacting the remote (as CachedBranch): their paths
// relative to the data root, slash-separated, with their blob ids. With the
// data at the top of the repo, the protected entries are left out, as
// updates leave them alone. Trees are all the cache needs: it holds no
// blobs. A branch the cache has no copy of gives Exists false and no files.
func (r *Repo) CachedFiles(ctx context.Context, branch string) (BranchInfo, map[string]plumbing.Hash, error) {
	if err := validBranch(branch); err != nil {
		return BranchInfo{}, nil, err
	}
	if err := r.lock(ctx); err != nil {
		return BranchInfo{}, nil, err
	}
	defer r.unlock()
	ref, err := r.store.Reference(trackingRef(branch))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return BranchInfo{}, nil, nil
	}
	if err != nil {
		return BranchInfo{}, nil, fmt.Errorf("read the cache's copy of %s: %w", branch, err)
	}
	info, err := r.branchInfo(branch, ref.Hash())
	if err != nil {
		return info, nil, err
	}
	c, err := object.GetCommit(r.store, info.Tip)
	if err != nil {
		return info, nil, fmt.Errorf("read %s: %w", branch, err)
	}
	root, err := r.subtree(nil, c.TreeHash, r.dataPath(""))
	if err != nil || root.IsZero() {
		return info, map[string]plumbing.Hash{}, err
	}
	files := map[string]plumbing.Hash{}
	var walk func(h plumbing.Hash, prefix string) error
	walk = func(h plumbing.Hash, prefix string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := r.tree(nil, h)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			if prefix == "" && r.atTop() && r.protected(e.Name, e.Mode == filemode.Dir) {
				continue
			}
			p := path.Join(prefix, e.Name)
			switch {
			case e.Mode == filemode.Dir:
				if err := walk(e.Hash, p); err != nil {
					return err
				}
			case e.Mode.IsFile():
				files[p] = e.Hash
			}
		}
		return nil
	}
	return info, files, walk(root, "")
}
