package ovn

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
)

// ParseAddresses decodes the entries of a logical port's "mac" (addresses)
// or "port_security" column, as ovn-northd writes them into the Southbound
// (one string per entry):
//
//	"02:00:00:02:00:02 10.0.200.2"
//	"fa:16:3e:11:22:33 10.0.0.5 fd00::5"
//	"fa:16:3e:11:22:33 10.0.0.0/24"        (port_security may carry prefixes)
//	"unknown"                               (deliver frames no port owns here)
//	"router"   "dynamic"                    (resolved elsewhere: carry no MAC)
//
// unknown reports whether "unknown" was among them.
func ParseAddresses(entries []string) (addrs []Address, unknown bool, err error) {
	for _, e := range entries {
		fields := strings.Fields(e)
		if len(fields) == 0 {
			return nil, false, fmt.Errorf("empty address entry")
		}
		switch fields[0] {
		case "unknown":
			unknown = true
			continue
		case "router", "dynamic":
			continue
		}
		hw, err := net.ParseMAC(fields[0])
		if err != nil || len(hw) != 6 {
			return nil, false, fmt.Errorf("address entry %q: %q is not an Ethernet MAC", e, fields[0])
		}
		a := Address{MAC: hw.String()}
		for _, f := range fields[1:] {
			if f == "dynamic" {
				continue // "MAC dynamic": the IP is allocated by northd
			}
			if _, err := netip.ParsePrefix(f); err != nil {
				if _, err := netip.ParseAddr(f); err != nil {
					return nil, false, fmt.Errorf("address entry %q: %q is neither an IP nor a prefix", e, f)
				}
			}
			a.IPs = append(a.IPs, f)
		}
		addrs = append(addrs, a)
	}
	return addrs, unknown, nil
}

// Column values arrive as encoding/json decodes the OVSDB wire format
// (RFC 7047 §5.1), as ovsdb-server 3.1 writes it for OVN 23.03:
//
//	atom:  "vm2"   2   true   ["uuid","b7bdb7fc-3de4-4bc7-ad20-c39da3db77d4"]
//	set:   ["set",[]]   ["set",["02:00:00:02:00:02 10.0.200.2","unknown"]]
//	       or the bare atom for a set of one: "02:00:00:02:00:01 10.0.200.1"
//	map:   ["map",[["stage-name","ls_in_l2_unknown"],["source","northd.c:8377"]]]
//
// An optional column (min 0, max 1: chassis, parent_port, tag) is a set.

// row is one decoded OVSDB row.
type row map[string]any

// setElems returns the elements of a set value.
func setElems(v any) ([]any, error) {
	arr, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, fmt.Errorf("got null, want an OVSDB value")
		}
		return []any{v}, nil
	}
	if len(arr) == 2 {
		switch arr[0] {
		case "set":
			if elems, ok := arr[1].([]any); ok {
				return elems, nil
			}
		case "uuid":
			return []any{v}, nil
		}
	}
	return nil, fmt.Errorf("got %s, want [\"set\",[...]] or an atom", short(v))
}

func atomString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("got %s, want a string", short(v))
	}
	return s, nil
}

func atomInt(v any) (int64, error) {
	n, ok := v.(float64)
	if !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
		return 0, fmt.Errorf("got %s, want an integer", short(v))
	}
	return int64(n), nil
}

func atomUUID(v any) (string, error) {
	arr, ok := v.([]any)
	if ok && len(arr) == 2 && arr[0] == "uuid" {
		if u, ok := arr[1].(string); ok && u != "" {
			return u, nil
		}
	}
	return "", fmt.Errorf("got %s, want [\"uuid\",\"…\"]", short(v))
}

// short renders a value for an error message, cut to a readable length.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// rowDecoder decodes the columns of one row, keeping the first error with
// the table and column it came from.
type rowDecoder struct {
	table string
	r     row
	err   error
}

func (d *rowDecoder) fail(col string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%s column %s: %w", d.table, col, err)
	}
}

func (d *rowDecoder) value(col string) (any, bool) {
	v, ok := d.r[col]
	if !ok {
		d.fail(col, fmt.Errorf("missing from the reply"))
	}
	return v, ok
}

// opt returns the single element of an optional column, or nil.
func (d *rowDecoder) opt(col string) any {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	elems, err := setElems(v)
	if err != nil {
		d.fail(col, err)
		return nil
	}
	switch len(elems) {
	case 0:
		return nil
	case 1:
		return elems[0]
	default:
		d.fail(col, fmt.Errorf("got %d values, want at most one", len(elems)))
		return nil
	}
}

func (d *rowDecoder) str(col string) string {
	v := d.opt(col)
	if v == nil {
		return ""
	}
	s, err := atomString(v)
	if err != nil {
		d.fail(col, err)
	}
	return s
}

func (d *rowDecoder) integer(col string) int64 {
	v := d.opt(col)
	if v == nil {
		return 0
	}
	n, err := atomInt(v)
	if err != nil {
		d.fail(col, err)
	}
	return n
}

func (d *rowDecoder) uuid(col string) string {
	v := d.opt(col)
	if v == nil {
		return ""
	}
	u, err := atomUUID(v)
	if err != nil {
		d.fail(col, err)
	}
	return u
}

func (d *rowDecoder) strings(col string) []string {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	elems, err := setElems(v)
	if err != nil {
		d.fail(col, err)
		return nil
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		s, err := atomString(e)
		if err != nil {
			d.fail(col, err)
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (d *rowDecoder) smap(col string) map[string]string {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 || arr[0] != "map" {
		d.fail(col, fmt.Errorf("got %s, want [\"map\",[...]]", short(v)))
		return nil
	}
	pairs, ok := arr[1].([]any)
	if !ok {
		d.fail(col, fmt.Errorf("got %s, want [\"map\",[...]]", short(v)))
		return nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		kv, ok := p.([]any)
		if !ok || len(kv) != 2 {
			d.fail(col, fmt.Errorf("map entry %s: want [key,value]", short(p)))
			return nil
		}
		k, err1 := atomString(kv[0])
		val, err2 := atomString(kv[1])
		if err1 != nil || err2 != nil {
			d.fail(col, fmt.Errorf("map entry %s: want string keys and values", short(p)))
			return nil
		}
		m[k] = val
	}
	return m
}

// decodePortBinding decodes a Port_Binding row read with portBindingColumns.
func decodePortBinding(r row) (PortBinding, error) {
	d := rowDecoder{table: "Port_Binding", r: r}
	p := PortBinding{
		UUID:        d.uuid("_uuid"),
		LogicalPort: d.str("logical_port"),
		Type:        d.str("type"),
		Datapath:    d.uuid("datapath"),
		Chassis:     d.uuid("chassis"),
		ParentPort:  d.str("parent_port"),
		Tag:         int(d.integer("tag")),
		TunnelKey:   d.integer("tunnel_key"),
	}
	macs, ps := d.strings("mac"), d.strings("port_security")
	if d.err != nil {
		return PortBinding{}, d.err
	}
	if p.UUID == "" || p.LogicalPort == "" {
		return PortBinding{}, fmt.Errorf("Port_Binding row without _uuid or logical_port: %s", short(map[string]any(r)))
	}
	var err error
	if p.Addresses, p.Unknown, err = ParseAddresses(macs); err != nil {
		return PortBinding{}, fmt.Errorf("Port_Binding %s column mac: %w", p.LogicalPort, err)
	}
	if p.PortSecurity, _, err = ParseAddresses(ps); err != nil {
		return PortBinding{}, fmt.Errorf("Port_Binding %s column port_security: %w", p.LogicalPort, err)
	}
	return p, nil
}

// decodeChassis decodes a Chassis row read with chassisColumns.
func decodeChassis(r row) (Chassis, error) {
	d := rowDecoder{table: "Chassis", r: r}
	c := Chassis{UUID: d.uuid("_uuid"), Name: d.str("name"), Hostname: d.str("hostname")}
	if d.err != nil {
		return Chassis{}, d.err
	}
	if c.UUID == "" || c.Name == "" {
		return Chassis{}, fmt.Errorf("Chassis row without _uuid or name: %s", short(map[string]any(r)))
	}
	return c, nil
}

// decodeLogicalFlow decodes a Logical_Flow row read with logicalFlowColumns.
func decodeLogicalFlow(r row) (LogicalFlow, error) {
	d := rowDecoder{table: "Logical_Flow", r: r}
	f := LogicalFlow{
		UUID:     d.uuid("_uuid"),
		Pipeline: d.str("pipeline"),
		TableID:  int(d.integer("table_id")),
		Priority: int(d.integer("priority")),
		Match:    d.str("match"),
		Actions:  d.str("actions"),
		Datapath: d.uuid("logical_datapath"),
	}
	f.Stage = d.smap("external_ids")["stage-name"]
	if d.err != nil {
		return LogicalFlow{}, d.err
	}
	if _, err := CookieOf(f.UUID); err != nil {
		return LogicalFlow{}, fmt.Errorf("Logical_Flow row: %w", err)
	}
	return f, nil
}

// decodeDatapathName returns the logical switch or router name of a
// Datapath_Binding row (external_ids:name, as ovn-northd sets it).
func decodeDatapathName(r row) (uuid, name string, err error) {
	d := rowDecoder{table: "Datapath_Binding", r: r}
	uuid = d.uuid("_uuid")
	name = d.smap("external_ids")["name"]
	return uuid, name, d.err
}
