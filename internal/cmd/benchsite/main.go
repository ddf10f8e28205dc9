// Command benchsite measures WEBSITE's publication, s3cache's
// Store.Publish (server-side copies of a docs build into the preview folder,
// the marker, then the removal of what the new site lacks), against what an
// operator would run by hand, `aws s3 sync --delete` from the build's data
// to the preview (server-side copies too), on the same generated
// documentation site, with MinIO on loopback.
//
// The steps: build A is uploaded (setup), published into an empty preview;
// build B (A with a share of the files changed, a share removed and a few
// added) is uploaded and published over A; B is published again, which has
// nothing to do. Each publication runs in a child process, so that its
// peak RSS can be read from the kernel (wait4's ru_maxrss), and reaches
// MinIO through a counting proxy on loopback, so that both ways pay the
// same hop and their S3 requests are counted alike. refbot's child also
// counts its requests with a RoundTripper on the store's http.Client; the
// two counts must agree. After each step, both previews must hold the same
// objects (keys, sizes, ETags), those of the site just published; without
// the aws CLI the comparison rows say so, and refbot's preview is checked
// against the generated site through refbot's own counts only.
//
// Run it with `make bench`.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
)

const (
	// buildsBucket and buildsPrefix hold the website builds, as
	// website.s3_prefix does; previewBucket holds both previews, as
	// website.s3_bucket would.
	buildsBucket  = "bench"
	buildsPrefix  = "ci/website"
	previewBucket = "site"
	refbotPreview = "previews/refbot"
	awsPreview    = "previews/aws"
	// markerName is the object Publish writes into its preview, which the
	// hand-run sync has no counterpart of.
	markerName = ".refbot-preview.json"

	pr      = 1
	buildA  = "1000"
	buildB  = "1001"
	commitA = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	commitB = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "publish-worker" {
		if err := worker(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "publish-worker:", err)
			os.Exit(1)
		}
		return
	}
	var p params
	flag.IntVar(&p.files, "files", 2000, "number of files in the site")
	flag.IntVar(&p.kb, "kb", 20, "average file size in KB")
	flag.Float64Var(&p.changed, "changed", 0.1, "share of the files changed in the second build")
	flag.Float64Var(&p.removed, "removed", 0.05, "share of the files removed in the second build")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchsite: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := p.check(); err != nil {
		fmt.Fprintln(os.Stderr, "benchsite:", err)
		os.Exit(2)
	}
	err := run(p)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsite:", err)
		os.Exit(1)
	}
}

// params are the flags: the site's size and how the second build differs.
type params struct {
	files   int
	kb      int
	changed float64
	removed float64
}

func (p params) check() error {
	switch {
	case p.files < 10 || p.files > 1_000_000:
		return fmt.Errorf("-files must be between 10 and 1000000, not %d", p.files)
	case p.kb < 1 || p.kb > 100_000:
		return fmt.Errorf("-kb must be between 1 and 100000, not %d", p.kb)
	case !(p.changed >= 0 && p.changed <= 1):
		return fmt.Errorf("-changed is a share of the files, between 0 and 1, not %g", p.changed)
	case !(p.removed >= 0 && p.removed < 1):
		return fmt.Errorf("-removed is a share of the files, at least 0 and below 1, not %g", p.removed)
	case p.changed+p.removed > 1:
		return fmt.Errorf("-changed (%g) and -removed (%g) add up to more than all the files", p.changed, p.removed)
	}
	return nil
}

// env is what the steps share.
type env struct {
	work   string
	minio  *testenv.MinIOServer
	proxy  *countingProxy
	aws    string // the aws CLI's path; "" when it is missing
	awsEnv []string
}

// outcome is one way's run of one step.
type outcome struct {
	wall     time.Duration
	rss      int64 // bytes
	requests map[string]int
	stats    s3cache.PublishStats // refbot's only
}

func (o outcome) total() int {
	n := 0
	for _, c := range o.requests {
		n += c
	}
	return n
}

// step is one measured publication, both ways.
type step struct {
	name        string
	refbot, aws outcome
}

func run(p params) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "refbot-benchsite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e := &env{work: work}
	if e.aws, err = exec.LookPath("aws"); err != nil {
		e.aws = ""
		fmt.Println("aws CLI not found (apt-get install awscli): refbot's rows only, and no comparison of the previews")
	}

	fmt.Printf("setting up: MinIO, a counting proxy, a documentation site of %d files, %d KB on average …\n", p.files, p.kb)
	if e.minio, err = testenv.StartMinIO(work); err != nil {
		return err
	}
	if e.proxy, err = startProxy(e.minio.Endpoint); err != nil {
		return err
	}
	defer e.proxy.close()
	// The aws CLI reads no configuration of this machine's user, so that
	// it runs with its defaults (max_concurrent_requests 10).
	e.awsEnv = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+e.minio.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.minio.SecretKey,
		"AWS_DEFAULT_REGION="+e.minio.Region, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(work, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(work, "aws-credentials"))

	builds, err := s3cache.New(ctx, e.options(buildsBucket, buildsPrefix, e.minio.Endpoint))
	if err != nil {
		return err
	}
	previews, err := s3cache.New(ctx, e.options(previewBucket, "", e.minio.Endpoint))
	if err != nil {
		return err
	}
	for _, s := range []*s3cache.Store{builds, previews} {
		if err := s.EnsureBucket(ctx); err != nil {
			return err
		}
	}

	a := siteLayout(p.files, int64(p.kb)<<10)
	b, diff := nextSite(a, p.changed, p.removed)
	dirA, dirB := filepath.Join(work, "site-a"), filepath.Join(work, "site-b")
	if err := writeSite(dirA, a); err != nil {
		return err
	}
	if err := writeSite(dirB, b); err != nil {
		return err
	}

	// Step 1, setup: build A.
	took, err := upload(ctx, builds, buildA, commitA, dirA)
	if err != nil {
		return err
	}
	fmt.Printf("build A: %d files, %.1f MB, uploaded in %.1f s\n", len(a), mb(siteBytes(a)), took.Seconds())

	var steps []step
	measure := func(name, build string, want s3cache.PublishStats, site []siteFile) error {
		st := step{name: name}
		var err error
		if st.refbot, err = e.publishRefbot(build); err != nil {
			return fmt.Errorf("%s, refbot: %w", name, err)
		}
		if st.refbot.stats != want {
			return fmt.Errorf("%s, refbot: copied %d, skipped %d, removed %d; the generated sites say %d, %d, %d",
				name, st.refbot.stats.Copied, st.refbot.stats.Skipped, st.refbot.stats.Removed, want.Copied, want.Skipped, want.Removed)
		}
		fmt.Printf("  %-30s refbot %7.2f s %6d requests %7.1f MB\n", name, st.refbot.wall.Seconds(), st.refbot.total(), mb(st.refbot.rss))
		if e.aws != "" {
			if st.aws, err = e.publishAWS(build); err != nil {
				return fmt.Errorf("%s, aws s3 sync: %w", name, err)
			}
			fmt.Printf("  %-30s aws    %7.2f s %6d requests %7.1f MB\n", "", st.aws.wall.Seconds(), st.aws.total(), mb(st.aws.rss))
			if err := e.comparePreviews(site); err != nil {
				return fmt.Errorf("%s: the previews differ: %w", name, err)
			}
		}
		steps = append(steps, st)
		return nil
	}

	fmt.Println("measuring …")
	// Step 2: A into an empty preview.
	if err := measure("publish A, empty preview", buildA, s3cache.PublishStats{Copied: len(a), Bytes: siteBytes(a)}, a); err != nil {
		return err
	}
	// Step 3: B over A. B is uploaded after A's sync, as a docs build of
	// a later head would be.
	if took, err = upload(ctx, builds, buildB, commitB, dirB); err != nil {
		return err
	}
	fmt.Printf("build B: %d files, %.1f MB, uploaded in %.1f s: %d changed (%d of them at the same size), %d removed, %d added\n",
		len(b), mb(siteBytes(b)), took.Seconds(), len(diff.changed), diff.sameSize, diff.removed, len(diff.added))
	changedBytes := int64(0)
	for _, f := range b {
		if diff.changed[f.path] || diff.added[f.path] {
			changedBytes += f.size
		}
	}
	if err := measure("publish B over A", buildB, s3cache.PublishStats{Copied: len(diff.changed) + len(diff.added),
		Skipped: len(b) - len(diff.changed) - len(diff.added), Removed: diff.removed, Bytes: changedBytes}, b); err != nil {
		return err
	}
	// Step 4: B again, nothing to do.
	if err := measure("publish B again", buildB, s3cache.PublishStats{Skipped: len(b)}, b); err != nil {
		return err
	}

	report(os.Stdout, p, steps, e.aws != "")
	return nil
}

// options are the Options of a store of website builds reached at
// endpoint.
func (e *env) options(bucket, prefix, endpoint string) s3cache.Options {
	return s3cache.Options{Bucket: bucket, Prefix: prefix, Endpoint: endpoint, PathStyle: true, Region: e.minio.Region,
		AccessKeyID: e.minio.AccessKey, SecretAccessKey: e.minio.SecretKey, Kind: s3cache.KindWebsite}
}

func upload(ctx context.Context, builds *s3cache.Store, id, commit, dir string) (time.Duration, error) {
	start := time.Now()
	_, err := builds.Upload(ctx, s3cache.UploadRequest{Build: id, Source: s3cache.Source{PR: pr}, Commit: commit, Provider: "bench", Dir: dir})
	if err != nil {
		return 0, fmt.Errorf("upload build %s: %w", id, err)
	}
	return time.Since(start), nil
}

// publishRefbot publishes build into refbot's preview in a child process
// (worker), through the proxy.
func (e *env) publishRefbot(build string) (outcome, error) {
	self, err := os.Executable()
	if err != nil {
		return outcome{}, err
	}
	cmd := exec.Command(self, "publish-worker", build)
	cmd.Env = append(os.Environ(),
		"BENCH_S3_ENDPOINT="+e.proxy.url, "BENCH_S3_REGION="+e.minio.Region,
		"BENCH_S3_KEY="+e.minio.AccessKey, "BENCH_S3_SECRET="+e.minio.SecretKey,
		// The SDK refuses a CA bundle with an http.Client it did not build;
		// the proxy is plain HTTP and needs none.
		"AWS_CA_BUNDLE=")
	e.proxy.take()
	out, stdout, err := runTimed(cmd)
	seen := e.proxy.take()
	if err != nil {
		return out, err
	}
	var rep workerReport
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		return out, fmt.Errorf("read the worker's report %q: %w", stdout, err)
	}
	// The worker's RoundTripper and the proxy see the same requests; a
	// difference is a bug of this benchmark.
	if !maps.Equal(rep.Requests, seen) {
		return out, fmt.Errorf("the worker counted requests %v, the proxy %v", rep.Requests, seen)
	}
	out.requests, out.stats = rep.Requests, rep.Stats
	return out, nil
}

// publishAWS runs what an operator would run by hand to publish build: a
// server-side sync of its data into the aws preview, through the proxy.
func (e *env) publishAWS(build string) (outcome, error) {
	src := "s3://" + buildsBucket + "/" + buildsPrefix + "/" + build + "/data/"
	dst := "s3://" + previewBucket + "/" + awsPreview + "/"
	cmd := exec.Command(e.aws, "--endpoint-url", e.proxy.url, "s3", "sync", "--delete", "--only-show-errors", src, dst)
	cmd.Env = e.awsEnv
	e.proxy.take()
	out, _, err := runTimed(cmd)
	out.requests = e.proxy.take()
	return out, err
}

// runTimed runs cmd and returns its wall time, peak RSS and stdout.
func runTimed(cmd *exec.Cmd) (outcome, string, error) {
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := outcome{wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.rss = ru.Maxrss * 1024
	}
	if err != nil {
		return res, stdout.String(), fmt.Errorf("%s: %w\n%s%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
	}
	return res, stdout.String(), nil
}

// workerReport is what the worker prints, as its last line.
type workerReport struct {
	Stats    s3cache.PublishStats
	Requests map[string]int
}

// worker is refbot's publication as the daemon runs it (Open with the
// PR and head, then Publish), with its S3 requests counted.
func worker(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: publish-worker BUILD")
	}
	build := args[0]
	commit := map[string]string{buildA: commitA, buildB: commitB}[build]
	if commit == "" {
		return fmt.Errorf("unknown build %q", build)
	}
	ctx := context.Background()
	counter := newRequestCounter()
	// The SDK's own client keeps 10 idle connections per host; so does
	// this one, so that the connections are reused as in refbot serve.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 100, 10
	store, err := s3cache.New(ctx, s3cache.Options{Bucket: buildsBucket, Prefix: buildsPrefix,
		Endpoint: os.Getenv("BENCH_S3_ENDPOINT"), PathStyle: true, Region: os.Getenv("BENCH_S3_REGION"),
		AccessKeyID: os.Getenv("BENCH_S3_KEY"), SecretAccessKey: os.Getenv("BENCH_S3_SECRET"), Kind: s3cache.KindWebsite,
		HTTPClient: &http.Client{Transport: countingTransport{base: tr, counter: counter}}})
	if err != nil {
		return err
	}
	b, err := store.Open(ctx, build, s3cache.Want{Source: s3cache.Source{PR: pr}, Commit: commit})
	if err != nil {
		return err
	}
	m := b.Manifests[""]
	if m == nil {
		return fmt.Errorf("build %s has variants, not one site", build)
	}
	st, err := store.Publish(ctx, m, s3cache.Preview{Bucket: previewBucket, Prefix: refbotPreview},
		s3cache.PreviewInfo{PR: pr, Commit: commit, Build: build, Slot: 1})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(workerReport{Stats: st, Requests: counter.take()})
}

// requestCounter counts S3 requests by operation.
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newRequestCounter() *requestCounter { return &requestCounter{n: map[string]int{}} }

func (c *requestCounter) add(r *http.Request) {
	c.mu.Lock()
	c.n[operation(r)]++
	c.mu.Unlock()
}

// take returns the counts so far and starts again from zero.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// operation names the S3 operation of a path-style request.
func operation(r *http.Request) string {
	q := r.URL.Query()
	objectKey := strings.Contains(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodHead:
		return "head"
	case r.Method == http.MethodGet && !objectKey && q.Has("location"):
		return "location"
	case r.Method == http.MethodGet && !objectKey:
		return "list"
	case r.Method == http.MethodGet:
		return "get"
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		return "copy"
	case r.Method == http.MethodPut:
		return "put"
	case r.Method == http.MethodDelete:
		return "delete"
	case r.Method == http.MethodPost && q.Has("delete"):
		return "delete-batch"
	}
	return strings.ToLower(r.Method)
}

// countingTransport counts each request, retries included, before base
// sends it.
type countingTransport struct {
	base    http.RoundTripper
	counter *requestCounter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.counter.add(r)
	return t.base.RoundTrip(r)
}

// countingProxy passes requests on to MinIO, counting them. It keeps the
// Host header the client signed.
type countingProxy struct {
	*requestCounter
	url    string
	server *http.Server
}

func startProxy(target string) (*countingProxy, error) {
	to, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 64
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(to)
			r.Out.Host = r.In.Host
		},
		Transport: tr,
	}
	p := &countingProxy{requestCounter: newRequestCounter(), url: "http://" + ln.Addr().String()}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.add(r)
		rp.ServeHTTP(w, r)
	})}
	go p.server.Serve(ln)
	return p, nil
}

func (p *countingProxy) close() { p.server.Close() }

// previewObject is what a listing says of an object.
type previewObject struct {
	Size int64
	ETag string
}

// comparePreviews lists both previews with the aws CLI, straight from
// MinIO, and checks that each holds site's files, with their sizes, and
// that both have the same ETags; refbot's has its marker besides.
func (e *env) comparePreviews(site []siteFile) error {
	ours, err := e.listPreview(refbotPreview)
	if err != nil {
		return err
	}
	if _, ok := ours[markerName]; !ok {
		return fmt.Errorf("refbot's preview has no %s", markerName)
	}
	delete(ours, markerName)
	theirs, err := e.listPreview(awsPreview)
	if err != nil {
		return err
	}
	want := make(map[string]int64, len(site))
	for _, f := range site {
		want[f.path] = f.size
	}
	for _, side := range []struct {
		name string
		objs map[string]previewObject
	}{{"refbot's preview", ours}, {"aws's preview", theirs}} {
		var problems []string
		for k, o := range side.objs {
			if size, ok := want[k]; !ok {
				problems = append(problems, k+" (not in the site)")
			} else if o.Size != size {
				problems = append(problems, fmt.Sprintf("%s (%d bytes, the site's file %d)", k, o.Size, size))
			}
		}
		for k := range want {
			if _, ok := side.objs[k]; !ok {
				problems = append(problems, k+" (missing)")
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s: %s", side.name, summarize(problems))
		}
	}
	var problems []string
	for k, o := range ours {
		if theirs[k].ETag != o.ETag {
			problems = append(problems, fmt.Sprintf("%s (ETag %s, aws's %s)", k, o.ETag, theirs[k].ETag))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the contents differ: %s", summarize(problems))
	}
	return nil
}

func summarize(problems []string) string {
	slices.Sort(problems)
	if len(problems) > 5 {
		return strings.Join(problems[:5], ", ") + fmt.Sprintf(" and %d more", len(problems)-5)
	}
	return strings.Join(problems, ", ")
}

// listPreview lists the objects under prefix, by their path inside it.
func (e *env) listPreview(prefix string) (map[string]previewObject, error) {
	cmd := exec.Command(e.aws, "--endpoint-url", e.minio.Endpoint, "s3api", "list-objects-v2",
		"--bucket", previewBucket, "--prefix", prefix+"/", "--output", "json")
	cmd.Env = e.awsEnv
	_, stdout, err := runTimed(cmd)
	if err != nil {
		return nil, err
	}
	var listing struct {
		Contents []struct {
			Key  string
			Size int64
			ETag string
		}
	}
	// An empty listing prints nothing.
	if strings.TrimSpace(stdout) != "" {
		if err := json.Unmarshal([]byte(stdout), &listing); err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", previewBucket, prefix, err)
		}
	}
	objs := make(map[string]previewObject, len(listing.Contents))
	for _, c := range listing.Contents {
		objs[strings.TrimPrefix(c.Key, prefix+"/")] = previewObject{Size: c.Size, ETag: c.ETag}
	}
	return objs, nil
}

// report prints the steps as a table, and refbot's figures over aws's.
func report(w io.Writer, p params, steps []step, haveAWS bool) {
	fmt.Fprintf(w, "\nsite of %d files, %d KB on average; build B: %g%% of the files changed, %g%% removed, a few added\n",
		p.files, p.kb, p.changed*100, p.removed*100)
	fmt.Fprintln(w, "both ways reach MinIO through the same counting proxy on loopback, each with its default concurrency")
	fmt.Fprintln(w, "(refbot 16 requests at a time, the aws CLI 10); wall time and peak RSS are the whole command's")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tway\twall (s)\tS3 requests\tpeak RSS (MB)\trequests by operation")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\trefbot\t%.2f\t%d\t%.1f\t%s\n", s.name, s.refbot.wall.Seconds(), s.refbot.total(), mb(s.refbot.rss), byOperation(s.refbot.requests))
		if haveAWS {
			fmt.Fprintf(tw, "\taws s3 sync\t%.2f\t%d\t%.1f\t%s\n", s.aws.wall.Seconds(), s.aws.total(), mb(s.aws.rss), byOperation(s.aws.requests))
		} else {
			fmt.Fprintln(tw, "\taws s3 sync\t-\t-\t-\taws CLI not found")
		}
	}
	tw.Flush()
	if !haveAWS {
		fmt.Fprintln(w, "\nno ratios: aws CLI not found (apt-get install awscli); refbot's preview was checked by its own counts only")
		return
	}
	fmt.Fprintln(w, "\nrefbot / aws s3 sync (below 1 is refbot better); after each step both previews held the same keys, sizes and ETags")
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\twall\tS3 requests\tpeak RSS")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%.2f×\t%.2f×\t%.2f×\n", s.name, s.refbot.wall.Seconds()/s.aws.wall.Seconds(),
			float64(s.refbot.total())/float64(max(1, s.aws.total())), float64(s.refbot.rss)/float64(max(1, s.aws.rss)))
	}
	tw.Flush()
}

func byOperation(n map[string]int) string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", op, n[op]))
	}
	return strings.Join(parts, ", ")
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// siteFile is one file of a generated site; version picks its content.
type siteFile struct {
	path    string
	kind    byte // 't' text (HTML, CSS, JS, sources), 'b' binary (images, fonts)
	size    int64
	version int
}

func siteBytes(site []siteFile) int64 {
	var n int64
	for _, f := range site {
		n += f.size
	}
	return n
}

// siteLayout lays out a Sphinx-like documentation site of n files whose
// sizes add up to about n*avg: pages most of the count, images and fonts
// most of the bytes.
func siteLayout(n int, avg int64) []siteFile {
	rng := rand.New(rand.NewPCG(1, 2))
	site := make([]siteFile, n)
	weights := make([]float64, n)
	var sum float64
	for i := range site {
		var f siteFile
		var w float64
		switch r := rng.IntN(100); {
		case r < 55:
			f, w = siteFile{path: fmt.Sprintf("api/pkg%02d/module%04d.html", i%30, i), kind: 't'}, 1
		case r < 70:
			f, w = siteFile{path: fmt.Sprintf("_sources/api/pkg%02d/module%04d.rst.txt", i%30, i), kind: 't'}, 0.4
		case r < 88:
			f, w = siteFile{path: fmt.Sprintf("_images/figure%04d.png", i), kind: 'b'}, 2.5
		case r < 93:
			f, w = siteFile{path: fmt.Sprintf("_images/diagram%04d.svg", i), kind: 't'}, 0.8
		case r < 96:
			f, w = siteFile{path: fmt.Sprintf("_static/script%04d.js", i), kind: 't'}, 1.5
		case r < 98:
			f, w = siteFile{path: fmt.Sprintf("_static/style%04d.css", i), kind: 't'}, 1
		default:
			f, w = siteFile{path: fmt.Sprintf("_static/fonts/font%04d.woff2", i), kind: 'b'}, 2
		}
		site[i], weights[i] = f, w*(0.3+1.4*rng.Float64())
		sum += weights[i]
	}
	for i := range site {
		site[i].size = max(16, int64(float64(n)*float64(avg)*weights[i]/sum))
	}
	return site
}

// siteDiff is how the second site differs from the first.
type siteDiff struct {
	changed  map[string]bool
	sameSize int // of the changed files, how many kept their size
	removed  int
	added    map[string]bool
}

// nextSite is site with a share changed of its files changed (half of
// them at the same size, which only a content check notices), a share
// removed removed, and one in 200 files added.
func nextSite(site []siteFile, changed, removed float64) ([]siteFile, siteDiff) {
	rng := rand.New(rand.NewPCG(3, 4))
	order := rng.Perm(len(site))
	nChanged, nRemoved := int(float64(len(site))*changed), int(float64(len(site))*removed)
	gone := map[int]bool{}
	for _, i := range order[nChanged : nChanged+nRemoved] {
		gone[i] = true
	}
	d := siteDiff{changed: map[string]bool{}, removed: nRemoved, added: map[string]bool{}}
	var next []siteFile
	for i, f := range site {
		if gone[i] {
			continue
		}
		next = append(next, f)
	}
	changedIdx := map[int]bool{}
	for _, i := range order[:nChanged] {
		changedIdx[i] = true
	}
	j := 0
	for i := range site {
		if gone[i] {
			continue
		}
		if changedIdx[i] {
			next[j].version = 1
			if len(d.changed)%2 == 0 {
				d.sameSize++
			} else {
				next[j].size += 1 + int64(rng.IntN(512))
			}
			d.changed[next[j].path] = true
		}
		j++
	}
	for k := range max(1, len(site)/200) {
		f := siteFile{path: fmt.Sprintf("guide/new%04d.html", k), kind: 't', size: siteBytes(site) / int64(len(site))}
		next = append(next, f)
		d.added[f.path] = true
	}
	return next, d
}

// writeSite writes site's files under dir. Each file's content depends on
// its path and version only.
func writeSite(dir string, site []siteFile) error {
	words := []string{"<p>", "</p>", "<a href=\"#\">", "</a>", "function", "return", "the", "parameter", "Returns", "\n",
		"class", "{", "}", "=", "0.125", "<code>", "</code>", "module", "See", "also"}
	for _, f := range site {
		rng := rand.New(rand.NewChaCha8(sha256.Sum256(fmt.Appendf(nil, "%s@%d", f.path, f.version))))
		buf := make([]byte, f.size)
		if f.kind == 'b' {
			for j := 0; j+8 <= len(buf); j += 8 {
				binary.LittleEndian.PutUint64(buf[j:], rng.Uint64())
			}
		} else {
			for j := 0; j < len(buf); {
				j += copy(buf[j:], words[rng.IntN(len(words))]+" ")
			}
		}
		full := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}
