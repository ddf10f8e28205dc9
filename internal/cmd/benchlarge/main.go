// Command benchlarge measures refbot on a large build against a memory
// budget: a generated build of 50,000 files and 2 GB (mostly small files,
// a few large ones, incompressible content) uploaded with `refbot upload`
// and then UPDATEd by a real `refbot serve` (internal/sandbox: SQLite,
// MinIO, a git server behind git-http-backend, the fake GitHub and
// Travis on loopback): S3 download, blobs hashed and written to the local
// cache of the data repo, one commit, a streamed push of 2 GB.
//
// It reports the peak resident memory (the kernel's VmHWM and
// ru_maxrss, so nothing between two samples is missed) of the upload and
// of refbot serve across the UPDATE, against the budget, and how long
// each took. Run it with `make bench-large`.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
)

func main() {
	bin := flag.String("refbot", "bin/refbot", "the refbot binary to run")
	files := flag.Int("files", 50_000, "files in the build")
	large := flag.Int("large", 100, "of them, large files")
	total := flag.Int64("bytes", 2<<30, "bytes in the build")
	budget := flag.Int64("budget", 512<<20, "the memory budget in bytes: the most resident memory upload and serve may reach")
	flag.Parse()
	err := run(*bin, *files, *large, *total, *budget)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchlarge:", err)
		os.Exit(1)
	}
}

func run(bin string, files, large int, total, budget int64) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w (make build makes it)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	work, err := os.MkdirTemp("", "refbot-benchlarge-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	sb, err := sandbox.Start(ctx, work)
	if err != nil {
		return err
	}
	defer sb.Close()

	fmt.Printf("large build: %d files, %s (%d of them large), through refbot upload and an UPDATE by refbot serve; %s\n\n",
		files, gib(total), large, sandbox.MachineLoad())
	out := filepath.Join(work, "test-output")
	t0 := time.Now()
	if err := generate(out, files, large, total); err != nil {
		return err
	}
	fmt.Printf("%-34s %s\n", "generated in", time.Since(t0).Round(100*time.Millisecond))

	// refbot upload, as CI runs it.
	t0 = time.Now()
	cmd := exec.CommandContext(ctx, abs, "upload", "--config", sb.Config,
		"--build", fmt.Sprint(sb.BuildID), "--source", fmt.Sprint(sandbox.PR), "--commit", sb.Head, out)
	cmd.Env = sb.Env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("refbot upload: %w: %s", err, b)
	}
	uploadTook := time.Since(t0)
	uploadPeak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	fmt.Printf("%-34s %s, peak RSS %s\n", "refbot upload", uploadTook.Round(100*time.Millisecond), mib(uploadPeak))

	// The UPDATE, by refbot serve: --all, since the build replaces the
	// few files of the sandbox's reference data (the large-change guard
	// would ask for it).
	rb, err := sb.Serve(ctx, abs)
	if err != nil {
		return err
	}
	defer rb.Stop(context.Background())
	before, err := rb.Memory()
	if err != nil {
		return err
	}
	t0 = time.Now()
	if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE --all"); err != nil || d.Status != http.StatusOK {
		return fmt.Errorf("UPDATE: %d %s, %v", d.Status, d.Body, err)
	}
	var peakSampled int64
	for {
		if m, err := rb.Memory(); err == nil {
			peakSampled = max(peakSampled, m.RSS)
		}
		st, ok := sb.UpdateStatus()
		if ok && st.State != "pending" {
			if st.State != "success" {
				log, _ := os.ReadFile(rb.Log)
				return fmt.Errorf("the UPDATE ended %s: %s\n%s", st.State, st.Description, tail(string(log), 40))
			}
			break
		}
		// Refused before it began: a reply and no status.
		if r := sb.Replies(); !ok && len(r) > 0 {
			return fmt.Errorf("the UPDATE was refused:\n%s", r[0].Body)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the UPDATE did not end: %w (log: %s)", ctx.Err(), rb.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
	updateTook := time.Since(t0)
	after, err := rb.Memory()
	if err != nil {
		return err
	}
	workDir, _ := sandbox.FolderSize(filepath.Join(sb.StateDir(), "work"))
	cache, _ := sb.DataRepoCache(ctx)

	verdict := func(peak int64) string {
		if peak <= budget {
			return "within"
		}
		return "OVER"
	}
	fmt.Printf("%-34s %s\n\n", "memory budget", mib(budget))
	fmt.Printf("%-22s %12s %14s %8s\n", "step", "time", "peak RSS", "budget")
	fmt.Printf("%-22s %12s %14s %8s\n", "refbot upload", uploadTook.Round(100*time.Millisecond), mib(uploadPeak), verdict(uploadPeak))
	fmt.Printf("%-22s %12s %14s %8s\n", "UPDATE (refbot serve)", updateTook.Round(100*time.Millisecond), mib(after.Peak), verdict(after.Peak))
	fmt.Printf("\nrefbot serve: %s before the UPDATE, %s after, %s at most sampled every 100 ms\n", mib(before.RSS), mib(after.RSS), mib(peakSampled))
	fmt.Printf("work folder after: %d files, %s; data-repo cache: %s, %d objects in %d packs\n",
		workDir.Files, mib(workDir.Bytes), mib(cache.Bytes), cache.Objects, cache.Packs)
	fmt.Printf("after: %s\n", sandbox.MachineLoad())
	if uploadPeak > budget || after.Peak > budget {
		return fmt.Errorf("over the memory budget of %s", mib(budget))
	}
	return nil
}

// generate writes a build of files files holding total bytes into dir:
// large files of equal size holding four fifths of the bytes, and small
// ones of 1 to 15 KiB-ish sharing the rest, 500 to a folder, all of random
// (incompressible) content.
func generate(dir string, files, large int, total int64) error {
	src := rand.NewChaCha8([32]byte{12})
	rng := rand.New(src)
	small := files - large
	largeBytes := total * 4 / 5
	smallAvg := (total - largeBytes) / int64(max(small, 1))
	buf := make([]byte, 1<<20)
	write := func(path string, size int64) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		for size > 0 {
			n := min(size, int64(len(buf)))
			src.Read(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return err
			}
			size -= n
		}
		return f.Close()
	}
	for i := range small {
		size := smallAvg/2 + rng.Int64N(smallAvg+1)
		if err := write(filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/500), fmt.Sprintf("f%05d.dat", i)), size); err != nil {
			return err
		}
	}
	for i := range large {
		if err := write(filepath.Join(dir, "large", fmt.Sprintf("plot%03d.bin", i)), largeBytes/int64(max(large, 1))); err != nil {
			return err
		}
	}
	return nil
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
