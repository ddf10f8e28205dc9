package stall

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/refbot/refbot/internal/faultproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const limit = 200 * time.Millisecond

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := Dial((&net.Dialer{}).DialContext, limit)(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listen runs handle on each connection to a loopback listener.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func wantStall(t *testing.T, err error, op string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Op != op {
		t.Fatalf("err = %v, want a %s stall", err, op)
	}
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Errorf("%v is not a net.Error timeout", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%v is not os.ErrDeadlineExceeded", err)
	}
}

// TestReadStall: a server that takes the request and never answers
// (blackholed) fails the read.
func TestReadStall(t *testing.T) {
	p := faultproxy.New(t, listen(t, func(c net.Conn) { io.Copy(c, c) }))
	p.Blackhole()
	c := dial(t, p.Addr())
	c.Write([]byte("ping"))
	_, err := c.Read(make([]byte, 1))
	wantStall(t, err, "read")
}

// TestSlowTransferIsNotAStall: a transfer that moves, a few bytes at a
// time, for several times the limit in all, goes through.
func TestSlowTransferIsNotAStall(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 20)
	p := faultproxy.New(t, listen(t, func(c net.Conn) {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			c.Write(msg)
		}
	}))
	p.Trickle(1, limit/5) // 20 bytes over 4 limits
	c := dial(t, p.Addr())
	c.Write([]byte("?"))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Errorf("got %d bytes, %v; want all %d", len(got), err, len(msg))
	}
}

// TestUploadMovesTheReader: while a request goes out, slowly, a reader
// waiting for its answer is not stalled; once the sending stops, it is.
func TestUploadMovesTheReader(t *testing.T) {
	c := dial(t, listen(t, func(c net.Conn) { io.Copy(io.Discard, c) }))
	read := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); read <- err }()
	// 20 writes, one every limit/5: 4 limits, while the read waits.
	for range 20 {
		if _, err := c.Write([]byte("u")); err != nil {
			t.Fatalf("write: %v", err)
		}
		time.Sleep(limit / 5)
	}
	select {
	case err := <-read:
		t.Fatalf("the reader failed during the upload: %v", err)
	default:
	}
	wantStall(t, <-read, "read")
}

// TestWriteStall: a server that stops reading blocks the sender once the
// socket buffers are full; the write fails.
func TestWriteStall(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	c := dial(t, listen(t, func(c net.Conn) { <-stop }))
	big := make([]byte, 64<<20)
	n, err := c.Write(big)
	wantStall(t, err, "write")
	if n == 0 || n == len(big) {
		t.Errorf("wrote %d bytes before the stall, want some", n)
	}
}

// TestTransport: through http.Transport, a body that stops halfway fails
// the read with the stall, and a server that never answers fails the
// request.
func TestTransport(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("half of the body"))
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stop)
	tr := Transport(&http.Transport{}, limit)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "half of the body" {
		t.Errorf("body = %q", body)
	}
	wantStall(t, err, "read")

	p := faultproxy.New(t, strings.TrimPrefix(srv.URL, "http://"))
	p.Blackhole()
	_, err = client.Get("http://" + p.Addr())
	wantStall(t, err, "read")
}

// TestNoLimit: a limit of 0 leaves the dial as it is.
func TestNoLimit(t *testing.T) {
	d := (&net.Dialer{}).DialContext
	c, err := Dial(d, 0)(context.Background(), "tcp", listen(t, func(net.Conn) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*conn); ok {
		t.Error("a zero limit wrapped the connection")
	}
}
