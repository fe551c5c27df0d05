// Package tunnel maps what the datapath says about encapsulated traffic
// back to the OVS tunnel ports an operator configured.
//
// The datapath knows one shared device per tunnel type and UDP port
// (vxlan_sys_4789, genev_sys_6081, gre_sys), not the OVS ports (vx1, vx2,
// ovn-ch2-0) that own the remote endpoints: a megaflow key says
// in_port(vxlan_sys_4789) with tunnel(tun_id=0x64,src=172.31.0.1,dst=…),
// and a copy that leaves encapsulated says tnl_push(tnl_port(vxlan_sys_4789),
// header(…ipv4(src=…,dst=172.31.0.2…)…vni=0x64…)). A Table built from the
// tunnel ports' OVSDB options (type, remote_ip, local_ip, key, in_key,
// out_key, dst_port) resolves either side to the port, the way
// ovs-vswitchd's own tunnel lookup does: exact remote before remote_ip=flow,
// the key must match unless it is "flow".
//
// Everything here is pure: no I/O, no state between calls.
package tunnel

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Port is one OVS tunnel interface as configured in OVSDB.
type Port struct {
	Bridge string
	Name   string
	// Type is the interface type: vxlan, geneve, gre, stt, erspan, …
	Type string
	// LocalIP and RemoteIP are the endpoints as configured: an IP, "flow"
	// (set per packet by OpenFlow), or "" (local_ip unset: any).
	LocalIP, RemoteIP string
	// InKey and OutKey are the VNI/key expected on receive and set on
	// send: a number, "flow", or "0" when the options name none.
	InKey, OutKey string
	// DstPort is the UDP port (0 for GRE-like types without one).
	DstPort int
	// Unknown lists options OVS does not document for tunnels (a typo such
	// as "remote-ip" is silently ignored by OVS): worth a log line.
	Unknown []string
}

// Key returns the key label for ovs_tunnel_info: the key when in and out
// agree, "in/out" otherwise.
func (p Port) Key() string {
	if p.InKey == p.OutKey {
		return p.InKey
	}
	return p.InKey + "/" + p.OutKey
}

// udpPorts are the default destination ports by tunnel type (vswitch.xml).
var udpPorts = map[string]int{"vxlan": 4789, "geneve": 6081, "stt": 7471, "gtpu": 2152, "bareudp": 0}

// tunnelTypes are the interface types that are tunnels.
var tunnelTypes = map[string]bool{
	"vxlan": true, "geneve": true, "gre": true, "ip6gre": true, "stt": true, "erspan": true,
	"ip6erspan": true, "gtpu": true, "bareudp": true, "lisp": true, "srv6": true,
}

// IsTunnel reports whether an interface type is a tunnel.
func IsTunnel(ifaceType string) bool { return tunnelTypes[ifaceType] }

// documented are the tunnel options in OVS 3.1's vswitch.xml.
var documented = map[string]bool{
	"remote_ip": true, "local_ip": true, "in_key": true, "out_key": true, "key": true, "dst_port": true,
	"tos": true, "ttl": true, "df_default": true, "csum": true, "egress_pkt_mark": true, "exts": true,
	"packet_type": true, "seq": true, "erspan_ver": true, "erspan_idx": true, "erspan_dir": true,
	"erspan_hwid": true, "payload_type": true, "remote_cert": true, "peer_cert": true, "psk": true,
	"srv6_segs": true, "srv6_flowlabel": true, "pmtud": true, "vni": true, "ip_address": true,
}

// FromOptions builds a Port from an interface's OVSDB row:
//
//	type: vxlan   options: {df_default="true", key=flow, local_ip="172.31.0.1", remote_ip="172.31.0.2"}
//	type: geneve  options: {csum="true", key=flow, remote_ip="172.31.1.2"}
//
// It fails when the endpoints or keys are not what OVS accepts (the port is
// then left unresolved rather than guessed); options OVS does not document
// are kept in Unknown.
func FromOptions(bridge, name, ifaceType string, options map[string]string) (Port, error) {
	if !IsTunnel(ifaceType) {
		return Port{}, fmt.Errorf("tunnel port %s: type %q is not a tunnel type", name, ifaceType)
	}
	p := Port{Bridge: bridge, Name: name, Type: ifaceType, RemoteIP: options["remote_ip"], LocalIP: options["local_ip"],
		DstPort: udpPorts[ifaceType]}
	if p.RemoteIP == "" {
		return Port{}, fmt.Errorf("tunnel port %s: options:remote_ip is missing (OVS refuses such a port)", name)
	}
	for what, v := range map[string]string{"remote_ip": p.RemoteIP, "local_ip": p.LocalIP} {
		if v == "" || v == "flow" {
			continue
		}
		if _, err := netip.ParseAddr(v); err != nil {
			return Port{}, fmt.Errorf("tunnel port %s: options:%s=%q is neither an IP nor \"flow\"", name, what, v)
		}
	}
	key := options["key"]
	p.InKey, p.OutKey = firstOf(options["in_key"], key, "0"), firstOf(options["out_key"], key, "0")
	for what, v := range map[string]string{"in_key": p.InKey, "out_key": p.OutKey} {
		if v == "flow" {
			continue
		}
		if _, err := parseKey(v); err != nil {
			return Port{}, fmt.Errorf("tunnel port %s: %s %q is neither a number nor \"flow\"", name, what, v)
		}
	}
	if dp, ok := options["dst_port"]; ok {
		n, err := strconv.Atoi(dp)
		if err != nil || n <= 0 || n > 65535 {
			return Port{}, fmt.Errorf("tunnel port %s: options:dst_port=%q is not a UDP port", name, dp)
		}
		p.DstPort = n
	}
	for k := range options {
		if !documented[k] {
			p.Unknown = append(p.Unknown, k)
		}
	}
	sort.Strings(p.Unknown)
	return p, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseKey reads a tunnel key as OVS writes it in options (decimal or
// 0x-prefixed hex).
func parseKey(s string) (uint64, error) { return strconv.ParseUint(s, 0, 64) }

// Device is a datapath tunnel device, parsed from its name.
type Device struct {
	Type    string
	DstPort int
}

// ParseDevice reads the name OVS gives a datapath tunnel device:
//
//	vxlan_sys_4789   genev_sys_6081   stt_sys_7471   gtpu_sys_2152
//	gre_sys   ip6gre_sys   erspan_sys   ip6erspan_sys
//
// ok is false for any other name.
func ParseDevice(name string) (d Device, ok bool) {
	base, port, hasPort := strings.Cut(name, "_sys_")
	if !hasPort {
		base, ok = strings.CutSuffix(name, "_sys")
		if !ok {
			return Device{}, false
		}
		switch base {
		case "gre", "ip6gre", "erspan", "ip6erspan", "lisp", "srv6":
			return Device{Type: base}, true
		}
		return Device{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return Device{}, false
	}
	switch base {
	case "vxlan", "stt", "gtpu", "bareudp":
		return Device{Type: base, DstPort: n}, true
	case "genev":
		return Device{Type: "geneve", DstPort: n}, true
	}
	return Device{}, false
}

// Table resolves datapath tunnel traffic to OVS tunnel ports. It runs over
// every tunnel megaflow of every poll, so ports are indexed by device and
// remote, and keys are parsed once. A Table is not safe for concurrent use
// (it caches parsed device names).
type Table struct {
	ports []Port
	keys  []portKeys
	// byRemote indexes the ports with a fixed remote_ip, flowBased those
	// with remote_ip=flow, both by the datapath device they use.
	byRemote  map[Device]map[string][]int
	flowBased map[Device][]int
	devices   map[string]devEntry
}

type portKeys struct{ in, out keySpec }

// keySpec is a configured key: "flow" admits any.
type keySpec struct {
	flow bool
	v    uint64
}

func specOf(s string) keySpec {
	if s == "flow" {
		return keySpec{flow: true}
	}
	v, _ := parseKey(s) // FromOptions checked it
	return keySpec{v: v}
}

func (k keySpec) admits(id uint64) bool { return k.flow || k.v == id }

type devEntry struct {
	d  Device
	ok bool
}

// NewTable indexes ports.
func NewTable(ports []Port) *Table {
	t := &Table{ports: slices.Clone(ports), byRemote: map[Device]map[string][]int{}, flowBased: map[Device][]int{},
		devices: map[string]devEntry{}}
	// deterministic tie-breaks: by bridge, then name
	slices.SortFunc(t.ports, func(a, b Port) int {
		if c := strings.Compare(a.Bridge, b.Bridge); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, p := range t.ports {
		t.keys = append(t.keys, portKeys{in: specOf(p.InKey), out: specOf(p.OutKey)})
		d := Device{Type: p.Type, DstPort: p.DstPort}
		if p.RemoteIP == "flow" {
			t.flowBased[d] = append(t.flowBased[d], i)
			continue
		}
		if t.byRemote[d] == nil {
			t.byRemote[d] = map[string][]int{}
		}
		t.byRemote[d][p.RemoteIP] = append(t.byRemote[d][p.RemoteIP], i)
	}
	return t
}

// Ports returns the indexed ports, sorted by bridge and name.
func (t *Table) Ports() []Port { return t.ports }

func (t *Table) device(name string) (Device, bool) {
	e, ok := t.devices[name]
	if !ok {
		e.d, e.ok = ParseDevice(name)
		if len(t.devices) < 64 {
			t.devices[name] = e
		}
	}
	return e.d, e.ok
}

// Ingress resolves a packet that arrived on datapath device dev with the
// outer header src (the sender), dst (this host) and key id, as printed in
// a megaflow key's tunnel(tun_id=…,src=…,dst=…). The reason explains a miss.
func (t *Table) Ingress(dev, src, dst string, id uint64) (p Port, reason string, ok bool) {
	d, ok := t.device(dev)
	if !ok {
		return Port{}, fmt.Sprintf("%s is not a datapath tunnel device", dev), false
	}
	if src == "" {
		return Port{}, fmt.Sprintf("the megaflow from %s matches no tunnel source", dev), false
	}
	match := func(i int) bool {
		c := t.ports[i]
		return t.keys[i].in.admits(id) && (c.LocalIP == "" || c.LocalIP == "flow" || dst == "" || c.LocalIP == dst)
	}
	if i, ok := first(t.byRemote[d][src], match); ok {
		return t.ports[i], "", true
	}
	if i, ok := first(t.flowBased[d], match); ok {
		return t.ports[i], "", true
	}
	return Port{}, fmt.Sprintf("no %s port with remote_ip %s, key %#x, dst_port %d", d.Type, src, id, d.DstPort), false
}

// Egress resolves a copy sent through datapath tunnel device dev (tnl_port
// of tnl_push, or the vport after set(tunnel(…))) to remote with key id.
// A flow-based port (remote_ip=flow) is found from the header's remote.
func (t *Table) Egress(dev, remote string, id uint64) (p Port, reason string, ok bool) {
	d, ok := t.device(dev)
	if !ok {
		return Port{}, fmt.Sprintf("%s is not a datapath tunnel device", dev), false
	}
	match := func(i int) bool { return t.keys[i].out.admits(id) }
	if i, ok := first(t.byRemote[d][remote], match); ok {
		return t.ports[i], "", true
	}
	if i, ok := first(t.flowBased[d], match); ok {
		return t.ports[i], "", true
	}
	return Port{}, fmt.Sprintf("no %s port with remote_ip %s, key %#x, dst_port %d", d.Type, remote, id, d.DstPort), false
}

func first(idx []int, match func(int) bool) (int, bool) {
	for _, i := range idx {
		if match(i) {
			return i, true
		}
	}
	return 0, false
}
