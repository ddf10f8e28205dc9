// Package diskcache keeps computed results (difference images, thumbnails)
// in files under one folder, up to a size cap, for the review pages
// (docs/design.md, "Review pages"): a result is computed once however many
// requests ask for it at the same time, and the least recently used
// results make room for new ones.
//
// A key may be any string: files are named by the key's SHA-256, so no key
// names a path outside the folder. The cache trusts that it alone writes
// the folder; two processes sharing one would each keep its own count.
package diskcache

import (
	"cmp"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// tempPrefix names files being written; New removes those a crash left.
const tempPrefix = ".tmp-"

// Cache is a size-capped cache of byte values on disk. It is safe for
// concurrent use.
type Cache struct {
	dir   string
	max   int64
	log   *zap.Logger
	group singleflight.Group

	mu      sync.Mutex
	size    int64
	entries map[string]*list.Element // by file name; values are *entry
	lru     list.List                // most recently used at the front

	// testHookWait, when set, is called by GetOrCompute once it waits on
	// a computation, its own or another caller's.
	testHookWait func()
}

type entry struct {
	name string // the key's SHA-256 in hex
	size int64
}

// Option configures New.
type Option func(*Cache)

// WithLogger logs what the cache cannot do but its callers need not know
// (a value that could not be stored, a file that could not be removed).
func WithLogger(l *zap.Logger) Option { return func(c *Cache) { c.log = l } }

// New opens the cache in dir, creating it (0700) when missing. It counts
// the values already there, oldest modification first in line for
// eviction, removes the temporary files a crash left, and evicts down to
// maxBytes.
func New(dir string, maxBytes int64, opts ...Option) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("disk cache %s: size cap %d: want a positive number of bytes", dir, maxBytes)
	}
	c := &Cache{dir: dir, max: maxBytes, log: zap.NewNop(), entries: map[string]*list.Element{}}
	for _, o := range opts {
		o(c)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	type found struct {
		entry
		mtime int64
	}
	var files []found
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.IsDir():
			// dir itself and its fan-out folders.
			if rel != "." && (strings.ContainsRune(rel, filepath.Separator) || !isHex(rel, 2)) {
				return filepath.SkipDir
			}
			return nil
		case strings.HasPrefix(d.Name(), tempPrefix):
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		case d.Type().IsRegular() && filepath.Dir(rel) == d.Name()[:min(2, len(d.Name()))] && isHex(d.Name(), sha256.Size*2):
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, found{entry{d.Name(), info.Size()}, info.ModTime().UnixNano()})
		}
		return nil // not the cache's: left alone
	})
	if err != nil {
		return nil, fmt.Errorf("disk cache %s: %w", dir, err)
	}
	slices.SortFunc(files, func(a, b found) int {
		return cmp.Or(cmp.Compare(a.mtime, b.mtime), strings.Compare(a.name, b.name))
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range files {
		c.entries[f.name] = c.lru.PushFront(&entry{f.name, f.size})
		c.size += f.size
	}
	if err := c.evictLocked(); err != nil {
		return nil, fmt.Errorf("disk cache %s: %w", dir, err)
	}
	return c, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// name is the file name of key.
func name(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// path is where the value named name lives: fanned out by its first byte,
// so no folder holds more than a 256th of the values.
func (c *Cache) path(name string) string {
	return filepath.Join(c.dir, name[:2], name)
}

// Get returns the value stored under key, and whether there is one. The
// caller must not modify it.
func (c *Cache) Get(key string) ([]byte, bool) {
	n := name(key)
	c.mu.Lock()
	el, ok := c.entries[n]
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	c.lru.MoveToFront(el)
	// Opened under the lock, so an eviction cannot remove the file first;
	// once open it stays readable whatever happens to its name.
	f, err := os.Open(c.path(n))
	c.mu.Unlock()
	if err != nil {
		c.log.Warn("disk cache: value gone", zap.String("file", n), zap.Error(err))
		c.forget(n, el)
		return nil, false
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		c.log.Warn("disk cache: read value", zap.String("file", n), zap.Error(err))
		return nil, false
	}
	return data, true
}

// forget drops el from the count if it still stands for name n (someone
// may have stored a new value meanwhile).
func (c *Cache) forget(n string, el *list.Element) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[n] == el {
		delete(c.entries, n)
		c.lru.Remove(el)
		c.size -= el.Value.(*entry).size
	}
}

// Put stores data under key, replacing any value there, then evicts the
// least recently used values until the cache is within its cap. A value
// larger than the cap is not stored (and the key's old value is dropped).
// Readers see the old value or the new one, never part of one.
func (c *Cache) Put(key string, data []byte) error {
	n := name(key)
	size := int64(len(data))
	if size > c.max {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.removeLocked(n)
	}
	tmp, err := os.CreateTemp(c.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("disk cache: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("disk cache: write %s: %w", tmp.Name(), err)
	}
	final := c.path(n)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Renamed under the lock, so the count and the file agree whichever
	// of two Puts of one key comes last.
	err = os.Rename(tmp.Name(), final)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.Mkdir(filepath.Dir(final), 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			err = os.Rename(tmp.Name(), final)
		}
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("disk cache: store %s: %w", n, err)
	}
	if el, ok := c.entries[n]; ok {
		e := el.Value.(*entry)
		c.size += size - e.size
		e.size = size
		c.lru.MoveToFront(el)
	} else {
		c.entries[n] = c.lru.PushFront(&entry{n, size})
		c.size += size
	}
	return c.evictLocked()
}

// evictLocked removes the least recently used values until the cache is
// within its cap. A file that cannot be removed is dropped from the count
// all the same (it is no longer served) and its error returned.
func (c *Cache) evictLocked() error {
	var errs []error
	for c.size > c.max {
		el := c.lru.Back()
		if err := c.removeLocked(el.Value.(*entry).name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeLocked removes the value named n, if there is one.
func (c *Cache) removeLocked(n string) error {
	el, ok := c.entries[n]
	if !ok {
		return nil
	}
	delete(c.entries, n)
	c.lru.Remove(el)
	c.size -= el.Value.(*entry).size
	if err := os.Remove(c.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("disk cache: evict: %w", err)
	}
	return nil
}

// GetOrCompute returns the value stored under key, or else computes it
// with compute, stores it and returns it. Callers asking for one key at
// the same time share one computation. An error is returned to everyone
// waiting and not stored. A value that cannot be stored is returned all
// the same (and logged). The caller must not modify the value.
//
// compute runs with the context of the caller that started it; when that
// caller gives up, the others still waiting start it again with theirs.
// A panic in compute is returned as an error.
func (c *Cache) GetOrCompute(ctx context.Context, key string, compute func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if data, ok := c.Get(key); ok {
		return data, nil
	}
	for {
		ran := false
		ch := c.group.DoChan(name(key), func() (v any, err error) {
			ran = true
			// Stored between our Get and now by a computation that just
			// ended?
			if data, ok := c.Get(key); ok {
				return data, nil
			}
			defer func() {
				if p := recover(); p != nil {
					v, err = nil, fmt.Errorf("compute %q: panic: %v", key, p)
				}
			}()
			data, err := compute(ctx)
			if err != nil {
				return nil, err
			}
			if err := c.Put(key, data); err != nil {
				c.log.Warn("disk cache: value not stored", zap.Error(err))
			}
			return data, nil
		})
		if c.testHookWait != nil {
			c.testHookWait()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			// ran is written before the result is sent on ch.
			if r.Err != nil && !ran && ctx.Err() == nil &&
				(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue // the caller it ran for gave up, not us
			}
			if r.Err != nil {
				return nil, r.Err
			}
			return r.Val.([]byte), nil
		}
	}
}

// Size is the total size of the values stored, in bytes.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// Len is the number of values stored.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
