// Package unixctl is a client for the JSON-RPC control socket of an Open
// vSwitch daemon (what ovs-appctl talks to), without forking ovs-appctl.
//
// The daemon listens on <rundir>/<target>.<pid>.ctl, where pid is read from
// <rundir>/<target>.pid. A Client keeps one connection open, dials it lazily
// and re-dials (re-reading the pid file) after any I/O error, so a daemon
// restarted under the agent is picked up by the next call.
package unixctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// Defaults for Options fields left zero.
const (
	DefaultTarget        = "ovs-vswitchd"
	DefaultTimeout       = 2 * time.Second
	DefaultMaxReplyBytes = 64 << 20
)

// Sentinel errors, for errors.Is. The errors returned by Client wrap them
// with a message that names the path involved and the fix.
var (
	// ErrNotRunning means the daemon's pid file or control socket is
	// missing or refuses connections: the daemon is down (or restarting),
	// or the run directory is wrong.
	ErrNotRunning = errors.New("OVS daemon not running")
	// ErrPermission means the pid file or the control socket cannot be
	// opened by this user.
	ErrPermission = errors.New("permission denied on OVS control socket")
	// ErrReplyTooLarge means a reply exceeded Options.MaxReplyBytes.
	ErrReplyTooLarge = errors.New("unixctl reply too large")
	// ErrProtocol means the daemon sent something that is not a valid
	// reply to our request (bad JSON, wrong id).
	ErrProtocol = errors.New("unixctl protocol error")
)

// Options configures a Client. Zero fields take the defaults above.
type Options struct {
	// Target is the daemon name: the pid file is <rundir>/<Target>.pid and
	// the socket <rundir>/<Target>.<pid>.ctl.
	Target string
	// Timeout bounds each request (dial, write and reply), on top of any
	// deadline of the caller's context (the earlier one wins). It must
	// cover the slowest command the caller sends: a dpctl/dump-flows of
	// 100k megaflows takes over a second.
	Timeout time.Duration
	// MaxReplyBytes bounds the size of one reply on the wire, so a huge
	// reply (a runaway dpctl/dump-flows) fails cleanly instead of eating
	// memory. The agent sets it from --ovs.max-reply-bytes, which the
	// error names.
	MaxReplyBytes int
}

// ServerError is the daemon's own error reply to a request ("OVS said no"),
// as opposed to a failure to reach it. The connection stays usable.
type ServerError struct {
	Method  string
	Params  []string
	Message string // as sent by the daemon, usually with a trailing newline
}

// Error implements error.
func (e *ServerError) Error() string {
	cmd := e.Method
	if len(e.Params) > 0 {
		cmd += " " + strings.Join(e.Params, " ")
	}
	return fmt.Sprintf("unixctl %s: daemon replied with an error: %s", cmd, strings.TrimSpace(e.Message))
}

// connError is a failure to reach the daemon, classified by kind
// (ErrNotRunning, ErrPermission) for errors.Is.
type connError struct {
	kind error
	msg  string
	err  error
}

func (e *connError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *connError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

// Client is a unixctl JSON-RPC client. It is safe for concurrent use;
// calls are serialized over one kept connection.
type Client struct {
	rundir string
	opts   Options

	// turn is held by the call using the connection: a one-slot
	// semaphore rather than a mutex, so that a call queued behind a slow
	// one still gives up at its own deadline.
	turn   chan struct{}
	conn   net.Conn
	sock   string
	rd     frameReader
	wbuf   []byte
	nextID uint64
	closed bool
}

// New returns a client for the daemon opts.Target whose pid file and
// control socket live in rundir (e.g. /var/run/openvswitch). It does not
// connect: the first Call does.
func New(rundir string, opts Options) *Client {
	if opts.Target == "" {
		opts.Target = DefaultTarget
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxReplyBytes <= 0 {
		opts.MaxReplyBytes = DefaultMaxReplyBytes
	}
	return &Client{rundir: rundir, opts: opts, turn: make(chan struct{}, 1)}
}

// SocketPath reads the daemon's pid file and returns the path of its
// control socket. It does not check that the socket exists.
func (c *Client) SocketPath() (string, error) {
	_, sock, err := c.socketPath()
	return sock, err
}

func (c *Client) socketPath() (pid int, sock string, err error) {
	pidPath := filepath.Join(c.rundir, c.opts.Target+".pid")
	b, err := os.ReadFile(pidPath)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return 0, "", c.permissionError(pidPath, err)
		}
		return 0, "", &connError{kind: ErrNotRunning,
			msg: fmt.Sprintf("%s is not running or --ovs.rundir is wrong", c.opts.Target), err: err}
	}
	s := strings.TrimSpace(string(b))
	pid, err = strconv.Atoi(s)
	if err != nil || pid <= 0 {
		// A half-written pid file is what a daemon starting right now
		// leaves behind: report it as not (yet) running.
		return 0, "", &connError{kind: ErrNotRunning,
			msg: fmt.Sprintf("%s is not running: pid file %s holds %q, not a pid", c.opts.Target, pidPath, s)}
	}
	return pid, filepath.Join(c.rundir, fmt.Sprintf("%s.%d.ctl", c.opts.Target, pid)), nil
}

func (c *Client) permissionError(path string, err error) error {
	return &connError{kind: ErrPermission,
		msg: fmt.Sprintf("permission denied on %s: the OVS sockets are root-only, run the agent as root (or in a group that can read %s)", path, c.rundir),
		err: err}
}

// classifyDialError turns a dial failure into an error naming the cause.
func (c *Client) classifyDialError(pid int, sock string, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return c.permissionError(sock, err)
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		// The pid file names a process whose socket is gone or deaf: it
		// died without cleaning up, or is restarting right now.
		return &connError{kind: ErrNotRunning,
			msg: fmt.Sprintf("%s is not running (stale pid file %s names pid %d)", c.opts.Target,
				filepath.Join(c.rundir, c.opts.Target+".pid"), pid),
			err: err}
	}
	return fmt.Errorf("connect to %s: %w", sock, err)
}

// Close closes the connection. Calls after Close fail with net.ErrClosed.
func (c *Client) Close() error {
	c.turn <- struct{}{}
	defer func() { <-c.turn }()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

func (c *Client) dropConn() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *Client) dial(ctx context.Context, deadline time.Time) error {
	pid, sock, err := c.socketPath()
	if err != nil {
		return err
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return c.classifyDialError(pid, sock, err)
	}
	conn = rawio.Conn(conn) // polled every few seconds: see package rawio
	c.conn, c.sock = conn, sock
	c.rd.reset(conn)
	return nil
}

// Call sends method with params (the words ovs-appctl would take after the
// command name) and returns the daemon's reply text. A reply with an error
// is returned as *ServerError; anything else failing is a transport error
// after which the next call re-dials.
//
// The wire format is OVS's JSON-RPC 1.0 over the stream socket:
//
//	{"method":"fdb/show","params":["br-int"],"id":7}
//	{"id":7,"result":" port  VLAN  MAC                Age\n...","error":null}
//	{"id":8,"result":null,"error":"no such bridge\n"}
//
// Replies are not length-framed; they are delimited by the JSON syntax.
func (c *Client) Call(ctx context.Context, method string, params ...string) (string, error) {
	var out string
	err := c.call(ctx, method, params, false, func(r *reply) error {
		out = r.result
		return nil
	})
	return out, err
}

// CallFunc is Call for replies of megabytes read every poll (a flow
// dump): fn gets the reply text decoded in place in the client's read
// buffer, with no copy made. The text is valid only until fn returns, and
// fn runs while the client is held, so it should parse and copy out what
// it keeps, nothing more. fn's error is returned as it is.
func (c *Client) CallFunc(ctx context.Context, fn func(text []byte) error, method string, params ...string) error {
	return c.call(ctx, method, params, true, func(r *reply) error { return fn(r.view) })
}

// call sends one request, retrying once on a connection found closed, and
// hands the decoded reply to use while the client is still held.
func (c *Client) call(ctx context.Context, method string, params []string, inPlace bool, use func(*reply) error) error {
	if params == nil {
		params = []string{} // OVS rejects "params":null
	}
	select {
	case c.turn <- struct{}{}:
		defer func() { <-c.turn }()
	case <-ctx.Done():
		return fmt.Errorf("unixctl %s: waiting for the call before this one: %w", method, ctx.Err())
	}
	if c.closed {
		return fmt.Errorf("unixctl %s: %w", method, net.ErrClosed)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unixctl %s: %w", method, err)
		}
		deadline := time.Now().Add(c.opts.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		fresh := false
		if c.conn == nil {
			if err := c.dial(ctx, deadline); err != nil {
				return fmt.Errorf("unixctl %s: %w", method, err)
			}
			fresh = true
		}
		rep, stale, err := c.roundTrip(ctx, deadline, method, params, inPlace)
		if err == nil {
			return use(&rep)
		}
		var se *ServerError
		if errors.As(err, &se) {
			return err
		}
		c.dropConn()
		// A kept connection that the peer closed while idle (the daemon
		// restarted) fails before any reply byte arrives: the request was
		// never served, so retrying once on a fresh connection is safe and
		// hides the restart from the caller.
		if stale && !fresh && attempt == 0 {
			continue
		}
		return err
	}
}

// roundTrip writes one request and reads its reply (see decodeReply for
// inPlace). stale reports a failure before any reply byte arrived on a
// connection that was closed by the peer.
func (c *Client) roundTrip(ctx context.Context, deadline time.Time, method string, params []string, inPlace bool) (rep reply, stale bool, err error) {
	conn := c.conn
	if err := conn.SetDeadline(deadline); err != nil {
		return reply{}, false, fmt.Errorf("unixctl %s on %s: %w", method, c.sock, err)
	}
	// Interrupt blocking I/O when ctx is cancelled before the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			// The cancellation raced with our success and may still poison
			// the deadline of this connection: do not reuse it.
			c.dropConn()
		}
	}()

	c.nextID++
	id := c.nextID
	c.wbuf = appendRequest(c.wbuf[:0], id, method, params)
	if _, err := conn.Write(c.wbuf); err != nil {
		return reply{}, isPeerClosed(err), c.ioError(ctx, method, err)
	}
	frame, n, err := c.rd.next(c.opts.MaxReplyBytes)
	if err != nil {
		if errors.Is(err, ErrReplyTooLarge) {
			return reply{}, false, fmt.Errorf("unixctl %s on %s: %w: over %d bytes (raise --ovs.max-reply-bytes)",
				method, c.sock, err, c.opts.MaxReplyBytes)
		}
		return reply{}, n == 0 && isPeerClosed(err), c.ioError(ctx, method, err)
	}
	rep, err = decodeReply(frame, inPlace)
	if err != nil {
		return reply{}, false, fmt.Errorf("unixctl %s on %s: %w: %w", method, c.sock, ErrProtocol, err)
	}
	if !rep.hasID || rep.id != id {
		return reply{}, false, fmt.Errorf("unixctl %s on %s: %w: reply id %s does not match request id %d",
			method, c.sock, ErrProtocol, rep.rawID, id)
	}
	if rep.hasError {
		return reply{}, false, &ServerError{Method: method, Params: append([]string(nil), params...), Message: rep.errMsg}
	}
	return rep, false, nil
}

func (c *Client) ioError(ctx context.Context, method string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("unixctl %s on %s: %w", method, c.sock, cerr)
		}
		return fmt.Errorf("unixctl %s on %s: no reply within %v: %w", method, c.sock, c.opts.Timeout, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("unixctl %s on %s: connection closed by %s (restarting?): %w", method, c.sock, c.opts.Target, err)
	}
	return fmt.Errorf("unixctl %s on %s: %w", method, c.sock, err)
}

// isPeerClosed reports errors that mean the other end had closed the
// connection before we used it.
func isPeerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// appendRequest appends the JSON-RPC request for method(params) to b.
func appendRequest(b []byte, id uint64, method string, params []string) []byte {
	b = append(b, `{"method":`...)
	b = appendString(b, method)
	b = append(b, `,"params":[`...)
	for i, p := range params {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, p)
	}
	b = append(b, `],"id":`...)
	b = strconv.AppendUint(b, id, 10)
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain { // the usual bridge names and flows need no escaping
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return append(b, `""`...)
	}
	return append(b, q...)
}
