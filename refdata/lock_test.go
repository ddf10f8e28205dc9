package refdata

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLockHonoursContext: an operation waiting for the cache, held by
// another operation of this process or by another process, gives up when
// its context ends, with the context's error naming the cache; and once the
// holder lets go, operations run again.
func TestLockHonoursContext(t *testing.T) {
	ops := []struct {
		name string
		run  func(ctx context.Context, r *Repo) error
	}{
		{"Update", func(ctx context.Context, r *Repo) error {
			_, err := r.Update(ctx, UpdateRequest{Branch: "PR2", Parts: []Part{{Dir: t.TempDir()}}})
			return err
		}},
		{"KnownBlobs", func(ctx context.Context, r *Repo) error { _, err := r.KnownBlobs(ctx, "PR1"); return err }},
		{"Promote", func(ctx context.Context, r *Repo) error { _, err := r.Promote(ctx, "PR1", true); return err }},
		{"Rebase", func(ctx context.Context, r *Repo) error { _, err := r.Rebase(ctx, "PR1"); return err }},
		{"Branch", func(ctx context.Context, r *Repo) error { _, err := r.Branch(ctx, "PR1"); return err }},
		{"CachedBranch", func(ctx context.Context, r *Repo) error { _, err := r.CachedBranch(ctx, "PR1"); return err }},
		{"DeleteBranch", func(ctx context.Context, r *Repo) error { _, err := r.DeleteBranch(ctx, "PR1"); return err }},
		{"Snapshot", func(ctx context.Context, r *Repo) error { _, err := r.Snapshot(ctx, "release"); return err }},
		{"Overlaps", func(ctx context.Context, r *Repo) error {
			_, err := r.Overlaps(ctx, "PR2", []string{"data/a.txt"})
			return err
		}},
	}
	holders := []struct {
		name string
		hold func(t *testing.T, r *Repo) (release func())
	}{
		{"this process", func(t *testing.T, r *Repo) func() {
			if err := r.lock(context.Background()); err != nil {
				t.Fatal(err)
			}
			return r.unlock
		}},
		// flock(2) locks belong to an open file description: a second
		// open of the lock file is, to the lock, another process.
		{"another process", func(t *testing.T, r *Repo) func() {
			f, err := os.OpenFile(filepath.Join(r.opts.CacheDir, "refbot.lock"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			return func() { f.Close() }
		}},
	}
	ends := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "1\n"})}}}); err != nil {
		t.Fatal(err)
	}
	for _, h := range holders {
		for _, end := range ends {
			for _, op := range ops {
				t.Run(h.name+"/"+end.name+"/"+op.name, func(t *testing.T) {
					release := h.hold(t, f.repo)
					released := false
					defer func() {
						if !released {
							release()
						}
					}()
					opCtx, cancel := end.ctx()
					defer cancel()
					start := time.Now()
					done := make(chan error, 1)
					go func() { done <- op.run(opCtx, f.repo) }()
					var err error
					select {
					case err = <-done:
					case <-time.After(10 * time.Second):
						t.Fatal("still waiting for the cache 10 s after its context ended")
					}
					if !errors.Is(err, end.want) || !strings.Contains(err.Error(), "data repo cache "+f.repo.opts.CacheDir) {
						t.Errorf("err = %v, want %v naming the data repo cache", err, end.want)
					}
					if took := time.Since(start); took > 5*time.Second {
						t.Errorf("gave up after %v", took)
					}
					release()
					released = true
					if _, err := f.repo.Branch(ctx, "PR1"); err != nil {
						t.Errorf("after the holder let go: %v", err)
					}
				})
			}
		}
	}
	if got := f.git(t, "rev-parse", "PR1"); got == "" {
		t.Error("PR1 is gone")
	}
}
