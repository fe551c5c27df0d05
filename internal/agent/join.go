package agent

import (
	"net"
	"slices"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// ovsBridgeNames lists the OVS bridges to report: those vswitchd has, else
// (when unixctl is down) those OVSDB knows.
func ovsBridgeNames(p *Poll) []string {
	if p.unixctl != nil {
		return p.unixctl.bridges
	}
	var out []string
	if p.ovsdb != nil {
		for _, b := range p.ovsdb.Bridges {
			if p.cfg.wanted(b.Name) {
				out = append(out, b.Name)
			}
		}
	}
	return out
}

// joinOVS joins what the OVS sources read (OVSDB identity, vswitchd's
// ports and statistics, OpenFlow tables, device counters) into the poll's
// bridges and ports. With OVS absent it adds nothing.
func (a *Agent) joinOVS(p *Poll) {
	for _, n := range ovsBridgeNames(p) {
		b := state.Bridge{Name: n}
		if p.unixctl != nil {
			b.FDB = p.unixctl.fdbStats[n]
		}
		if p.openflow != nil {
			b.Tables, b.NormalRules = p.openflow.tables[n], p.openflow.rules[n]
		}
		if p.ovsdb != nil {
			for _, tb := range p.ovsdb.Bridges {
				if tb.Name == n {
					b.DatapathType, b.MACTableSize, b.MACAgingTime = tb.DatapathType, tb.MACTableSize, tb.MACAgingTime
				}
			}
		}
		p.bridges = append(p.bridges, b)
	}
	if ports := a.ovsPorts(p); p.ports == nil {
		p.ports = ports // the usual case: no copy
	} else {
		p.ports = append(p.ports, ports...)
	}
	p.sentNow = a.sentSpare
	clear(p.sentNow)
	counters := make([]state.Counters, len(p.ports)) // one block, not one per port
	for i := range p.ports {
		addCounters(p, &a.devGroups, i, &p.ports[i], &counters[i])
	}
}

// ovsPorts lists OVS's ports with their identity, by name: from OVSDB,
// plus the ports vswitchd has that OVSDB did not tell about (OVSDB down).
// The list is new every poll (it is the snapshot's); what it is copied
// from is rebuilt only when the OVSDB topology or vswitchd's ports change.
func (a *Agent) ovsPorts(p *Poll) []state.Port {
	var from portsFrom
	from.ovsdb, from.cfg = p.ovsdb, p.cfg
	if p.unixctl != nil {
		from.unixctl, from.dpif = true, p.unixctl.topoID
	}
	if from.dpif == 0 && from.unixctl || from != a.portList.from {
		a.portList = portList{from: from, ports: a.listPorts(p)}
	}
	if a.portList.ports == nil {
		return nil
	}
	out := slices.Clone(a.portList.ports)
	var vmDev *netdev.VMDevices
	if p.netlink != nil {
		vmDev = netdev.NewVMDevices(p.netlink) // indexes devices once, not once per port
	}
	for i := range out {
		out[i].Device = out[i].Name
		if vmDev != nil {
			out[i].Device = vmDev.Resolve(out[i].Name)
		}
	}
	return out
}

// portList is the agent's last list of OVS ports (without devices), and
// what it was listed from.
type portList struct {
	from  portsFrom
	ports []state.Port
}

// portsFrom identifies the inputs of a port list: the OVSDB topology and
// vswitchd's ports are kept, unmodified, while they stay the same.
type portsFrom struct {
	ovsdb   *ovsdb.Topology
	cfg     *Config
	unixctl bool
	dpif    uint64 // unixctlView.topoID; 0 when unknown
}

// listPorts lists OVS's ports with their identity, sorted by name.
func (a *Agent) listPorts(p *Poll) []state.Port {
	var out []state.Port
	seen := a.portSeen
	clear(seen)
	if p.ovsdb != nil {
		for _, b := range p.ovsdb.Bridges {
			if !p.cfg.wanted(b.Name) {
				continue
			}
			if out == nil {
				out = make([]state.Port, 0, len(b.Ports)*len(p.ovsdb.Bridges))
			}
			for j := range b.Ports {
				port := &b.Ports[j] // not copied: read once, and large
				sp := state.Port{Bridge: b.Name, Name: port.Name, OFPort: -1, VLAN: port.Tag}
				if len(port.Interfaces) > 0 {
					i := &port.Interfaces[0]
					sp.OFPort, sp.Type = i.OFPort, i.Type
					sp.IfaceID, sp.AttachedMAC, sp.VMUUID = i.IfaceID, i.AttachedMAC, i.VMUUID
				}
				out, seen = appendPort(out, seen, sp)
			}
		}
	}
	if v := p.unixctl; v != nil {
		for name, dp := range v.ports {
			if !seen[name] {
				out, seen = appendPort(out, seen, state.Port{Bridge: p.intern(v.portBr[name]), Name: p.intern(name),
					OFPort: int(dp.OFPort), VLAN: -1, Type: p.intern(dp.Type)})
			}
		}
	}
	slices.SortFunc(out, func(x, y state.Port) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// appendPort adds port, or replaces the port of that name listed before
// (a name is unique on a host; the last listing wins).
func appendPort(out []state.Port, seen map[string]bool, port state.Port) ([]state.Port, map[string]bool) {
	if seen[port.Name] {
		for i := range out {
			if out[i].Name == port.Name {
				out[i] = port
			}
		}
		return out, seen
	}
	seen[port.Name] = true
	return append(out, port), seen
}

// addCounters attaches the counters of port's VM-facing device, made
// monotonic, in slot, and notes what the VM sent this poll (for the
// bounded dump). port is the i-th of the poll's ports, whose counters are
// looked up through memo.
func addCounters(p *Poll, memo *groupMemo, i int, port *state.Port, slot *state.Counters) {
	if p.netlink == nil || port.Counters != nil {
		return
	}
	d, ok := netdev.Find(p.netlink, port.Device)
	if !ok {
		return
	}
	g := p.counters.groupAt(memo, i, groupKey{kind: "dev", bridge: port.Bridge, name: port.Name}, p.Time)
	var sent uint64
	*slot, sent = g.counters(d.Counters)
	port.Counters = slot
	p.sentNow[port.Name] = sent
}

// isEndpoint says whether copies delivered to p are leaks: ports with a
// Neutron/Nova identity lead to a single VM (or router/DHCP namespace).
func isEndpoint(p state.Port) bool {
	return p.IfaceID != "" || p.AttachedMAC != "" || p.VMUUID != ""
}

func parseMAC(s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil {
		return nil
	}
	return m
}

// withMACs adds the MACs (OVN addresses) a port owns beyond its attached MAC.
func withMACs(p detect.Port, macs []string) detect.Port {
	for _, m := range macs {
		if hw := parseMAC(m); hw != nil {
			p.MACs = append(p.MACs, hw)
		}
	}
	return p
}
