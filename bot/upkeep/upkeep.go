// Package upkeep bounds what `refbot serve` keeps as it runs for months:
// the record of finished work in the database, the work folders of pull
// requests that are over, and the local clone of the data repo
// (docs/design.md, "State"). River deletes ended jobs itself
// (queue.Config.KeepFinished), the queue drops their log lines, and the
// heads are capped per PR when recorded; the rest of the database is
// pruned here after each reconcile pass (PruneRecords, on the replica that
// ran it), and each replica's own disk on a timer (Run).
package upkeep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/refdata"
)

// Store is what upkeep needs of the store.
type Store interface {
	PruneFinished(ctx context.Context, before time.Time) (store.Pruned, error)
	OpenPRs(ctx context.Context) ([]store.OpenPR, error)
	TakeLeases(ctx context.Context, names []string, holder string, ttl time.Duration) (bool, error)
	ReleaseLeases(ctx context.Context, names []string, holder string) error
}

// Cache is the local clone of the data repo (refdata.Repo).
type Cache interface {
	TrimCache(ctx context.Context, maxBytes int64) (refdata.TrimResult, error)
}

// Options configure Run.
type Options struct {
	Store Store
	// Cache, when set, is emptied once it holds more than CacheMaxBytes
	// (config data_repo.cache_max_bytes).
	Cache         Cache
	CacheMaxBytes int64
	// WorkDir holds a folder pr<N> per pull request (the workflow's
	// downloads, kept between its UPDATEs).
	WorkDir string
	// KeepFinished: finished records older than this go
	// (config jobs.keep_finished).
	KeepFinished time.Duration
	// KeepWorkFolders: the work folder of a PR that is not open goes
	// once it was last used this long ago (config jobs.keep_work_folders).
	KeepWorkFolders time.Duration
	// Holder names upkeep as the holder of the PR lease it takes while it
	// removes a PR's folder, so that no job of the PR writes there
	// meanwhile.
	Holder string
	Logger *zap.Logger
	Now    func() time.Time
}

// Upkeep does the upkeep.
type Upkeep struct {
	o Options
}

// New returns an Upkeep; Store and WorkDir are required.
func New(o Options) (*Upkeep, error) {
	if o.Store == nil || o.WorkDir == "" {
		return nil, errors.New("upkeep: a store and a work folder are required")
	}
	if o.KeepFinished <= 0 || o.KeepWorkFolders <= 0 {
		return nil, errors.New("upkeep: the retention periods must be positive")
	}
	if o.Holder == "" {
		o.Holder = fmt.Sprintf("upkeep-%d", os.Getpid())
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Upkeep{o: o}, nil
}

// PruneRecords removes the records of the database that are past their
// retention: once, on the replica that ran the reconcile pass.
func (u *Upkeep) PruneRecords(ctx context.Context) (store.Pruned, error) {
	rows, err := u.o.Store.PruneFinished(ctx, u.o.Now().Add(-u.o.KeepFinished))
	if n := rows.Total(); n > 0 {
		u.o.Logger.Info("upkeep: pruned finished records", zap.Int64("rows", n))
	}
	return rows, err
}

// Local says what PruneLocal removed.
type Local struct {
	WorkFolders []int // the PRs whose work folders went
	Cache       refdata.TrimResult
}

// PruneLocal removes what this replica keeps on its own disk past its
// retention: the work folders of PRs that are over, and the clone of the
// data repo once it is over its bound. It goes on past a failure and
// returns them all; the next run tries again.
func (u *Upkeep) PruneLocal(ctx context.Context) (Local, error) {
	var res Local
	folders, err := u.pruneWorkFolders(ctx)
	res.WorkFolders = folders
	if u.o.Cache != nil && u.o.CacheMaxBytes > 0 {
		var cerr error
		res.Cache, cerr = u.o.Cache.TrimCache(ctx, u.o.CacheMaxBytes)
		err = errors.Join(err, cerr)
	}
	if len(folders) > 0 || res.Cache.Emptied {
		u.o.Logger.Info("upkeep: removed local files past their retention", zap.Ints("work_folders", folders),
			zap.Bool("cache_emptied", res.Cache.Emptied), zap.Int64("cache_bytes", res.Cache.Bytes))
	}
	return res, err
}

// Run runs PruneLocal every interval until ctx ends, logging what fails
// (the next run tries again). The first run is an interval after the
// start, once the reconcile pass at start has listed the open PRs.
func (u *Upkeep) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := u.PruneLocal(ctx); err != nil && ctx.Err() == nil {
			u.o.Logger.Warn("upkeep", zap.Error(err))
		}
	}
}

// workFolder is the name of a PR's work folder (bot/workflow's workDir).
var workFolder = regexp.MustCompile(`^pr([1-9][0-9]{0,9})$`)

// pruneWorkFolders removes the work folders of the PRs that are not open
// and were last used before the retention period, each under the PR's
// lease.
func (u *Upkeep) pruneWorkFolders(ctx context.Context) ([]int, error) {
	ents, err := os.ReadDir(u.o.WorkDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("upkeep: list work folders: %w", err)
	}
	open, err := u.o.Store.OpenPRs(ctx)
	if err != nil {
		return nil, fmt.Errorf("upkeep: open PRs: %w", err)
	}
	isOpen := map[int]bool{}
	for _, p := range open {
		isOpen[p.PR] = true
	}
	cutoff := u.o.Now().Add(-u.o.KeepWorkFolders)
	var removed []int
	var errs []error
	for _, e := range ents {
		m := workFolder.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		pr, _ := strconv.Atoi(m[1])
		dir := filepath.Join(u.o.WorkDir, e.Name())
		if isOpen[pr] || !lastUsed(dir).Before(cutoff) {
			continue
		}
		gone, err := u.removeWorkFolder(ctx, pr, dir)
		if err != nil {
			errs = append(errs, err)
		}
		if gone {
			removed = append(removed, pr)
		}
	}
	return removed, errors.Join(errs...)
}

// removeWorkFolder removes dir, PR pr's work folder, if no job of the PR
// holds its lease (one that does is using the folder: it stays).
func (u *Upkeep) removeWorkFolder(ctx context.Context, pr int, dir string) (bool, error) {
	lease := []string{store.PRLease(pr)}
	ok, err := u.o.Store.TakeLeases(ctx, lease, u.o.Holder, time.Minute)
	if err != nil || !ok {
		return false, err
	}
	defer u.o.Store.ReleaseLeases(context.WithoutCancel(ctx), lease, u.o.Holder)
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("upkeep: remove the work folder of #%d: %w", pr, err)
	}
	return true, nil
}

// lastUsed is when a job last wrote in a PR's work folder: the newest
// modification of the folder and of the entries of its files/ and state/
// folders (a run writes a variant's state file and downloads beside it).
func lastUsed(dir string) time.Time {
	var newest time.Time
	see := func(path string) {
		if info, err := os.Lstat(path); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	see(dir)
	for _, sub := range []string{"files", "state"} {
		p := filepath.Join(dir, sub)
		see(p)
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			see(filepath.Join(p, e.Name()))
		}
	}
	return newest
}
