package ovn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// Reader is what the agent needs from the OVN Southbound. Client implements
// it against a live ovsdb-server; Replay serves replies captured from one.
type Reader interface {
	// Chassis returns the chassis whose name (system-id) is name.
	Chassis(ctx context.Context, name string) (Chassis, error)
	// PortBindings returns the logical ports bound to the chassis with the
	// given UUID: one select bounded by the chassis.
	PortBindings(ctx context.Context, chassisUUID string) ([]PortBinding, error)
	// UnknownPorts returns the ports of a logical datapath whose addresses
	// include "unknown", wherever they are bound.
	UnknownPorts(ctx context.Context, datapathUUID string) ([]PortBinding, error)
	// LogicalFlows returns the logical flows of q.Pipeline (and q.TableID
	// unless negative) whose OpenFlow cookie is q.Cookie.
	LogicalFlows(ctx context.Context, q FlowQuery) ([]LogicalFlow, error)
	// DatapathName returns the name of a logical switch or router.
	DatapathName(ctx context.Context, datapathUUID string) (string, error)
	// Close releases the connection.
	Close() error
}

// FlowQuery selects logical flows by the OpenFlow cookie ovn-controller
// derived from them. Pipeline is required: it bounds the select to one
// pipeline (and TableID, when not negative, to one stage of it), since the
// Southbound cannot match a UUID prefix and the whole Logical_Flow table of
// a large cloud is too big to read.
type FlowQuery struct {
	Cookie   uint32
	Pipeline string
	TableID  int
	// Datapath, when set, bounds the select to one logical datapath.
	Datapath string
}

// ErrNotFound is wrapped by errors for rows that do not exist.
var ErrNotFound = errors.New("not found")

// The columns read from each table. Nothing else is ever asked for.
var (
	chassisColumns     = []string{"_uuid", "name", "hostname"}
	portBindingColumns = []string{"_uuid", "logical_port", "type", "datapath", "chassis",
		"parent_port", "tag", "tunnel_key", "mac", "port_security"}
	logicalFlowColumns = []string{"_uuid", "pipeline", "table_id", "priority", "match", "actions",
		"logical_datapath", "external_ids"}
	datapathColumns = []string{"_uuid", "external_ids"}
)

// requiredColumns is checked against the server's schema when a session
// starts, so that a Southbound too old or too new for this agent says so
// once, clearly, instead of failing every select.
var requiredColumns = map[string][]string{
	"Chassis":          chassisColumns,
	"Port_Binding":     portBindingColumns,
	"Logical_Flow":     logicalFlowColumns,
	"Datapath_Binding": datapathColumns,
}

// caller runs a transaction of selects, calling each with every row in op
// order; Client and Replay implement it.
type caller interface {
	selectRows(ctx context.Context, ops []ovsdbrpc.Select, each func(op int, r ovsdbrpc.Row) error) error
	close() error
}

// Client reads the Southbound over one kept connection, re-dialled after a
// failure. It is safe for concurrent use; calls are serialized.
type Client struct {
	remote string
	addrs  [][2]string

	mu     sync.Mutex
	conn   *ovsdbrpc.Conn // nil when not connected
	closed bool
}

// NewClient returns a Client for remote, an OVN remote as in
// external_ids:ovn-remote ("unix:/var/run/ovn/ovnsb_db.sock",
// "tcp:192.0.2.10:6642", or a comma-separated list). Nothing is dialled
// until the first call.
func NewClient(remote string) (*Client, error) {
	addrs, err := parseRemote(remote)
	if err != nil {
		return nil, err
	}
	return &Client{remote: remote, addrs: addrs}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

func (c *Client) close() error { return c.Close() }

// session returns the working connection, dialling as needed; c.mu held.
func (c *Client) session(ctx context.Context) (*ovsdbrpc.Conn, error) {
	if c.closed {
		return nil, errors.New("ovn: client closed")
	}
	if c.conn != nil && c.conn.Err() != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	if c.conn == nil {
		conn, err := c.connect(ctx)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	return c.conn, nil
}

// explain says what a failed call means, and drops a connection that
// failed under it; c.mu held.
func (c *Client) explain(ctx context.Context, conn *ovsdbrpc.Conn, err error) error {
	if err == nil {
		return nil
	}
	cause := conn.Err()
	if cause != nil && c.conn == conn {
		_ = conn.Close()
		c.conn = nil
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("OVN Southbound %s did not answer in time: %w", c.remote, err)
	case ctx.Err() != nil:
		return fmt.Errorf("OVN Southbound %s: %w", c.remote, ctx.Err())
	case cause != nil:
		return fmt.Errorf("OVN Southbound %s: connection lost (ovsdb-server restarting?): %w", c.remote, cause)
	}
	return fmt.Errorf("OVN Southbound %s: %w", c.remote, err)
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// connect dials the first address that answers and checks its schema.
func (c *Client) connect(ctx context.Context) (*ovsdbrpc.Conn, error) {
	var errs []error
	for _, a := range c.addrs {
		addr := a[0] + ":" + a[1]
		conn, err := ovsdbrpc.Dial(ctx, a[0], a[1])
		if err != nil {
			errs = append(errs, explainDial(addr, a[0], a[1], err))
			continue
		}
		if err := checkSchema(ctx, conn, addr); err != nil {
			_ = conn.Close()
			errs = append(errs, err)
			continue
		}
		return conn, nil
	}
	return nil, errors.Join(errs...)
}

// checkSchema asks for the Southbound's schema and checks the columns read.
func checkSchema(ctx context.Context, conn *ovsdbrpc.Conn, addr string) error {
	err := conn.GetSchema(ctx, southbound, func(schema []byte) error { return schemaHasColumns(schema, addr) })
	var re *ovsdbrpc.Error
	switch {
	case errors.As(err, &re) && strings.Contains(re.Err, "unknown database"):
		return fmt.Errorf("%s serves no %s database: point the agent at the Southbound (ovnsb_db.sock, port 6642), not the Northbound: %w",
			addr, southbound, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("OVN Southbound %s did not answer in time: %w", addr, err)
	case err != nil && conn.Err() != nil:
		return fmt.Errorf("OVN Southbound %s: connection lost (ovsdb-server restarting?): %w", addr, err)
	}
	return err
}

// schemaHasColumns checks a get_schema result (RFC 7047 §3.2), e.g.
//
//	{"name":"OVN_Southbound","version":"20.27.0","tables":{"Port_Binding":{"columns":{"mac":{…},…}},…}}
func schemaHasColumns(raw []byte, addr string) error {
	var s struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Tables  map[string]struct {
			Columns map[string]json.RawMessage `json:"columns"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("schema from %s: %w", addr, err)
	}
	var missing []string
	for table, cols := range requiredColumns {
		def, ok := s.Tables[table]
		if !ok {
			missing = append(missing, table)
			continue
		}
		for _, col := range cols {
			if _, ok := def.Columns[col]; !ok && !strings.HasPrefix(col, "_") {
				missing = append(missing, table+"."+col)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("the %s schema %s at %s lacks %s: this agent reads OVN 22.03 or later",
			s.Name, s.Version, addr, strings.Join(missing, ", "))
	}
	return nil
}

// selectRows runs ops as one transaction and returns each op's rows, as
// generic values: the Southbound's answers are a few rows each.
func selectRows(ctx context.Context, c caller, ops ...ovsdbrpc.Select) ([][]row, error) {
	rows := rowSet(make([][]row, len(ops)))
	if err := c.selectRows(ctx, ops, rows.add); err != nil {
		return nil, err
	}
	return rows, nil
}

// decodeResult decodes a transact result of ops, one object per op:
//
//	[{"rows":[{"_uuid":["uuid","…"],"logical_port":"vm2",…}]}]
//	[{"error":"unknown column","details":"…"}]
func decodeResult(raw []byte, ops []ovsdbrpc.Select) ([][]row, error) {
	rows := rowSet(make([][]row, len(ops)))
	if err := ovsdbrpc.DecodeResult(raw, ops, rows.add); err != nil {
		return nil, err
	}
	return rows, nil
}

// rowSet gathers the rows of each op.
type rowSet [][]row

func (s rowSet) add(op int, r ovsdbrpc.Row) error {
	m := row{}
	s[op] = append(s[op], m)
	return r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
		m[col], err = v.Any()
		return err
	})
}
