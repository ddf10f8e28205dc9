package s3cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// answerFault is how brokenS3 spoils the answer to a GET of one data
// object. body is the object as S3 has it.
type answerFault func(w http.ResponseWriter, body []byte)

// brokenS3 stands between a Store and the test MinIO. It forwards every
// request as it is (the Host header kept, so that the signatures hold);
// the answers to GETs of the data object named target are spoiled by
// fault, times times (-1: always), the rest pass.
type brokenS3 struct {
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	target string
	fault  answerFault
	times  int
	hits   int // answers spoiled
}

func (b *brokenS3) set(target string, times int, f answerFault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.target, b.times, b.fault, b.hits = target, times, f, 0
}

func (b *brokenS3) spoiled() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// take returns the fault for a request, if it is to be spoiled.
func (b *brokenS3) take(r *http.Request) answerFault {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.Method != http.MethodGet || b.fault == nil || b.times == 0 ||
		!strings.Contains(r.URL.Path, "/data/") || !strings.HasSuffix(r.URL.Path, "/"+b.target) {
		return nil
	}
	if b.times > 0 {
		b.times--
	}
	b.hits++
	return b.fault
}

func (b *brokenS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := b.take(r)
	if f == nil {
		b.proxy.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	b.proxy.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	f(w, rec.Body.Bytes())
}

// rawAnswer hijacks the connection and writes a 200 whose head says
// Content-Length: announced and whose body is body, then closes the
// connection (with an RST if reset): an answer net/http would never write.
func rawAnswer(w http.ResponseWriter, announced int, body []byte, reset bool) {
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
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0)
	}
}

// The ways brokenS3 lies about a body's length.
var (
	// cutShort announces the whole object and sends half, then closes.
	cutShort answerFault = func(w http.ResponseWriter, body []byte) { rawAnswer(w, len(body), body[:len(body)/2], false) }
	// cutByReset is cutShort ended by a TCP reset.
	cutByReset answerFault = func(w http.ResponseWriter, body []byte) { rawAnswer(w, len(body), body[:len(body)/2], true) }
	// understated announces fewer bytes than it sends (the whole object).
	understated answerFault = func(w http.ResponseWriter, body []byte) { rawAnswer(w, len(body)-100, body, false) }
	// trailing announces the object's length and sends it, then junk.
	trailing answerFault = func(w http.ResponseWriter, body []byte) {
		rawAnswer(w, len(body), append(bytes.Clone(body), strings.Repeat("junk", 1000)...), false)
	}
	// overstated announces and sends more than the object: junk after it.
	overstated answerFault = func(w http.ResponseWriter, body []byte) {
		rawAnswer(w, len(body)+4000, append(bytes.Clone(body), strings.Repeat("junk", 1000)...), false)
	}
	// serverError answers 500, as S3 does when it fails internally.
	serverError answerFault = func(w http.ResponseWriter, _ []byte) {
		for k := range w.Header() {
			w.Header().Del(k)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
	}
)

// brokenStore is a store on the test MinIO behind a brokenS3 (passing for
// now), with attempts per request; the bucket exists and holds build "9"
// of PR 1 with files, whose manifest is returned.
func brokenStore(t *testing.T, attempts int, files map[string]string) (*Store, *brokenS3, *Manifest) {
	t.Helper()
	mc := testenv.MinIO(t)
	u, err := url.Parse(mc.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	b := &brokenS3{proxy: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	s, err := New(ctx, Options{
		Bucket: mc.BucketName(t), Prefix: "broken", Region: mc.Region, Endpoint: srv.URL, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey, MaxAttempts: attempts, Concurrency: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, UploadRequest{Build: "9", Source: Source{PR: 1}, Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
	build, err := s.Open(ctx, "9", Want{Source: Source{PR: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return s, b, build.Manifests[""]
}

// randomContent is n random bytes, as a string.
func randomContent(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

// tempFiles lists the temporary files of downloads under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// wantOnlyValid checks every file in dir is one of files with its content
// and that no temporary file is left.
func wantOnlyValid(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, got := range readTree(t, dir) {
		if want, ok := files[p]; !ok || got != want {
			t.Errorf("%s is in the folder with %d bytes that are not the build's", p, len(got))
		}
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestDownloadLyingContentLength: S3 answers a data object with a
// Content-Length that lies. Whatever the lie, the file never lands
// unless its bytes are exactly the manifest's (size and sha256), no
// partial or temporary file is left, the files fetched before stay, and
// the next download, S3 answering straight, brings the build byte for
// byte. Lies that net/http's client hides (junk after the announced
// body) do no harm: the object is exactly what the manifest lists.
func TestDownloadLyingContentLength(t *testing.T) {
	files := map[string]string{"a.txt": "alpha\n", "plots/big.bin": randomContent(1 << 20)}
	s, b, m := brokenStore(t, 1, files)
	ctx := context.Background()
	tests := []struct {
		name    string
		fault   answerFault
		refused bool
	}{
		{"fewer bytes than announced, then closed", cutShort, true},
		{"fewer bytes than announced, then reset", cutByReset, true},
		{"more bytes than announced", understated, true},
		{"junk after the announced body", trailing, false},
		{"announced and sent more than the object", overstated, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "work")
			b.set("big.bin", -1, tc.fault)
			_, err := s.Download(ctx, m, dir, DownloadOptions{})
			if b.spoiled() == 0 {
				t.Fatal("no answer was spoiled")
			}
			t.Logf("%s: %v", tc.name, err)
			if tc.refused {
				if err == nil {
					t.Fatal("the download succeeded")
				}
				if !strings.Contains(err.Error(), "plots/big.bin") {
					t.Errorf("err = %v, want it to name plots/big.bin", err)
				}
				if _, serr := os.Lstat(filepath.Join(dir, "plots", "big.bin")); !errors.Is(serr, fs.ErrNotExist) {
					t.Errorf("plots/big.bin is in the folder after a refused download: %v", serr)
				}
			} else if err != nil {
				t.Fatalf("download: %v", err)
			}
			wantOnlyValid(t, dir, files)

			b.set("", 0, nil)
			if _, err := s.Download(ctx, m, dir, DownloadOptions{}); err != nil {
				t.Fatalf("the download after the fault: %v", err)
			}
			if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
				t.Errorf("folder after the fault (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDownloadServerErrorMidway: s3cache downloads a build as one GET per
// file, files in parallel (no ranged parts: the transfer manager serves
// uploads only), so "a 500 in the middle of a download" is a 500 for one
// file while others are in flight or done. A 500 once is retried by the
// SDK and the build comes whole; a 500 on every attempt fails the download
// naming the file, with only complete, valid files in the folder and no
// temporary one; the next download keeps those files (it reads them
// again, not from S3) and fetches the rest: the result is the build byte
// for byte.
func TestDownloadServerErrorMidway(t *testing.T) {
	files := map[string]string{}
	for i := range 24 {
		files[fmt.Sprintf("f%02d.bin", i)] = randomContent(64<<10 + i)
	}
	s, b, m := brokenStore(t, 2, files)
	ctx := context.Background()

	t.Run("once", func(t *testing.T) {
		dir := t.TempDir()
		b.set("f11.bin", 1, serverError)
		if _, err := s.Download(ctx, m, dir, DownloadOptions{}); err != nil {
			t.Fatalf("download: %v", err)
		}
		if n := b.spoiled(); n != 1 {
			t.Errorf("%d answers were 500, want 1", n)
		}
		if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
			t.Errorf("folder (-want +got):\n%s", diff)
		}
	})

	t.Run("every attempt", func(t *testing.T) {
		dir := t.TempDir()
		b.set("f11.bin", -1, serverError)
		_, err := s.Download(ctx, m, dir, DownloadOptions{})
		if err == nil || !strings.Contains(err.Error(), "f11.bin") || !strings.Contains(err.Error(), "500") {
			t.Fatalf("err = %v, want the 500 for f11.bin", err)
		}
		if n := b.spoiled(); n != 2 {
			t.Errorf("f11.bin was asked for %d times, want 2 (the attempts)", n)
		}
		wantOnlyValid(t, dir, files)
		before := len(readTree(t, dir))

		b.set("", 0, nil)
		st, err := s.Download(ctx, m, dir, DownloadOptions{})
		if err != nil {
			t.Fatalf("the download after the fault: %v", err)
		}
		if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
			t.Errorf("folder after the fault (-want +got):\n%s", diff)
		}
		if st.Kept != before || st.Fetched != len(files)-before {
			t.Errorf("second download kept %d and fetched %d; %d files were in place before it", st.Kept, st.Fetched, before)
		}
	})
}

// TestDownloadDiskFull: the folder a build is downloaded into is on a
// full disk (a small tmpfs, filled). The download fails with an error
// that is ENOSPC (errors.Is), the cause callers tell the user; no partial
// or temporary file is left, and its state file is not half-written; once
// space is freed, the next download brings the build byte for byte.
func TestDownloadDiskFull(t *testing.T) {
	files := map[string]string{"a.txt": "alpha\n", "plots/big.bin": randomContent(256 << 10)}
	s, _, m := brokenStore(t, 1, files)
	disk := filepath.Join(t.TempDir(), "disk")
	testenv.SmallDisk(t, disk, 1<<20)
	free := testenv.FillDisk(t, disk)
	dir, state := filepath.Join(disk, "work"), filepath.Join(disk, "state.sha256")
	ctx := context.Background()

	_, err := s.Download(ctx, m, dir, DownloadOptions{StatePath: state})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	t.Logf("on a full disk: %v", err)
	wantOnlyValid(t, dir, files)
	entries, _ := os.ReadDir(disk)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".statcache-") {
			t.Errorf("a half-written state file is left: %s", e.Name())
		}
	}

	free()
	if _, err := s.Download(ctx, m, dir, DownloadOptions{StatePath: state}); err != nil {
		t.Fatalf("the download after space was freed: %v", err)
	}
	if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
		t.Errorf("folder after space was freed (-want +got):\n%s", diff)
	}
}
