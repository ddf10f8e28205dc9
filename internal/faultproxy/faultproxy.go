// Package faultproxy is a TCP proxy for tests that puts network faults
// between refbot and a server it talks to (S3, the git server, GitHub, the
// CI): a delay on every read, a blackhole that takes bytes and never
// answers, a reset after a number of bytes in one direction, a slow
// trickle. The fault can be changed while connections are open; each chunk
// a connection forwards follows the fault in force when it was read.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Direction is one way through the proxy.
type Direction int

const (
	// ToServer is what the client sends.
	ToServer Direction = iota
	// ToClient is what the server answers.
	ToClient
)

func (d Direction) String() string {
	if d == ToClient {
		return "to client"
	}
	return "to server"
}

// kind is the fault in force.
type kind int

const (
	pass kind = iota
	delay
	blackhole
	reset
	trickle
)

// fault is a kind with its parameters. gen tells one setting from the
// next, so that a reset counts the bytes since it was set.
type fault struct {
	kind  kind
	d     time.Duration // delay: before each chunk; trickle: between pieces
	n     int64         // reset: bytes let through; trickle: bytes per piece
	dir   Direction     // reset: the direction counted; trickle: the one slowed
	both  bool          // trickle: both directions slowed
	gen   int
	label string
}

// Proxy listens on loopback and forwards each connection to its target,
// with the fault in force. Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	f        fault
	accepted int
	conns    map[net.Conn]bool
	closed   bool
}

// New starts a proxy to target (host:port) on 127.0.0.1, forwarding
// faithfully until told otherwise; t's cleanup closes it and every
// connection through it.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Listen starts a proxy to target on 127.0.0.1; the caller closes it.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, done: make(chan struct{}), conns: map[net.Conn]bool{}, f: fault{label: "pass"}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where the proxy listens, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Pass forwards everything as it comes.
func (p *Proxy) Pass() { p.set(fault{kind: pass, label: "pass"}) }

// Delay holds each chunk read from either side for d before forwarding it.
func (p *Proxy) Delay(d time.Duration) {
	p.set(fault{kind: delay, d: d, label: fmt.Sprintf("delay %s", d)})
}

// Blackhole accepts connections and reads what either side sends, and
// forwards nothing: the client's request never reaches the server and no
// answer comes back, but the connection stays open, as with a server that
// hangs or a network that drops packets.
func (p *Proxy) Blackhole() { p.set(fault{kind: blackhole, label: "blackhole"}) }

// ResetAfter lets n more bytes through in direction dir on each
// connection (counted from now, or from the connection's opening if it
// opens later), then resets the connection on both sides (a TCP RST: the
// client reads "connection reset by peer"). The other direction flows
// freely meanwhile.
func (p *Proxy) ResetAfter(n int64, dir Direction) {
	p.set(fault{kind: reset, n: n, dir: dir, label: fmt.Sprintf("reset after %d bytes %s", n, dir)})
}

// Trickle forwards at most n bytes every interval in direction dir, or in
// both directions if dir is left out (the other flows freely): a transfer
// that moves, slowly.
func (p *Proxy) Trickle(n int, every time.Duration, dir ...Direction) {
	f := fault{kind: trickle, n: int64(n), d: every, label: fmt.Sprintf("trickle %d bytes per %s", n, every)}
	switch len(dir) {
	case 0:
		f.both = true
	case 1:
		f.dir = dir[0]
		f.label += " " + dir[0].String()
	default:
		panic("faultproxy: Trickle takes one direction or none")
	}
	p.set(f)
}

// Fault names the fault in force, for test logs.
func (p *Proxy) Fault() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f.label
}

// Accepted is how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Open is how many accepted connections are still open.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2 // each holds its client and server side
}

// Close stops listening, closes every connection and returns when the
// proxy's goroutines have ended. It may be called more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.closed = true
	close(p.done)
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) set(f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f.gen = p.f.gen + 1
	p.f = f
}

func (p *Proxy) current() fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(client)
	}
}

// track registers conns to be closed by Close; false if the proxy is
// closing already.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}

// handle forwards one connection until either side ends it (or a fault
// resets it), then closes both sides.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	p.accepted++
	p.mu.Unlock()
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		// The target is down: the client sees its connection closed, as
		// it would had it connected itself and been refused.
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	c := &conn{p: p, client: client, server: server}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pipe(ToServer, client, server) }()
	go func() { defer wg.Done(); c.pipe(ToClient, server, client) }()
	wg.Wait()
	c.closeBoth(false)
	p.untrack(client, server)
}

// conn is one proxied connection.
type conn struct {
	p              *Proxy
	client, server net.Conn
	once           sync.Once
}

// errReset ends a pipe whose connection a fault reset.
var errReset = errors.New("reset by the fault")

// pipe copies src to dst, chunk by chunk, under the fault in force when
// each chunk was read. When src ends, dst is told (a half close), so a
// request/response exchange still completes; an error or a reset closes
// both sides.
func (c *conn) pipe(dir Direction, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	var gen int
	var sent int64 // bytes forwarded under fault generation gen
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			f := c.p.current()
			if f.gen != gen {
				gen, sent = f.gen, 0
			}
			var err error
			sent, err = c.forward(f, dir, buf[:n], dst, sent)
			if err != nil {
				c.closeBoth(errors.Is(err, errReset))
				return
			}
		}
		if rerr != nil {
			if dir == ToClient && rerr == io.EOF && c.p.current().kind == blackhole {
				return // the client must not learn that the server hung up
			}
			if tc, ok := dst.(*net.TCPConn); ok && !errors.Is(rerr, net.ErrClosed) {
				tc.CloseWrite()
				return
			}
			c.closeBoth(false)
			return
		}
	}
}

// forward sends chunk to dst under fault f; sent counts the bytes of this
// direction already forwarded under f, and the new count is returned.
func (c *conn) forward(f fault, dir Direction, chunk []byte, dst net.Conn, sent int64) (int64, error) {
	switch f.kind {
	case blackhole:
		return sent, nil // read, and dropped
	case delay:
		if !c.sleep(f.d) {
			return sent, net.ErrClosed
		}
	case reset:
		if f.dir == dir {
			if left := f.n - sent; int64(len(chunk)) >= left {
				if _, err := dst.Write(chunk[:max(left, 0)]); err != nil {
					return sent, err
				}
				return f.n, errReset
			}
		}
	case trickle:
		if !f.both && dir != f.dir {
			break
		}
		for len(chunk) > 0 {
			piece := chunk[:min(int64(len(chunk)), max(f.n, 1))]
			if _, err := dst.Write(piece); err != nil {
				return sent, err
			}
			sent += int64(len(piece))
			chunk = chunk[len(piece):]
			if !c.sleep(f.d) {
				return sent, net.ErrClosed
			}
		}
		return sent, nil
	}
	_, err := dst.Write(chunk)
	return sent + int64(len(chunk)), err
}

// sleep waits d, or less if the proxy closes; false then.
func (c *conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.p.done:
		return false
	}
}

// closeBoth closes both sides, with an RST rather than a FIN if reset.
func (c *conn) closeBoth(reset bool) {
	c.once.Do(func() {
		for _, side := range []net.Conn{c.client, c.server} {
			if tc, ok := side.(*net.TCPConn); ok && reset {
				tc.SetLinger(0) // close sends an RST
			}
			side.Close()
		}
	})
}
