package refdata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/internal/statcache"
)

// Trailers are the provenance lines at the end of every commit refbot makes.
type Trailers struct {
	PR         int    // Refbot-PR
	Build      string // Refbot-Build: the CI build id
	Commit     string // Refbot-Commit: the PR head the build tested
	ApprovedBy string // Refbot-Approved-By: who asked for it
	Comment    string // Refbot-Comment: link to the comment
}

// check refuses a value that would end its trailer line early and so add
// a line of its own (a forged Refbot-Approved-By, say), wherever it came
// from.
func (t Trailers) check() error {
	for k, v := range map[string]string{"Refbot-Build": t.Build, "Refbot-Commit": t.Commit,
		"Refbot-Approved-By": t.ApprovedBy, "Refbot-Comment": t.Comment} {
		if strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("%w: trailer %s holds a control character: %q", ErrBadData, k, v)
		}
	}
	return nil
}

func (t Trailers) String() string {
	var b strings.Builder
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	if t.PR > 0 {
		add("Refbot-PR", fmt.Sprint(t.PR))
	}
	add("Refbot-Build", t.Build)
	add("Refbot-Commit", t.Commit)
	add("Refbot-Approved-By", t.ApprovedBy)
	add("Refbot-Comment", t.Comment)
	return b.String()
}

// PRBranch is the data branch of pull request n.
func PRBranch(n int) string { return fmt.Sprintf("PR%d", n) }

// PRBranchNumber returns n for a data branch PR<n>, or 0 for any other name.
func PRBranchNumber(branch string) int {
	if !prBranchPattern.MatchString(branch) {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(branch, "PR"))
	return n
}

// UpdateRequest asks for Branch = Base + one commit whose tree is Base's
// with the data folder (or one variant's folder in it) replaced by Dir.
type UpdateRequest struct {
	Branch string // e.g. PR12, or the base branch itself for a forced rebuild
	Base   string // default: the configured base branch
	// Parts are the folders replaced, all in the one commit: the whole
	// data root (one Part with no Variant), or some variants.
	Parts    []Part
	Subject  string // first line of the commit message
	Trailers Trailers
	DryRun   bool // compute everything, push nothing
	// PushProgress, if set, is told the pack bytes sent so far.
	PushProgress func(sent int64)
	// Against is only for an update of the base branch itself (Branch ==
	// Base), such as a post-merge build taken when a PR's data could not
	// be promoted: it is the base commit the build's outputs were made
	// from. The parts then replace their folders in Against's tree, as
	// they would in the base's, and that change (Against → the build) is
	// merged into the current base, so that whatever reached the base
	// since Against is kept, not reverted. Files the build changes that
	// also changed on the base since, differently, fail the update with a
	// *ConflictError naming them. Against must be the base's tip or one
	// of its ancestors; otherwise the error wraps ErrNotOnBase. Zero: the
	// parts replace their folders in the current base.
	Against plumbing.Hash
}

// Part is one folder of the data root an update replaces, and its content.
type Part struct {
	Variant string // "" replaces the whole data root
	// The new content: either Dir, a folder holding all of it, or Files,
	// which may leave out the contents (Local) of files the data repo
	// already holds (see KnownBlobs).
	Dir   string
	Files []File
	// StatePath is where the git blob ids of Dir's files are remembered
	// between runs (see statcache); empty means always hash everything.
	StatePath string
}

// UpdateResult says what Update did (or, with DryRun, would do).
type UpdateResult struct {
	Branch   string
	Commit   plumbing.Hash // the new tip (zero if nothing changed)
	Previous plumbing.Hash // the tip replaced (zero if the branch was new)
	Base     plumbing.Hash
	// Changes compare the new tip with the previous tip, or with the base
	// when the branch is new: what this update changed.
	Changes []Change
	// FromBase are the paths the branch changes against its base: what
	// another PR's branch may change too (Overlaps).
	FromBase []string
	// Files is the number of files the new tree holds in the folders the
	// update replaced (the data root, or the variants' folders);
	// FilesBefore the number in the same folders of the tree the Changes
	// compare with.
	Files       int
	FilesBefore int
	NoChange    bool // the branch already held exactly this; nothing pushed
	Pushed      bool
	Objects     int   // objects sent
	Bytes       int64 // pack bytes sent
}

// Update makes req.Branch the base branch plus one commit holding the new
// content of the data root, or of some of its variants, replacing
// (amending) the branch's previous commit. When only variants are
// replaced, the branch's other variants are carried over onto the current
// base. The push carries the previous tip as a lease;
// if the branch moved since the fetch, it fails with a *LeaseError and
// nothing is overwritten. The previous tip is kept as a backup ref.
// Updating the base branch itself (a forced rebuild of master) adds one
// commit on top of it; see UpdateRequest.Against for applying a build made
// from an older base commit.
func (r *Repo) Update(ctx context.Context, req UpdateRequest) (*UpdateResult, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	base := req.Base
	if base == "" {
		base = r.opts.BaseBranch
	}
	if err := validBranch(req.Branch); err != nil {
		return nil, err
	}
	parts := req.Parts
	if len(parts) == 0 {
		return nil, fmt.Errorf("update %s: no content given", req.Branch)
	}
	if err := req.Trailers.check(); err != nil {
		return nil, fmt.Errorf("update %s: %w", req.Branch, err)
	}
	seen := map[string]bool{}
	for _, p := range parts {
		switch {
		case p.Variant == "" && len(parts) > 1:
			return nil, fmt.Errorf("update %s: the whole data root and variants in one update", req.Branch)
		case p.Variant != "" && (strings.Contains(p.Variant, "/") || validPath(p.Variant) != nil):
			return nil, fmt.Errorf("update %s: %w: variant %q is not a folder name", req.Branch, ErrBadData, p.Variant)
		case p.Variant != "" && r.protected(p.Variant, true):
			return nil, fmt.Errorf("update %s: variant %w", req.Branch, protectedError(p.Variant+"/"))
		case seen[p.Variant]:
			return nil, fmt.Errorf("update %s: variant %q given twice", req.Branch, p.Variant)
		case p.Dir != "" && p.Files != nil:
			return nil, fmt.Errorf("update %s: give Dir or Files, not both", req.Branch)
		}
		seen[p.Variant] = true
	}
	// A variant update carries the branch's other variants over, against
	// the base the branch was built on: its tip's parent.
	spec := fetchSpec{tips: []string{base, req.Branch}}
	if parts[0].Variant != "" && req.Branch != base {
		spec = fetchSpec{tips: []string{base}, withParents: []string{req.Branch}}
	}
	remote, err := r.fetchSpec(ctx, spec)
	if err != nil {
		return nil, err
	}
	baseTip := remote.tip(base)
	if baseTip.IsZero() {
		return nil, fmt.Errorf("update %s: base branch %s: %w", req.Branch, base, ErrNoBranch)
	}
	oldTip := remote.tip(req.Branch)
	onBase := req.Branch == base
	if !req.Against.IsZero() && !onBase {
		return nil, fmt.Errorf("update %s: Against is for an update of the base branch %s only", req.Branch, base)
	}

	n := newNewObjects()
	baseCommit, err := object.GetCommit(r.store, baseTip)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", base, err)
	}
	start := baseCommit.TreeHash
	var againstTree plumbing.Hash
	if !req.Against.IsZero() {
		on, err := r.onHistory(ctx, base, req.Against, baseTip)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", req.Branch, err)
		}
		if !on {
			return nil, fmt.Errorf("update %s: the build's base commit %s: %w %s", req.Branch, shortHash(req.Against), ErrNotOnBase, base)
		}
		against, err := object.GetCommit(r.store, req.Against)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", shortHash(req.Against), err)
		}
		againstTree = against.TreeHash
		start = againstTree
	}
	var oldTree plumbing.Hash
	if !oldTip.IsZero() && !onBase {
		old, err := object.GetCommit(r.store, oldTip)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", req.Branch, err)
		}
		oldTree = old.TreeHash
		// Carry the branch's own change over onto the current base, so that
		// replacing some variants keeps the others. The variants being
		// replaced are cut out of all three trees first: their own history
		// cannot conflict, since they are about to be replaced whole.
		if len(old.ParentHashes) == 1 && parts[0].Variant != "" {
			parent, err := object.GetCommit(r.store, old.ParentHashes[0])
			if err != nil {
				return nil, fmt.Errorf("read %s's parent: %w", req.Branch, err)
			}
			cut := func(tree plumbing.Hash) (plumbing.Hash, error) {
				for _, p := range parts {
					if tree, err = r.splice(n, tree, r.dataPath(p.Variant), plumbing.ZeroHash); err != nil {
						return tree, err
					}
				}
				return tree, nil
			}
			pt, err := cut(parent.TreeHash)
			if err != nil {
				return nil, err
			}
			bt, err := cut(start)
			if err != nil {
				return nil, err
			}
			ot, err := cut(old.TreeHash)
			if err != nil {
				return nil, err
			}
			if start, err = r.applyChange(n, pt, bt, ot, req.Branch); err != nil {
				return nil, err
			}
		}
	}

	res := &UpdateResult{Branch: req.Branch, Previous: oldTip, Base: baseTip}
	newTree := start
	var allFiles []File
	for _, p := range parts {
		files := p.Files
		if p.Dir != "" {
			sc := statcache.Load(p.StatePath)
			if files, err = scanDir(ctx, filepath.Clean(p.Dir), sc); err != nil {
				return nil, fmt.Errorf("update %s: %w", req.Branch, err)
			}
			if err := sc.Save(); err != nil {
				return nil, err
			}
		}
		dirTree, err := treeFromFiles(files, n)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", req.Branch, err)
		}
		if newTree, err = r.spliceData(n, newTree, p.Variant, dirTree); err != nil {
			return nil, fmt.Errorf("update %s: %w", req.Branch, err)
		}
		allFiles = append(allFiles, files...)
	}
	if err := r.checkBlobIDs(n, allFiles); err != nil {
		return nil, fmt.Errorf("update %s: %w", req.Branch, err)
	}
	if !againstTree.IsZero() {
		// newTree is the build over the base it was made from: bring its
		// change onto the current base.
		if newTree, err = r.applyChange(n, againstTree, baseCommit.TreeHash, newTree, req.Branch); err != nil {
			return nil, err
		}
	}
	compareWith := oldTree
	if oldTip.IsZero() || onBase {
		compareWith = baseCommit.TreeHash
	}
	if res.Changes, err = r.diff(n, compareWith, newTree, ""); err != nil {
		return nil, err
	}
	res.Changes = r.dataChanges(res.Changes)
	if !onBase {
		fromBase, err := r.diff(n, baseCommit.TreeHash, newTree, "")
		if err != nil {
			return nil, err
		}
		for _, c := range r.dataChanges(fromBase) {
			res.FromBase = append(res.FromBase, c.Path)
		}
	}
	for _, p := range parts {
		before, err := r.countFiles(n, compareWith, r.dataPath(p.Variant))
		if err != nil {
			return nil, err
		}
		after, err := r.countFiles(n, newTree, r.dataPath(p.Variant))
		if err != nil {
			return nil, err
		}
		res.FilesBefore += before
		res.Files += after
	}
	// Already there? Then there is nothing to push: doing an update twice
	// (a retried job) is harmless.
	if !oldTip.IsZero() && !onBase {
		old, _ := object.GetCommit(r.store, oldTip)
		if old.TreeHash == newTree && len(old.ParentHashes) == 1 && old.ParentHashes[0] == baseTip {
			res.NoChange, res.Commit = true, oldTip
			return res, nil
		}
	}
	if onBase && newTree == baseCommit.TreeHash {
		res.NoChange, res.Commit = true, baseTip
		return res, nil
	}
	commit, err := r.newCommit(n, newTree, baseTip, req.Subject, req.Trailers)
	if err != nil {
		return nil, err
	}
	res.Commit = commit
	if req.DryRun {
		return res, nil
	}
	// The remote has the trees refbot built on (Against's is on the base's
	// history) and their blobs.
	objects, err := r.objectsToSend(n, commit, newTree, baseCommit.TreeHash, oldTree, againstTree)
	if err != nil {
		return nil, err
	}
	failpoint.Hit("update-committed")
	st, err := r.pushWithBackup(ctx, remote, req.Branch, oldTip, commit, n, objects, req.PushProgress)
	res.Objects, res.Bytes = st.Objects, st.Bytes
	res.Pushed = err == nil
	return res, err
}

// KnownBlobs fetches the base branch and branch and returns the blob ids in
// their trees, and nothing else (no tree ids): the files an update of
// branch need not download or send.
func (r *Repo) KnownBlobs(ctx context.Context, branch string) (map[plumbing.Hash]bool, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	remote, err := r.fetch(ctx, r.opts.BaseBranch, branch)
	if err != nil {
		return nil, err
	}
	have := map[plumbing.Hash]plumbing.ObjectType{}
	for _, tip := range []plumbing.Hash{remote.tip(r.opts.BaseBranch), remote.tip(branch)} {
		if tip.IsZero() {
			continue
		}
		c, err := object.GetCommit(r.store, tip)
		if err != nil {
			return nil, err
		}
		if err := r.reachable(c.TreeHash, have); err != nil {
			return nil, err
		}
	}
	blobs := make(map[plumbing.Hash]bool, len(have))
	for h, typ := range have {
		if typ == plumbing.BlobObject {
			blobs[h] = true
		}
	}
	return blobs, nil
}

// dataPath is the folder of a variant's data ("": the whole data root) in
// the repo; "" is the top.
func (r *Repo) dataPath(variant string) string {
	if r.atTop() {
		return variant
	}
	if variant == "" {
		return r.opts.DataRoot
	}
	return path.Join(r.opts.DataRoot, variant)
}

func (r *Repo) newCommit(n *newObjects, tree, parent plumbing.Hash, subject string, t Trailers) (plumbing.Hash, error) {
	if subject == "" {
		subject = "Update reference data"
	}
	msg := strings.TrimSpace(subject) + "\n"
	if tr := t.String(); tr != "" {
		msg += "\n" + tr
	}
	sig := object.Signature{Name: r.opts.AuthorName, Email: r.opts.AuthorEmail, When: r.opts.Now().Truncate(time.Second)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	return n.add(c)
}

// remember stores the trees and commits an operation made in the cache and
// points the cache's copy of branch at tip, so the next operation starts
// from there without fetching them back.
func (r *Repo) remember(n *newObjects, branch string, tip plumbing.Hash) error {
	for _, obj := range n.encoded {
		if _, err := r.store.SetEncodedObject(obj); err != nil {
			return fmt.Errorf("store in cache: %w", err)
		}
	}
	if branch == "" {
		return nil
	}
	if tip.IsZero() {
		return r.store.RemoveReference(trackingRef(branch))
	}
	return r.store.SetReference(plumbing.NewHashReference(trackingRef(branch), tip))
}

// dataBranch is a data branch as a fresh fetch found it: its tip, the base
// it was built on (the tip's parent) and the current base.
type dataBranch struct {
	remote            remoteState
	tip, parent, base *object.Commit
}

// readDataBranch fetches the base branch and branch; op names the
// operation in errors.
func (r *Repo) readDataBranch(ctx context.Context, op, branch string) (*dataBranch, error) {
	base := r.opts.BaseBranch
	remote, err := r.fetchSpec(ctx, fetchSpec{tips: []string{base}, withParents: []string{branch}})
	if err != nil {
		return nil, err
	}
	tipHash, baseTip := remote.tip(branch), remote.tip(base)
	if tipHash.IsZero() {
		return nil, fmt.Errorf("%s %s: %w", op, branch, ErrNoBranch)
	}
	if baseTip.IsZero() {
		return nil, fmt.Errorf("%s %s: base branch %s: %w", op, branch, base, ErrNoBranch)
	}
	d := &dataBranch{remote: remote}
	if d.tip, err = object.GetCommit(r.store, tipHash); err != nil {
		return nil, err
	}
	if len(d.tip.ParentHashes) != 1 {
		return nil, fmt.Errorf("%s %s: its tip has %d parents; a data branch is its base plus one commit", op, branch, len(d.tip.ParentHashes))
	}
	if d.parent, err = object.GetCommit(r.store, d.tip.ParentHashes[0]); err != nil {
		return nil, fmt.Errorf("%s %s: read the base it was built on: %w", op, branch, err)
	}
	if d.base, err = object.GetCommit(r.store, baseTip); err != nil {
		return nil, err
	}
	return d, nil
}

// onCurrentBase applies the branch's change (parent → tip) to the current
// base and returns the tree, or a *ConflictError naming the files that
// changed on both sides.
func (r *Repo) onCurrentBase(n *newObjects, d *dataBranch, branch string) (plumbing.Hash, error) {
	return r.applyChange(n, d.parent.TreeHash, d.base.TreeHash, d.tip.TreeHash, branch)
}

// applyChange applies the change parent → tip to base (trees) and returns
// the tree, or a *ConflictError naming the files that changed both ways.
// Only the data changes: protected entries are left out of the change, so
// the result keeps base's.
func (r *Repo) applyChange(n *newObjects, parent, base, tip plumbing.Hash, branch string) (plumbing.Hash, error) {
	tip, err := r.keepProtected(n, tip, parent)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	merged, conflicts, err := r.merge(n, parent, base, tip, "")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(conflicts) > 0 {
		return plumbing.ZeroHash, &ConflictError{Branch: branch, Files: conflicts}
	}
	if merged.IsZero() {
		return n.add(&object.Tree{})
	}
	return merged, nil
}

// objectsToSend lists commit and the objects of tree the remote lacks,
// given trees it has.
func (r *Repo) objectsToSend(n *newObjects, commit, tree plumbing.Hash, remoteTrees ...plumbing.Hash) ([]plumbing.Hash, error) {
	have := map[plumbing.Hash]plumbing.ObjectType{}
	for _, t := range remoteTrees {
		if err := r.reachable(t, have); err != nil {
			return nil, err
		}
	}
	objects := []plumbing.Hash{commit}
	err := r.toSend(n, tree, have, &objects, map[plumbing.Hash]plumbing.ObjectType{})
	return objects, err
}

// pushWithBackup moves branch from old to tip (old is the lease and, unless
// zero, is kept as a backup ref) and remembers the new objects in the
// cache. progress, if set, is told the pack bytes sent.
func (r *Repo) pushWithBackup(ctx context.Context, remote remoteState, branch string, old, tip plumbing.Hash, n *newObjects, objects []plumbing.Hash, progress func(int64)) (pushStats, error) {
	updates := append([]refUpdate{{Name: branchRef(branch), Old: old, New: tip}},
		backupUpdates(remote, "backup", branch, old, r.opts.KeepBackups, r.opts.Now())...)
	st, err := r.push(ctx, updates, n, objects, progress)
	if err != nil {
		return st, err
	}
	failpoint.Hit("data-pushed")
	return st, r.remember(n, branch, tip)
}

// PromoteResult says what Promote did.
type PromoteResult struct {
	Branch   string
	Base     string
	Commit   plumbing.Hash // the new base tip
	Changes  []Change
	NoChange bool // the change was already on the base
}

// Promote applies branch's one commit to the base branch: its change against
// the base it was built on, applied to the current base as one new commit
// (dated now, even when the base has not moved since). When
// files it changes also changed on the base since, it fails with a
// *ConflictError naming them and changes nothing. The old base tip is kept
// as a backup ref.
func (r *Repo) Promote(ctx context.Context, branch string, dryRun bool) (*PromoteResult, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	d, err := r.readDataBranch(ctx, "promote", branch)
	if err != nil {
		return nil, err
	}
	base := r.opts.BaseBranch
	n := newNewObjects()
	res := &PromoteResult{Branch: branch, Base: base}
	if res.Changes, err = r.diff(n, d.parent.TreeHash, d.tip.TreeHash, ""); err != nil {
		return nil, err
	}
	res.Changes = r.dataChanges(res.Changes)
	// Always a commit of its own, dated now, even when the base has not
	// moved (never a fast-forward to the branch's commit, which is dated
	// when the UPDATE made it): the base's history then says when each
	// change reached it (see BaseAt). A change the branch made to a
	// protected entry is left behind by the merge.
	merged, err := r.onCurrentBase(n, d, branch)
	if err != nil {
		return nil, err
	}
	if merged == d.base.TreeHash {
		res.NoChange, res.Commit = true, d.base.Hash
		return res, nil
	}
	subject, _, _ := strings.Cut(d.tip.Message, "\n")
	msg := ""
	if i := strings.Index(d.tip.Message, "\n\n"); i >= 0 {
		msg = strings.TrimSpace(d.tip.Message[i+2:]) + "\n"
	}
	sig := object.Signature{Name: r.opts.AuthorName, Email: r.opts.AuthorEmail, When: r.opts.Now().Truncate(time.Second)}
	c := &object.Commit{Author: sig, Committer: sig, TreeHash: merged, ParentHashes: []plumbing.Hash{d.base.Hash},
		Message: fmt.Sprintf("%s\n\n%sRefbot-Promoted-From: %s %s\n", subject, msg, branch, d.tip.Hash)}
	if res.Commit, err = n.add(c); err != nil {
		return nil, err
	}
	// The remote has the PR's trees and blobs and the base's: only the
	// new trees and the commit travel.
	objects, err := r.objectsToSend(n, res.Commit, merged, d.base.TreeHash, d.tip.TreeHash)
	if err != nil {
		return nil, err
	}
	if dryRun {
		return res, nil
	}
	failpoint.Hit("promote-committed")
	_, err = r.pushWithBackup(ctx, d.remote, base, d.base.Hash, res.Commit, n, objects, nil)
	return res, err
}

// DeleteBranch deletes branch, keeping its tip under refs/refbot/archive/,
// and in the same push deletes the archives and backups that fall out of
// retention (see PruneRefs). Deleting a branch that does not exist does
// nothing.
func (r *Repo) DeleteBranch(ctx context.Context, branch string) (plumbing.Hash, error) {
	if err := r.lock(ctx); err != nil {
		return plumbing.ZeroHash, err
	}
	defer r.unlock()
	if err := validBranch(branch); err != nil {
		return plumbing.ZeroHash, err
	}
	if branch == r.opts.BaseBranch {
		return plumbing.ZeroHash, fmt.Errorf("delete %s: refusing to delete the base branch", branch)
	}
	remote, err := r.RemoteTips(ctx)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tip := remote[branchRef(branch)]
	if tip.IsZero() {
		return plumbing.ZeroHash, nil
	}
	updates := append([]refUpdate{{Name: branchRef(branch), Old: tip}},
		backupUpdates(remote, "archive", branch, tip, 0, r.opts.Now())...)
	// The same push prunes the archives beyond retention, counting this
	// one: archives only grow here.
	after := maps.Clone(remote)
	for _, u := range updates {
		if u.New.IsZero() {
			delete(after, u.Name)
		} else {
			after[u.Name] = u.New
		}
	}
	for _, u := range pruneUpdates(after, r.retention()) {
		if !remote[u.Name].IsZero() {
			updates = append(updates, u)
		}
	}
	if _, err := r.push(ctx, updates, newNewObjects(), nil, nil); err != nil {
		return tip, err
	}
	return tip, r.store.RemoveReference(trackingRef(branch))
}

// Snapshot copies the base branch's tip to a new branch name (a release,
// say). It fails with ErrExists if name exists.
func (r *Repo) Snapshot(ctx context.Context, name string) (plumbing.Hash, error) {
	if err := r.lock(ctx); err != nil {
		return plumbing.ZeroHash, err
	}
	defer r.unlock()
	if err := validBranch(name); err != nil {
		return plumbing.ZeroHash, err
	}
	remote, err := r.RemoteTips(ctx)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tip := remote[branchRef(r.opts.BaseBranch)]
	if tip.IsZero() {
		return plumbing.ZeroHash, fmt.Errorf("snapshot %s: base branch %s: %w", name, r.opts.BaseBranch, ErrNoBranch)
	}
	if !remote[branchRef(name)].IsZero() {
		return plumbing.ZeroHash, fmt.Errorf("snapshot %s: %w", name, ErrExists)
	}
	if _, err := r.push(ctx, []refUpdate{{Name: branchRef(name), New: tip}}, newNewObjects(), nil, nil); err != nil {
		return plumbing.ZeroHash, err
	}
	return tip, nil
}

// validBranch accepts branch names refbot creates or is told to use.
func validBranch(name string) error {
	ok := name != "" && !strings.HasPrefix(name, "-") && !strings.HasPrefix(name, "/") &&
		!strings.HasSuffix(name, "/") && !strings.HasSuffix(name, ".lock") &&
		!strings.Contains(name, "..") && !strings.Contains(name, "//") && !strings.Contains(name, "@{")
	for _, c := range name {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`~^:?*[\`, c) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%q is not a valid branch name", name)
	}
	return nil
}

// countFiles counts the files under folder p of tree root, leaving out
// the protected entries of the top.
// subtree returns the tree of folder p ("" the root itself) under tree
// root, or the zero hash when there is no such folder.
func (r *Repo) subtree(n *newObjects, root plumbing.Hash, p string) (plumbing.Hash, error) {
	h := root
	for _, part := range strings.Split(p, "/") {
		if h.IsZero() || part == "" {
			break
		}
		t, err := r.tree(n, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		next := plumbing.ZeroHash
		for _, e := range t.Entries {
			if e.Name == part && e.Mode == filemode.Dir {
				next = e.Hash
			}
		}
		h = next
	}
	return h, nil
}

func (r *Repo) countFiles(n *newObjects, root plumbing.Hash, p string) (int, error) {
	h, err := r.subtree(n, root, p)
	if err != nil || h.IsZero() {
		return 0, err
	}
	count := 0
	var walk func(h plumbing.Hash, top bool) error
	walk = func(h plumbing.Hash, top bool) error {
		t, err := r.tree(n, h)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			if top && r.protected(e.Name, e.Mode == filemode.Dir) {
				continue
			}
			if e.Mode == filemode.Dir {
				if err := walk(e.Hash, false); err != nil {
					return err
				}
			} else {
				count++
			}
		}
		return nil
	}
	return count, walk(h, p == "")
}

// Overlaps returns, for every other data branch PR<n> on the remote, the
// paths among paths that its one commit also changes; branches that share
// none are left out. self is the asking branch.
func (r *Repo) Overlaps(ctx context.Context, self string, paths []string) (map[string][]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	tips, err := r.RemoteTips(ctx)
	if err != nil {
		return nil, err
	}
	var branches []string
	for name := range tips {
		b := name.Short()
		if name.IsBranch() && b != self && prBranchPattern.MatchString(b) {
			branches = append(branches, b)
		}
	}
	if len(branches) == 0 {
		return nil, nil
	}
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	remote, err := r.fetchSpec(ctx, fetchSpec{withParents: branches})
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(paths))
	for _, p := range paths {
		want[p] = true
	}
	out := map[string][]string{}
	for _, b := range branches {
		tip := remote.tip(b)
		if tip.IsZero() {
			continue
		}
		c, err := object.GetCommit(r.store, tip)
		if err != nil {
			return nil, err
		}
		if len(c.ParentHashes) != 1 {
			continue // not a data branch refbot made
		}
		parent, err := object.GetCommit(r.store, c.ParentHashes[0])
		if err != nil {
			return nil, err
		}
		changes, err := r.diff(nil, parent.TreeHash, c.TreeHash, "")
		if err != nil {
			return nil, err
		}
		for _, ch := range r.dataChanges(changes) {
			if want[ch.Path] {
				out[b] = append(out[b], ch.Path)
			}
		}
	}
	return out, nil
}

var prBranchPattern = regexp.MustCompile(`^PR[1-9][0-9]*$`)

// BranchInfo describes a data branch as refbot made it.
type BranchInfo struct {
	Exists   bool
	Tip      plumbing.Hash
	Base     plumbing.Hash // its parent: the base it was built on
	Trailers map[string]string
	When     time.Time
}

// Branch fetches branch and reads its tip commit and trailers.
func (r *Repo) Branch(ctx context.Context, branch string) (BranchInfo, error) {
	if err := r.lock(ctx); err != nil {
		return BranchInfo{}, err
	}
	defer r.unlock()
	remote, err := r.fetch(ctx, branch)
	if err != nil {
		return BranchInfo{}, err
	}
	return r.branchInfo(branch, remote.tip(branch))
}

// CachedBranch is Branch without contacting the remote: it reads the
// cache's own copy of branch, where the last fetch or push of it left it
// (which may be behind the remote), for a page that must answer quickly.
// It waits for the cache at most as long as ctx allows. Exists is false
// when the cache has no copy of branch.
func (r *Repo) CachedBranch(ctx context.Context, branch string) (BranchInfo, error) {
	if err := validBranch(branch); err != nil {
		return BranchInfo{}, err
	}
	if err := r.lock(ctx); err != nil {
		return BranchInfo{}, err
	}
	defer r.unlock()
	ref, err := r.store.Reference(trackingRef(branch))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return BranchInfo{}, nil
	}
	if err != nil {
		return BranchInfo{}, fmt.Errorf("read the cache's copy of %s: %w", branch, err)
	}
	return r.branchInfo(branch, ref.Hash())
}

// branchInfo reads the commit tip of branch from the cache (zero tip: no
// branch).
func (r *Repo) branchInfo(branch string, tip plumbing.Hash) (BranchInfo, error) {
	if tip.IsZero() {
		return BranchInfo{}, nil
	}
	c, err := object.GetCommit(r.store, tip)
	if err != nil {
		return BranchInfo{}, fmt.Errorf("read %s: %w", branch, err)
	}
	info := BranchInfo{Exists: true, Tip: tip, Trailers: map[string]string{}, When: c.Committer.When}
	if len(c.ParentHashes) > 0 {
		info.Base = c.ParentHashes[0]
	}
	for _, line := range strings.Split(c.Message, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(k, "Refbot-") {
			info.Trailers[k] = strings.TrimSpace(v)
		}
	}
	return info, nil
}

// RebaseResult says what Rebase did.
type RebaseResult struct {
	Branch   string
	Commit   plumbing.Hash // the new tip
	UpToDate bool          // it was already built on the current base
}

// Rebase moves data branch onto the current base: its one commit's change
// against the base it was built on is applied to the current base (after
// another PR's data was promoted, say). When files it changes also changed
// on the base since, it fails with a *ConflictError and changes nothing.
// The push carries the old tip as its lease, which is kept as a backup ref.
func (r *Repo) Rebase(ctx context.Context, branch string) (*RebaseResult, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	d, err := r.readDataBranch(ctx, "rebase", branch)
	if err != nil {
		return nil, err
	}
	res := &RebaseResult{Branch: branch, Commit: d.tip.Hash}
	if d.parent.Hash == d.base.Hash {
		res.UpToDate = true
		return res, nil
	}
	n := newNewObjects()
	merged, err := r.onCurrentBase(n, d, branch)
	if err != nil {
		return nil, err
	}
	rebased := &object.Commit{Author: d.tip.Author, Committer: object.Signature{Name: r.opts.AuthorName, Email: r.opts.AuthorEmail,
		When: r.opts.Now().Truncate(time.Second)}, Message: d.tip.Message, TreeHash: merged, ParentHashes: []plumbing.Hash{d.base.Hash}}
	if res.Commit, err = n.add(rebased); err != nil {
		return nil, err
	}
	objects, err := r.objectsToSend(n, res.Commit, merged, d.base.TreeHash, d.tip.TreeHash)
	if err != nil {
		return nil, err
	}
	failpoint.Hit("rebase-committed")
	_, err = r.pushWithBackup(ctx, d.remote, branch, d.tip.Hash, res.Commit, n, objects, nil)
	return res, err
}

// PRBranches returns the numbers n of the remote's data branches PR<n>.
func (r *Repo) PRBranches(ctx context.Context) ([]int, error) {
	tips, err := r.RemoteTips(ctx)
	if err != nil {
		return nil, err
	}
	var out []int
	for name := range tips {
		if n := PRBranchNumber(name.Short()); name.IsBranch() && n > 0 {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}
