// Package statcache remembers a value computed from a file's content (a
// sha256, a git blob id) together with the file's size, modification time,
// change time and inode, so a later run can reuse the value without reading
// the file again while none of those changed. It is git's index trick, kept
// in one small file beside the folder it describes.
package statcache

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Cache maps slash paths relative to one folder to values. It is safe for
// concurrent use.
type Cache struct {
	path string

	mu      sync.Mutex
	entries map[string]entry
	dirty   bool
}

type entry struct {
	Size, ModTime, ChangeTime int64
	Inode                     uint64
	Value                     string
}

// Load reads the cache stored at path; a missing or unreadable file gives an
// empty cache (the cache only ever saves work). An empty path gives a cache
// that is never saved.
func Load(path string) *Cache {
	c := &Cache{path: path, entries: map[string]entry{}}
	if path == "" {
		return c
	}
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	if err := gob.NewDecoder(f).Decode(&c.entries); err != nil {
		c.entries = map[string]entry{}
	}
	return c
}

func stamp(fi fs.FileInfo) entry {
	e := entry{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	e.ChangeTime, e.Inode = changeTimeInode(fi) // per OS: stat_*.go
	return e
}

// Lookup returns the value stored for rel if the file described by fi has not
// changed since.
func (c *Cache) Lookup(rel string, fi fs.FileInfo) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[rel]
	if !ok {
		return "", false
	}
	s := stamp(fi)
	s.Value = e.Value
	return e.Value, s == e
}

// Put stores value for rel as of fi.
func (c *Cache) Put(rel string, fi fs.FileInfo, value string) {
	e := stamp(fi)
	e.Value = value
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[rel]; !ok || old != e {
		c.entries[rel] = e
		c.dirty = true
	}
}

// Retain drops every entry whose path keep rejects.
func (c *Cache) Retain(keep func(rel string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for rel := range c.entries {
		if !keep(rel) {
			delete(c.entries, rel)
			c.dirty = true
		}
	}
}

// Save writes the cache atomically if it changed.
func (c *Cache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.path == "" || !c.dirty {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".statcache-*")
	if err != nil {
		return fmt.Errorf("save stat cache: %w", err)
	}
	err = gob.NewEncoder(tmp).Encode(c.entries)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save stat cache %s: %w", c.path, err)
	}
	c.dirty = false
	return nil
}
