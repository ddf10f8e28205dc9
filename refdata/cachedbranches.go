package refdata

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// CachedBranches is CachedBranch for every PR<n> branch the cache holds a
// copy of, keyed by n: what the index page shows for hundreds of PRs at
// once. It never contacts the remote, and reads each tip commit once per
// process (see tipInfos); it waits for the cache at most as long as ctx
// allows. A PR with no entry has no copy in the cache.
func (r *Repo) CachedBranches(ctx context.Context) (map[int]BranchInfo, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	refs, err := r.store.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("list the cache's branches: %w", err)
	}
	prefix := trackingRef("").String() // refs/remotes/origin/
	tips := map[int]plumbing.Hash{}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		name, ok := strings.CutPrefix(ref.Name().String(), prefix)
		if n := PRBranchNumber(name); ok && n > 0 && ref.Type() == plumbing.HashReference {
			tips[n] = ref.Hash()
		}
		return nil
	})
	if err != nil && err != storer.ErrStop {
		return nil, fmt.Errorf("list the cache's branches: %w", err)
	}
	out := make(map[int]BranchInfo, len(tips))
	for n, tip := range tips {
		if err := ctx.Err(); err != nil {
			return nil, r.lockWaitError(err)
		}
		info, ok := tipInfos.get(tip)
		if !ok {
			if info, err = r.branchInfo(PRBranch(n), tip); err != nil {
				return nil, err
			}
			tipInfos.put(tip, info)
		}
		info.Trailers = maps.Clone(info.Trailers)
		out[n] = info
	}
	return out, nil
}

// tipInfos remembers what branchInfo read of a tip commit. A commit's hash
// names its content, so what one repo read of it holds for any other: the
// cache is shared by the process's repos and never goes stale, only full,
// and then it starts again (a page's worth of tips is read again at most
// once).
var tipInfos = &tipInfoCache{max: 4096}

type tipInfoCache struct {
	mu  sync.Mutex
	max int
	m   map[plumbing.Hash]BranchInfo
}

func (c *tipInfoCache) get(h plumbing.Hash) (BranchInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.m[h]
	return info, ok
}

func (c *tipInfoCache) put(h plumbing.Hash, info BranchInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[plumbing.Hash]BranchInfo)
	}
	c.m[h] = info
}
