package diskcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newCache(t *testing.T, dir string, max int64) *Cache {
	t.Helper()
	c, err := New(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, c *Cache, key string, data []byte) {
	t.Helper()
	if err := c.Put(key, data); err != nil {
		t.Fatal(err)
	}
}

// present lists which of keys the cache holds.
func present(c *Cache, keys ...string) []string {
	var got []string
	for _, k := range keys {
		if _, ok := c.Get(k); ok {
			got = append(got, k)
		}
	}
	return got
}

// onDisk sums the sizes of the regular files under dir.
func onDisk(t *testing.T, dir string) (files int, size int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		files++
		size += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, size
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := newCache(t, dir, 1000)
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("cache folder: %v, %v; want 0700", info, err)
	}
	if _, ok := c.Get("diff/abc/def"); ok {
		t.Fatal("empty cache has a value")
	}
	put(t, c, "diff/abc/def", []byte("first"))
	put(t, c, "thumb/abc/def", []byte("other"))
	put(t, c, "diff/abc/def", []byte("second value"))
	got, ok := c.Get("diff/abc/def")
	if !ok || string(got) != "second value" {
		t.Fatalf("Get = %q, %v; want the second value", got, ok)
	}
	if c.Size() != int64(len("second value")+len("other")) || c.Len() != 2 {
		t.Errorf("Size %d, Len %d; want %d, 2", c.Size(), c.Len(), len("second value")+len("other"))
	}
	if files, size := onDisk(t, dir); files != 2 || size != c.Size() {
		t.Errorf("on disk: %d files, %d bytes; want 2 files, %d bytes", files, size, c.Size())
	}
	put(t, c, "empty", nil)
	if got, ok := c.Get("empty"); !ok || len(got) != 0 {
		t.Errorf("empty value: %q, %v", got, ok)
	}
}

func TestEvictionOrder(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, dir, 100)
	v := bytes.Repeat([]byte("x"), 30)
	put(t, c, "a", v)
	put(t, c, "b", v)
	put(t, c, "c", v)
	c.Get("a") // a is now more recent than b and c
	put(t, c, "d", v)
	all := []string{"a", "b", "c", "d", "e", "f"}
	if diff := cmp.Diff([]string{"a", "c", "d"}, present(c, all...)); diff != "" {
		t.Errorf("after d (-want +got):\n%s", diff)
	}
	// c, then a, are now the least recently used (present touched a, c, d
	// in that order).
	put(t, c, "e", bytes.Repeat([]byte("y"), 60))
	if diff := cmp.Diff([]string{"d", "e"}, present(c, all...)); diff != "" {
		t.Errorf("after e (-want +got):\n%s", diff)
	}
	if c.Size() > 100 || c.Size() != 90 {
		t.Errorf("Size %d, want 90", c.Size())
	}
	if files, size := onDisk(t, dir); files != 2 || size != 90 {
		t.Errorf("on disk: %d files, %d bytes; want 2 files, 90 bytes", files, size)
	}

	// A value over the cap is not stored, and replaces the key's old one.
	put(t, c, "d", bytes.Repeat([]byte("z"), 101))
	if diff := cmp.Diff([]string{"e"}, present(c, all...)); diff != "" {
		t.Errorf("after a value over the cap (-want +got):\n%s", diff)
	}
	got, err := c.GetOrCompute(t.Context(), "f", func(context.Context) ([]byte, error) { return make([]byte, 500), nil })
	if err != nil || len(got) != 500 {
		t.Fatalf("GetOrCompute of a value over the cap: %d bytes, %v", len(got), err)
	}
	if _, ok := c.Get("f"); ok || c.Size() != 60 {
		t.Errorf("a value over the cap was stored: Size %d", c.Size())
	}
}

func TestGetOrComputeOnce(t *testing.T) {
	c := newCache(t, t.TempDir(), 1000)
	const callers = 8
	var waiting sync.WaitGroup
	waiting.Add(callers)
	c.testHookWait = waiting.Done
	release := make(chan struct{})
	var calls atomic.Int32
	compute := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("diff"), nil
	}
	results := make(chan string, callers)
	for range callers {
		go func() {
			got, err := c.GetOrCompute(t.Context(), "k", compute)
			if err != nil {
				results <- err.Error()
				return
			}
			results <- string(got)
		}()
	}
	// Every caller has joined the one computation, which cannot finish
	// before it is released.
	waiting.Wait()
	close(release)
	for range callers {
		if got := <-results; got != "diff" {
			t.Errorf("a caller got %q", got)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("compute ran %d times for %d concurrent callers, want once", n, callers)
	}
	c.testHookWait = nil
	if _, err := c.GetOrCompute(t.Context(), "k", compute); err != nil || calls.Load() != 1 {
		t.Errorf("a later call computed again (%d calls, %v)", calls.Load(), err)
	}
}

func TestGetOrComputeErrorNotCached(t *testing.T) {
	c := newCache(t, t.TempDir(), 1000)
	var calls int
	boom := errors.New("decode old image: bad PNG")
	compute := func(context.Context) ([]byte, error) {
		calls++
		if calls == 1 {
			return nil, boom
		}
		return []byte("ok"), nil
	}
	if _, err := c.GetOrCompute(t.Context(), "k", compute); !errors.Is(err, boom) {
		t.Fatalf("first call: %v, want %v", err, boom)
	}
	if _, ok := c.Get("k"); ok || c.Size() != 0 {
		t.Fatal("an error was cached")
	}
	got, err := c.GetOrCompute(t.Context(), "k", compute)
	if err != nil || string(got) != "ok" || calls != 2 {
		t.Errorf("second call: %q, %v after %d calls; want ok after 2", got, err, calls)
	}

	_, err = c.GetOrCompute(t.Context(), "p", func(context.Context) ([]byte, error) { panic("index out of range") })
	if err == nil || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("panicking compute: %v, want an error naming the panic", err)
	}
}

// TestGetOrComputeCallerGivesUp: when the caller a computation runs for
// cancels, a caller still waiting gets its value computed again.
func TestGetOrComputeCallerGivesUp(t *testing.T) {
	c := newCache(t, t.TempDir(), 1000)
	var waiting sync.WaitGroup
	waiting.Add(2)
	c.testHookWait = waiting.Done
	leaderCtx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	leader := make(chan error, 1)
	go func() {
		_, err := c.GetOrCompute(leaderCtx, "k", func(ctx context.Context) ([]byte, error) {
			close(started)
			<-ctx.Done()
			return nil, fmt.Errorf("read new image: %w", ctx.Err())
		})
		leader <- err
	}()
	<-started
	other := make(chan string, 1)
	go func() {
		got, err := c.GetOrCompute(t.Context(), "k", func(context.Context) ([]byte, error) { return []byte("value"), nil })
		other <- fmt.Sprintf("%s %v", got, err)
	}()
	waiting.Wait()
	c.testHookWait = nil // racy otherwise: the retry calls it again
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that gave up: %v", err)
	}
	if got := <-other; got != "value <nil>" {
		t.Errorf("the caller still waiting got %s, want the value", got)
	}
}

func TestKeysStayInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "cache")
	c := newCache(t, dir, 10000)
	keys := []string{"../../x", "../../../x", "/etc/passwd", "a/../../../x", "..", ".", "", "x\x00y", `..\..\x`, strings.Repeat("k", 5000)}
	for _, k := range keys {
		put(t, c, k, []byte(k))
	}
	for _, k := range keys {
		if got, ok := c.Get(k); !ok || string(got) != k {
			t.Errorf("Get(%q) = %q, %v", k, got, ok)
		}
	}
	// Everything under root is the cache's folder or inside it.
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			t.Errorf("file outside the cache: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := onDisk(t, dir); files != len(keys) {
		t.Errorf("%d files for %d keys", files, len(keys))
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, dir, 1000)
	// Written in the order a, b, c, but modified c, a, b: a restart goes
	// by modification time.
	put(t, c, "a", bytes.Repeat([]byte("a"), 40))
	put(t, c, "b", bytes.Repeat([]byte("b"), 40))
	put(t, c, "c", bytes.Repeat([]byte("c"), 40))
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, k := range []string{"c", "a", "b"} {
		n := name(k)
		if err := os.Chtimes(c.path(n), base, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// What a crash leaves, and files that are not the cache's.
	leftovers := map[string]string{
		tempPrefix + "123":                  "half a value",
		filepath.Join("ab", tempPrefix+"9"): "half a value",
		"README":                            "not ours",
		filepath.Join("zz", "file"):         "not ours",
	}
	for p, data := range leftovers {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	c = newCache(t, dir, 1000)
	if c.Size() != 120 || c.Len() != 3 {
		t.Errorf("after a restart: Size %d, Len %d; want 120, 3", c.Size(), c.Len())
	}
	for p, data := range leftovers {
		_, err := os.Stat(filepath.Join(dir, p))
		if temp := strings.HasPrefix(filepath.Base(p), tempPrefix); temp != errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s (%s): %v", p, data, err)
		}
	}

	// A smaller cap evicts the oldest modified first: c.
	c = newCache(t, dir, 80)
	if diff := cmp.Diff([]string{"a", "b"}, present(c, "a", "b", "c")); diff != "" {
		t.Errorf("restart with a smaller cap kept (-want +got):\n%s", diff)
	}
	if c.Size() != 80 {
		t.Errorf("Size %d, want 80", c.Size())
	}
	// present read a, then b: a goes next.
	put(t, c, "d", []byte("d"))
	if diff := cmp.Diff([]string{"b", "d"}, present(c, "a", "b", "c", "d")); diff != "" {
		t.Errorf("after d (-want +got):\n%s", diff)
	}
}

func TestNewBadCap(t *testing.T) {
	if _, err := New(t.TempDir(), 0); err == nil {
		t.Error("a cap of 0 bytes was accepted")
	}
}
