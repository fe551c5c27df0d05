package openflow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// ErrClosed wraps every error returned by a Conn whose connection has ended
// (closed by Close, by the switch, or after a read or write failure).
var ErrClosed = errors.New("openflow connection closed")

// Options tune a Conn; the zero value is usable.
type Options struct {
	// Timeout bounds the handshake and each request, from sending it to
	// the last part of its reply. Default 10 s.
	Timeout time.Duration
	// MaxReplyBytes caps the total size of one reply, all multipart parts
	// together, so a huge flow table cannot exhaust memory. Default 64 MiB
	// (a 20,000-rule dump of simple rules is about 2 MB).
	MaxReplyBytes int
	// Versions lists the OpenFlow versions to accept, most preferred
	// first. Default DefaultVersions.
	Versions []uint8

	// trace sees every message sent (out) and received; tests use it to
	// capture real replies.
	trace func(out bool, msg []byte)
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxReplyBytes <= 0 {
		o.MaxReplyBytes = 64 << 20
	}
	if len(o.Versions) == 0 {
		o.Versions = DefaultVersions
	}
	return o
}

// Conn is an OpenFlow connection to one bridge. Its methods may be called
// from several goroutines; requests are matched to replies by xid.
type Conn struct {
	nc     net.Conn
	path   string
	bridge string
	codec  *codec
	opts   Options

	wmu sync.Mutex // serializes writes: requests and echo replies

	mu      sync.Mutex
	xid     uint32
	pending map[uint32]*call
	err     error         // why the connection ended, set before done closes
	done    chan struct{} // closed when the connection ends
}

// call is one request waiting for its reply.
type call struct {
	parts [][]byte // reply messages, multipart parts in order
	size  int
	err   error
	done  chan struct{}
}

// Dial connects to the OpenFlow management socket of a bridge (for example
// /var/run/openvswitch/br-int.mgmt), negotiates a version and checks the
// connection with an echo round trip.
func Dial(ctx context.Context, socketPath string, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	bridge := strings.TrimSuffix(filepath.Base(socketPath), ".mgmt")
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, dialError(socketPath, bridge, err)
	}
	nc = rawio.Conn(nc)
	c := &Conn{nc: nc, path: socketPath, bridge: bridge, opts: opts,
		pending: make(map[uint32]*call), done: make(chan struct{})}
	r := bufio.NewReaderSize(nc, 64<<10)
	if err := c.handshake(ctx, r); err != nil {
		nc.Close()
		return nil, err
	}
	go c.readLoop(r)
	// A switch that rejects our HELLO answers with an error and hangs up;
	// one round trip surfaces that here rather than on the first request.
	if _, err := c.roundTrip(ctx, func(xid uint32) []byte { return c.codec.echoRequestMsg(xid, nil) }); err != nil {
		c.Close()
		return nil, fmt.Errorf("openflow %s: echo after hello: %w", c.bridge, err)
	}
	return c, nil
}

func dialError(path, bridge string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("openflow: connect %s: %w (bridge %q may not exist, or --ovs.rundir is wrong)", path, err, bridge)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("openflow: connect %s: %w (the OVS sockets are root-only: run as root)", path, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("openflow: connect %s: %w (stale socket: is ovs-vswitchd running?)", path, err)
	}
	return fmt.Errorf("openflow: connect %s: %w", path, err)
}

// handshake reads the switch's HELLO, picks the preferred version among
// those both sides allow, and sends a HELLO offering only that version.
// Open vSwitch sends its HELLO as soon as a connection opens, so reading it
// first lets us choose rather than take the highest common version.
func (c *Conn) handshake(ctx context.Context, r io.Reader) error {
	deadline := time.Now().Add(c.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
	defer stop()
	msg, err := readMsg(r)
	if err != nil {
		return fmt.Errorf("openflow %s: read hello: %w", c.bridge, err)
	}
	c.traceMsg(false, msg)
	switch msg[1] {
	case typeHello:
	case typeError:
		if cd := codecs[msg[0]]; cd != nil {
			return fmt.Errorf("openflow %s: switch refused the connection: %w", c.bridge, decodeError(cd, msg))
		}
		return fmt.Errorf("openflow %s: switch refused the connection (OpenFlow error, version %d)", c.bridge, msg[0])
	default:
		return fmt.Errorf("openflow %s: expected HELLO, got message type %d", c.bridge, msg[1])
	}
	allowed := helloVersions(msg)
	for _, v := range c.opts.Versions {
		if cd := codecs[v]; cd != nil && v < 32 && allowed&(1<<v) != 0 {
			c.codec = cd
			break
		}
	}
	if c.codec == nil {
		return fmt.Errorf("openflow %s: no common OpenFlow version: the bridge allows %s, this exporter speaks %s; "+
			"add one to the bridge's protocols column, e.g. ovs-vsctl set bridge %s protocols=OpenFlow10,OpenFlow13",
			c.bridge, versionList(allowed), versionList(bitmap(c.opts.Versions)), c.bridge)
	}
	if err := c.write(c.codec.helloMsg()); err != nil {
		return fmt.Errorf("openflow %s: send hello: %w", c.bridge, err)
	}
	c.nc.SetDeadline(time.Time{})
	return nil
}

func bitmap(vs []uint8) uint32 {
	var b uint32
	for _, v := range vs {
		if codecs[v] != nil {
			b |= 1 << v
		}
	}
	return b
}

func versionList(b uint32) string {
	var names []string
	for v := uint8(1); v < 32; v++ {
		if b&(1<<v) != 0 {
			names = append(names, VersionName(v))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// readMsg reads one OpenFlow message, framed by its header
//
//	version:1 type:1 length:2 xid:4
//
// where length counts the whole message.
func readMsg(r io.Reader) ([]byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:4]))
	if n < 8 {
		return nil, fmt.Errorf("%w: length %d in header", errMalformed, n)
	}
	msg := make([]byte, n)
	copy(msg, h[:])
	if _, err := io.ReadFull(r, msg[8:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

func (c *Conn) traceMsg(out bool, msg []byte) {
	if c.opts.trace != nil {
		c.opts.trace(out, msg)
	}
}

func (c *Conn) write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.traceMsg(true, msg)
	_, err := c.nc.Write(msg)
	return err
}

// send writes a message by its deadline; a failed write leaves the stream
// out of step, so it ends the connection.
func (c *Conn) send(msg []byte, deadline time.Time) error {
	c.wmu.Lock()
	c.nc.SetWriteDeadline(deadline)
	c.traceMsg(true, msg)
	_, err := c.nc.Write(msg)
	c.wmu.Unlock()
	if err != nil {
		err = fmt.Errorf("write to %s: %w", c.path, err)
		c.shutdown(err)
	}
	return err
}

// sendRequest is send for a request. A write fails when the switch has
// hung up, and a switch that hangs up says why first (an error message,
// such as HELLO_FAILED after a refused version): the reader gets until the
// deadline to read that reason, which is then returned instead of the
// write's broken pipe.
func (c *Conn) sendRequest(msg []byte, deadline time.Time) error {
	c.wmu.Lock()
	c.nc.SetWriteDeadline(deadline)
	c.traceMsg(true, msg)
	_, err := c.nc.Write(msg)
	c.wmu.Unlock()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("write to %s: %w", c.path, err)
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case <-c.done:
	case <-wait.C:
	}
	c.shutdown(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// readLoop reads messages until the connection ends: it answers the
// switch's echo requests (Open vSwitch probes an idle management
// connection after 60 s and drops it if unanswered) and hands replies to
// the requests waiting for them.
func (c *Conn) readLoop(r io.Reader) {
	for {
		msg, err := readMsg(r)
		if err != nil {
			c.shutdown(fmt.Errorf("read from %s: %w", c.path, err))
			return
		}
		c.traceMsg(false, msg)
		if msg[0] != c.codec.version {
			c.shutdown(fmt.Errorf("%w: version %d message on a version %d connection", errMalformed, msg[0], c.codec.version))
			return
		}
		xid := binary.BigEndian.Uint32(msg[4:8])
		switch msg[1] {
		case typeEchoRequest:
			if err := c.send(c.codec.echoReplyMsg(xid, msg[8:]), time.Now().Add(c.opts.Timeout)); err != nil {
				c.shutdown(err)
				return
			}
		case typeError:
			e := decodeError(c.codec, msg)
			if !c.fail(xid, e) {
				var oe *Error
				if errors.As(e, &oe) && oe.Type == 0 { // OFPET_HELLO_FAILED: the switch hangs up next
					c.shutdown(fmt.Errorf("switch rejected the connection (check the bridge's protocols column): %w", e))
					return
				}
			}
		case c.codec.statsReply:
			more := len(msg) >= 12 && binary.BigEndian.Uint16(msg[10:12])&replyMore != 0
			c.deliver(xid, msg, more)
		default:
			c.deliver(xid, msg, false)
		}
	}
}

// deliver adds a reply message to the request with its xid; messages
// nobody waits for (asynchronous ones, or replies to requests that timed
// out) are dropped.
func (c *Conn) deliver(xid uint32, msg []byte, more bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.pending[xid]
	if cl == nil {
		return
	}
	cl.size += len(msg)
	if cl.size > c.opts.MaxReplyBytes {
		delete(c.pending, xid) // later parts of this reply are dropped
		cl.parts, cl.err = nil, fmt.Errorf("reply exceeds %d bytes (MaxReplyBytes)", c.opts.MaxReplyBytes)
		close(cl.done)
		return
	}
	cl.parts = append(cl.parts, msg)
	if !more {
		delete(c.pending, xid)
		close(cl.done)
	}
}

// fail ends the request with xid with err and reports whether one waited.
func (c *Conn) fail(xid uint32, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.pending[xid]
	if cl == nil {
		return false
	}
	delete(c.pending, xid)
	cl.parts, cl.err = nil, err
	close(cl.done)
	return true
}

// shutdown ends the connection once, failing every waiting request.
func (c *Conn) shutdown(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		for xid, cl := range c.pending {
			delete(c.pending, xid)
			cl.parts, cl.err = nil, fmt.Errorf("%w: %w", ErrClosed, err)
			close(cl.done)
		}
		close(c.done)
	}
	c.mu.Unlock()
	c.nc.Close()
}

// broken reports whether the connection has ended.
func (c *Conn) broken() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// roundTrip sends the request built for a fresh xid and waits for its
// complete reply, at most Options.Timeout.
func (c *Conn) roundTrip(ctx context.Context, build func(xid uint32) []byte) ([][]byte, error) {
	// A request made with a finished context is not sent: a quick reply
	// would otherwise race the context in the wait below.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("no request sent: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.xid++
	if c.xid == 0 { // xid 0 is what Open vSwitch uses for its own messages
		c.xid = 1
	}
	xid := c.xid
	cl := &call{done: make(chan struct{})}
	c.pending[xid] = cl
	c.mu.Unlock()

	deadline, _ := ctx.Deadline()
	if err := c.sendRequest(build(xid), deadline); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	select {
	case <-cl.done:
		return cl.parts, cl.err
	case <-ctx.Done():
		if c.fail(xid, ctx.Err()) {
			return nil, fmt.Errorf("no complete reply: %w", ctx.Err())
		}
		<-cl.done // completed at the same moment
		return cl.parts, cl.err
	}
}

// Version returns the negotiated OpenFlow version (e.g. Version13).
func (c *Conn) Version() uint8 { return c.codec.version }

// Bridge returns the bridge name taken from the socket path.
func (c *Conn) Bridge() string { return c.bridge }

// Close ends the connection. It is safe to call more than once.
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	return nil
}

// TableStats returns the statistics of every table (Open vSwitch reports
// 254 or 255, most of them unused; callers filter).
func (c *Conn) TableStats(ctx context.Context) ([]TableStats, error) {
	parts, err := c.roundTrip(ctx, c.codec.tableStatsRequestMsg)
	if err != nil {
		return nil, fmt.Errorf("openflow %s: table statistics: %w", c.bridge, err)
	}
	var out []TableStats
	for _, p := range parts {
		ts, err := decodeTableStats(c.codec, p)
		if err != nil {
			return nil, fmt.Errorf("openflow %s: table statistics: %w", c.bridge, err)
		}
		out = append(out, ts...)
	}
	return out, nil
}

// FlowStats dumps the rules selected by filter with their counters. A full
// dump is expensive for ovs-vswitchd (about 0.35 s of its CPU at 20,000
// rules): call it at a slow cadence, and prefer NormalRules, which lets the
// switch filter.
func (c *Conn) FlowStats(ctx context.Context, filter FlowFilter) ([]Flow, error) {
	parts, err := c.roundTrip(ctx, func(xid uint32) []byte { return c.codec.flowStatsRequestMsg(xid, filter) })
	if err != nil {
		return nil, fmt.Errorf("openflow %s: flow statistics: %w", c.bridge, err)
	}
	var out []Flow
	for _, p := range parts {
		fs, err := decodeFlowStats(c.codec, p)
		if err != nil {
			return nil, fmt.Errorf("openflow %s: flow statistics: %w", c.bridge, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// NormalRules returns the rules whose actions output to NORMAL directly.
// The switch's out_port filter selects candidates (it also counts outputs
// nested in clone(), which are dropped here), so only those rules cross the
// socket.
func (c *Conn) NormalRules(ctx context.Context) ([]Flow, error) {
	flows, err := c.FlowStats(ctx, FlowFilter{OutPort: PortNormal})
	if err != nil {
		return nil, err
	}
	return normalOnly(flows), nil
}

func normalOnly(flows []Flow) []Flow {
	var out []Flow
	for _, f := range flows {
		if f.Normal {
			out = append(out, f)
		}
	}
	return out
}
