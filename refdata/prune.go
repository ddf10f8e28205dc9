package refdata

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// keptRef is one of the refs refbot keeps an old tip under:
// refs/refbot/<kind>/<branch>/<time>, time in Unix nanoseconds.
type keptRef struct {
	name   plumbing.ReferenceName
	kind   string // "backup" or "archive"
	branch string
	at     int64
}

// parseKeptRef reads a backup or archive ref's name; ok is false for any
// other ref, and for one refbot did not name (it is left alone).
func parseKeptRef(name plumbing.ReferenceName) (keptRef, bool) {
	for _, kind := range []string{"backup", "archive"} {
		rest, ok := strings.CutPrefix(name.String(), "refs/refbot/"+kind+"/")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			return keptRef{}, false
		}
		at, err := strconv.ParseInt(rest[i+1:], 10, 64)
		if err != nil || at < 0 {
			return keptRef{}, false
		}
		return keptRef{name: name, kind: kind, branch: rest[:i], at: at}, true
	}
	return keptRef{}, false
}

// retention is what pruneUpdates keeps; see Options.
type retention struct {
	keepBackups  int
	keepArchives int
	archivesFor  time.Duration
	now          time.Time
}

func (r *Repo) retention() retention {
	return retention{keepBackups: r.opts.KeepBackups, keepArchives: r.opts.KeepArchives,
		archivesFor: r.opts.KeepArchivesFor, now: r.opts.Now()}
}

// pruneUpdates returns the deletions (each with its lease) that bring the
// backup and archive refs of remote within ret:
//   - a branch that exists keeps its newest keepBackups backups, and its
//     archives (of an earlier life, before a reopened PR);
//   - a branch that does not exist is archived: it is kept, with its
//     archives and newest keepBackups backups, if it is among the
//     keepArchives most recently archived (0: all) and was archived within
//     archivesFor (0: whenever); otherwise all its refs go. When it was
//     archived is its newest ref's time, so a branch deleted by hand,
//     with backups but no archive, ages from its last backup.
//
// Refs refbot did not name are never touched.
func pruneUpdates(remote remoteState, ret retention) []refUpdate {
	byBranch := map[string][]keptRef{}
	for name := range remote {
		if k, ok := parseKeptRef(name); ok {
			byBranch[k.branch] = append(byBranch[k.branch], k)
		}
	}
	type archived struct {
		branch string
		at     int64 // its newest ref's time
	}
	var gone []archived
	var ups []refUpdate
	drop := func(k keptRef) { ups = append(ups, refUpdate{Name: k.name, Old: remote[k.name]}) }
	keepNewestBackups := func(refs []keptRef) {
		n := 0
		for _, k := range refs { // newest first
			if k.kind == "backup" {
				if n++; n > ret.keepBackups {
					drop(k)
				}
			}
		}
	}
	for branch, refs := range byBranch {
		sort.Slice(refs, func(i, j int) bool {
			if refs[i].at != refs[j].at {
				return refs[i].at > refs[j].at
			}
			return refs[i].name < refs[j].name
		})
		if _, live := remote[branchRef(branch)]; live {
			keepNewestBackups(refs)
			continue
		}
		gone = append(gone, archived{branch, refs[0].at})
	}
	sort.Slice(gone, func(i, j int) bool {
		if gone[i].at != gone[j].at {
			return gone[i].at > gone[j].at
		}
		return gone[i].branch < gone[j].branch
	})
	for i, g := range gone {
		refs := byBranch[g.branch]
		tooMany := ret.keepArchives > 0 && i >= ret.keepArchives
		tooOld := ret.archivesFor > 0 && ret.now.Sub(time.Unix(0, g.at)) > ret.archivesFor
		if tooMany || tooOld {
			for _, k := range refs {
				drop(k)
			}
			continue
		}
		keepNewestBackups(refs)
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Name < ups[j].Name })
	return ups
}

// PruneResult says what PruneRefs removed.
type PruneResult struct {
	// Deleted are the backup and archive refs deleted on the data repo
	// (with dryRun, those that would be).
	Deleted []string
	// Kept is the number of backup and archive refs left.
	Kept int
	// Forgotten are the branches whose copy the cache dropped because the
	// data repo no longer has them (none with dryRun).
	Forgotten []string
}

// PruneRefs brings refbot's backup and archive refs on the data repo
// within the retention of Options (KeepBackups, KeepArchives,
// KeepArchivesFor), in one push whose every deletion carries the ref's
// tip as its lease, so a ref someone moved in between is left alone (the
// push fails with a *LeaseError and changes nothing, where the server
// allows atomic pushes). It also drops the cache's copies of branches the
// data repo no longer has, and its record of history they alone reached.
func (r *Repo) PruneRefs(ctx context.Context, dryRun bool) (*PruneResult, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	remote, err := r.RemoteTips(ctx)
	if err != nil {
		return nil, err
	}
	ups := pruneUpdates(remote, r.retention())
	res := &PruneResult{Deleted: []string{}, Forgotten: []string{}}
	for _, u := range ups {
		res.Deleted = append(res.Deleted, u.Name.String())
	}
	for name := range remote {
		if _, ok := parseKeptRef(name); ok {
			res.Kept++
		}
	}
	res.Kept -= len(ups)
	if dryRun {
		return res, nil
	}
	if len(ups) > 0 {
		if _, err := r.push(ctx, ups, newNewObjects(), nil, nil); err != nil {
			return nil, fmt.Errorf("prune backup and archive refs: %w", err)
		}
	}
	if res.Forgotten, err = r.forgetGoneBranches(remote); err != nil {
		return res, err
	}
	return res, nil
}

// forgetGoneBranches removes the cache's copies of branches remote does
// not have, then the shallow commits only they reached.
func (r *Repo) forgetGoneBranches(remote remoteState) ([]string, error) {
	refs, err := r.store.IterReferences()
	if err != nil {
		return nil, err
	}
	prefix := trackingRef("").String()
	var gone []string
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		branch, ok := strings.CutPrefix(ref.Name().String(), prefix)
		if ok && ref.Type() == plumbing.HashReference && remote.tip(branch).IsZero() {
			gone = append(gone, branch)
		}
		return nil
	})
	if err != nil && err != storer.ErrStop {
		return nil, err
	}
	sort.Strings(gone)
	for _, b := range gone {
		if err := r.store.RemoveReference(trackingRef(b)); err != nil {
			return nil, fmt.Errorf("forget the cache's copy of %s: %w", b, err)
		}
	}
	out := []string{}
	out = append(out, gone...)
	return out, r.trimShallow(0)
}
