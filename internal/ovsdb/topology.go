package ovsdb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// OVS's defaults for the bridge settings a Bridge reports as 0 when unset
// (vswitchd.conf.db(5), other_config:mac-table-size and mac-aging-time).
const (
	DefaultMACTableSize = 8192
	DefaultMACAgingTime = 300
)

// Topology is the switch configuration as ovs-vswitchd last applied it.
type Topology struct {
	// OVSVersion and DBVersion are Open_vSwitch.ovs_version and db_version,
	// which ovs-ctl sets at start; empty when OVS was started otherwise.
	OVSVersion string `json:"ovs_version,omitempty"`
	DBVersion  string `json:"db_version,omitempty"`
	// SchemaVersion is the version of the schema ovsdb-server serves;
	// empty when the server does not publish schemas (before OVS 2.9).
	SchemaVersion string `json:"schema_version,omitempty"`
	// CurCfg is the configuration sequence number ovs-vswitchd has applied.
	CurCfg int64 `json:"cur_cfg"`
	// Hostname and SystemID are external_ids:hostname and system-id.
	Hostname string `json:"hostname,omitempty"`
	SystemID string `json:"system_id,omitempty"`
	// OVNRemote and OVNBridge are external_ids:ovn-remote (the OVN
	// Southbound ovn-controller reads) and ovn-bridge (its integration
	// bridge, br-int when unset); OVNRemote is empty on a host without OVN.
	OVNRemote string `json:"ovn_remote,omitempty"`
	OVNBridge string `json:"ovn_bridge,omitempty"`
	// Bridges are sorted by name.
	Bridges []Bridge `json:"bridges"`
}

// Bridge is one OVS bridge.
type Bridge struct {
	Name         string   `json:"name"`
	UUID         string   `json:"uuid"`
	DatapathType string   `json:"datapath_type,omitempty"` // "" means system
	Protocols    []string `json:"protocols,omitempty"`
	FailMode     string   `json:"fail_mode,omitempty"`
	// MACTableSize and MACAgingTime are other_config:mac-table-size and
	// mac-aging-time, 0 when unset or not a number (OVS then uses
	// DefaultMACTableSize and DefaultMACAgingTime).
	MACTableSize int `json:"mac_table_size,omitempty"`
	MACAgingTime int `json:"mac_aging_time,omitempty"`
	// Ports are sorted by name, the bridge's own internal port included.
	Ports []Port `json:"ports"`
}

// Port is one port of a bridge.
type Port struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
	// Tag is the access VLAN (or a trunk's native VLAN), -1 when none.
	Tag      int    `json:"tag"`
	Trunks   []int  `json:"trunks,omitempty"`
	VLANMode string `json:"vlan_mode,omitempty"`
	// Interfaces are sorted by name; a bond has several.
	Interfaces []Interface `json:"interfaces"`
}

// Interface is one interface of a port.
type Interface struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
	Type string `json:"type,omitempty"` // "" for a system device, else internal, patch, vxlan, …
	// OFPort is the OpenFlow port number: -1 when unset (not yet
	// configured) and also when OVS failed to open the device (see Error).
	OFPort   int    `json:"ofport"`
	MACInUse string `json:"mac_in_use,omitempty"`
	// IfaceID, AttachedMAC and VMUUID are external_ids:iface-id (the Neutron
	// port), attached-mac (the VM's MAC) and vm-uuid (the Nova instance).
	IfaceID     string            `json:"iface_id,omitempty"`
	AttachedMAC string            `json:"attached_mac,omitempty"`
	VMUUID      string            `json:"vm_uuid,omitempty"`
	ExternalIDs map[string]string `json:"external_ids,omitempty"`
	// Options holds type-specific settings: peer for patch ports,
	// remote_ip/local_ip/key for tunnels.
	Options    map[string]string `json:"options,omitempty"`
	AdminState string            `json:"admin_state,omitempty"`
	LinkState  string            `json:"link_state,omitempty"`
	// Error is why OVS could not set the interface up, if it could not.
	Error string `json:"error,omitempty"`
}

// Bridge returns the bridge named name.
func (t Topology) Bridge(name string) (Bridge, bool) {
	for _, b := range t.Bridges {
		if b.Name == name {
			return b, true
		}
	}
	return Bridge{}, false
}

// Port returns the port named name.
func (b Bridge) Port(name string) (Port, bool) {
	for _, p := range b.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// Clone returns a deep copy of t, which the caller may modify.
func (t Topology) Clone() Topology {
	t.Bridges = slices.Clone(t.Bridges)
	for i := range t.Bridges {
		b := &t.Bridges[i]
		b.Protocols = slices.Clone(b.Protocols)
		b.Ports = slices.Clone(b.Ports)
		for j := range b.Ports {
			p := &b.Ports[j]
			p.Trunks = slices.Clone(p.Trunks)
			p.Interfaces = slices.Clone(p.Interfaces)
			for k := range p.Interfaces {
				in := &p.Interfaces[k]
				in.ExternalIDs = cloneMap(in.ExternalIDs)
				in.Options = cloneMap(in.Options)
			}
		}
	}
	return t
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// The columns read. _uuid links the rows; the Open_vSwitch row comes last
// in the transaction (see planTopology).
var (
	readBridge = tableRead{table: "Bridge", columns: []column{
		{"_uuid", true}, {"name", true}, {"ports", true},
		{"datapath_type", false}, {"other_config", false}, {"protocols", false}, {"fail_mode", false},
	}}
	readPort = tableRead{table: "Port", columns: []column{
		{"_uuid", true}, {"name", true}, {"interfaces", true}, {"tag", true},
		{"trunks", false}, {"vlan_mode", false},
	}}
	readInterface = tableRead{table: "Interface", columns: []column{
		{"_uuid", true}, {"name", true}, {"type", true}, {"ofport", true}, {"external_ids", true},
		{"mac_in_use", false}, {"options", false}, {"admin_state", false}, {"link_state", false}, {"error", false},
	}}
	readOpenVSwitch = tableRead{table: "Open_vSwitch", columns: []column{
		{"cur_cfg", true}, {"bridges", true},
		{"ovs_version", false}, {"db_version", false}, {"external_ids", false},
	}}
	readCurCfg = tableRead{table: "Open_vSwitch", columns: []column{{"cur_cfg", true}}}
)

// planTopology returns the selects of one Topology transaction for schema
// s (nil: unknown). The root table goes last: ovsdb-server stops at the
// first failing op, and go-openvswitch drops the error, so the Open_vSwitch
// row (there is always exactly one) arriving proves that every op ran.
func planTopology(s *schema) ([]selectOp, error) {
	var ops []selectOp
	for _, t := range []tableRead{readBridge, readPort, readInterface, readOpenVSwitch} {
		op, err := t.plan(s)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Topology reads bridges, ports and interfaces in one transaction.
func (c *Client) Topology(ctx context.Context) (Topology, error) {
	var t Topology
	err := c.do(ctx, func(ctx context.Context, s *session) error {
		rows, err := s.selectRows(ctx, database, s.topo...)
		if err != nil {
			return fmt.Errorf("reading topology from %s: %w", s.addr, err)
		}
		if t, err = buildTopology(s.topo, rows); err != nil {
			return fmt.Errorf("reading topology from %s: %w", s.addr, err)
		}
		if s.schema != nil {
			t.SchemaVersion = s.schema.version
		}
		return nil
	})
	return t, err
}

// CurCfg reads Open_vSwitch.cur_cfg alone: the sequence number of the
// configuration ovs-vswitchd has applied. Writers that wait for vswitchd
// bump it with every change (ovs-vsctl without --no-wait, and ovsdbapp's
// Open_vSwitch transactions, used by Neutron and os-vif, which increment
// next_cfg), so a changed value means the topology is worth reading again.
// Writers that do not wait (ovs-vsctl --no-wait) leave it alone until the
// next bump: re-read the topology now and then regardless.
func (c *Client) CurCfg(ctx context.Context) (int64, error) {
	var cfg int64
	err := c.do(ctx, func(ctx context.Context, s *session) error {
		rows, err := s.selectRows(ctx, database, s.curCfg)
		if err != nil {
			return fmt.Errorf("reading Open_vSwitch.cur_cfg from %s: %w", s.addr, err)
		}
		if len(rows) != 1 {
			return fmt.Errorf("reading Open_vSwitch.cur_cfg from %s: got %d rows, want 1", s.addr, len(rows))
		}
		d := rowDecoder{table: "Open_vSwitch", row: rows[0]}
		cfg = d.int("cur_cfg")
		return d.err
	})
	return cfg, err
}

// buildTopology assembles the rows of the ops from planTopology (in their
// order, flattened) into a Topology.
func buildTopology(ops []selectOp, rows []ovsdb.Row) (Topology, error) {
	byOp, err := groupRows(ops, rows)
	if err != nil {
		return Topology{}, err
	}
	bridgeRows, portRows, ifaceRows, rootRows := byOp[0], byOp[1], byOp[2], byOp[3]
	if len(rootRows) != 1 {
		// Zero: an op failed and ovsdb-server skipped the rest; the schema
		// check at connect time should have caught why.
		return Topology{}, fmt.Errorf("the transaction returned %d Open_vSwitch rows, want 1 (a select failed?)", len(rootRows))
	}
	ifaces, err := decodeInterfaces(ifaceRows)
	if err != nil {
		return Topology{}, err
	}
	ports, err := decodePorts(portRows, ifaces)
	if err != nil {
		return Topology{}, err
	}
	bridges, err := decodeBridges(bridgeRows, ports)
	if err != nil {
		return Topology{}, err
	}
	t, refs, err := decodeRoot(rootRows[0])
	if err != nil {
		return Topology{}, err
	}
	for _, u := range refs {
		b, ok := bridges[u]
		if !ok {
			return Topology{}, fmt.Errorf("Open_vSwitch refers to bridge %s, which the same transaction did not return", u)
		}
		t.Bridges = append(t.Bridges, b)
	}
	slices.SortFunc(t.Bridges, func(a, b Bridge) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
	})
	return t, nil
}

// groupRows splits the flattened rows of a transaction back into the rows
// of each op. Rows come in op order; each op names a different set of
// columns and every row carries exactly its op's columns.
func groupRows(ops []selectOp, rows []ovsdb.Row) ([][]ovsdb.Row, error) {
	byOp := make([][]ovsdb.Row, len(ops))
	i := 0
	for _, row := range rows {
		for i < len(ops) && !rowMatches(row, ops[i].columns) {
			i++
		}
		if i == len(ops) {
			return nil, fmt.Errorf("a row with columns %v answers none of the selects", rowColumns(row))
		}
		byOp[i] = append(byOp[i], row)
	}
	return byOp, nil
}

// decodeInterfaces decodes Interface rows, by uuid.
func decodeInterfaces(rows []ovsdb.Row) (map[string]Interface, error) {
	ifaces := make(map[string]Interface, len(rows))
	for _, r := range rows {
		in, err := decodeInterface(r)
		if err != nil {
			return nil, err
		}
		ifaces[in.UUID] = in
	}
	return ifaces, nil
}

// decodePorts decodes Port rows, by uuid, with their interfaces attached
// in name order.
func decodePorts(rows []ovsdb.Row, ifaces map[string]Interface) (map[string]Port, error) {
	ports := make(map[string]Port, len(rows))
	for _, r := range rows {
		p, refs, err := decodePort(r)
		if err != nil {
			return nil, err
		}
		for _, u := range refs {
			in, ok := ifaces[u]
			if !ok {
				return nil, fmt.Errorf("port %s refers to interface %s, which the same transaction did not return", p.Name, u)
			}
			p.Interfaces = append(p.Interfaces, in)
		}
		slices.SortFunc(p.Interfaces, func(a, b Interface) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
		})
		ports[p.UUID] = p
	}
	return ports, nil
}

// decodeBridges decodes Bridge rows, by uuid, with their ports attached in
// name order.
func decodeBridges(rows []ovsdb.Row, ports map[string]Port) (map[string]Bridge, error) {
	bridges := make(map[string]Bridge, len(rows))
	for _, r := range rows {
		b, refs, err := decodeBridge(r)
		if err != nil {
			return nil, err
		}
		for _, u := range refs {
			p, ok := ports[u]
			if !ok {
				return nil, fmt.Errorf("bridge %s refers to port %s, which the same transaction did not return", b.Name, u)
			}
			b.Ports = append(b.Ports, p)
		}
		slices.SortFunc(b.Ports, func(a, b Port) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
		})
		bridges[b.UUID] = b
	}
	return bridges, nil
}

// rowMatches reports whether row has exactly the given columns.
func rowMatches(row ovsdb.Row, columns []string) bool {
	if len(row) != len(columns) {
		return false
	}
	for _, c := range columns {
		if _, ok := row[c]; !ok {
			return false
		}
	}
	return true
}

func rowColumns(row ovsdb.Row) []string {
	cols := make([]string, 0, len(row))
	for c := range row {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	return cols
}

// decodeRoot decodes the Open_vSwitch row, returning the bridge uuids.
func decodeRoot(r ovsdb.Row) (Topology, []string, error) {
	d := rowDecoder{table: "Open_vSwitch", row: r}
	ext := d.smap("external_ids")
	t := Topology{
		OVSVersion: d.str("ovs_version"),
		DBVersion:  d.str("db_version"),
		CurCfg:     d.int("cur_cfg"),
		Hostname:   ext["hostname"],
		SystemID:   ext["system-id"],
		OVNRemote:  ext["ovn-remote"],
		OVNBridge:  ext["ovn-bridge"],
	}
	refs := d.uuids("bridges")
	return t, refs, d.err
}

// decodeBridge decodes a Bridge row, returning the port uuids.
func decodeBridge(r ovsdb.Row) (Bridge, []string, error) {
	d := rowDecoder{table: "Bridge", row: r}
	b := Bridge{
		UUID:         d.uuid("_uuid"),
		Name:         d.str("name"),
		DatapathType: d.str("datapath_type"),
		Protocols:    d.strs("protocols"),
		FailMode:     d.str("fail_mode"),
	}
	oc := d.smap("other_config")
	// OVS reads these with smap_get_int: a value that is not a number
	// counts as unset.
	b.MACTableSize, _ = strconv.Atoi(oc["mac-table-size"])
	b.MACAgingTime, _ = strconv.Atoi(oc["mac-aging-time"])
	refs := d.uuids("ports")
	return b, refs, d.err
}

// decodePort decodes a Port row, returning the interface uuids.
func decodePort(r ovsdb.Row) (Port, []string, error) {
	d := rowDecoder{table: "Port", row: r}
	p := Port{
		UUID:     d.uuid("_uuid"),
		Name:     d.str("name"),
		Tag:      d.optInt("tag", -1),
		Trunks:   d.ints("trunks"),
		VLANMode: d.str("vlan_mode"),
	}
	refs := d.uuids("interfaces")
	return p, refs, d.err
}

// decodeInterface decodes an Interface row.
func decodeInterface(r ovsdb.Row) (Interface, error) {
	d := rowDecoder{table: "Interface", row: r}
	in := Interface{
		UUID:        d.uuid("_uuid"),
		Name:        d.str("name"),
		Type:        d.str("type"),
		OFPort:      d.optInt("ofport", -1),
		MACInUse:    d.str("mac_in_use"),
		ExternalIDs: d.smap("external_ids"),
		Options:     d.smap("options"),
		AdminState:  d.str("admin_state"),
		LinkState:   d.str("link_state"),
		Error:       d.str("error"),
	}
	in.IfaceID = in.ExternalIDs["iface-id"]
	in.AttachedMAC = in.ExternalIDs["attached-mac"]
	in.VMUUID = in.ExternalIDs["vm-uuid"]
	return in, d.err
}

// rowDecoder decodes the columns of one row, keeping the first error (with
// the table, row and column it happened in) so that decoding reads as a
// list of fields. A column absent from the row was left out of the select
// because the schema lacks it, and decodes as empty.
type rowDecoder struct {
	table string
	row   ovsdb.Row
	err   error
}

func (d *rowDecoder) value(col string) (any, bool) {
	if d.err != nil {
		return nil, false
	}
	v, ok := d.row[col]
	return v, ok
}

func (d *rowDecoder) fail(col string, err error) {
	id := "?"
	if u, e := atomUUID(d.row["_uuid"]); e == nil {
		id = u
	}
	if n, ok := d.row["name"].(string); ok {
		id = n
	}
	d.err = fmt.Errorf("%s row %s: column %s: %w", d.table, id, col, err)
}

func (d *rowDecoder) str(col string) string {
	v, ok := d.value(col)
	if !ok {
		return ""
	}
	s, err := decodeString(v)
	if err != nil {
		d.fail(col, err)
	}
	return s
}

func (d *rowDecoder) strs(col string) []string {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	s, err := decodeStrings(v)
	if err != nil {
		d.fail(col, err)
	}
	return s
}

func (d *rowDecoder) int(col string) int64 {
	v, ok := d.value(col)
	if !ok {
		if d.err == nil {
			d.fail(col, fmt.Errorf("missing"))
		}
		return 0
	}
	n, err := decodeInt(v)
	if err != nil {
		d.fail(col, err)
	}
	return n
}

// optInt decodes an optional integer column, none when empty.
func (d *rowDecoder) optInt(col string, none int) int {
	v, ok := d.value(col)
	if !ok {
		return none
	}
	n, set, err := decodeOptInt(v)
	if err != nil {
		d.fail(col, err)
	}
	if !set {
		return none
	}
	return int(n)
}

func (d *rowDecoder) ints(col string) []int {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	n, err := decodeInts(v)
	if err != nil {
		d.fail(col, err)
	}
	return n
}

func (d *rowDecoder) uuid(col string) string {
	v, ok := d.value(col)
	if !ok {
		if d.err == nil {
			d.fail(col, fmt.Errorf("missing"))
		}
		return ""
	}
	u, err := decodeUUID(v)
	if err != nil {
		d.fail(col, err)
	}
	return u
}

func (d *rowDecoder) uuids(col string) []string {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	u, err := decodeUUIDs(v)
	if err != nil {
		d.fail(col, err)
	}
	return u
}

func (d *rowDecoder) smap(col string) map[string]string {
	v, ok := d.value(col)
	if !ok {
		return nil
	}
	m, err := decodeMap(v)
	if err != nil {
		d.fail(col, err)
	}
	return m
}
