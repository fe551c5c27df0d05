package ovsdbrpc

import (
	"bytes"
	"errors"
	"fmt"
)

// Row is one row of a select's result. It points into the connection's
// buffer: it is valid only until the callback that received it returns.
type Row struct {
	op  *Select
	raw []byte
}

// Columns calls fn with each column of the row that the select named, in
// the order the server sent them; columns it did not name are skipped.
// fn's error comes back wrapped with the table, the row (by name or
// uuid) and the column.
func (r Row) Columns(fn func(column string, v Value) error) error {
	var col string
	err := eachMember(r.raw, func(name, value []byte) error {
		col = ""
		for _, c := range r.op.Columns {
			if len(name) == len(c)+2 && string(name[1:len(name)-1]) == c {
				col = c
				break
			}
		}
		if col == "" {
			return nil
		}
		return fn(col, Value(value))
	})
	if err == nil {
		return nil
	}
	if col == "" {
		return fmt.Errorf("%s row: %w", r.op.Table, err)
	}
	return fmt.Errorf("%s row %s: column %s: %w", r.op.Table, r.id(), col, err)
}

// id names the row for an error message: its name column, else its uuid.
func (r Row) id() string {
	id := "?"
	_ = eachMember(r.raw, func(name, value []byte) error {
		switch string(name) {
		case `"name"`:
			if s, err := Value(value).atomString(); err == nil {
				id = s
				return errors.New("found")
			}
		case `"_uuid"`:
			if u, err := Value(value).atomUUID(); err == nil {
				id = u
			}
		}
		return nil
	})
	return id
}

// OpError is a select the server refused, e.g.
//
//	{"error":"syntax error","details":"Table Bridge has no column named \"mtu\"."}
//
// The connection stays usable after one.
type OpError struct {
	Table   string
	Err     string
	Details string
}

func (e *OpError) Error() string {
	if e.Table == "" {
		return fmt.Sprintf("transaction refused: %s: %s", e.Err, e.Details)
	}
	return fmt.Sprintf("select on %s refused: %s: %s", e.Table, e.Err, e.Details)
}

// opResult is one element of a transact result: rows, or an error.
type opResult struct {
	rows          []byte
	err, details  string
	notRun, found bool
}

func parseOpResult(b []byte) (opResult, error) {
	var r opResult
	if isNull(b) {
		r.notRun = true
		return r, nil
	}
	err := eachMember(b, func(name, value []byte) error {
		var err error
		switch string(name) {
		case `"rows"`:
			r.rows, r.found = value, true
		case `"error"`:
			if !isNull(value) {
				r.err, err = Value(value).atomString()
			}
		case `"details"`:
			if !isNull(value) {
				r.details, err = Value(value).atomString()
			}
		}
		return err
	})
	return r, err
}

// DecodeResult reads the result of a transact of ops (RFC 7047 §4.1.3),
// one element per op, calling each with every row in op order:
//
//	[{"rows":[{"_uuid":["uuid","…"],"name":"br-int",…}]},{"rows":[…]}]
//	[{"error":"syntax error","details":"…"},null]
//
// A refused select is an *OpError; the selects after it were not run
// (null) and the error says so. It is exported for replaying captured
// results through the same code as live ones.
func DecodeResult(result []byte, ops []Select, each func(op int, r Row) error) error {
	if bytes.Equal(trimSpace(result), []byte("null")) {
		return errors.New("transact result is null")
	}
	results := make([]opResult, 0, len(ops)+1)
	err := eachElem(result, func(elem []byte) error {
		r, err := parseOpResult(elem)
		results = append(results, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("transact result: %w", err)
	}
	for i, r := range results {
		if r.err != "" {
			oe := &OpError{Err: r.err, Details: r.details}
			if i < len(ops) {
				oe.Table = ops[i].Table
			}
			return oe
		}
	}
	if len(results) < len(ops) {
		return fmt.Errorf("transact result has %d entries for %d selects", len(results), len(ops))
	}
	for i := range ops {
		r := results[i]
		switch {
		case r.notRun:
			return fmt.Errorf("select on %s was not run, and the server gave no reason", ops[i].Table)
		case !r.found:
			return fmt.Errorf("select on %s: result without rows", ops[i].Table)
		}
		err := eachElem(r.rows, func(row []byte) error { return each(i, Row{op: &ops[i], raw: row}) })
		if err != nil {
			return err
		}
	}
	return nil
}
