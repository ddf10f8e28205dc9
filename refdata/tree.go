package refdata

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sync/errgroup"

	"github.com/refbot/refbot/internal/statcache"
)

// newObjects holds what an operation created and may have to send: trees and
// commits encoded in memory (they are small) and blobs as the files they
// come from (they can be large, and are read again only to be sent).
type newObjects struct {
	encoded map[plumbing.Hash]*plumbing.MemoryObject
	blobs   map[plumbing.Hash]blobSource
}

type blobSource struct {
	path string
	size int64
}

func newNewObjects() *newObjects {
	return &newObjects{encoded: map[plumbing.Hash]*plumbing.MemoryObject{}, blobs: map[plumbing.Hash]blobSource{}}
}

func (n *newObjects) add(o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	h := obj.Hash()
	n.encoded[h] = obj
	return h, nil
}

// tree reads a tree made by this operation or stored in the cache.
func (r *Repo) tree(n *newObjects, h plumbing.Hash) (*object.Tree, error) {
	if n != nil {
		if obj, ok := n.encoded[h]; ok {
			t := &object.Tree{}
			if err := t.Decode(obj); err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	t, err := object.GetTree(r.store, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s from the cache: %w", shortHash(h), err)
	}
	return t, nil
}

// sortEntries puts tree entries in git's order: by name, a folder's name
// compared as if it ended in "/".
func sortEntries(entries []object.TreeEntry) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
}

// File is one file of the new data: its path under the data folder, its git
// blob id and size, and where to read it if the remote lacks it. A File
// without Local must already be in the data repo (in the base's or the
// branch's tree): refbot then neither downloads nor sends it.
type File struct {
	Path  string
	Blob  plumbing.Hash
	Size  int64
	Local string
	Exec  bool // mode 100755
}

// scanDir lists the files under dir as Files, hashing them as git blobs
// (reusing the stat cache's answers for files that did not change).
// Symlinks, special files and git metadata are refused.
func scanDir(ctx context.Context, dir string, sc *statcache.Cache) ([]File, error) {
	type found struct {
		File
		fi fs.FileInfo
	}
	var files []*found
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir || d.IsDir() {
			if d.IsDir() && strings.EqualFold(d.Name(), ".git") {
				return fmt.Errorf("%s: a .git folder cannot be data", p)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files can be data (found %s)", p, d.Type())
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, &found{File: File{Path: filepath.ToSlash(rel), Local: p, Size: fi.Size(), Exec: fi.Mode()&0o111 != 0}, fi: fi})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read data folder: %w", err)
	}
	// Hash in parallel; most files are small, so two workers per core.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, f := range files {
		if v, ok := sc.Lookup(f.Path, f.fi); ok {
			f.Blob = plumbing.NewHash(v)
			continue
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			h, err := hashBlob(f.Local, f.Size)
			if err != nil {
				return err
			}
			f.Blob = h
			sc.Put(f.Path, f.fi, h.String())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]File, len(files))
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		out[i] = f.File
		seen[f.Path] = true
	}
	sc.Retain(func(rel string) bool { return seen[rel] })
	return out, nil
}

// treeFromFiles builds the trees holding files and returns the root's hash.
// Empty folders vanish, as in git.
func treeFromFiles(files []File, n *newObjects) (plumbing.Hash, error) {
	type dirNode struct {
		entries []object.TreeEntry
		subdirs map[string]*dirNode
	}
	rootNode := &dirNode{subdirs: map[string]*dirNode{}}
	for _, f := range files {
		if err := validPath(f.Path); err != nil {
			return plumbing.ZeroHash, err
		}
		if f.Blob.IsZero() {
			return plumbing.ZeroHash, fmt.Errorf("%s: no blob id", f.Path)
		}
		node := rootNode
		parts := strings.Split(f.Path, "/")
		for _, part := range parts[:len(parts)-1] {
			child, ok := node.subdirs[part]
			if !ok {
				child = &dirNode{subdirs: map[string]*dirNode{}}
				node.subdirs[part] = child
			}
			node = child
		}
		mode := filemode.Regular
		if f.Exec {
			mode = filemode.Executable
		}
		node.entries = append(node.entries, object.TreeEntry{Name: parts[len(parts)-1], Mode: mode, Hash: f.Blob})
		if f.Local != "" {
			n.blobs[f.Blob] = blobSource{path: f.Local, size: f.Size}
		}
	}
	var build func(d *dirNode) (plumbing.Hash, error)
	build = func(d *dirNode) (plumbing.Hash, error) {
		entries := d.entries
		for name, sub := range d.subdirs {
			h, err := build(sub)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		}
		sortEntries(entries)
		for i := 1; i < len(entries); i++ {
			if entries[i].Name == entries[i-1].Name {
				return plumbing.ZeroHash, fmt.Errorf("%s: listed twice, or as a file and a folder", entries[i].Name)
			}
		}
		return n.add(&object.Tree{Entries: entries})
	}
	return build(rootNode)
}

// validPath refuses paths that git would misread or that would reach git
// metadata.
func validPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return fmt.Errorf("%q: not a relative slash path", p)
	}
	for _, part := range strings.Split(p, "/") {
		switch strings.ToLower(part) {
		case "", ".", "..":
			return fmt.Errorf("%q: empty, '.' or '..' element", p)
		case ".git", ".gitmodules", ".gitattributes":
			return fmt.Errorf("%q: git metadata cannot be data", p)
		}
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%q: control character", p)
	}
	return nil
}

func hashBlob(name string, size int64) (plumbing.Hash, error) {
	f, err := os.Open(name)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer f.Close()
	h := plumbing.NewHasher(plumbing.BlobObject, size)
	n, err := io.Copy(h, f)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s: %w", name, err)
	}
	if n != size {
		return plumbing.ZeroHash, fmt.Errorf("read %s: file changed while being read", name)
	}
	return h.Sum(), nil
}

// emptyTree is git's well-known empty tree.
var emptyTreeHash = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// splice returns root with the tree at p replaced by sub (removed when sub is
// zero or empty), creating or dropping folders along the way.
func (r *Repo) splice(n *newObjects, root plumbing.Hash, p string, sub plumbing.Hash) (plumbing.Hash, error) {
	if sub == emptyTreeHash {
		sub = plumbing.ZeroHash
	}
	if p == "" {
		if sub.IsZero() {
			return n.add(&object.Tree{})
		}
		return sub, nil
	}
	first, rest, _ := strings.Cut(p, "/")
	var entries []object.TreeEntry
	var child plumbing.Hash
	if !root.IsZero() {
		t, err := r.tree(n, root)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		for _, e := range t.Entries {
			if e.Name == first {
				if e.Mode == filemode.Dir {
					child = e.Hash
				}
				continue // a file in the way is replaced
			}
			entries = append(entries, e)
		}
	}
	newChild := sub
	if rest != "" {
		var err error
		if newChild, err = r.splice(n, child, rest, sub); err != nil {
			return plumbing.ZeroHash, err
		}
		if newChild == emptyTreeHash {
			newChild = plumbing.ZeroHash
		}
	}
	if !newChild.IsZero() {
		entries = append(entries, object.TreeEntry{Name: first, Mode: filemode.Dir, Hash: newChild})
	}
	sortEntries(entries)
	return n.add(&object.Tree{Entries: entries})
}

// merge applies the change from base to theirs onto ours, at the level of
// tree entries: where only one side changed an entry, that side wins; where
// both changed it differently, the path is a conflict. Blobs are never read.
func (r *Repo) merge(n *newObjects, base, ours, theirs plumbing.Hash, prefix string) (plumbing.Hash, []string, error) {
	switch {
	case theirs == base:
		return ours, nil, nil
	case ours == base, ours == theirs:
		return theirs, nil, nil
	}
	entries := func(h plumbing.Hash) (map[string]object.TreeEntry, error) {
		m := map[string]object.TreeEntry{}
		if h.IsZero() {
			return m, nil
		}
		t, err := r.tree(n, h)
		if err != nil {
			return nil, err
		}
		for _, e := range t.Entries {
			m[e.Name] = e
		}
		return m, nil
	}
	b, err := entries(base)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	o, err := entries(ours)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	t, err := entries(theirs)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	names := map[string]bool{}
	for _, m := range []map[string]object.TreeEntry{b, o, t} {
		for name := range m {
			names[name] = true
		}
	}
	var out []object.TreeEntry
	var conflicts []string
	for name := range names {
		be, bok := b[name]
		oe, ook := o[name]
		te, tok := t[name]
		same := func(x object.TreeEntry, xok bool, y object.TreeEntry, yok bool) bool {
			return xok == yok && (!xok || (x.Hash == y.Hash && x.Mode == y.Mode))
		}
		switch {
		case same(te, tok, be, bok): // theirs did not touch it
			if ook {
				out = append(out, oe)
			}
		case same(oe, ook, be, bok), same(oe, ook, te, tok): // only theirs changed it, or both alike
			if tok {
				out = append(out, te)
			}
		case (!bok || be.Mode == filemode.Dir) && (!ook || oe.Mode == filemode.Dir) && (!tok || te.Mode == filemode.Dir):
			// Folders changed on both sides: merge inside.
			h, c, err := r.merge(n, be.Hash, oe.Hash, te.Hash, path.Join(prefix, name))
			if err != nil {
				return plumbing.ZeroHash, nil, err
			}
			conflicts = append(conflicts, c...)
			if !h.IsZero() && h != emptyTreeHash {
				out = append(out, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
			}
		default:
			conflicts = append(conflicts, path.Join(prefix, name))
		}
	}
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		return plumbing.ZeroHash, conflicts, nil
	}
	if len(out) == 0 {
		return plumbing.ZeroHash, nil, nil
	}
	sortEntries(out)
	h, err := n.add(&object.Tree{Entries: out})
	return h, nil, err
}

// Change is one file that differs between two trees.
type Change struct {
	Path   string
	Action Action
	Old    plumbing.Hash // zero when added
	New    plumbing.Hash // zero when removed
}

// Action says what happened to a file.
type Action string

// The three kinds of Change.
const (
	Added    Action = "added"
	Modified Action = "modified"
	Removed  Action = "removed"
)

// diff lists the files that differ between trees a and b (either may be
// zero), skipping subtrees that are identical.
func (r *Repo) diff(n *newObjects, a, b plumbing.Hash, prefix string) ([]Change, error) {
	if a == b {
		return nil, nil
	}
	read := func(h plumbing.Hash) ([]object.TreeEntry, error) {
		if h.IsZero() {
			return nil, nil
		}
		t, err := r.tree(n, h)
		if err != nil {
			return nil, err
		}
		return t.Entries, nil
	}
	ae, err := read(a)
	if err != nil {
		return nil, err
	}
	be, err := read(b)
	if err != nil {
		return nil, err
	}
	am := map[string]object.TreeEntry{}
	for _, e := range ae {
		am[e.Name] = e
	}
	var out []Change
	seen := map[string]bool{}
	walk := func(name string, old, nw object.TreeEntry, hasOld, hasNew bool) error {
		p := path.Join(prefix, name)
		oldDir, newDir := hasOld && old.Mode == filemode.Dir, hasNew && nw.Mode == filemode.Dir
		var oldH, newH plumbing.Hash
		if oldDir || newDir {
			if oldDir {
				oldH = old.Hash
			}
			if newDir {
				newH = nw.Hash
			}
			c, err := r.diff(n, oldH, newH, p)
			if err != nil {
				return err
			}
			out = append(out, c...)
		}
		switch {
		case hasOld && !oldDir && hasNew && !newDir:
			if old.Hash != nw.Hash || old.Mode != nw.Mode {
				out = append(out, Change{Path: p, Action: Modified, Old: old.Hash, New: nw.Hash})
			}
		case hasOld && !oldDir:
			out = append(out, Change{Path: p, Action: Removed, Old: old.Hash})
		case hasNew && !newDir:
			out = append(out, Change{Path: p, Action: Added, New: nw.Hash})
		}
		return nil
	}
	for _, e := range be {
		seen[e.Name] = true
		old, ok := am[e.Name]
		if err := walk(e.Name, old, e, ok, true); err != nil {
			return nil, err
		}
	}
	for _, e := range ae {
		if !seen[e.Name] {
			if err := walk(e.Name, e, object.TreeEntry{}, true, false); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// reachable adds every tree and blob reachable from tree h to have, with
// its type: a file entry names a blob, a folder entry a tree.
func (r *Repo) reachable(h plumbing.Hash, have map[plumbing.Hash]plumbing.ObjectType) error {
	if h.IsZero() || have[h] == plumbing.TreeObject {
		return nil
	}
	have[h] = plumbing.TreeObject
	t, err := r.tree(nil, h)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		if e.Mode == filemode.Dir {
			if err := r.reachable(e.Hash, have); err != nil {
				return err
			}
		} else if e.Mode != filemode.Submodule {
			have[e.Hash] = plumbing.BlobObject
		}
	}
	return nil
}

// toSend lists the objects of new tree root that the remote lacks, given the
// objects it has (have): a tree it has is skipped whole, and a file entry
// is taken as there only when have holds that id as a blob.
func (r *Repo) toSend(n *newObjects, root plumbing.Hash, have map[plumbing.Hash]plumbing.ObjectType, out *[]plumbing.Hash, seen map[plumbing.Hash]plumbing.ObjectType) error {
	if have[root] == plumbing.TreeObject || seen[root] == plumbing.TreeObject {
		return nil
	}
	seen[root] = plumbing.TreeObject
	*out = append(*out, root)
	t, err := r.tree(n, root)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		switch {
		case e.Mode == filemode.Dir:
			if err := r.toSend(n, e.Hash, have, out, seen); err != nil {
				return err
			}
		case have[e.Hash] == plumbing.BlobObject || seen[e.Hash] == plumbing.BlobObject:
		default:
			if _, ok := n.blobs[e.Hash]; !ok {
				return fmt.Errorf("blob %s for %s is neither on the remote nor in the data folder", shortHash(e.Hash), e.Name)
			}
			seen[e.Hash] = plumbing.BlobObject
			*out = append(*out, e.Hash)
		}
	}
	return nil
}

// checkBlobIDs refuses files whose git blob id names an object that is not
// a blob: a tree or commit of the cache, or a tree this operation made. A
// file entry pointing at a tree would make a broken commit that the remote
// (which has that tree) might well accept.
func (r *Repo) checkBlobIDs(n *newObjects, files []File) error {
	for _, f := range files {
		typ := plumbing.InvalidObject
		if obj, ok := n.encoded[f.Blob]; ok {
			typ = obj.Type()
		} else if obj, err := r.store.EncodedObject(plumbing.AnyObject, f.Blob); err == nil {
			typ = obj.Type()
		}
		if typ != plumbing.InvalidObject && typ != plumbing.BlobObject {
			return fmt.Errorf("%w: %s: git blob id %s names a %s, not a blob", ErrBadData, f.Path, f.Blob, typ)
		}
	}
	return nil
}
