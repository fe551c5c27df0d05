package ovsdb

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Column values arrive as go-openvswitch decodes them: encoding/json into
// interface{} (strings, float64, bool, []interface{}). The OVSDB encoding of
// those values (RFC 7047 §5.1), as ovsdb-server 3.1 writes them:
//
//	atom:       "netdev"   10   true   ["uuid","963ccff2-9ba2-49da-acae-95129d90ee97"]
//	set:        ["set",[]]   ["set",["OpenFlow10","OpenFlow13"]]
//	            or the lone atom for a set of one: "OpenFlow13", 30, ["uuid","…"]
//	map:        ["map",[]]   ["map",[["mac-aging-time","300"],["mac-table-size","50000"]]]
//
// An optional column (min 0, max 1: Port.tag, Interface.ofport,
// Interface.mac_in_use) is a set, so "unset" reads ["set",[]] and a value is
// the bare atom.

// setElems returns the elements of an OVSDB set value: the list inside
// ["set",[...]], or a one-element list for a bare atom.
func setElems(v any) ([]any, error) {
	arr, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, fmt.Errorf("got null, want an OVSDB value")
		}
		return []any{v}, nil // a bare atom: a set of one
	}
	if len(arr) != 2 {
		return nil, fmt.Errorf("got %s, want [\"set\",[...]] or an atom", short(v))
	}
	switch arr[0] {
	case "set":
		elems, ok := arr[1].([]any)
		if !ok {
			return nil, fmt.Errorf("got %s, want [\"set\",[...]]", short(v))
		}
		return elems, nil
	case "uuid", "named-uuid":
		return []any{v}, nil
	default:
		return nil, fmt.Errorf("got %s, want [\"set\",[...]] or an atom", short(v))
	}
}

// atomString decodes a string atom: "netdev".
func atomString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("got %s, want a string", short(v))
	}
	return s, nil
}

// atomInt decodes an integer atom: 10. OVSDB integers are 64-bit; JSON
// numbers come out of encoding/json as float64, exact up to 2^53, which
// covers every counter and port number OVS writes.
func atomInt(v any) (int64, error) {
	switch n := v.(type) {
	case float64:
		if n != math.Trunc(n) || n < -(1<<63) || n >= 1<<63 {
			return 0, fmt.Errorf("got %s, want an integer", short(v))
		}
		return int64(n), nil
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("got %s, want an integer", short(v))
		}
		return i, nil
	default:
		return 0, fmt.Errorf("got %s, want an integer", short(v))
	}
}

// atomUUID decodes a uuid atom: ["uuid","963ccff2-9ba2-49da-acae-95129d90ee97"].
func atomUUID(v any) (string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 || arr[0] != "uuid" {
		return "", fmt.Errorf("got %s, want [\"uuid\",\"…\"]", short(v))
	}
	u, ok := arr[1].(string)
	if !ok || u == "" {
		return "", fmt.Errorf("got %s, want [\"uuid\",\"…\"]", short(v))
	}
	return u, nil
}

// decodeString decodes a string column, required ("netdev") or optional
// ("up", or ["set",[]] which gives "").
func decodeString(v any) (string, error) {
	elems, err := setElems(v)
	if err != nil {
		return "", err
	}
	switch len(elems) {
	case 0:
		return "", nil
	case 1:
		return atomString(elems[0])
	default:
		return "", fmt.Errorf("got %d values, want at most one", len(elems))
	}
}

// decodeOptInt decodes an integer column, required (7) or optional (10, or
// ["set",[]] which gives ok == false).
func decodeOptInt(v any) (n int64, ok bool, err error) {
	elems, err := setElems(v)
	if err != nil {
		return 0, false, err
	}
	switch len(elems) {
	case 0:
		return 0, false, nil
	case 1:
		n, err := atomInt(elems[0])
		return n, err == nil, err
	default:
		return 0, false, fmt.Errorf("got %d values, want at most one", len(elems))
	}
}

// decodeInt decodes a required integer column: 7.
func decodeInt(v any) (int64, error) {
	n, ok, err := decodeOptInt(v)
	if err == nil && !ok {
		err = fmt.Errorf("got an empty set, want an integer")
	}
	return n, err
}

// decodeUUID decodes a uuid column: ["uuid","…"].
func decodeUUID(v any) (string, error) { return atomUUID(v) }

// decodeStrings decodes a set of strings: ["set",["OpenFlow10","OpenFlow13"]],
// "OpenFlow13" or ["set",[]] (nil).
func decodeStrings(v any) ([]string, error) {
	elems, err := setElems(v)
	if err != nil || len(elems) == 0 {
		return nil, err
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if out[i], err = atomString(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeInts decodes a set of integers: ["set",[10,20]], 30 or ["set",[]] (nil).
func decodeInts(v any) ([]int, error) {
	elems, err := setElems(v)
	if err != nil || len(elems) == 0 {
		return nil, err
	}
	out := make([]int, len(elems))
	for i, e := range elems {
		n, err := atomInt(e)
		if err != nil {
			return nil, err
		}
		out[i] = int(n)
	}
	return out, nil
}

// decodeUUIDs decodes a set of uuids: ["set",[["uuid","…"],["uuid","…"]]],
// ["uuid","…"] or ["set",[]] (nil).
func decodeUUIDs(v any) ([]string, error) {
	elems, err := setElems(v)
	if err != nil || len(elems) == 0 {
		return nil, err
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if out[i], err = atomUUID(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeMap decodes a string-to-string map:
// ["map",[["iface-id","port-vm1"],["attached-mac","02:00:00:00:00:01"]]], or
// ["map",[]] (nil).
func decodeMap(v any) (map[string]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 || arr[0] != "map" {
		return nil, fmt.Errorf("got %s, want [\"map\",[...]]", short(v))
	}
	pairs, ok := arr[1].([]any)
	if !ok {
		return nil, fmt.Errorf("got %s, want [\"map\",[...]]", short(v))
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		kv, ok := p.([]any)
		if !ok || len(kv) != 2 {
			return nil, fmt.Errorf("map entry %s, want [key,value]", short(p))
		}
		k, err := atomString(kv[0])
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		val, err := atomString(kv[1])
		if err != nil {
			return nil, fmt.Errorf("map value of %q: %w", k, err)
		}
		out[k] = val
	}
	return out, nil
}

// short renders a value for an error message, cut so that a huge column
// cannot flood the log.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
