package ovsdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// This file is the package's only way to send a transaction, and it can
// only send "select". The agent shares ovsdb-server with Neutron, Nova and
// ovs-vswitchd itself; a monitoring tool must not be able to change the
// switch even through a bug, and the socket it holds is writable. So:
//
//   - selectOp marshals with "op":"select" as a constant: no field, option or
//     caller can make it say anything else;
//   - selectRows takes only selectOps and is the only caller of
//     go-openvswitch's Transact in this package (TestReadOnlySource checks
//     that, and TestReadOnlyWire checks every op on the wire).
//
// The other RPCs the package sends are go-openvswitch's list_dbs (in
// handshake) and echo (its keepalive reply).

// selectOp is one OVSDB "select" operation (RFC 7047 §5.2.2):
//
//	{"op":"select","table":"Bridge","where":[],"columns":["_uuid","name","ports"]}
//
// go-openvswitch's own Select cannot name columns; naming them keeps what
// ovsdb-server serializes for us to what we read.
type selectOp struct {
	table   string
	columns []string
	where   []condition
}

// condition is a "where" clause element: ["name","==","Open_vSwitch"].
type condition struct {
	column, function string
	value            any
}

// MarshalJSON implements json.Marshaler.
func (c condition) MarshalJSON() ([]byte, error) {
	return json.Marshal([3]any{c.column, c.function, c.value})
}

// MarshalJSON implements json.Marshaler (and so ovsdb.TransactOp).
func (o selectOp) MarshalJSON() ([]byte, error) {
	if len(o.columns) == 0 {
		// Without "columns" the server sends every column, statistics maps
		// included: never what this package wants.
		return nil, fmt.Errorf("select on %s names no columns", o.table)
	}
	where := o.where
	if where == nil {
		where = []condition{}
	}
	return json.Marshal(struct {
		Op      string      `json:"op"`
		Table   string      `json:"table"`
		Where   []condition `json:"where"`
		Columns []string    `json:"columns"`
	}{Op: "select", Table: o.table, Where: where, Columns: o.columns})
}

// rpcError marks an error of the RPC itself (connection, timeout, server
// refusing the request), as opposed to rows we could not decode: after one,
// the connection is not trusted any more.
type rpcError struct{ err error }

func (e *rpcError) Error() string { return e.err.Error() }
func (e *rpcError) Unwrap() error { return e.err }

// selectRows runs ops as one transaction on database db and returns their
// rows. go-openvswitch flattens the rows of all ops into one slice, in op
// order, and silently drops a failed op's error object (the op then returns
// no rows, and the ops after it are not run): callers must be able to tell
// from the rows themselves which op they came from and whether all ran.
func (s *session) selectRows(ctx context.Context, db string, ops ...selectOp) ([]ovsdb.Row, error) {
	if len(ops) == 0 {
		return nil, errors.New("empty transaction")
	}
	tops := make([]ovsdb.TransactOp, len(ops))
	for i, op := range ops {
		tops[i] = op
	}
	rows, err := s.rpc.Transact(ctx, db, tops)
	if err != nil {
		return nil, &rpcError{err: err}
	}
	return rows, nil
}
