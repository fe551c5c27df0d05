package ovn

import (
	"encoding/json"
	"fmt"
)

// This file holds everything the package can put on the wire. The
// Southbound is shared by every ovn-controller of the cloud and by
// ovn-northd; a monitoring agent must not be able to change it even through
// a bug, and the socket it holds is writable. So:
//
//   - method is a closed set: get_schema and transact, plus the echo
//     reply that keeps the session alive (methodEcho is only ever used to
//     answer the server);
//   - a transact carries only selectOps, which marshal with "op":"select"
//     as a constant and refuse to go out without named columns;
//   - transactParams is the only way to build a transact's params.
//
// TestReadOnlyWire checks every message a Client sends against a live
// Southbound.

// method is a JSON-RPC method this package may send.
type method string

const (
	methodGetSchema method = "get_schema"
	methodTransact  method = "transact"
	methodEcho      method = "echo"
)

// southbound is the database this package reads.
const southbound = "OVN_Southbound"

// selectOp is one OVSDB "select" (RFC 7047 §5.2.2), as sent:
//
//	{"op":"select","table":"Port_Binding","where":[["chassis","==",["uuid","1dec…"]]],"columns":["_uuid","logical_port",…]}
type selectOp struct {
	table   string
	columns []string
	where   []condition
}

// condition is a where clause element: ["pipeline","==","ingress"].
type condition struct {
	column, function string
	value            any
}

// MarshalJSON implements json.Marshaler.
func (c condition) MarshalJSON() ([]byte, error) {
	return json.Marshal([3]any{c.column, c.function, c.value})
}

// MarshalJSON implements json.Marshaler.
func (o selectOp) MarshalJSON() ([]byte, error) {
	if len(o.columns) == 0 {
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

// transactParams builds the params of a transact on the Southbound:
//
//	["OVN_Southbound",{"op":"select",…},…]
func transactParams(ops ...selectOp) ([]byte, error) {
	params := make([]any, 0, len(ops)+1)
	params = append(params, southbound)
	for _, op := range ops {
		params = append(params, op)
	}
	return json.Marshal(params)
}

// uuidValue is the OVSDB encoding of a UUID in a where clause.
func uuidValue(u string) any { return []any{"uuid", u} }
