// Package stall ends connections that stop moving: a connection on which
// no byte has been received or sent for a while fails its read or write
// with an *Error, however long the transfer as a whole has been going. A
// total timeout on a request cuts a slow but moving download of a large
// build; a stall limit only cuts a server, or a network, that went silent.
//
// It is the rolling read deadline of the AWS SDK's
// BuildableClient.WithReadTimeout, extended to writes (an upload to a
// server that stopped reading blocks in write) and made to count progress
// either way: while a request body is being sent, net/http's transport
// already waits to read the answer, and that wait must not count as a
// stall as long as the upload moves.
//
// What it cannot see: bytes already handed to the kernel. A request that
// fits in the socket's send buffer is written at once, and if the network
// then carries it slowly, nothing moves on the connection as far as
// refbot can tell until the answer comes. On a link too slow to empty a
// send buffer (up to a few MB) within the limit, keep the limit above
// that time.
package stall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Error is a read or write that waited for Limit without a byte moving on
// its connection either way. It is a net.Error whose Timeout is true, so
// retry policies that retry timeouts (the AWS SDK's, the travis client's)
// retry it.
type Error struct {
	Op    string // "read" or "write"
	Addr  string // the remote address
	Limit time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: connection stalled: nothing moved for %s", e.Op, e.Addr, e.Limit)
}

// Timeout is true: a stall is a timeout.
func (e *Error) Timeout() bool { return true }

// Temporary is true, for net.Error: another connection may do better.
func (e *Error) Temporary() bool { return true }

// Is makes errors.Is(err, os.ErrDeadlineExceeded) true, as for the
// deadline it is.
func (e *Error) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// DialFunc is the type of net.Dialer.DialContext and
// http.Transport.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial wraps dial so that its connections fail once stalled for limit.
// limit <= 0 returns dial as it is.
func Dial(dial DialFunc, limit time.Duration) DialFunc {
	if limit <= 0 {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &conn{Conn: c, limit: limit}, nil
	}
}

// Transport sets tr's DialContext (nil: a net.Dialer's with a 30 s
// connect timeout) to fail connections stalled for limit, and returns tr.
// The transport then does TLS itself over the wrapped connection, so
// HTTP/2 is negotiated as before. A connection idle in the pool ends after
// limit too, as with an IdleConnTimeout of limit.
func Transport(tr *http.Transport, limit time.Duration) *http.Transport {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = Dial(dial, limit)
	return tr
}

// maxWrite bounds one write under one deadline, so that a large write on
// a slow link counts as progress piece by piece.
const maxWrite = 32 << 10

// conn is a connection under a stall limit: each read and write may wait
// limit for its first byte, and every byte moved either way gives both
// directions limit again.
type conn struct {
	net.Conn
	limit time.Duration
	// stalled is the stall that ended the connection, if one did: when
	// a read stalls, net/http closes the connection under a blocked
	// write, which should report the stall, not the close.
	stalled atomic.Pointer[Error]
}

func (c *conn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.limit)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.limit))
	}
	return n, c.mapErr("read", err)
}

func (c *conn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxWrite)]
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.limit)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(chunk)
		written += n
		p = p[n:]
		if n > 0 {
			// A reader waiting for the answer to what is being sent
			// is not stalled while the sending moves.
			c.Conn.SetReadDeadline(time.Now().Add(c.limit))
		}
		if err != nil {
			return written, c.mapErr("write", err)
		}
	}
	return written, nil
}

func (c *conn) mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		e := &Error{Op: op, Addr: c.Conn.RemoteAddr().String(), Limit: c.limit}
		c.stalled.CompareAndSwap(nil, e)
		return e
	case errors.Is(err, net.ErrClosed):
		if e := c.stalled.Load(); e != nil {
			return e
		}
	}
	return err
}
