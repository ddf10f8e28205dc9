// Command benchhistory measures what the age of the data repo costs an
// update: the same small update of a PR branch (a share of 5,000 files
// changed), from an empty cache, against a young data repo (a few commits)
// and against an old one (thousands of commits of history, hundreds of
// archived branches with their backups), both served by git http-backend
// on loopback. The two must take about as long: refbot fetches the tips it
// works on, shallow and blobless, not the history behind them (target:
// old within 1.2× of young).
//
// The histories are written with git fast-import on the server side. Both
// repos end in the same tree, and PR1 is that tree plus one small commit.
// The update is refdata's alone (no S3 download), so nothing but the data
// repo's part is timed. For scale it also times what a client that fetches
// whole histories pays: git clone --bare --filter=blob:none of each repo.
// Run it with `make bench`.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
)

// target is the largest old/young ratio of the update's wall time that
// counts as "an old data repo costs what a young one does"
// (docs/design.md, "Data repo").
const target = 1.2

func main() {
	files := flag.Int("files", 5000, "number of files in the data")
	mb := flag.Int("mb", 20, "total size of the data in MB")
	changed := flag.Float64("changed", 0.01, "share of the files the update changes")
	commits := flag.Int("commits", 5000, "commits of history of the old data repo")
	archives := flag.Int("archives", 500, "archived branches of the old data repo (each with a backup ref)")
	runs := flag.Int("runs", 5, "cold updates of each repo; the median is reported")
	flag.Parse()
	if *files < 1 || *mb < 1 || *changed <= 0 || *changed > 1 || *commits < 3 || *archives < 0 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "benchhistory: -files, -mb, -runs ≥ 1, -commits ≥ 3, -archives ≥ 0, 0 < -changed ≤ 1")
		os.Exit(2)
	}
	if err := run(params{files: *files, total: int64(*mb) << 20, share: *changed, commits: *commits, archives: *archives, runs: *runs}); err != nil {
		fmt.Fprintln(os.Stderr, "benchhistory:", err)
		os.Exit(1)
	}
}

type params struct {
	files    int
	total    int64
	share    float64
	commits  int
	archives int
	runs     int
}

// dataRepo is one of the two data repos: where PR1 starts, restored
// before each run, and what the cold updates measured.
type dataRepo struct {
	name     string
	commits  int
	archives int
	bare     string
	pr1      string // PR1's tip as written

	walls   []time.Duration
	server  [][4]time.Duration // per run: the time of each kind of request (see requestKinds)
	last    *refdata.UpdateResult
	cached  [2]int // commits and trees in the cache after the last run
	refs    int
	clone   time.Duration // git clone --bare --filter=blob:none
	cloneMB float64
}

func run(p params) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "refbot-benchhistory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	gs, err := testenv.StartGitServer(filepath.Join(work, "git"))
	if err != nil {
		return err
	}
	defer gs.Close()

	specs := fileSpecs(p.files, p.total)
	pick := map[int]bool{}
	rng := rand.New(rand.NewPCG(7, 7))
	for len(pick) < max(1, int(float64(p.files)*p.share)) {
		pick[rng.IntN(p.files)] = true
	}
	// The update's content: the data with the picked files changed.
	update := filepath.Join(work, "update")
	for i, s := range specs {
		ver := 0
		if pick[i] {
			ver = 1
		}
		full := filepath.Join(update, filepath.FromSlash(s.name))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, content(i, s, ver), 0o644); err != nil {
			return err
		}
	}

	repos := []*dataRepo{
		{name: "young", commits: 3},
		{name: "old", commits: p.commits, archives: p.archives},
	}
	for _, r := range repos {
		start := time.Now()
		fmt.Printf("writing the %s data repo: %d commits, %d archived branches, %d files …", r.name, r.commits, r.archives, p.files)
		if r.bare, err = gs.NewRepo(r.name + ".git"); err != nil {
			return err
		}
		if err := writeHistory(r.bare, specs, r.commits, r.archives); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		// As a served repository's housekeeping (git gc, or the host's)
		// leaves it: fast-import writes each ref to a file of its own.
		if _, err := testenv.GitEnv(r.bare, nil, "pack-refs", "--all"); err != nil {
			return err
		}
		if r.refs, err = countLines(r.bare, "for-each-ref"); err != nil {
			return err
		}
		if r.pr1, err = testenv.GitEnv(r.bare, nil, "rev-parse", "refs/heads/PR1"); err != nil {
			return err
		}
		fmt.Printf(" %.1f s\n", time.Since(start).Seconds())
	}

	fmt.Printf("measuring %d cold updates of each …\n", p.runs)
	for i := range p.runs {
		// Alternate which repo goes first, so that drift in the machine's
		// load falls on both.
		order := repos
		if i%2 == 1 {
			order = []*dataRepo{repos[1], repos[0]}
		}
		for _, r := range order {
			wall, err := r.coldUpdate(ctx, gs, filepath.Join(work, "cache-"+r.name), update)
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			r.walls = append(r.walls, wall)
			fmt.Printf("  %-5s %7.3f s\n", r.name, wall.Seconds())
		}
	}
	for _, r := range repos {
		if err := r.restore(); err != nil {
			return err
		}
		dir := filepath.Join(work, "clone-"+r.name)
		start := time.Now()
		if _, err := testenv.GitEnv(work, gs.AuthEnv(), "clone", "--quiet", "--bare", "--filter=blob:none", gs.URL(r.name+".git"), dir); err != nil {
			return err
		}
		r.clone = time.Since(start)
		r.cloneMB = float64(dirSize(filepath.Join(dir, "objects"))) / 1e6
		os.RemoveAll(dir)
	}

	young, old := repos[0], repos[1]
	fmt.Println("\nwhere the time goes (median of the runs, s; the rest is refbot's own work: hashing, trees):")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "data repo\t%s\tthe rest\t\n", strings.Join(requestKinds[:], "\t"))
	exchanges := map[*dataRepo]time.Duration{}
	for _, r := range repos {
		fmt.Fprintf(tw, "%s\t", r.name)
		var server []time.Duration
		for i := range requestKinds {
			var spent []time.Duration
			for _, s := range r.server {
				spent = append(spent, s[i])
			}
			fmt.Fprintf(tw, "%.3f\t", median(spent).Seconds())
			server = append(server, median(spent))
		}
		var sum time.Duration
		for _, d := range server {
			sum += d
		}
		exchanges[r] = sum
		fmt.Fprintf(tw, "%.3f\t\n", (median(r.walls) - sum).Seconds())
	}
	tw.Flush()
	fmt.Printf("\n%d files, %d MB; the update changes %d of them (%g%%), from an empty cache; median of %d runs\n\n",
		p.files, p.total>>20, len(pick), p.share*100, p.runs)
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "data repo\tcommits\trefs\tcold update (s)\tcache: commits\ttrees\tpushed objects\tKB\tfull blobless clone (s)\tMB\t")
	for _, r := range repos {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%d\t%d\t%d\t%.0f\t%.2f\t%.1f\t\n", r.name, r.commits, r.refs, median(r.walls).Seconds(),
			r.cached[0], r.cached[1], r.last.Objects, float64(r.last.Bytes)/1e3, r.clone.Seconds(), r.cloneMB)
	}
	tw.Flush()
	ratio := median(old.walls).Seconds() / median(young.walls).Seconds()
	verdict := "met"
	if ratio > target {
		verdict = "MISSED"
	}
	fmt.Printf("\nold / young: %.3f× (target ≤ %.1f×: %s); the exchanges with the data repo alone: %.3f×\n",
		ratio, target, verdict, exchanges[old].Seconds()/exchanges[young].Seconds())
	return nil
}

// coldUpdate restores PR1, then times refdata's update of PR1 with
// the content of dir from an empty cache.
func (r *dataRepo) coldUpdate(ctx context.Context, gs *testenv.GitServer, cacheDir, dir string) (time.Duration, error) {
	if err := r.restore(); err != nil {
		return 0, err
	}
	if err := os.RemoveAll(cacheDir); err != nil {
		return 0, err
	}
	timer := &requestTimer{next: http.DefaultTransport}
	start := time.Now()
	repo, err := refdata.Open(refdata.Options{URL: gs.URL(r.name + ".git"), Token: gs.Token, CacheDir: cacheDir,
		HTTPClient: &http.Client{Transport: timer}})
	if err != nil {
		return 0, err
	}
	res, err := repo.Update(ctx, refdata.UpdateRequest{Branch: "PR1", Subject: "Update reference data (benchhistory)",
		Trailers: refdata.Trailers{PR: 1, Build: "bench"}, Parts: []refdata.Part{{Dir: dir}}})
	wall := time.Since(start)
	if err != nil {
		return 0, err
	}
	if !res.Pushed || len(res.Changes) == 0 {
		return 0, fmt.Errorf("the update pushed nothing (%d changes)", len(res.Changes))
	}
	r.last = res
	r.server = append(r.server, timer.spent)
	if r.cached, err = countObjects(cacheDir); err != nil {
		return 0, err
	}
	return wall, nil
}

// requestKinds name the requests of an update, in the order of
// requestTimer.spent.
var requestKinds = [4]string{"upload-pack refs", "upload-pack", "receive-pack refs", "receive-pack"}

// requestTimer adds up the time of each kind of request to the data repo,
// from sending it to the end of its answer.
type requestTimer struct {
	next  http.RoundTripper
	spent [4]time.Duration
}

func (t *requestTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := 0
	if strings.Contains(req.URL.String(), "receive-pack") {
		kind = 2
	}
	if req.Method == http.MethodPost {
		kind++
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { t.spent[kind] += time.Since(start) }}
	return resp, nil
}

type timedBody struct {
	io.ReadCloser
	done func()
}

func (b *timedBody) Close() error {
	if b.done != nil {
		b.done()
		b.done = nil
	}
	return b.ReadCloser.Close()
}

// countObjects counts the commits and trees in a cache.
func countObjects(dir string) ([2]int, error) {
	var n [2]int
	st := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	defer st.Close()
	for i, typ := range []plumbing.ObjectType{plumbing.CommitObject, plumbing.TreeObject} {
		iter, err := st.IterEncodedObjects(typ)
		if err != nil {
			return n, err
		}
		err = iter.ForEach(func(plumbing.EncodedObject) error { n[i]++; return nil })
		if err != nil && err != storer.ErrStop {
			return n, err
		}
	}
	return n, nil
}

// writeHistory writes, with git fast-import into bare, a master of commits
// commits ending in the data at version 0 (the first commit holds it too;
// each commit between changes five files), PR1 = master plus a small
// commit, and archived branches, each an archive ref and a backup ref on
// commits of their own made on points of master's history, named as
// refbot names them.
func writeHistory(bare string, specs []fileSpec, commits, archives int) error {
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir = bare
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	// The data's blobs, marks 1..n.
	for i, s := range specs {
		writeData(w, fmt.Sprintf("blob\nmark :%d\n", i+1), content(i, s, 0))
	}
	rng := rand.New(rand.NewPCG(3, uint64(commits)))
	start := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	mark := func(i int) int { return 1_000_000 + i } // master's commit i
	header := func(ref string, m int, at time.Time, msg string) {
		fmt.Fprintf(w, "commit %s\nmark :%d\ncommitter History <history@example.com> %d +0000\n", ref, m, at.Unix())
		writeData(w, "", []byte(msg))
	}
	for i := range commits {
		header("refs/heads/master", mark(i), start.Add(time.Duration(i)*time.Hour), fmt.Sprintf("history %d\n", i))
		switch {
		case i == 0 || i == commits-1:
			if i > 0 {
				fmt.Fprintf(w, "from :%d\ndeleteall\n", mark(i-1))
			}
			writeData(w, "M 100644 inline README.md\n", []byte("reference data\n"))
			for j, s := range specs {
				fmt.Fprintf(w, "M 100644 :%d data/%s\n", j+1, s.name)
			}
		default:
			fmt.Fprintf(w, "from :%d\n", mark(i-1))
			for range 5 {
				j := rng.IntN(len(specs))
				writeData(w, "M 100644 inline data/"+specs[j].name+"\n", fmt.Appendf(nil, "history %d of %s\n", i, specs[j].name))
			}
		}
	}
	header("refs/heads/PR1", mark(commits), start.Add(time.Duration(commits)*time.Hour), "PR1\n")
	fmt.Fprintf(w, "from :%d\n", mark(commits-1))
	writeData(w, "M 100644 inline data/PR1-note.txt\n", []byte("pr 1\n"))
	stamp := time.Now().Add(-time.Duration(archives+1) * time.Hour)
	for a := range archives {
		on := mark(a * (commits - 1) / max(1, archives))
		for k, kind := range []string{"backup", "archive"} {
			at := stamp.Add(time.Duration(a)*time.Hour + time.Duration(k)*time.Minute)
			ref := fmt.Sprintf("refs/refbot/%s/PR%d/%d", kind, 1000+a, at.UnixNano())
			header(ref, 2_000_000+2*a+k, at, fmt.Sprintf("PR%d %s\n", 1000+a, kind))
			fmt.Fprintf(w, "from :%d\n", on)
			for range 3 {
				j := rng.IntN(len(specs))
				writeData(w, "M 100644 inline data/"+specs[j].name+"\n", fmt.Appendf(nil, "PR%d %s of %s\n", 1000+a, kind, specs[j].name))
			}
		}
	}
	fmt.Fprintln(w, "done")
	if err := w.Flush(); err != nil {
		return err
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %w: %s", err, stderr.String())
	}
	return nil
}

// writeData writes a fast-import command line (if any) and a data block.
func writeData(w io.Writer, cmd string, data []byte) {
	fmt.Fprintf(w, "%sdata %d\n", cmd, len(data))
	w.Write(data)
	fmt.Fprintln(w)
}

type fileSpec struct {
	name string
	kind byte // 'p' PNG, 'j' JSON, 'h' HTML
	size int
}

// fileSpecs lays out n files in nested folders with sizes that add up to
// about total: PNGs carry most of the bytes, JSON and HTML most of the
// count (the layout of internal/cmd/bench).
func fileSpecs(n int, total int64) []fileSpec {
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

// content is version v of file i: each version differs in content and size.
func content(i int, s fileSpec, v int) []byte {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(v)}))
	buf := make([]byte, s.size+v*17)
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
	return buf
}

func countLines(dir string, args ...string) (int, error) {
	out, err := testenv.GitEnv(dir, nil, args...)
	if err != nil {
		return 0, err
	}
	return len(strings.Split(out, "\n")), nil
}

// restore puts PR1 back where writeHistory left it and deletes the backup
// refs of it the updates made. The objects they pushed stay: rewriting the
// whole repository before each run would leave the disk busy writing back
// during the next, more so for the larger old repo. The update sends them
// again all the same, since the cache is empty.
func (r *dataRepo) restore() error {
	if _, err := testenv.GitEnv(r.bare, nil, "update-ref", "refs/heads/PR1", r.pr1); err != nil {
		return err
	}
	out, err := testenv.GitEnv(r.bare, nil, "for-each-ref", "--format=%(refname)", "refs/refbot/backup/PR1/")
	if err != nil {
		return err
	}
	for _, ref := range strings.Fields(out) {
		if _, err := testenv.GitEnv(r.bare, nil, "update-ref", "-d", ref); err != nil {
			return err
		}
	}
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
