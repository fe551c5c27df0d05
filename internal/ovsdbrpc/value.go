package ovsdbrpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Value is one column value of a row, in the OVSDB encoding (RFC 7047
// §5.1), as ovsdb-server 3.1 writes it:
//
//	atom:       "netdev"   10   true   ["uuid","963ccff2-9ba2-49da-acae-95129d90ee97"]
//	set:        ["set",[]]   ["set",["OpenFlow10","OpenFlow13"]]
//	            or the lone atom for a set of one: "OpenFlow13", 30, ["uuid","…"]
//	map:        ["map",[]]   ["map",[["mac-aging-time","300"],["mac-table-size","50000"]]]
//
// An optional column (min 0, max 1) is a set, so "unset" reads ["set",[]]
// and a value is the bare atom. A Value points into the connection's
// buffer: it is valid only until the callback that received it returns.
type Value []byte

// setElems calls fn with each element of a set: the elements inside
// ["set",[...]], or the value itself for a bare atom.
func (v Value) setElems(fn func(Value) error) error {
	v = trimSpace(v)
	if len(v) == 0 || isNull(v) {
		return fmt.Errorf("got %s, want an OVSDB value", orNull(v))
	}
	if v[0] != '[' {
		return fn(v) // a bare atom: a set of one
	}
	tag, payload, err := v.tagged()
	if err != nil {
		return err
	}
	switch tag {
	case "set":
		if len(payload) == 0 || payload[0] != '[' {
			return fmt.Errorf("got %s, want [\"set\",[...]]", short(v))
		}
		return eachElem(payload, func(e []byte) error { return fn(Value(e)) })
	case "uuid", "named-uuid":
		return fn(v)
	default:
		return fmt.Errorf("got %s, want [\"set\",[...]] or an atom", short(v))
	}
}

// tagged splits a two-element array whose first element is a string:
// ["set",[...]], ["map",[...]], ["uuid","…"].
func (v Value) tagged() (tag string, payload Value, err error) {
	var elems [2][]byte
	n := 0
	err = eachElem(v, func(e []byte) error {
		if n < 2 {
			elems[n] = e
		}
		n++
		return nil
	})
	if err != nil || n != 2 || len(elems[0]) == 0 || elems[0][0] != '"' {
		return "", nil, fmt.Errorf("got %s, want [\"set\",[...]], [\"map\",[...]] or [\"uuid\",\"…\"]", short(v))
	}
	switch t := elems[0]; {
	case bytes.Equal(t, []byte(`"set"`)):
		tag = "set"
	case bytes.Equal(t, []byte(`"map"`)):
		tag = "map"
	case bytes.Equal(t, []byte(`"uuid"`)):
		tag = "uuid"
	case bytes.Equal(t, []byte(`"named-uuid"`)):
		tag = "named-uuid"
	default:
		tag = string(t)
	}
	return tag, Value(elems[1]), nil
}

// atomString decodes a string atom: "netdev".
func (v Value) atomString() (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("got %s, want a string", orNull(v))
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("got %s, want a string", short(v))
	}
	return s, nil
}

// atomInt decodes an integer atom: 10. OVSDB integers are 64-bit.
func (v Value) atomInt() (int64, error) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, fmt.Errorf("got %s, want an integer", orNull(v))
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return n, nil
	}
	// 1e3 or 10.0 are integers too, if exact.
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, fmt.Errorf("got %s, want an integer", short(v))
	}
	return int64(f), nil
}

// atomUUID decodes a uuid atom: ["uuid","963ccff2-9ba2-49da-acae-95129d90ee97"].
func (v Value) atomUUID() (string, error) {
	if len(v) == 0 || v[0] != '[' {
		return "", fmt.Errorf("got %s, want [\"uuid\",\"…\"]", orNull(v))
	}
	tag, payload, err := v.tagged()
	if err != nil || tag != "uuid" {
		return "", fmt.Errorf("got %s, want [\"uuid\",\"…\"]", short(v))
	}
	u, err := payload.atomString()
	if err != nil || u == "" {
		return "", fmt.Errorf("got %s, want [\"uuid\",\"…\"]", short(v))
	}
	return u, nil
}

// String decodes a string column, required ("netdev") or optional ("up",
// or ["set",[]] which gives "").
func (v Value) String() (string, error) {
	var s string
	n := 0
	err := v.setElems(func(e Value) (err error) {
		n++
		if n > 1 {
			return nil
		}
		s, err = e.atomString()
		return err
	})
	if err == nil && n > 1 {
		err = fmt.Errorf("got %d values, want at most one", n)
	}
	return s, err
}

// OptInt decodes an integer column, required (7) or optional (10, or
// ["set",[]] which gives ok == false).
func (v Value) OptInt() (n int64, ok bool, err error) {
	count := 0
	err = v.setElems(func(e Value) (err error) {
		count++
		if count > 1 {
			return nil
		}
		n, err = e.atomInt()
		return err
	})
	switch {
	case err != nil:
		return 0, false, err
	case count > 1:
		return 0, false, fmt.Errorf("got %d values, want at most one", count)
	}
	return n, count == 1, nil
}

// Int decodes a required integer column: 7.
func (v Value) Int() (int64, error) {
	n, ok, err := v.OptInt()
	if err == nil && !ok {
		err = fmt.Errorf("got an empty set, want an integer")
	}
	return n, err
}

// UUID decodes a uuid column: ["uuid","…"].
func (v Value) UUID() (string, error) { return Value(trimSpace(v)).atomUUID() }

// Strings decodes a set of strings: ["set",["OpenFlow10","OpenFlow13"]],
// "OpenFlow13" or ["set",[]] (nil).
func (v Value) Strings() ([]string, error) { return setOf(v, Value.atomString) }

// Ints decodes a set of integers: ["set",[10,20]], 30 or ["set",[]] (nil).
func (v Value) Ints() ([]int, error) {
	return setOf(v, func(e Value) (int, error) {
		n, err := e.atomInt()
		return int(n), err
	})
}

// UUIDs decodes a set of uuids: ["set",[["uuid","…"],["uuid","…"]]],
// ["uuid","…"] or ["set",[]] (nil).
func (v Value) UUIDs() ([]string, error) { return setOf(v, Value.atomUUID) }

// setOf decodes a set whose elements atom decodes; nil when it is empty.
func setOf[T any](v Value, atom func(Value) (T, error)) ([]T, error) {
	var out []T
	err := v.setElems(func(e Value) error {
		x, err := atom(e)
		out = append(out, x)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Map decodes a string-to-string map:
// ["map",[["iface-id","port-vm1"],["attached-mac","02:00:00:00:00:01"]]], or
// ["map",[]] (nil).
func (v Value) Map() (map[string]string, error) {
	v = trimSpace(v)
	if len(v) == 0 || v[0] != '[' {
		return nil, fmt.Errorf("got %s, want [\"map\",[...]]", orNull(v))
	}
	tag, payload, err := v.tagged()
	if err != nil || tag != "map" || len(payload) == 0 || payload[0] != '[' {
		return nil, fmt.Errorf("got %s, want [\"map\",[...]]", short(v))
	}
	var out map[string]string
	err = eachElem(payload, func(p []byte) error {
		var kv [2][]byte
		n := 0
		err := eachElem(p, func(e []byte) error {
			if n < 2 {
				kv[n] = e
			}
			n++
			return nil
		})
		if err != nil || n != 2 {
			return fmt.Errorf("map entry %s, want [key,value]", short(p))
		}
		k, err := Value(kv[0]).atomString()
		if err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		val, err := Value(kv[1]).atomString()
		if err != nil {
			return fmt.Errorf("map value of %q: %w", k, err)
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[k] = val
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Any decodes the value as encoding/json would into an interface{}: for
// small replies whose readers work on generic values.
func (v Value) Any() (any, error) {
	var out any
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, fmt.Errorf("got %s: %w", short(v), err)
	}
	return out, nil
}

func orNull(v Value) string {
	if len(v) == 0 {
		return "nothing"
	}
	return short(v)
}
