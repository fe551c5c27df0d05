// Package ovsdb reads the switch topology from the Open_vSwitch database:
// bridges, their ports and interfaces, and the attribution keys (iface-id,
// attached-mac, vm-uuid) that Neutron, Nova and os-vif keep in external_ids.
//
// Access is read-only by construction: the package reads through ovsdbrpc,
// which can only send selects (see readonly.go). It reads only the columns it uses, in one
// transaction, over one kept connection that is re-dialled when ovsdb-server
// restarts, so that what ovsdb-server spends serving the agent stays small.
// Use CurCfg, which reads one integer, to decide when the full Topology is
// worth reading again.
package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

const (
	// database is the OVS configuration database.
	database = "Open_vSwitch"
	// serverDB is ovsdb-server's own database (OVS 2.9 and later), whose
	// Database table publishes the schema of every database it serves.
	serverDB = "_Server"
)

// DefaultTimeout bounds a call whose context has no deadline, so that a
// wedged ovsdb-server cannot hang a poller forever.
const DefaultTimeout = 10 * time.Second

// ErrClosed is returned by calls on a Client after Close.
var ErrClosed = errors.New("ovsdb: client closed")

// Client is a read-only connection to the Open_vSwitch database. It is safe
// for concurrent use; calls are serialized over one connection.
//
// After the connection fails (ovsdb-server restarted, socket closed, a call
// timed out) the next call dials again. A connection found dead before a
// call is replaced first, and a call that fails on a connection that had
// worked before is retried once on a new one: every operation this package
// sends is a select, so repeating one is harmless.
type Client struct {
	addr             string // as given, for messages
	network, address string // for net.Dial

	// turn is held by the call using the connection (a one-slot
	// semaphore rather than a mutex, so that a call queued behind a hung
	// one still gives up at its own deadline).
	turn   chan struct{}
	s      *session // nil when not connected
	closed bool
}

// session is one connection and what was learned on it.
type session struct {
	addr   string
	conn   *ovsdbrpc.Conn
	schema *schema // nil when the server publishes none (no _Server database)
	topo   []ovsdbrpc.Select
	curCfg ovsdbrpc.Select
}

// Dial connects to the OVSDB server at addr, given in the form OVS tools
// use ("unix:/var/run/openvswitch/db.sock", "tcp:127.0.0.1:6640"), and checks
// that it serves the Open_vSwitch database with the columns this package
// reads. The errors say what is wrong and which flag (--ovs.db) to fix.
func Dial(ctx context.Context, addr string) (*Client, error) {
	c, err := New(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	s, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.s = s
	return c, nil
}

// New returns a Client for addr without connecting: the first call dials.
// Use it when the agent must start while ovsdb-server is down; Dial
// reports a bad address or socket at once.
func New(addr string) (*Client, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	return &Client{addr: addr, network: network, address: address, turn: make(chan struct{}, 1)}, nil
}

// withTimeout applies DefaultTimeout to a context without a deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// Close closes the connection. A call in progress finishes first.
func (c *Client) Close() error {
	c.turn <- struct{}{}
	defer func() { <-c.turn }()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.s == nil {
		return nil
	}
	err := c.s.close()
	c.s = nil
	return err
}

// do runs fn on a working session, dialling as needed.
func (c *Client) do(ctx context.Context, fn func(context.Context, *session) error) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	select {
	case c.turn <- struct{}{}:
		defer func() { <-c.turn }()
	case <-ctx.Done():
		return fmt.Errorf("ovsdb at %s: waiting for the call before this one: %w", c.addr, ctx.Err())
	}
	if c.closed {
		return ErrClosed
	}
	// ovsdb-server closing the socket while we were idle (a restart between
	// polls) is already known: replace the session before using it.
	if c.s != nil && c.s.conn.Err() != nil {
		_ = c.s.close()
		c.s = nil
	}
	for attempt := 1; ; attempt++ {
		fresh := c.s == nil
		if fresh {
			s, err := c.connect(ctx)
			if err != nil {
				return err
			}
			c.s = s
		}
		s := c.s
		err := s.call(ctx, func(ctx context.Context) error { return fn(ctx, s) })
		if err == nil || !s.broken(err) {
			return err
		}
		_ = s.close()
		c.s = nil
		if fresh || attempt > 1 || ctx.Err() != nil {
			return err
		}
	}
}

// connect dials and performs the handshake.
func (c *Client) connect(ctx context.Context) (*session, error) {
	conn, err := ovsdbrpc.Dial(ctx, c.network, c.address)
	if err != nil {
		return nil, explainDialError(c.addr, c.network, c.address, err)
	}
	s := &session{addr: c.addr, conn: conn}
	if err := s.call(ctx, s.handshake); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

// handshake checks that the server serves Open_vSwitch, reads its schema
// when published and plans the selects against it.
func (s *session) handshake(ctx context.Context) error {
	dbs, err := s.conn.ListDBs(ctx)
	if err != nil {
		return fmt.Errorf("%s did not answer list_dbs: is --ovs.db the OVSDB socket (db.sock), not ovs-vswitchd's control socket? %w",
			s.addr, err)
	}
	if !slices.Contains(dbs, database) {
		return fmt.Errorf("ovsdb-server at %s serves %q but not %s (an OVN database?); point --ovs.db at the Open_vSwitch database",
			s.addr, dbs, database)
	}
	if slices.Contains(dbs, serverDB) {
		if s.schema, err = s.readSchema(ctx); err != nil {
			return fmt.Errorf("reading the Open_vSwitch schema from %s: %w", s.addr, err)
		}
	}
	if s.topo, err = planTopology(s.schema); err != nil {
		return fmt.Errorf("ovsdb at %s: %w", s.addr, err)
	}
	if s.curCfg, err = readCurCfg.plan(s.schema); err != nil {
		return fmt.Errorf("ovsdb at %s: %w", s.addr, err)
	}
	return nil
}

// readSchema reads the Open_vSwitch schema from the _Server database; nil
// when the server publishes none.
func (s *session) readSchema(ctx context.Context) (*schema, error) {
	op := ovsdbrpc.Select{
		Table:   "Database",
		Columns: []string{"name", "schema"},
		Where:   []ovsdbrpc.Condition{{Column: "name", Function: "==", Value: database}},
	}
	var text string
	err := s.selectRows(ctx, serverDB, []ovsdbrpc.Select{op}, func(_ int, r ovsdbrpc.Row) error {
		return r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
			if col == "schema" {
				text, err = v.String()
			}
			return err
		})
	})
	if err != nil || text == "" {
		return nil, err
	}
	return parseSchema([]byte(text))
}

// call runs fn and explains a failure of the connection under it.
func (s *session) call(ctx context.Context, fn func(context.Context) error) error {
	err := fn(ctx)
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ovsdb at %s did not answer in time: %w", s.addr, err)
	}
	if cause := s.conn.Err(); cause != nil {
		if ovsdbrpc.PeerGone(cause) {
			return fmt.Errorf("ovsdb connection to %s lost: ovsdb-server closed it (restarting?): %w", s.addr, cause)
		}
		return fmt.Errorf("ovsdb connection to %s lost: %w", s.addr, cause)
	}
	return err
}

// broken reports whether the session must not be used after a failed
// call: an error object from ovsdb-server, or rows that would not decode,
// leave the connection in sync.
func (s *session) broken(error) bool { return s.conn.Err() != nil }

// close closes the connection and waits for its reader.
func (s *session) close() error { return s.conn.Close() }
