package ovsdb

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// schema is what this package needs of an OVSDB schema: its version and
// which columns each table has.
type schema struct {
	version string
	tables  map[string]map[string]bool
}

// parseSchema reads a database schema (RFC 7047 §3.2) as ovsdb-server
// publishes it in the "schema" column of the _Server database's Database
// table, e.g. (OVS 3.1, cut):
//
//	{"cksum":"3012963480 26720","name":"Open_vSwitch","tables":{"Bridge":{"columns":{"name":{"type":"string"},…}},…},"version":"8.3.1"}
//
// Only table and column names are kept; types are checked when values are
// decoded.
func parseSchema(b []byte) (*schema, error) {
	var raw struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Tables  map[string]struct {
			Columns map[string]json.RawMessage `json:"columns"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parsing schema: %w", err)
	}
	if len(raw.Tables) == 0 {
		return nil, fmt.Errorf("schema %q has no tables", raw.Name)
	}
	s := &schema{version: raw.Version, tables: make(map[string]map[string]bool, len(raw.Tables))}
	for t, def := range raw.Tables {
		cols := make(map[string]bool, len(def.Columns))
		for c := range def.Columns {
			cols[c] = true
		}
		s.tables[t] = cols
	}
	return s, nil
}

// has reports whether table has column. The implicit columns _uuid and
// _version exist in every table and are not listed in schemas.
func (s *schema) has(table, column string) bool {
	cols, ok := s.tables[table]
	if column == "_uuid" || column == "_version" {
		return ok
	}
	return cols[column]
}

// column is a column this package reads. Without a required column the
// table cannot be used at all; an optional one missing from an older or
// newer schema is simply left out of the select and its field stays empty.
type column struct {
	name     string
	required bool
}

// tableRead is what to read from one table.
type tableRead struct {
	table   string
	columns []column
}

// plan returns the select for t against schema s (nil: not known, select
// everything t names and let the server complain). A missing required
// column is an error naming it.
func (t tableRead) plan(s *schema) (ovsdbrpc.Select, error) {
	op := ovsdbrpc.Select{Table: t.table}
	if s != nil {
		if _, ok := s.tables[t.table]; !ok {
			return op, fmt.Errorf("the Open_vSwitch schema (version %s) has no table %s", s.version, t.table)
		}
	}
	var missing []string
	for _, c := range t.columns {
		if s == nil || s.has(t.table, c.name) {
			op.Columns = append(op.Columns, c.name)
		} else if c.required {
			missing = append(missing, t.table+"."+c.name)
		}
	}
	if len(missing) > 0 {
		return op, fmt.Errorf("the Open_vSwitch schema (version %s) has no column %s, which this exporter needs",
			s.version, strings.Join(missing, ", "))
	}
	return op, nil
}
