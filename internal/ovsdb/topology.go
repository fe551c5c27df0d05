package ovsdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
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

// The columns read. _uuid links the rows.
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
// s (nil: unknown), in the order topologyRows.add expects.
func planTopology(s *schema) ([]ovsdbrpc.Select, error) {
	var ops []ovsdbrpc.Select
	for _, t := range []tableRead{readBridge, readPort, readInterface, readOpenVSwitch} {
		op, err := t.plan(s)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// The ops of planTopology, by index.
const (
	opBridge = iota
	opPort
	opInterface
	opOpenVSwitch
)

// Topology reads bridges, ports and interfaces in one transaction.
func (c *Client) Topology(ctx context.Context) (Topology, error) {
	var t Topology
	err := c.do(ctx, func(ctx context.Context, s *session) error {
		var rows topologyRows
		if err := s.selectRows(ctx, database, s.topo, rows.add); err != nil {
			return fmt.Errorf("reading topology from %s: %w", s.addr, err)
		}
		var err error
		if t, err = rows.build(); err != nil {
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
		rows := 0
		err := s.selectRows(ctx, database, []ovsdbrpc.Select{s.curCfg}, func(_ int, r ovsdbrpc.Row) error {
			rows++
			var err error
			cfg, err = decodeCurCfg(r)
			return err
		})
		if err == nil && rows != 1 {
			err = fmt.Errorf("got %d rows, want 1", rows)
		}
		if err != nil {
			return fmt.Errorf("reading Open_vSwitch.cur_cfg from %s: %w", s.addr, err)
		}
		return nil
	})
	return cfg, err
}

// decodeCurCfg reads cur_cfg from an Open_vSwitch row.
func decodeCurCfg(r ovsdbrpc.Row) (int64, error) {
	var cfg int64
	seen := false
	err := r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
		if col == "cur_cfg" {
			seen = true
			cfg, err = v.Int()
		}
		return err
	})
	if err == nil && !seen {
		err = errors.New("Open_vSwitch row without cur_cfg")
	}
	return cfg, err
}

// topologyRows collects the rows of a Topology transaction as they are
// decoded, linked by uuid once all have arrived.
type topologyRows struct {
	bridges []bridgeRow
	ports   map[string]portRow
	ifaces  map[string]Interface
	roots   []rootRow
}

type bridgeRow struct {
	Bridge
	ports []string
}

type portRow struct {
	Port
	ifaces []string
}

type rootRow struct {
	Topology
	bridges []string
}

// add decodes one row of op (an index into planTopology's ops).
func (t *topologyRows) add(op int, r ovsdbrpc.Row) error {
	switch op {
	case opBridge:
		b, err := decodeBridge(r)
		t.bridges = append(t.bridges, b)
		return err
	case opPort:
		p, err := decodePort(r)
		if t.ports == nil {
			t.ports = make(map[string]portRow)
		}
		t.ports[p.UUID] = p
		return err
	case opInterface:
		in, err := decodeInterface(r)
		if t.ifaces == nil {
			t.ifaces = make(map[string]Interface)
		}
		t.ifaces[in.UUID] = in
		return err
	case opOpenVSwitch:
		root, err := decodeRoot(r)
		t.roots = append(t.roots, root)
		return err
	}
	return fmt.Errorf("rows of an unplanned select %d", op)
}

// build links the rows into a Topology, everything sorted by name.
func (t *topologyRows) build() (Topology, error) {
	if len(t.roots) != 1 {
		return Topology{}, fmt.Errorf("the transaction returned %d Open_vSwitch rows, want 1", len(t.roots))
	}
	byUUID := make(map[string]Bridge, len(t.bridges))
	for _, br := range t.bridges {
		b := br.Bridge
		for _, u := range br.ports {
			p, ok := t.ports[u]
			if !ok {
				return Topology{}, fmt.Errorf("bridge %s refers to port %s, which the same transaction did not return", b.Name, u)
			}
			port := p.Port
			for _, iu := range p.ifaces {
				in, ok := t.ifaces[iu]
				if !ok {
					return Topology{}, fmt.Errorf("port %s refers to interface %s, which the same transaction did not return", port.Name, iu)
				}
				port.Interfaces = append(port.Interfaces, in)
			}
			slices.SortFunc(port.Interfaces, func(a, b Interface) int {
				return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
			})
			b.Ports = append(b.Ports, port)
		}
		slices.SortFunc(b.Ports, func(a, b Port) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
		})
		byUUID[b.UUID] = b
	}
	topo := t.roots[0].Topology
	for _, u := range t.roots[0].bridges {
		b, ok := byUUID[u]
		if !ok {
			return Topology{}, fmt.Errorf("Open_vSwitch refers to bridge %s, which the same transaction did not return", u)
		}
		topo.Bridges = append(topo.Bridges, b)
	}
	slices.SortFunc(topo.Bridges, func(a, b Bridge) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
	})
	return topo, nil
}

// needUUID checks that a row carried its _uuid, which links it.
func needUUID(table, uuid string) error {
	if uuid == "" {
		return fmt.Errorf("%s row without _uuid", table)
	}
	return nil
}

// decodeRoot decodes the Open_vSwitch row, with its bridge uuids.
func decodeRoot(r ovsdbrpc.Row) (rootRow, error) {
	var root rootRow
	seen := false
	err := r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
		t := &root.Topology
		switch col {
		case "ovs_version":
			t.OVSVersion, err = v.String()
		case "db_version":
			t.DBVersion, err = v.String()
		case "cur_cfg":
			seen = true
			t.CurCfg, err = v.Int()
		case "bridges":
			root.bridges, err = v.UUIDs()
		case "external_ids":
			var ext map[string]string
			ext, err = v.Map()
			t.Hostname, t.SystemID = ext["hostname"], ext["system-id"]
			t.OVNRemote, t.OVNBridge = ext["ovn-remote"], ext["ovn-bridge"]
		}
		return err
	})
	if err == nil && !seen {
		err = errors.New("Open_vSwitch row without cur_cfg")
	}
	return root, err
}

// decodeBridge decodes a Bridge row, with its port uuids.
func decodeBridge(r ovsdbrpc.Row) (bridgeRow, error) {
	var br bridgeRow
	b := &br.Bridge
	err := r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
		switch col {
		case "_uuid":
			b.UUID, err = v.UUID()
		case "name":
			b.Name, err = v.String()
		case "datapath_type":
			b.DatapathType, err = v.String()
		case "protocols":
			b.Protocols, err = v.Strings()
		case "fail_mode":
			b.FailMode, err = v.String()
		case "other_config":
			var oc map[string]string
			oc, err = v.Map()
			// OVS reads these with smap_get_int: a value that is not a
			// number counts as unset.
			b.MACTableSize, _ = strconv.Atoi(oc["mac-table-size"])
			b.MACAgingTime, _ = strconv.Atoi(oc["mac-aging-time"])
		case "ports":
			br.ports, err = v.UUIDs()
		}
		return err
	})
	if err == nil {
		err = needUUID("Bridge", b.UUID)
	}
	return br, err
}

// decodePort decodes a Port row, with its interface uuids.
func decodePort(r ovsdbrpc.Row) (portRow, error) {
	pr := portRow{Port: Port{Tag: -1}}
	p := &pr.Port
	err := r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
		switch col {
		case "_uuid":
			p.UUID, err = v.UUID()
		case "name":
			p.Name, err = v.String()
		case "tag":
			p.Tag, err = optInt(v, -1)
		case "trunks":
			p.Trunks, err = v.Ints()
		case "vlan_mode":
			p.VLANMode, err = v.String()
		case "interfaces":
			pr.ifaces, err = v.UUIDs()
		}
		return err
	})
	if err == nil {
		err = needUUID("Port", p.UUID)
	}
	return pr, err
}

// decodeInterface decodes an Interface row.
func decodeInterface(r ovsdbrpc.Row) (Interface, error) {
	in := Interface{OFPort: -1}
	err := r.Columns(func(col string, v ovsdbrpc.Value) (err error) {
		switch col {
		case "_uuid":
			in.UUID, err = v.UUID()
		case "name":
			in.Name, err = v.String()
		case "type":
			in.Type, err = v.String()
		case "ofport":
			in.OFPort, err = optInt(v, -1)
		case "mac_in_use":
			in.MACInUse, err = v.String()
		case "external_ids":
			in.ExternalIDs, err = v.Map()
		case "options":
			in.Options, err = v.Map()
		case "admin_state":
			in.AdminState, err = v.String()
		case "link_state":
			in.LinkState, err = v.String()
		case "error":
			in.Error, err = v.String()
		}
		return err
	})
	if err == nil {
		err = needUUID("Interface", in.UUID)
	}
	in.IfaceID = in.ExternalIDs["iface-id"]
	in.AttachedMAC = in.ExternalIDs["attached-mac"]
	in.VMUUID = in.ExternalIDs["vm-uuid"]
	return in, err
}

// optInt decodes an optional integer column, none when empty.
func optInt(v ovsdbrpc.Value, none int) (int, error) {
	n, set, err := v.OptInt()
	if err != nil || !set {
		return none, err
	}
	return int(n), nil
}
