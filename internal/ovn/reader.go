package ovn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// caller sends one transact of selects and returns the raw result array;
// rpcConn-backed sessions and Replay implement it.
type caller interface {
	transact(ctx context.Context, params []byte) (json.RawMessage, error)
	close() error
}

// Client reads the Southbound over one kept connection, re-dialled after a
// failure. It is safe for concurrent use; calls are serialized.
type Client struct {
	remote string
	addrs  [][2]string

	mu     sync.Mutex
	conn   *rpcConn
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
	err := c.conn.close()
	c.conn = nil
	return err
}

func (c *Client) close() error { return c.Close() }

// transact implements caller: one call on a working session.
func (c *Client) transact(ctx context.Context, params []byte) (json.RawMessage, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("ovn: client closed")
	}
	if c.conn == nil {
		conn, err := c.connect(ctx)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	res, err := c.conn.call(ctx, methodTransact, params)
	if err != nil {
		_ = c.conn.close()
		c.conn = nil
	}
	return res, err
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// connect dials the first address that answers and checks its schema.
func (c *Client) connect(ctx context.Context) (*rpcConn, error) {
	var errs []error
	for _, a := range c.addrs {
		conn, err := dialOne(ctx, a[0], a[1], a[0]+":"+a[1])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkSchema(ctx, conn); err != nil {
			_ = conn.close()
			errs = append(errs, err)
			continue
		}
		return conn, nil
	}
	return nil, errors.Join(errs...)
}

// checkSchema asks for the Southbound's schema and checks the columns read.
func checkSchema(ctx context.Context, conn *rpcConn) error {
	params, _ := json.Marshal([]string{southbound})
	raw, err := conn.call(ctx, methodGetSchema, params)
	if err != nil {
		if strings.Contains(err.Error(), "unknown database") {
			return fmt.Errorf("%s serves no %s database: point the agent at the Southbound (ovnsb_db.sock, port 6642), not the Northbound: %w",
				conn.addr, southbound, err)
		}
		return err
	}
	return schemaHasColumns(raw, conn.addr)
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

// selectRows runs ops as one transaction and returns each op's rows.
func selectRows(ctx context.Context, c caller, ops ...selectOp) ([][]row, error) {
	params, err := transactParams(ops...)
	if err != nil {
		return nil, err
	}
	raw, err := c.transact(ctx, params)
	if err != nil {
		return nil, err
	}
	return decodeResult(raw, len(ops))
}

// decodeResult decodes a transact result, one object per op:
//
//	[{"rows":[{"_uuid":["uuid","…"],"logical_port":"vm2",…}]}]
//	[{"error":"unknown column","details":"…"}]
func decodeResult(raw []byte, ops int) ([][]row, error) {
	var results []struct {
		Rows    []row  `json:"rows"`
		Error   string `json:"error"`
		Details string `json:"details"`
	}
	if err := json.Unmarshal(raw, &results); err != nil {
		return nil, fmt.Errorf("transact result: %w", err)
	}
	if len(results) < ops {
		return nil, fmt.Errorf("transact result has %d entries for %d selects", len(results), ops)
	}
	out := make([][]row, ops)
	for i := range ops {
		if results[i].Error != "" {
			return nil, fmt.Errorf("select refused: %s: %s", results[i].Error, results[i].Details)
		}
		out[i] = results[i].Rows
	}
	return out, nil
}
