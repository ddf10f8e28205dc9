package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a loopback TCP server running handle on each connection; it
// records what each connection sent it.
type server struct {
	ln   net.Listener
	mu   sync.Mutex
	got  [][]byte
	wg   sync.WaitGroup
	errs []error
}

func startServer(t *testing.T, handle func(c net.Conn, s *server, i int)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			i := len(s.got)
			s.got = append(s.got, nil)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c, s, i)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// readAll records what connection i sends until it ends, and how it ended.
func (s *server) readAll(c net.Conn, i int) error {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		s.mu.Lock()
		s.got[i] = append(s.got[i], buf[:n]...)
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (s *server) received(i int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.got) {
		return nil
	}
	return bytes.Clone(s.got[i])
}

// echo answers every byte it reads, until the client closes.
func echo(c net.Conn, s *server, i int) { io.Copy(c, c) }

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg and reads back as many bytes, or fails at the
// deadline.
func roundTrip(c net.Conn, msg []byte, deadline time.Duration) ([]byte, error) {
	c.SetDeadline(time.Now().Add(deadline))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	return got[:n], err
}

func TestPass(t *testing.T) {
	p := New(t, startServer(t, echo).ln.Addr().String())
	for range 3 {
		c := dial(t, p)
		got, err := roundTrip(c, []byte("hello"), 10*time.Second)
		if err != nil || string(got) != "hello" {
			t.Fatalf("round trip: %q, %v", got, err)
		}
	}
	if got := p.Accepted(); got != 3 {
		t.Errorf("Accepted() = %d, want 3", got)
	}
}

// TestDelay: every chunk waits the delay in each direction, so an echo
// takes at least twice as long.
func TestDelay(t *testing.T) {
	const d = 100 * time.Millisecond
	p := New(t, startServer(t, echo).ln.Addr().String())
	p.Delay(d)
	c := dial(t, p)
	start := time.Now()
	got, err := roundTrip(c, []byte("x"), 10*time.Second)
	if err != nil || string(got) != "x" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if took := time.Since(start); took < 2*d {
		t.Errorf("echo through a %s delay took %s, want at least %s", d, took, 2*d)
	}
	if p.Fault() != "delay 100ms" {
		t.Errorf("Fault() = %q", p.Fault())
	}
}

// TestBlackhole: the proxy takes the request, the server never sees it and
// the client waits for an answer that does not come, on a connection that
// stays open; back to Pass, a new connection works, and an open one stays
// silent.
func TestBlackhole(t *testing.T) {
	srv := startServer(t, func(c net.Conn, s *server, i int) { s.readAll(c, i) })
	p := New(t, srv.ln.Addr().String())
	p.Blackhole()
	c := dial(t, p)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	_, err := c.Read(one[:])
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Fatalf("read from a blackholed connection: %v, want a timeout", err)
	}
	if got := srv.received(0); len(got) != 0 {
		t.Errorf("the server received %q through a blackhole", got)
	}
	if got := p.Open(); got != 1 {
		t.Errorf("Open() = %d, want the blackholed connection still open", got)
	}

	p.Pass()
	c2 := dial(t, p)
	if _, err := c2.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	waitFor(t, func() bool { return string(srv.received(1)) == "after" })
}

// TestBlackholeHidesServerClose: a server that hangs up during a blackhole
// does not end the client's wait.
func TestBlackholeHidesServerClose(t *testing.T) {
	p := New(t, startServer(t, func(c net.Conn, s *server, i int) {}).ln.Addr().String())
	p.Blackhole()
	c := dial(t, p)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var one [1]byte
	if _, err := c.Read(one[:]); !os.IsTimeout(err) {
		t.Errorf("read: %v, want a timeout (no EOF)", err)
	}
}

// TestResetAfter: exactly n bytes pass in the direction counted, then
// the other end reads a connection reset.
func TestResetAfter(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 10_000)
	t.Run("to client", func(t *testing.T) {
		// The server answers once asked: a reset before the client's
		// connect returned would fail the dial instead.
		p := New(t, startServer(t, func(c net.Conn, s *server, i int) {
			var one [1]byte
			if _, err := c.Read(one[:]); err == nil {
				c.Write(payload)
			}
		}).ln.Addr().String())
		p.ResetAfter(12345, ToClient)
		c := dial(t, p)
		c.Write([]byte("?"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read: %v, want a connection reset", err)
		}
		if !bytes.Equal(got, payload[:12345]) {
			t.Errorf("got %d bytes before the reset, want the first 12345", len(got))
		}
	})
	t.Run("to server", func(t *testing.T) {
		ended := make(chan error, 1)
		srv := startServer(t, func(c net.Conn, s *server, i int) { ended <- s.readAll(c, i) })
		p := New(t, srv.ln.Addr().String())
		p.ResetAfter(777, ToServer)
		c := dial(t, p)
		c.Write(payload) // may fail once the reset comes back
		if err := <-ended; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("server's read: %v, want a connection reset", err)
		}
		if got := srv.received(0); !bytes.Equal(got, payload[:777]) {
			t.Errorf("the server got %d bytes, want the first 777", len(got))
		}
	})
}

// TestTrickle: a transfer goes through whole, but never more than n bytes
// at a time.
func TestTrickle(t *testing.T) {
	msg := []byte("slowly but surely")
	p := New(t, startServer(t, func(c net.Conn, s *server, i int) {
		var one [1]byte
		if _, err := c.Read(one[:]); err == nil {
			c.Write(msg)
		}
	}).ln.Addr().String())
	p.Trickle(3, 5*time.Millisecond)
	c := dial(t, p)
	c.Write([]byte("?"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	reads := 0
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if n > 3 {
			t.Errorf("one read got %d bytes, want at most 3", n)
		}
		if n > 0 {
			reads++
		}
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("got %q, want %q", got, msg)
	}
	if want := (len(msg) + 2) / 3; reads < want {
		t.Errorf("%d reads, want at least %d", reads, want)
	}
}

// TestClose: Close ends every connection, blackholed ones included; the
// clients read EOF or a reset, and TestMain's goleak finds no goroutine.
func TestClose(t *testing.T) {
	p, err := Listen(startServer(t, echo).ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	var cs []net.Conn
	for range 3 {
		c := dial(t, p)
		c.Write([]byte("x"))
		cs = append(cs, c)
	}
	waitFor(t, func() bool { return p.Open() == 3 })
	p.Close()
	p.Close()
	for _, c := range cs {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var one [1]byte
		if _, err := c.Read(one[:]); err == nil || os.IsTimeout(err) {
			t.Errorf("read after Close: %v, want the connection ended", err)
		}
	}
	if got := p.Open(); got != 0 {
		t.Errorf("Open() = %d after Close", got)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("the proxy still accepts after Close")
	}
}

// TestTargetDown: a client of a proxy whose target refuses connections
// sees its connection closed.
func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := New(t, addr)
	c := dial(t, p)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var one [1]byte
	if _, err := c.Read(one[:]); err != io.EOF {
		t.Errorf("read: %v, want EOF", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 10 s")
}
