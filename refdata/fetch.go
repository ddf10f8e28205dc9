package refdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// How much of a branch's history an operation reads: a fetch asks for the
// tips at this depth (git's "deepen"), so the cache holds what the
// operation works on and never the years of history behind it
// (docs/design.md, "Data repo").
const (
	// tipOnly is the tip commit and its trees: enough to build on the
	// base, amend a branch or read its trailers.
	tipOnly = 1
	// withParent adds the tip's parent: a data branch's one commit and the
	// base it was built on, whose trees its change is taken against
	// (promotion, rebase, a variant update, overlaps).
	withParent = 2
)

// maxShallow is how many shallow commits the cache lists before fetch
// drops those no branch of the cache reaches any more. Every fetch at a
// depth adds one or two, and all are sent with the next fetch.
const maxShallow = 512

// fetchSpec says what a fetch brings: the tips of branches, each with the
// history its depth says.
type fetchSpec struct {
	tips        []string // at depth tipOnly
	withParents []string // at depth withParent
	// deepen, when set, asks for tips at this depth even when the cache
	// has them, to reach further back in their history.
	deepen int
}

// fetch brings the tips of branches into the cache (see fetchSpec).
func (r *Repo) fetch(ctx context.Context, branches ...string) (remoteState, error) {
	return r.fetchSpec(ctx, fetchSpec{tips: branches})
}

// fetchSpec brings what spec says into the cache (commits and trees only
// when the server supports partial clone; the whole history when it does
// not support shallow fetches), points the cache's copies of the branches
// at their tips, and returns every ref the remote advertised; refbot's
// leases are taken against this snapshot.
func (r *Repo) fetchSpec(ctx context.Context, spec fetchSpec) (remoteState, error) {
	cred, err := r.credential(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := r.client.NewUploadPackSession(r.ep, cred.auth())
	if err != nil {
		return nil, cred.redact(fmt.Errorf("connect to data repo: %w", err))
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, cred.redact(fmt.Errorf("fetch data repo: %w", err))
	}
	state := remoteState{}
	if ar == nil {
		ar = packp.NewAdvRefs()
	} else {
		state = advertisedTips(ar)
	}
	shallowOK := ar.Capabilities.Supports(capability.Shallow)
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	depth := 0
	var branches []string
	for _, group := range []struct {
		branches []string
		depth    int
	}{{spec.tips, tipOnly}, {spec.withParents, withParent}} {
		d := group.depth
		if spec.deepen > 0 {
			d = spec.deepen
		}
		for _, b := range group.branches {
			branches = append(branches, b)
			h := state.tip(b)
			if h.IsZero() || slices.Contains(req.Wants, h) {
				continue
			}
			need := !r.hasCommit(h)
			if shallowOK && !need {
				need = spec.deepen > 0 || !r.hasHistory(h, d)
			}
			if need {
				req.Wants = append(req.Wants, h)
				depth = max(depth, d)
			}
		}
	}
	if len(req.Wants) > 0 {
		if err := r.fetchPack(ctx, sess, ar, req, depth, shallowOK); err != nil {
			return nil, cred.redact(err)
		}
	}
	for _, b := range branches {
		h := state.tip(b)
		var err error
		if h.IsZero() {
			err = r.store.RemoveReference(trackingRef(b))
		} else {
			err = r.store.SetReference(plumbing.NewHashReference(trackingRef(b), h))
		}
		if err != nil {
			return nil, fmt.Errorf("update cache ref %s: %w", b, err)
		}
	}
	if err := r.trimShallow(maxShallow); err != nil {
		return nil, err
	}
	return state, nil
}

// dropTempPacks removes the temporary packs a fetch writes into
// (objects/pack/tmp_pack_*): go-git leaves its own when the answer breaks
// off (a reset connection), and a process that dies mid-fetch leaves one,
// each as large as what it got, in the cache for good otherwise. The
// caller holds the cache's lock: no other fetch is writing one.
func (r *Repo) dropTempPacks() {
	tmp, _ := filepath.Glob(filepath.Join(r.opts.CacheDir, "objects", "pack", "tmp_pack_*"))
	for _, p := range tmp {
		os.Remove(p)
	}
}

// fetchPack asks for req's wants, at depth when the server allows shallow
// fetches, and stores the answer: the pack, and the cache's new shallow
// boundary.
func (r *Repo) fetchPack(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, req *packp.UploadPackRequest, depth int, shallowOK bool) error {
	// What we already have, so the server sends only the difference.
	refs, err := r.store.IterReferences()
	if err != nil {
		return err
	}
	refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && ref.Name().IsRemote() {
			req.Haves = append(req.Haves, ref.Hash())
		}
		return nil
	})
	shallow, err := r.store.Shallow()
	if err != nil {
		return fmt.Errorf("read the cache's shallow commits: %w", err)
	}
	if shallowOK {
		// The server must know where the cache's history stops, or it
		// takes a have for the whole history behind it and leaves out
		// the parents asked for.
		req.Capabilities.Set(capability.Shallow)
		req.Shallows = shallow
		if depth > 0 {
			req.Depth = packp.DepthCommits(depth)
		}
	}
	if ar.Capabilities.Supports(capability.Filter) {
		req.Filter = packp.FilterBlobNone()
		req.Capabilities.Set(capability.Filter)
	}
	if ar.Capabilities.Supports(capability.NoProgress) {
		req.Capabilities.Set(capability.NoProgress)
	}
	// A process that died while fetching left its pack behind.
	r.dropTempPacks()
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return fmt.Errorf("fetch data repo: %w", err)
	}
	defer resp.Close()
	// The new boundary is written before the objects, so that a commit in
	// the cache without its parents is always listed: if the process dies
	// in between, the cache lists a commit it lacks, which is harmless.
	added := unionHashes(shallow, resp.Shallows)
	if len(added) != len(shallow) {
		if err := r.setShallow(added); err != nil {
			return err
		}
	}
	if err := packfile.UpdateObjectStorage(r.store, demux(req.Capabilities, resp)); err != nil {
		r.dropTempPacks()
		return fmt.Errorf("store fetched data repo objects: %w", err)
	}
	if len(resp.Unshallows) > 0 {
		// Their parents came with this pack.
		gone := make(map[plumbing.Hash]bool, len(resp.Unshallows))
		for _, h := range resp.Unshallows {
			gone[h] = true
		}
		var keep []plumbing.Hash
		for _, h := range added {
			if !gone[h] {
				keep = append(keep, h)
			}
		}
		if err := r.setShallow(keep); err != nil {
			return err
		}
	}
	return nil
}

func unionHashes(a, b []plumbing.Hash) []plumbing.Hash {
	seen := make(map[plumbing.Hash]bool, len(a)+len(b))
	out := make([]plumbing.Hash, 0, len(a)+len(b))
	for _, l := range [][]plumbing.Hash{a, b} {
		for _, h := range l {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// setShallow replaces the cache's list of shallow commits (the commits
// whose parents it lacks), in git's format, atomically: a list cut short
// would make the server take those commits' histories for present.
func (r *Repo) setShallow(commits []plumbing.Hash) error {
	var buf bytes.Buffer
	for _, h := range commits {
		buf.WriteString(h.String() + "\n")
	}
	path := filepath.Join(r.opts.CacheDir, "shallow")
	if len(commits) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("update the cache's shallow commits: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(r.opts.CacheDir, "shallow-*")
	if err != nil {
		return fmt.Errorf("update the cache's shallow commits: %w", err)
	}
	_, err = io.Copy(tmp, &buf)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("update the cache's shallow commits: %w", err)
	}
	return nil
}

// trimShallow, once the cache lists more than limit shallow commits, keeps
// only those the cache's branches reach: a commit no ref leads to is never
// sent as a have, so whether its parents are present matters to no server.
// Should a later fetch lead to one again, the server sends it anew with
// its boundary.
func (r *Repo) trimShallow(limit int) error {
	shallow, err := r.store.Shallow()
	if err != nil {
		return fmt.Errorf("read the cache's shallow commits: %w", err)
	}
	if len(shallow) <= limit {
		return nil
	}
	boundary := make(map[plumbing.Hash]bool, len(shallow))
	for _, h := range shallow {
		boundary[h] = true
	}
	reached := map[plumbing.Hash]bool{}
	seen := map[plumbing.Hash]bool{}
	var queue []plumbing.Hash
	refs, err := r.store.IterReferences()
	if err != nil {
		return err
	}
	refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference {
			queue = append(queue, ref.Hash())
		}
		return nil
	})
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		if boundary[h] {
			reached[h] = true
			continue
		}
		c, err := object.GetCommit(r.store, h)
		if err != nil {
			continue // not in the cache: nothing to list
		}
		queue = append(queue, c.ParentHashes...)
	}
	var keep []plumbing.Hash
	for _, h := range shallow {
		if reached[h] {
			keep = append(keep, h)
		}
	}
	return r.setShallow(keep)
}

// hasCommit reports whether the cache holds commit h.
func (r *Repo) hasCommit(h plumbing.Hash) bool {
	_, err := r.store.EncodedObject(plumbing.CommitObject, h)
	return err == nil
}

// hasHistory reports whether the cache holds commit h and depth-1
// generations of its ancestors (all of them, when there are fewer).
func (r *Repo) hasHistory(h plumbing.Hash, depth int) bool {
	level := []plumbing.Hash{h}
	for d := 1; d <= depth && len(level) > 0; d++ {
		var next []plumbing.Hash
		for _, h := range level {
			c, err := object.GetCommit(r.store, h)
			if err != nil {
				return false
			}
			if d < depth {
				next = append(next, c.ParentHashes...)
			}
		}
		level = next
	}
	return true
}

func demux(caps *capability.List, r interface{ Read([]byte) (int, error) }) interface{ Read([]byte) (int, error) } {
	switch {
	case caps.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, r)
	case caps.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, r)
	}
	return r
}
