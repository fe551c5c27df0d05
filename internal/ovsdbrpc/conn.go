// Package ovsdbrpc is a small read-only OVSDB JSON-RPC client (RFC 7047),
// shared by the readers of the Open_vSwitch database and the OVN
// Southbound. It can send list_dbs, get_schema, transact with selects
// only (see readonly.go) and replies to the server's echo probes; nothing
// else reaches the wire.
//
// Replies are read in place: a select's rows are handed to the caller as
// Values pointing into the connection's read buffer, so a poll's reply
// goes through no interface{} maps. The buffer is reused from one reply to
// the next and given back once replies stay much smaller than it.
package ovsdbrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// MaxMessage bounds one message from the server: a selective select
// answers in kilobytes, a topology of thousands of ports in megabytes;
// anything near this is not a reply worth reading.
const MaxMessage = 64 << 20

// echoTimeout bounds the write of an echo reply.
const echoTimeout = 10 * time.Second

// Conn is one JSON-RPC session with an OVSDB server. A goroutine reads
// what the server sends, answering echo probes even between calls
// (ovsdb-server drops TCP clients that stay silent), and hands each reply
// to the call waiting for it. Calls are serialized.
//
// Once the connection fails (closed by the server, a read or write error,
// bytes that are not JSON-RPC, a call that timed out and may get a late
// reply) every call fails at once: dial a new Conn. Err says why.
type Conn struct {
	nc    net.Conn
	calls sync.Mutex // one call at a time
	wmu   sync.Mutex // writes: requests and echo replies
	id    uint64

	pending atomic.Pointer[[]byte] // quoted id of the request awaiting a reply
	replies chan envelope          // reader → call
	done    chan struct{}          // call → reader: the reply's bytes are free

	ctx        context.Context // cancelled, with the cause, when the connection fails
	fail       context.CancelCauseFunc
	readerDone chan struct{}

	nread   atomic.Int64
	dropped atomic.Int64
	bufCap  atomic.Int64
}

// Dial connects to an OVSDB server (network "unix" or "tcp"). The error of
// a failed dial is net.Dialer's: callers know which flag to name.
func Dial(ctx context.Context, network, address string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return newConn(rawio.Conn(nc)), nil
}

func newConn(nc net.Conn) *Conn {
	c := &Conn{
		nc:         nc,
		replies:    make(chan envelope),
		done:       make(chan struct{}, 1),
		readerDone: make(chan struct{}),
	}
	c.ctx, c.fail = context.WithCancelCause(context.Background())
	go c.readLoop()
	return c
}

// Close closes the connection and waits for its reader to end.
func (c *Conn) Close() error {
	c.fail(net.ErrClosed)
	err := c.nc.Close()
	<-c.readerDone
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Err returns why the connection failed, or nil while it works.
func (c *Conn) Err() error {
	if c.ctx.Err() == nil {
		return nil
	}
	return context.Cause(c.ctx)
}

// BytesRead returns how many bytes the server has sent on this connection.
func (c *Conn) BytesRead() int64 { return c.nread.Load() }

// Dropped returns how many messages answered no request of ours and were
// dropped (notifications, replies without a string id, late replies).
func (c *Conn) Dropped() int64 { return c.dropped.Load() }

// BufferSize returns the capacity of the read buffer kept between calls.
func (c *Conn) BufferSize() int { return int(c.bufCap.Load()) }

// ListDBs returns the databases the server serves.
func (c *Conn) ListDBs(ctx context.Context) ([]string, error) {
	var dbs []string
	err := c.call(ctx, methodListDBs, []byte("[]"), func(result []byte) error {
		return json.Unmarshal(result, &dbs)
	})
	return dbs, err
}

// GetSchema fetches the schema of database db and hands it to parse.
func (c *Conn) GetSchema(ctx context.Context, db string, parse func(schema []byte) error) error {
	params, err := json.Marshal([1]string{db})
	if err != nil {
		return err
	}
	return c.call(ctx, methodGetSchema, params, parse)
}

// Select runs ops as one transaction on database db (a consistent
// snapshot of all the tables read) and calls each with every row, in op
// order. A refused select is an *OpError.
func (c *Conn) Select(ctx context.Context, db string, ops []Select, each func(op int, r Row) error) error {
	params, err := SelectParams(db, ops...)
	if err != nil {
		return err
	}
	return c.call(ctx, methodTransact, params, func(result []byte) error {
		return DecodeResult(result, ops, each)
	})
}

// Error is a JSON-RPC error the server answered a request with, e.g.
// {"error":"unknown database","details":"…"}. The connection stays usable.
type Error struct {
	Method  string
	Err     string // the error member, verbatim when it is neither a string nor such an object
	Details string
}

func (e *Error) Error() string {
	if e.Details == "" {
		return fmt.Sprintf("%s refused: %s", e.Method, e.Err)
	}
	return fmt.Sprintf("%s refused: %s: %s", e.Method, e.Err, e.Details)
}

// newError reads the error member of a reply: "…" or {"error":"…","details":"…"}.
func newError(m method, raw []byte) *Error {
	e := &Error{Method: string(m), Err: string(raw)}
	if s, err := Value(raw).atomString(); err == nil {
		e.Err = s
		return e
	}
	if r, err := parseOpResult(raw); err == nil && r.err != "" {
		e.Err, e.Details = r.err, r.details
	}
	return e
}

// call sends one request and hands its result to fn while the reader
// waits, so that fn may read the result in place.
func (c *Conn) call(ctx context.Context, m method, params []byte, fn func(result []byte) error) error {
	if m == methodEcho {
		return errors.New("echo is only sent as a reply")
	}
	c.calls.Lock()
	defer c.calls.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	c.id++
	id := strconv.AppendUint([]byte{'"'}, c.id, 10)
	id = append(id, '"')
	c.pending.Store(&id)
	defer c.pending.Store(nil)

	req := make([]byte, 0, len(params)+48)
	req = append(req, `{"method":"`...)
	req = append(req, m...)
	req = append(req, `","params":`...)
	req = append(req, params...)
	req = append(req, `,"id":`...)
	req = append(req, id...)
	req = append(req, '}')
	if err := c.write(ctx, req); err != nil {
		return err
	}
	select {
	case r := <-c.replies:
		defer func() { c.done <- struct{}{} }()
		if len(r.err) > 0 && !isNull(r.err) {
			return newError(m, r.err)
		}
		return fn(r.result)
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	case <-ctx.Done():
		// A late reply would answer the next request: this connection is done.
		err := fmt.Errorf("no reply to %s: %w", m, ctx.Err())
		c.fail(err)
		return err
	}
}

// write sends one message, bounded by ctx's deadline.
func (c *Conn) write(ctx context.Context, msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetWriteDeadline(dl)
		defer func() { _ = c.nc.SetWriteDeadline(time.Time{}) }()
	}
	if _, err := c.nc.Write(msg); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// envelope is a JSON-RPC message from the server: a reply (id, result,
// error) or a request (method, params, id) such as an echo probe.
type envelope struct {
	id, method, params, result, err []byte
}

// parseEnvelope splits a message into its members. A member given twice
// is an error: which of the values the server meant is unknowable.
func parseEnvelope(msg []byte) (envelope, error) {
	var e envelope
	var seen [5]bool
	err := eachMember(msg, func(name, value []byte) error {
		var slot *[]byte
		var i int
		switch string(name) {
		case `"id"`:
			slot, i = &e.id, 0
		case `"method"`:
			slot, i = &e.method, 1
		case `"params"`:
			slot, i = &e.params, 2
		case `"result"`:
			slot, i = &e.result, 3
		case `"error"`:
			slot, i = &e.err, 4
		default:
			return nil
		}
		if seen[i] {
			return fmt.Errorf("ovsdb-server sent a message with a duplicate key %s", name)
		}
		seen[i] = true
		*slot = value
		return nil
	})
	return e, err
}

// readLoop reads messages until the connection fails.
func (c *Conn) readLoop() {
	defer close(c.readerDone)
	fr := frameReader{r: countingReader{r: c.nc, n: &c.nread}}
	for {
		c.bufCap.Store(int64(cap(fr.buf)))
		msg, err := fr.next()
		if err != nil {
			c.fail(err)
			return
		}
		e, err := parseEnvelope(msg)
		if err != nil {
			c.fail(err)
			return
		}
		if !c.dispatch(e) {
			return
		}
	}
}

// dispatch handles one message; false means the connection failed.
func (c *Conn) dispatch(e envelope) bool {
	switch {
	case string(e.method) == string(quotedEcho):
		params := e.params
		if len(params) == 0 {
			params = []byte("[]")
		}
		reply := make([]byte, 0, len(params)+len(e.id)+32)
		reply = append(reply, `{"id":`...)
		reply = append(reply, orJSONNull(e.id)...)
		reply = append(reply, `,"result":`...)
		reply = append(reply, params...)
		reply = append(reply, `,"error":null}`...)
		ctx, cancel := context.WithTimeout(c.ctx, echoTimeout)
		err := c.write(ctx, reply)
		cancel()
		return err == nil
	case len(e.method) > 0:
		c.dropped.Add(1) // a notification we never asked for
		return true
	}
	want := c.pending.Load()
	if want == nil || !bytes.Equal(e.id, *want) {
		c.dropped.Add(1) // a reply to no request of ours
		return true
	}
	select {
	case c.replies <- e:
	case <-c.ctx.Done():
		return false
	}
	select {
	case <-c.done:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func orJSONNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// countingReader counts the bytes the server sent.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// PeerGone reports whether err says the peer closed the connection: EOF
// when reading, EPIPE or ECONNRESET when writing.
func PeerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
