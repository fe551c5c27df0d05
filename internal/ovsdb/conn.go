package ovsdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
)

// frameConn sits between the socket and go-openvswitch's JSON-RPC client.
//
// go-openvswitch's receive loop stops only on io.EOF or an error reading
// "use of closed network connection"; on any other error (ECONNRESET when
// ovsdb-server dies with our request unread, a read timeout, or bytes that
// are not JSON because --ovs.db points at some other service) it retries,
// but its json.Decoder keeps returning the same error: the goroutine spins
// at 100% CPU and Close never returns. frameConn prevents that. It reads
// whole JSON values itself and hands the client one valid JSON-RPC object at
// a time; on the first read or syntax error it records the cause, cancels
// ctx (which aborts calls waiting for a reply that will never come) and
// from then on reports a closed connection, which ends the receive loop.
type frameConn struct {
	net.Conn
	dec   *json.Decoder
	raw   json.RawMessage
	buf   []byte // rest of the current message, not yet read by the client
	nread atomic.Int64
	// dropped counts messages not handed to the client (see checkMessage).
	dropped atomic.Int64

	// ctx is cancelled, with the cause, when the connection fails.
	ctx  context.Context
	fail context.CancelCauseFunc
}

func newFrameConn(nc net.Conn) *frameConn {
	c := &frameConn{Conn: nc}
	c.dec = json.NewDecoder(countingReader{r: nc, n: &c.nread})
	c.ctx, c.fail = context.WithCancelCause(context.Background())
	return c
}

// errNotObject is the cause recorded when the peer sends JSON that is not a
// JSON-RPC message (an object).
var errNotObject = errors.New("peer sent a JSON value that is not a JSON-RPC object (is this an OVSDB server?)")

// Read implements io.Reader for go-openvswitch's decoder, one message at a
// time, leaving out the messages checkMessage drops.
func (c *frameConn) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.ctx.Err() != nil {
			return 0, closedError{cause: context.Cause(c.ctx)}
		}
		if err := c.dec.Decode(&c.raw); err != nil {
			c.fail(err)
			return 0, closedError{cause: err}
		}
		if len(c.raw) == 0 || c.raw[0] != '{' {
			c.fail(errNotObject)
			return 0, closedError{cause: errNotObject}
		}
		keep, err := checkMessage(c.raw)
		if err != nil {
			c.fail(err)
			return 0, closedError{cause: err}
		}
		if !keep {
			c.dropped.Add(1)
			continue
		}
		c.buf = c.raw
		c.shrink()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	if len(c.buf) == 0 && cap(c.raw) > keepBuffer {
		c.raw = nil // a topology reply: do not hold its copy until the next one
	}
	return n, nil
}

// keepBuffer is the largest message whose buffers a connection keeps for
// the next one. The replies of every poll (cur_cfg) are tiny; a topology
// reply (hundreds of kB at 500 ports) comes only when the switch changed.
const keepBuffer = 64 << 10

// shrink replaces the socket decoder after a message too big to keep its
// buffer for (a json.Decoder never shrinks its buffer), when it holds no
// bytes of the next message.
func (c *frameConn) shrink() {
	if len(c.raw) <= keepBuffer {
		return
	}
	if r, ok := c.dec.Buffered().(*bytes.Reader); ok && r.Len() == 0 {
		c.dec = json.NewDecoder(countingReader{r: c.Conn, n: &c.nread})
	}
}

// checkMessage decides whether a JSON-RPC object from the server may reach
// go-openvswitch. Its receive loop dereferences the id of every message
// that is not an echo request, so a notification ("update", id null), a
// reply with a null or missing id (what a server sends about a request
// it could not parse) or one with a non-string id would crash the agent
// or be decoded as garbage; none of them answers a request of ours, whose
// ids are strings, so they are dropped. A member name given twice is an
// error: which of the values the server meant is unknowable, and the
// unixctl client rejects such replies too.
func checkMessage(raw []byte) (keep bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return false, err
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		key, _ := tok.(string)
		if seen[key] {
			return false, fmt.Errorf("ovsdb-server sent a message with a duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false, err
		}
		if key == "id" {
			keep = len(v) > 0 && v[0] == '"'
		}
	}
	return keep, nil
}

// Write implements io.Writer, recording a failed write as a failed connection.
func (c *frameConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.fail(err)
	}
	return n, err
}

// Close closes the socket and marks the connection failed.
func (c *frameConn) Close() error {
	c.fail(net.ErrClosed)
	return c.Conn.Close()
}

// failed returns why the connection failed, or nil while it works.
func (c *frameConn) failed() error {
	if c.ctx.Err() == nil {
		return nil
	}
	return context.Cause(c.ctx)
}

// closedError is what the client's receive loop sees after a failure. Its
// text must contain "use of closed network connection": that is how
// go-openvswitch recognizes the end of a connection.
type closedError struct{ cause error }

func (e closedError) Error() string {
	return fmt.Sprintf("%v (%v)", net.ErrClosed, e.cause)
}

func (e closedError) Unwrap() []error { return []error{net.ErrClosed, e.cause} }

// countingReader counts the bytes ovsdb-server sent us, for benchmarks and
// tests that check how much a call costs.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// peerGone reports whether err says the peer closed the connection: EOF
// when reading, EPIPE or ECONNRESET when writing.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
