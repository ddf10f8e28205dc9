package refdata

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// TrimResult says what TrimCache found and did.
type TrimResult struct {
	Bytes   int64 // what the cache's objects took before
	Emptied bool
}

// TrimCache empties the local cache when its objects take more than
// maxBytes, and then fetches the tips of the base branch and of the PR
// branches again (commits and trees), so that what the pages show of each
// branch (CachedBranches) is back at once.
//
// The cache only ever grows: every operation stores the trees and the
// commit it made, and every fetch what it brought, and none of it is
// collected, since go-git's garbage collection walks whole histories and
// the cache is shallow and holds no blobs. Emptying it is cheap by design:
// every operation fetches what it needs into it (see the package comment),
// at the depth it needs. It runs under the cache's lock, so no operation of
// this process or another is halfway through.
func (r *Repo) TrimCache(ctx context.Context, maxBytes int64) (TrimResult, error) {
	if err := r.lock(ctx); err != nil {
		return TrimResult{}, err
	}
	defer r.unlock()
	dir := r.opts.CacheDir
	size, err := treeBytes(filepath.Join(dir, "objects"))
	res := TrimResult{Bytes: size}
	if err != nil || size <= maxBytes {
		return res, err
	}
	if err := r.store.Close(); err != nil {
		return res, fmt.Errorf("close the data repo cache: %w", err)
	}
	for _, p := range []string{"objects", "refs", "packed-refs", "shallow"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			return res, fmt.Errorf("empty the data repo cache: %w", err)
		}
	}
	for _, p := range []string{"objects/pack", "objects/info", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			return res, fmt.Errorf("empty the data repo cache: %w", err)
		}
	}
	// The old storage remembers packs and objects that are gone.
	r.store = filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(64<<20), filesystem.Options{ExclusiveAccess: true})
	res.Emptied = true

	tips, err := r.RemoteTips(ctx)
	if err != nil {
		return res, err
	}
	branches := []string{}
	for name := range tips {
		if short := name.Short(); name.IsBranch() && (short == r.opts.BaseBranch || PRBranchNumber(short) > 0) {
			branches = append(branches, short)
		}
	}
	if len(branches) > 0 {
		if _, err := r.fetch(ctx, branches...); err != nil {
			return res, err
		}
	}
	return res, nil
}

// treeBytes is the size of the files under dir.
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && !strings.HasSuffix(path, ".lock") {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
