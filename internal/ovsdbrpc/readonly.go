package ovsdbrpc

import (
	"encoding/json"
	"fmt"
)

// This file holds everything the package can put on the wire. ovsdb-server
// is shared with ovs-vswitchd, Neutron, Nova, ovn-controller and ovn-northd;
// a monitoring agent must not be able to change a database even through a
// bug, and the socket it holds is writable. So:
//
//   - method is a closed set: list_dbs, get_schema and transact, plus the
//     echo reply that keeps a session alive (methodEcho only ever answers
//     the server);
//   - a transact carries only Selects, which marshal with "op":"select" as
//     a constant and refuse to go out without named columns;
//   - SelectParams is the only way to build a transact's params, and
//     Conn.Select the only sender of methodTransact.
//
// TestReadOnlySource pins that; the lab tests of the packages that use
// this one check every message on the wire against a live ovsdb-server.

// method is a JSON-RPC method this package may send.
type method string

const (
	methodListDBs   method = "list_dbs"
	methodGetSchema method = "get_schema"
	methodTransact  method = "transact"
	methodEcho      method = "echo"

	// quotedEcho is methodEcho as it appears in a message.
	quotedEcho = `"` + methodEcho + `"`
)

// Select is one OVSDB "select" operation (RFC 7047 §5.2.2), as sent:
//
//	{"op":"select","table":"Bridge","where":[],"columns":["_uuid","name","ports"]}
//
// Columns are required: without them the server sends every column,
// statistics maps included, which no reader here wants.
type Select struct {
	Table   string
	Columns []string
	Where   []Condition
}

// Condition is a "where" clause element: ["name","==","Open_vSwitch"].
type Condition struct {
	Column, Function string
	Value            any
}

// UUIDValue is the OVSDB encoding of a UUID, for a Condition's Value.
func UUIDValue(u string) any { return [2]string{"uuid", u} }

// MarshalJSON implements json.Marshaler.
func (c Condition) MarshalJSON() ([]byte, error) {
	return json.Marshal([3]any{c.Column, c.Function, c.Value})
}

// MarshalJSON implements json.Marshaler.
func (o Select) MarshalJSON() ([]byte, error) {
	if len(o.Columns) == 0 {
		return nil, fmt.Errorf("select on %s names no columns", o.Table)
	}
	where := o.Where
	if where == nil {
		where = []Condition{}
	}
	return json.Marshal(struct {
		Op      string      `json:"op"`
		Table   string      `json:"table"`
		Where   []Condition `json:"where"`
		Columns []string    `json:"columns"`
	}{Op: "select", Table: o.Table, Where: where, Columns: o.Columns})
}

// SelectParams builds the params of a transact of ops on database db:
//
//	["OVN_Southbound",{"op":"select",…},…]
//
// It is exported for replaying captured exchanges, which are keyed by it.
func SelectParams(db string, ops ...Select) ([]byte, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("transact on %s without selects", db)
	}
	params := make([]any, 0, len(ops)+1)
	params = append(params, db)
	for _, op := range ops {
		params = append(params, op)
	}
	return json.Marshal(params)
}
