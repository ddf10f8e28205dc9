// Command bench measures the heart of refbot, taking a build's artifacts from
// S3 and pushing them to PR<n> of the data repo, against the pipeline a
// maintainer would otherwise run by hand (git clone --single-branch, aws s3
// sync, git add, git commit --amend, git push --force-with-lease), on the
// same generated data, with MinIO and git http-backend on loopback.
//
// Each path runs in a child process so that its peak RSS can be read from
// the kernel (wait4's ru_maxrss, which covers the process's waited-for
// children too). Run it with `make bench`.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		if err := worker(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		return
	}
	files := flag.Int("files", 5000, "number of files in a build")
	mb := flag.Int("mb", 200, "total size of a build in MB")
	changed := flag.Float64("changed", 0.01, "share of files changed in the small update")
	flag.Parse()
	if err := run(*files, int64(*mb)<<20, *changed); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		testenv.Stop()
		os.Exit(1)
	}
	testenv.Stop()
}

type env struct {
	work  string
	minio *testenv.MinIOServer
	git   *testenv.GitServer
	bare  string
	store *s3cache.Store
	opts  s3cache.Options
}

func run(nfiles int, total int64, share float64) error {
	ctx := context.Background()
	if _, err := exec.LookPath("aws"); err != nil {
		return fmt.Errorf("the hand-run pipeline needs the aws CLI: apt-get install awscli")
	}
	work, err := os.MkdirTemp("", "refbot-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e := &env{work: work}
	fmt.Printf("setting up: MinIO, git http-backend, %d files / %d MB per build …\n", nfiles, total>>20)
	if e.minio, err = testenv.StartMinIO(work); err != nil {
		return err
	}
	if e.git, err = testenv.StartGitServer(filepath.Join(work, "git")); err != nil {
		return err
	}
	defer e.git.Close()
	os.MkdirAll(e.git.Root, 0o755)
	e.opts = s3cache.Options{Bucket: "bench", Prefix: "builds", Endpoint: e.minio.Endpoint, PathStyle: true,
		AccessKeyID: e.minio.AccessKey, SecretAccessKey: e.minio.SecretKey, Region: e.minio.Region}
	if e.store, err = s3cache.New(ctx, e.opts); err != nil {
		return err
	}
	if err := e.store.EnsureBucket(ctx); err != nil {
		return err
	}

	// Three versions of the data: v0 on master, v1 all files changed (and
	// resized: aws s3 sync compares sizes and times only), v2 = v1 with a
	// share of the files changed.
	names := fileNames(nfiles, total)
	v0, v1, v2 := filepath.Join(work, "v0"), filepath.Join(work, "v1"), filepath.Join(work, "v2")
	generate(v0, names, 0, nil)
	generate(v1, names, 1, nil)
	pick := map[int]bool{}
	rng := rand.New(rand.NewPCG(7, 7))
	for len(pick) < max(1, int(float64(nfiles)*share)) {
		pick[rng.IntN(nfiles)] = true
	}
	generate(v2, names, 1, pick)
	for _, b := range []struct{ id, dir string }{{"1000", v0}, {"1001", v1}, {"1002", v2}} {
		if _, err := e.store.Upload(ctx, s3cache.UploadRequest{Build: b.id, Source: s3cache.Source{PR: 1}, Dir: b.dir}); err != nil {
			return err
		}
	}
	// The data repo: master holds v0; PR1 = master + a small commit.
	if e.bare, err = e.git.NewRepo("data.git"); err != nil {
		return err
	}
	seed := filepath.Join(work, "seed")
	mustGit(work, nil, "init", "--quiet", "--initial-branch=master", seed)
	os.Rename(v0, filepath.Join(seed, "data"))
	os.WriteFile(filepath.Join(seed, "README.md"), []byte("data repo\n"), 0o644)
	mustGit(seed, nil, "add", "-A")
	mustGit(seed, nil, "commit", "--quiet", "-m", "seed")
	mustGit(seed, nil, "push", "--quiet", e.bare, "master")
	os.WriteFile(filepath.Join(seed, "data", "PR1-note.txt"), []byte("pr 1\n"), 0o644)
	mustGit(seed, nil, "add", "-A")
	mustGit(seed, nil, "commit", "--quiet", "-m", "PR1")
	mustGit(seed, nil, "push", "--quiet", e.bare, "HEAD:refs/heads/PR1")
	os.RemoveAll(seed)
	pristine := filepath.Join(work, "pristine.git")
	if err := exec.Command("cp", "-a", e.bare, pristine).Run(); err != nil {
		return err
	}
	// The state after a full update: PR1 = master + v1, for the 1% runs.
	afterFull := filepath.Join(work, "after-full.git")
	if _, err := e.refbot("1001", filepath.Join(work, "setup-cache"), filepath.Join(work, "setup-dl")); err != nil {
		return err
	}
	if err := exec.Command("cp", "-a", e.bare, afterFull).Run(); err != nil {
		return err
	}

	type row struct {
		name string
		wall time.Duration
		rss  int64
	}
	var rows []row
	measure := func(name string, state string, f func() (result, error)) (result, error) {
		if err := restore(state, e.bare); err != nil {
			return result{}, err
		}
		res, err := f()
		if err != nil {
			return res, fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, row{name: name, wall: res.wall, rss: res.rss})
		fmt.Printf("  %-34s %8.2f s %8.1f MB\n", name, res.wall.Seconds(), float64(res.rss)/1e6)
		return res, nil
	}
	fmt.Println("measuring …")
	pipeFull, err := measure("pipeline, full change", pristine, func() (result, error) { return e.pipeline("1001") })
	if err != nil {
		return err
	}
	coldCache, coldDL := filepath.Join(work, "cold-cache"), filepath.Join(work, "cold-dl")
	if _, err := measure("refbot cold, full change", pristine, func() (result, error) {
		os.RemoveAll(coldCache)
		os.RemoveAll(coldDL)
		return e.refbot("1001", coldCache, coldDL)
	}); err != nil {
		return err
	}
	// Warm: the cache and the download folder of an earlier update of this
	// PR, whose data (build 1000, the v0 files) all differ from build 1001.
	warmCache, warmDL := filepath.Join(work, "warm-cache"), filepath.Join(work, "warm-dl")
	if err := restore(pristine, e.bare); err != nil {
		return err
	}
	if _, err := e.refbot("1000", warmCache, warmDL); err != nil {
		return err
	}
	if _, err := measure("refbot warm, full change", pristine, func() (result, error) { return e.refbot("1001", warmCache, warmDL) }); err != nil {
		return err
	}
	pipeSmall, err := measure(fmt.Sprintf("pipeline, %g%% change", share*100), afterFull, func() (result, error) { return e.pipeline("1002") })
	if err != nil {
		return err
	}
	if _, err := measure(fmt.Sprintf("refbot cold, %g%% change", share*100), afterFull, func() (result, error) {
		os.RemoveAll(coldCache)
		os.RemoveAll(coldDL)
		return e.refbot("1002", coldCache, coldDL)
	}); err != nil {
		return err
	}
	// Warm for the small change: the state right after the full update.
	if err := restore(pristine, e.bare); err != nil {
		return err
	}
	if _, err := e.refbot("1001", warmCache, warmDL); err != nil {
		return err
	}
	if _, err := measure(fmt.Sprintf("refbot warm, %g%% change", share*100), "", func() (result, error) { return e.refbot("1002", warmCache, warmDL) }); err != nil {
		return err
	}

	fmt.Printf("\n%d files, %d MB per build; %g%% of the files changed in the small update\n\n", nfiles, total>>20, share*100)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\twall (s)\tpeak RSS (MB)\tvs pipeline\t")
	for i, r := range rows {
		base := pipeFull.wall
		if i >= 3 {
			base = pipeSmall.wall
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.1f\t%.3f×\t\n", r.name, r.wall.Seconds(), float64(r.rss)/1e6, r.wall.Seconds()/base.Seconds())
	}
	tw.Flush()
	fmt.Println("\ntargets: full change ≤ 0.5× (aim 0.25×), small change ≤ 0.1× (aim 0.05×), peak RSS ≤ 256 MB")
	return nil
}

type result struct {
	wall time.Duration
	rss  int64 // bytes
}

// runTimed runs cmd and returns its wall time and peak RSS.
func runTimed(cmd *exec.Cmd) (result, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	res := result{wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.rss = ru.Maxrss * 1024
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return res, nil
}

// pipeline is the hand-run update, step by step; its time is the sum and
// its peak RSS the largest of its steps.
func (e *env) pipeline(build string) (result, error) {
	clone := filepath.Join(e.work, "pipeline-clone")
	os.RemoveAll(clone)
	defer os.RemoveAll(clone)
	gitEnv := append(os.Environ(), e.git.AuthEnv()...)
	gitEnv = append(gitEnv, "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=b@x", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=b@x")
	awsEnv := append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.minio.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.minio.SecretKey,
		"AWS_DEFAULT_REGION="+e.minio.Region, "AWS_EC2_METADATA_DISABLED=true")
	old, err := testenv.GitEnv(e.bare, nil, "rev-parse", "PR1")
	if err != nil {
		return result{}, err
	}
	steps := []struct {
		env  []string
		dir  string
		args []string
	}{
		{gitEnv, e.work, []string{"git", "clone", "--quiet", "--single-branch", "--branch", "PR1", e.git.URL("data.git"), clone}},
		{awsEnv, e.work, []string{"aws", "--endpoint-url", e.minio.Endpoint, "s3", "sync", "--only-show-errors", "--delete", "--exclude", ".git/*",
			"s3://" + e.opts.Bucket + "/" + e.opts.Prefix + "/" + build + "/data/", filepath.Join(clone, "data") + "/"}},
		{gitEnv, clone, []string{"git", "add", "-A"}},
		{gitEnv, clone, []string{"git", "commit", "--quiet", "--amend", "-m", "Update reference data (build " + build + ")"}},
		{gitEnv, clone, []string{"git", "push", "--quiet", "--force-with-lease=PR1:" + old, "origin", "HEAD:PR1"}},
	}
	var total result
	for _, s := range steps {
		cmd := exec.Command(s.args[0], s.args[1:]...)
		cmd.Env, cmd.Dir = s.env, s.dir
		r, err := runTimed(cmd)
		if err != nil {
			return total, err
		}
		total.wall += r.wall
		total.rss = max(total.rss, r.rss)
	}
	return total, nil
}

// refbot runs refbot's path (s3cache.Open + Download, refdata.Update) in a
// child process.
func (e *env) refbot(build, cache, dl string) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, "worker", build, cache, dl, e.git.URL("data.git"))
	cmd.Env = append(os.Environ(),
		"BENCH_TOKEN="+e.git.Token, "BENCH_S3_ENDPOINT="+e.minio.Endpoint,
		"BENCH_S3_KEY="+e.minio.AccessKey, "BENCH_S3_SECRET="+e.minio.SecretKey)
	return runTimed(cmd)
}

func worker(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: worker BUILD CACHE DOWNLOAD URL")
	}
	build, cache, dl, url := args[0], args[1], args[2], args[3]
	ctx := context.Background()
	store, err := s3cache.New(ctx, s3cache.Options{Bucket: "bench", Prefix: "builds", Endpoint: os.Getenv("BENCH_S3_ENDPOINT"),
		PathStyle: true, AccessKeyID: os.Getenv("BENCH_S3_KEY"), SecretAccessKey: os.Getenv("BENCH_S3_SECRET")})
	if err != nil {
		return err
	}
	repo, err := refdata.Open(refdata.Options{URL: url, Token: os.Getenv("BENCH_TOKEN"), CacheDir: cache})
	if err != nil {
		return err
	}
	res, err := publish.Publish(ctx, store, repo, publish.Request{
		Build: build, Want: s3cache.Want{Source: s3cache.Source{PR: 1}}, Branch: "PR1", WorkDir: dl,
		Subject: "Update reference data (build " + build + ")", Trailers: refdata.Trailers{PR: 1, Build: build},
	})
	if err != nil {
		return err
	}
	v, u := res.Variants[0], res.Update
	fmt.Printf("fetched %d files (%d bytes), pushed %d objects (%d bytes), %d changes\n",
		v.Download.Fetched, v.Download.FetchedBytes, u.Objects, u.Bytes, len(u.Changes))
	return nil
}

func restore(from, to string) error {
	if from == "" {
		return nil
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	return exec.Command("cp", "-a", from, to).Run()
}

func mustGit(dir string, env []string, args ...string) {
	if _, err := testenv.GitEnv(dir, env, args...); err != nil {
		fmt.Fprintln(os.Stderr, "bench: git", strings.Join(args, " "), ":", err)
		testenv.Stop()
		os.Exit(1)
	}
}

type fileSpec struct {
	name string
	kind byte // 'p' PNG, 'j' JSON, 'h' HTML
	size int
}

// fileNames lays out n files in nested folders with sizes that add up to
// about total: PNGs carry most of the bytes, JSON and HTML most of the count.
func fileNames(n int, total int64) []fileSpec {
	rng := rand.New(rand.NewPCG(1, 2))
	specs := make([]fileSpec, n)
	weights := make([]float64, n)
	var sum float64
	for i := range specs {
		kind, ext := byte('j'), "json"
		switch r := rng.IntN(10); {
		case r < 4:
			kind, ext = 'p', "png"
		case r < 6:
			kind, ext = 'h', "html"
		}
		specs[i] = fileSpec{name: fmt.Sprintf("suite%02d/case%03d/out%04d.%s", i%40, (i/40)%25, i, ext), kind: kind}
		w := 0.2 + rng.Float64()
		if kind == 'p' {
			w *= 8
		}
		weights[i] = w
		sum += w
	}
	for i := range specs {
		specs[i].size = max(64, int(float64(total)*weights[i]/sum))
	}
	return specs
}

// generate writes version v of the files into dir; with only set, files not
// in it are written as version 1 (the base for the small change) and files
// in it as version 2. Each version has different content and size.
func generate(dir string, specs []fileSpec, v int, only map[int]bool) {
	for i, s := range specs {
		ver := v
		if only != nil && only[i] {
			ver = 2
		}
		size := s.size + ver*17
		rng := rand.New(rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(ver)}))
		buf := make([]byte, size)
		switch s.kind {
		case 'p':
			for j := 0; j+8 <= len(buf); j += 8 {
				binary.LittleEndian.PutUint64(buf[j:], rng.Uint64())
			}
			copy(buf, "\x89PNG\r\n\x1a\n")
		default:
			words := []string{"value", "expected", "0.125", "true", "label", "<td>", "</td>", "axis", "\n", "\"x\":", "1e-3"}
			for j := 0; j < len(buf); {
				j += copy(buf[j:], words[rng.IntN(len(words))]+" ")
			}
		}
		full := filepath.Join(dir, filepath.FromSlash(s.name))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, buf, 0o644); err != nil {
			panic(err)
		}
	}
}
