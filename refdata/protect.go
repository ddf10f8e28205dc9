package refdata

import (
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// protectRule is one parsed Options.Protect pattern.
type protectRule struct {
	pattern string // path.Match pattern for a top-level name
	dirOnly bool   // written with a trailing "/": folders only
}

// parseProtect checks and parses Options.Protect.
func parseProtect(patterns []string) ([]protectRule, error) {
	var rules []protectRule
	for _, p := range patterns {
		name, dirOnly := strings.CutSuffix(p, "/")
		if name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("protect %q: a pattern is a top-level name, with a / at its end for a folder", p)
		}
		if _, err := path.Match(name, name); err != nil {
			return nil, fmt.Errorf("protect %q: %w", p, err)
		}
		rules = append(rules, protectRule{pattern: name, dirOnly: dirOnly})
	}
	return rules, nil
}

// atTop says whether the data is at the top of the data repo.
func (r *Repo) atTop() bool { return r.opts.DataRoot == "." }

// protected says whether a top-level entry (a folder when dir) is one
// refbot never touches. Only with the data at the top of the repo can
// anything be protected: otherwise nothing outside the data root is
// touched anyway.
func (r *Repo) protected(name string, dir bool) bool {
	for _, rule := range r.protect {
		if rule.dirOnly && !dir {
			continue
		}
		if ok, _ := path.Match(rule.pattern, name); ok {
			return true
		}
	}
	return false
}

// protectedPath says whether the file at p (a path in the repo) lies in a
// protected top-level entry.
func (r *Repo) protectedPath(p string) bool {
	first, _, nested := strings.Cut(p, "/")
	return r.protected(first, nested)
}

// dataChanges leaves out the changes to protected entries: they are not
// data, whatever happened to them.
func (r *Repo) dataChanges(cs []Change) []Change {
	if len(r.protect) == 0 {
		return cs
	}
	out := cs[:0:0]
	for _, c := range cs {
		if !r.protectedPath(c.Path) {
			out = append(out, c)
		}
	}
	return out
}

// keepProtected returns tree with its protected top-level entries replaced
// by those of from: a tree whose difference from from is in data only. A
// data entry of tree with the name of a protected entry of from gives way
// to it.
func (r *Repo) keepProtected(n *newObjects, tree, from plumbing.Hash) (plumbing.Hash, error) {
	if len(r.protect) == 0 || tree == from {
		return tree, nil
	}
	kept, err := r.protectedEntries(n, from)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var entries []object.TreeEntry
	if !tree.IsZero() {
		t, err := r.tree(n, tree)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		for _, e := range t.Entries {
			if _, clash := kept[e.Name]; !clash && !r.protected(e.Name, e.Mode == filemode.Dir) {
				entries = append(entries, e)
			}
		}
	}
	for _, e := range kept {
		entries = append(entries, e)
	}
	sortEntries(entries)
	return n.add(&object.Tree{Entries: entries})
}

// protectedEntries returns the protected top-level entries of tree by name.
func (r *Repo) protectedEntries(n *newObjects, tree plumbing.Hash) (map[string]object.TreeEntry, error) {
	kept := map[string]object.TreeEntry{}
	if tree.IsZero() {
		return kept, nil
	}
	t, err := r.tree(n, tree)
	if err != nil {
		return nil, err
	}
	for _, e := range t.Entries {
		if r.protected(e.Name, e.Mode == filemode.Dir) {
			kept[e.Name] = e
		}
	}
	return kept, nil
}

// spliceData returns root with the data folder of variant ("" for the
// whole data root) replaced by sub. With the data at the top of the repo,
// the protected entries of root stay as they are, and sub may hold none:
// a build holding a protected name (a README.md of its own, say) is
// refused, naming it, rather than written over the repo's or dropped.
// (A protected variant name is refused by Update before it gets here.)
func (r *Repo) spliceData(n *newObjects, root plumbing.Hash, variant string, sub plumbing.Hash) (plumbing.Hash, error) {
	if len(r.protect) == 0 || variant != "" {
		return r.splice(n, root, r.dataPath(variant), sub)
	}
	kept, err := r.protectedEntries(n, root)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var entries []object.TreeEntry
	if !sub.IsZero() {
		t, err := r.tree(n, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		for _, e := range t.Entries {
			dir := e.Mode == filemode.Dir
			if _, clash := kept[e.Name]; clash || r.protected(e.Name, dir) {
				if dir {
					return plumbing.ZeroHash, protectedError(e.Name + "/")
				}
				return plumbing.ZeroHash, protectedError(e.Name)
			}
			entries = append(entries, e)
		}
	}
	for _, e := range kept {
		entries = append(entries, e)
	}
	sortEntries(entries)
	return n.add(&object.Tree{Entries: entries})
}

func protectedError(name string) error {
	return fmt.Errorf("%w: %s is protected at the top of the data repo (Options.Protect): the data cannot hold it", ErrBadData, name)
}
