package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
)

// TestBrokenAnswers runs an UPDATE through `refbot serve` while S3 or the
// data repo's git server answers wrongly, or refbot's work folder is on a
// full disk. Each ends in a clear final status and one reply per command
// (the retry's success, or a refusal saying what was wrong, never a raw
// error), leaves no partial or temporary file in the work folder and no
// half-updated data branch, and the next UPDATE succeeds: PR42 is master
// plus one commit holding the build's data. The cases run in parallel,
// each with its own sandbox.
func TestBrokenAnswers(t *testing.T) {
	t.Run("s3 body shorter than its Content-Length", func(t *testing.T) {
		t.Parallel()
		// The connection closes halfway through the object: the file is
		// refused, the job's attempt fails as an outage and its retry,
		// with S3 answering straight, completes the update.
		ctx, sb := start(t, true)
		s3 := spoilS3(t, sb)
		rb := serve(ctx, t, sb)
		s3.set("hist.png", 1, func(w http.ResponseWriter, body []byte) { lyingAnswer(w, len(body), body[:len(body)/2]) })
		st := updateOnce(ctx, t, sb, rb)
		if st.State != "success" {
			t.Errorf("final status %s: %s", st.State, st.Description)
		}
		if n := s3.spoiled(); n != 1 {
			t.Errorf("%d answers spoiled, want 1", n)
		}
		wantUpdated(t, sb, 1)
		wantLogged(t, rb, "unexpected EOF")
	})

	t.Run("s3 object longer than its manifest", func(t *testing.T) {
		t.Parallel()
		// S3 announces and sends more than the manifest lists: refused
		// at the listed size, and said so; nothing is pushed.
		ctx, sb := start(t, true)
		s3 := spoilS3(t, sb)
		rb := serve(ctx, t, sb)
		s3.set("hist.png", -1, func(w http.ResponseWriter, body []byte) {
			junk := append(bytes.Clone(body), strings.Repeat("junk", 256)...)
			lyingAnswer(w, len(junk), junk)
		})
		st := updateOnce(ctx, t, sb, rb)
		if st.State != "failure" || !strings.Contains(st.Description, "do not match their manifest") {
			t.Errorf("final status %s: %q, want a failure saying the outputs do not match their manifest", st.State, st.Description)
		}
		wantReply(t, sb, 1, "do not match their manifest", "plots/hist.png", "longer than")
		wantNotUpdated(t, sb)

		s3.set("", 0, nil)
		if st := updateAgain(ctx, t, sb, rb); st.State != "success" {
			t.Errorf("the next UPDATE: status %s: %s", st.State, st.Description)
		}
		wantUpdated(t, sb, 2)
	})

	t.Run("git push cut", func(t *testing.T) {
		t.Parallel()
		// The connection is reset after the start of the pack: git never
		// gets it whole, the branch does not move, and the retry pushes.
		ctx, sb := start(t, true)
		rb := serve(ctx, t, sb)
		var cuts int
		var mu sync.Mutex
		sb.Git.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			if cuts > 0 || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
				return false
			}
			cuts++
			io.CopyN(io.Discard, r.Body, 64)
			resetConn(w)
			return true
		})
		st := updateOnce(ctx, t, sb, rb)
		if st.State != "success" {
			t.Errorf("final status %s: %s", st.State, st.Description)
		}
		if cuts != 1 {
			t.Errorf("%d pushes cut, want 1", cuts)
		}
		wantUpdated(t, sb, 1)
		wantLogged(t, rb, "push to data repo")
	})

	t.Run("git fetch cut", func(t *testing.T) {
		t.Parallel()
		// The server's answer to the first fetch breaks off in the pack:
		// the job's attempt fails, its retry fetches and pushes. The
		// data repo holds enough files (outside the data, which the
		// build replaces) that the pack of its trees spans several of the
		// protocol's 64 KiB packets, so that the cut leaves part of a
		// pack written in refbot's cache.
		data := maps.Clone(DemoData)
		for i := range 3000 {
			data[fmt.Sprintf("docs/many/file-%04d.txt", i)] = fmt.Sprintf("%d\n", i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		t.Cleanup(cancel)
		sb, err := StartWith(ctx, t.TempDir(), Options{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sb.Close)
		if _, err := sb.Upload(ctx, refbotBin, DemoOutputs); err != nil {
			t.Fatal(err)
		}
		cut := cutGitFetch(t, sb)
		rb := serve(ctx, t, sb)
		cut.arm()
		st := updateOnce(ctx, t, sb, rb)
		if st.State != "success" {
			t.Errorf("final status %s: %s", st.State, st.Description)
		}
		if n := cut.cuts(); n != 1 {
			t.Errorf("%d fetches cut, want 1", n)
		}
		wantUpdated(t, sb, 1)
		wantLogged(t, rb, "store fetched data repo objects")
	})

	t.Run("work folder on a full disk", func(t *testing.T) {
		t.Parallel()
		// The downloads fail with ENOSPC: the update ends at once with a
		// reply and a status saying the disk is full (not the error),
		// and once space is freed the next UPDATE goes through.
		ctx, sb := start(t, true)
		work := filepath.Join(sb.Work, "state", "work")
		testenv.SmallDisk(t, work, 1<<20)
		rb := serve(ctx, t, sb)
		free := testenv.FillDisk(t, work)
		st := updateOnce(ctx, t, sb, rb)
		if st.State != "failure" || !strings.Contains(st.Description, "disk is full") {
			t.Errorf("final status %s: %q, want a failure saying the disk is full", st.State, st.Description)
		}
		wantReply(t, sb, 1, "refbot's disk is full", "nothing was pushed")
		if r := sb.Replies(); len(r) > 0 && strings.Contains(r[0].Body, "no space left") {
			t.Errorf("the reply shows the raw error: %s", r[0].Body)
		}
		wantNotUpdated(t, sb)

		free()
		if st := updateAgain(ctx, t, sb, rb); st.State != "success" {
			t.Errorf("after space was freed: status %s: %s", st.State, st.Description)
		}
		wantUpdated(t, sb, 2)
	})
}

// serve starts refbot serve for the test, stopped at its end.
func serve(ctx context.Context, t *testing.T, sb *Sandbox) *Refbot {
	t.Helper()
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Stop(context.Background()) })
	return rb
}

// updateOnce has the maintainer say UPDATE and waits for its final status.
func updateOnce(ctx context.Context, t *testing.T, sb *Sandbox, rb *Refbot) fakegithub.Status {
	t.Helper()
	if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
		t.Fatalf("UPDATE delivery: status %d, %v", d.Status, err)
	}
	st, err := sb.WaitUpdateDone(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// updateAgain is updateOnce after an earlier UPDATE's final status: it
// waits for this UPDATE's reply, then returns the status.
func updateAgain(ctx context.Context, t *testing.T, sb *Sandbox, rb *Refbot) fakegithub.Status {
	t.Helper()
	before := len(sb.Replies())
	if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
		t.Fatalf("UPDATE delivery: status %d, %v", d.Status, err)
	}
	waitUntil(ctx, t, rb, "the reply to the next UPDATE", func() bool { return len(sb.Replies()) > before })
	st, err := sb.WaitUpdateDone(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wantUpdated checks PR42 is master plus one commit with the build's data,
// refbot replied replies times, and no download left a temporary file.
func wantUpdated(t *testing.T, sb *Sandbox, replies int) {
	t.Helper()
	if n := testenv.Git(t, sb.Bare, "rev-list", "--count", "master..PR42"); n != "1" {
		t.Errorf("PR42 is master + %s commits, want 1", n)
	}
	if got := testenv.Git(t, sb.Bare, "show", "PR42:data/plots/hist.png"); got != DemoOutputs["plots/hist.png"] {
		t.Errorf("PR42 lacks the build's data: %q", got)
	}
	if n := len(sb.Replies()); n != replies {
		t.Errorf("refbot posted %d replies, want %d", n, replies)
	}
	testenv.Git(t, sb.Bare, "fsck", "--no-progress")
	wantNoTempFiles(t, sb)
}

// wantNotUpdated checks the data repo has no PR42 branch (nor a backup of
// one) and no download left a temporary file.
func wantNotUpdated(t *testing.T, sb *Sandbox) {
	t.Helper()
	if refs := testenv.Git(t, sb.Bare, "for-each-ref", "--format=%(refname)", "refs/heads/PR42", "refs/refbot/"); refs != "" {
		t.Errorf("refs after a refused UPDATE: %s", refs)
	}
	wantNoTempFiles(t, sb)
}

// wantReply checks refbot's n-th reply (from 1) holds each of words.
func wantReply(t *testing.T, sb *Sandbox, n int, words ...string) {
	t.Helper()
	replies := sb.Replies()
	if len(replies) < n {
		t.Fatalf("%d replies, want at least %d", len(replies), n)
	}
	for _, w := range words {
		if !strings.Contains(replies[n-1].Body, w) {
			t.Errorf("reply %d lacks %q:\n%s", n, w, replies[n-1].Body)
		}
	}
}

// wantNoTempFiles checks refbot's state folder holds no temporary file of
// a download (s3cache's .refbot-tmp-* in the work folder) or of a fetch
// (a tmp_pack_* in the data repo's cache).
func wantNoTempFiles(t *testing.T, sb *Sandbox) {
	t.Helper()
	filepath.WalkDir(filepath.Join(sb.Work, "state"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasPrefix(d.Name(), ".refbot-tmp-") || strings.HasPrefix(d.Name(), "tmp_pack_")) {
			t.Errorf("a temporary file is left: %s", p)
		}
		return nil
	})
}

// wantLogged checks refbot's log says what.
func wantLogged(t *testing.T, rb *Refbot, what string) {
	t.Helper()
	log, err := os.ReadFile(rb.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, what) {
			t.Logf("refbot logged: %s", line)
			return
		}
	}
	t.Errorf("refbot's log does not say %q", what)
}

// resetConn ends the request's connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// lyingAnswer hijacks the connection and writes a 200 with the headers set
// on w, announcing Content-Length: announced and sending body, then
// closes it.
func lyingAnswer(w http.ResponseWriter, announced int, body []byte) {
	hdr := w.Header().Clone()
	hdr.Del("Content-Length")
	hdr.Set("Connection", "close")
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n", announced)
	hdr.Write(buf)
	buf.WriteString("\r\n")
	buf.Write(body)
	buf.Flush()
}

// s3Spoiler is a reverse proxy in front of the sandbox's MinIO (the Host
// header kept, so the signatures hold) that spoils the answers to GETs of
// one data object.
type s3Spoiler struct {
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	target string
	times  int // -1: always
	hits   int
	fault  func(w http.ResponseWriter, body []byte)
}

// spoilS3 puts an s3Spoiler, passing for now, between refbot serve and
// MinIO (refbot's configuration is rewritten; CI's upload is done).
func spoilS3(t *testing.T, sb *Sandbox) *s3Spoiler {
	t.Helper()
	u, err := url.Parse(sb.MinIO.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s := &s3Spoiler{proxy: httputil.NewSingleHostReverseProxy(u)}
	// refbot cancels the other downloads when one fails; the proxy's log
	// lines for them are noise here.
	s.proxy.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	repoint(t, sb, "s3", sb.MinIO.Endpoint, srv.URL)
	return s
}

func (s *s3Spoiler) set(target string, times int, f func(http.ResponseWriter, []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target, s.times, s.fault, s.hits = target, times, f, 0
}

func (s *s3Spoiler) spoiled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func (s *s3Spoiler) take(r *http.Request) func(http.ResponseWriter, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet || s.fault == nil || s.times == 0 ||
		!strings.Contains(r.URL.Path, "/data/") || !strings.HasSuffix(r.URL.Path, "/"+s.target) {
		return nil
	}
	if s.times > 0 {
		s.times--
	}
	s.hits++
	return s.fault
}

func (s *s3Spoiler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := s.take(r)
	if f == nil {
		s.proxy.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	f(w, rec.Body.Bytes())
}

// gitFetchCutter is a reverse proxy in front of the sandbox's git server
// that, once armed, breaks off its next answer to a fetch (git-upload-pack)
// before its end: the connection is closed mid-answer.
type gitFetchCutter struct {
	mu    sync.Mutex
	armed bool
	n     int
}

// cutGitFetch puts a gitFetchCutter, unarmed, between refbot serve and
// the git server.
func cutGitFetch(t *testing.T, sb *Sandbox) *gitFetchCutter {
	t.Helper()
	raw := sb.Git.URL("data.git")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := &gitFetchCutter{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.armed {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		c.armed = false
		c.n++
		// Short of its end: past the pack's first 64 KiB packet.
		resp.Body = &cutBody{ReadCloser: io.NopCloser(bytes.NewReader(body)), left: max(len(body)-64, 0)}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return nil
	}
	// A read error mid-body aborts the answer (the connection is closed);
	// its log line is noise here.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	proxied := *u
	proxied.Host = strings.TrimPrefix(srv.URL, "http://")
	repoint(t, sb, "data_repo", raw, proxied.String())
	return c
}

func (c *gitFetchCutter) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = true
}

func (c *gitFetchCutter) cuts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// cutBody gives left bytes, then fails.
type cutBody struct {
	io.ReadCloser
	left int
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("cut by the test")
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

// repoint rewrites refbot's configuration: in section (s3, data_repo),
// from replaces to.
func repoint(t *testing.T, sb *Sandbox, section, from, to string) {
	t.Helper()
	b, err := os.ReadFile(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	at := strings.Index(cfg, "\n"+section+":\n")
	if at < 0 || !strings.Contains(cfg[at:], from) {
		t.Fatalf("no %s section with %s in the sandbox's configuration:\n%s", section, from, cfg)
	}
	cfg = cfg[:at] + strings.Replace(cfg[at:], from, to, 1)
	if err := os.WriteFile(sb.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}
