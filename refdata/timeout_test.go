package refdata

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// TestDefaultHTTPClient: without Options.HTTPClient, Open builds a client
// whose transport has the timeouts asked for (DefaultTimeouts for those not
// given) and no overall timeout, which would cut a long push; a client
// given is used as it is.
func TestDefaultHTTPClient(t *testing.T) {
	given := &http.Client{Timeout: time.Hour}
	tests := []struct {
		name      string
		opts      Options
		want      Timeouts
		wantGiven bool
	}{
		{name: "defaults", want: Timeouts{Dial: 10 * time.Second, TLSHandshake: 10 * time.Second, ResponseHeader: 2 * time.Minute, IdleConn: 90 * time.Second}},
		{name: "some set", opts: Options{Timeouts: Timeouts{ResponseHeader: time.Second, IdleConn: time.Minute}},
			want: Timeouts{Dial: 10 * time.Second, TLSHandshake: 10 * time.Second, ResponseHeader: time.Second, IdleConn: time.Minute}},
		{name: "client given", opts: Options{HTTPClient: given}, wantGiven: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.URL, o.CacheDir = "http://127.0.0.1:1/data.git", t.TempDir()
			r, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantGiven {
				if r.httpc != given {
					t.Error("the given client was not used")
				}
				return
			}
			if r.httpc.Timeout != 0 {
				t.Errorf("Client.Timeout = %v, want none", r.httpc.Timeout)
			}
			tr, ok := r.httpc.Transport.(*http.Transport)
			if !ok {
				t.Fatalf("transport is a %T", r.httpc.Transport)
			}
			// The dial timeout sits in the dialer's closure, out of
			// sight: TestDialTimeout dials. The other three are fields of
			// the transport.
			want := tc.want
			want.Dial = 0
			got := Timeouts{TLSHandshake: tr.TLSHandshakeTimeout, ResponseHeader: tr.ResponseHeaderTimeout, IdleConn: tr.IdleConnTimeout}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("timeouts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDialTimeout: a server that never completes the TCP handshake (its
// accept queue is full, so the kernel drops the SYNs) fails the operation
// at the dial timeout, not at the caller's deadline.
func TestDialTimeout(t *testing.T) {
	addr := fullServer(t)
	r, err := Open(Options{URL: "http://" + addr + "/data.git", CacheDir: t.TempDir(), Timeouts: Timeouts{Dial: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = r.Branch(ctx, "master")
	if err == nil || !strings.Contains(err.Error(), "i/o timeout") || ctx.Err() != nil {
		t.Errorf("Branch against a server that never accepts: %v (caller's context: %v); want the dial's i/o timeout", err, ctx.Err())
	}
}

// fullServer listens on loopback with an accept queue of one and fills it:
// a further connection's handshake never completes.
func fullServer(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	c, err := net.DialTimeout("tcp", addr, time.Second) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return addr
}

// TestServerThatNeverAnswers: a server that takes the request and never
// answers fails the operation within the response-header timeout, whether
// it is the listing of refs, a fetch, a read of blobs or a push.
func TestServerThatNeverAnswers(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	silent := silentServer(t)
	f := newFixture(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			io.Copy(io.Discard, r.Body) // the whole pack, then silence
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return true
		}
		return false
	})
	open := func(t *testing.T, url string) *Repo {
		r, err := Open(Options{URL: url, Token: f.gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache"),
			Timeouts: Timeouts{ResponseHeader: headerTimeout}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name string
		url  string
		op   func(ctx context.Context, r *Repo) error
	}{
		{"list refs", silent, func(ctx context.Context, r *Repo) error { _, err := r.RemoteTips(ctx); return err }},
		{"fetch", silent, func(ctx context.Context, r *Repo) error { _, err := r.Branch(ctx, "master"); return err }},
		{"read blobs", silent, func(ctx context.Context, r *Repo) error {
			_, err := r.Blobs(ctx, []plumbing.Hash{plumbing.NewHash(strings.Repeat("1", 40))}, 1<<20, 1<<20)
			return err
		}},
		{"push", f.gs.URL("data.git"), func(ctx context.Context, r *Repo) error {
			_, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "x\n"})}}})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t, tc.url)
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- tc.op(context.Background(), r) }()
			select {
			case err := <-done:
				took := time.Since(start)
				var ne net.Error
				if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
					t.Errorf("err = %v, want the response-header timeout", err)
				} else if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("err = %v is not a net.Error timeout", err)
				}
				if took < headerTimeout || took > headerTimeout+5*time.Second {
					t.Errorf("failed after %v, want about %v", took, headerTimeout)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("still waiting 20 s for a server that never answers")
			}
		})
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
		t.Errorf("PR1 was created at %s", out)
	}
}

// silentServer accepts connections on loopback, reads what it is sent and
// never answers; it returns a repository URL on it.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	return "http://" + ln.Addr().String() + "/data.git"
}
