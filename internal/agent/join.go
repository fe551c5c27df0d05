package agent

import (
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
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
	p.ports = append(p.ports, a.ovsPorts(p)...)
	p.sentNow = map[string]uint64{}
	for i := range p.ports {
		addCounters(p, &p.ports[i])
	}
}

// ovsPorts lists OVS's ports with their identity, by name: from OVSDB,
// plus the ports vswitchd has that OVSDB did not tell about (OVSDB down).
func (a *Agent) ovsPorts(p *Poll) []state.Port {
	byName := map[string]state.Port{}
	if p.ovsdb != nil {
		for _, b := range p.ovsdb.Bridges {
			if !p.cfg.wanted(b.Name) {
				continue
			}
			for _, port := range b.Ports {
				sp := state.Port{Bridge: b.Name, Name: port.Name, OFPort: -1, VLAN: port.Tag}
				if len(port.Interfaces) > 0 {
					i := port.Interfaces[0]
					sp.OFPort, sp.Type = i.OFPort, i.Type
					sp.IfaceID, sp.AttachedMAC, sp.VMUUID = i.IfaceID, i.AttachedMAC, i.VMUUID
				}
				byName[port.Name] = sp
			}
		}
	}
	if v := p.unixctl; v != nil {
		for name, dp := range v.ports {
			if _, ok := byName[name]; !ok {
				byName[p.intern(name)] = state.Port{Bridge: p.intern(v.portBr[name]), Name: p.intern(name),
					OFPort: int(dp.OFPort), VLAN: -1, Type: p.intern(dp.Type)}
			}
		}
	}
	names := sortedKeys(byName)
	var vmDev map[string]string
	if p.netlink != nil {
		vmDev = netdev.ResolveVMDevices(p.netlink, names) // indexes devices once, not once per port
	}
	out := make([]state.Port, 0, len(byName))
	for _, name := range names {
		port := byName[name]
		port.Device = name
		if vmDev != nil {
			port.Device = vmDev[name]
		}
		out = append(out, port)
	}
	return out
}

// addCounters attaches the counters of port's VM-facing device, made
// monotonic, and notes what the VM sent this poll (for the bounded dump).
func addCounters(p *Poll, port *state.Port) {
	if p.netlink == nil || port.Counters != nil {
		return
	}
	d, ok := netdev.Find(p.netlink, port.Device)
	if !ok {
		return
	}
	c := d.Counters
	k := "dev/" + port.Bridge + "/" + port.Name + "/"
	rxBytes, sent := p.counters.add(k+"rxb", c.RxBytes, p.Time)
	port.Counters = &state.Counters{
		RxBytes: rxBytes, RxPackets: p.counter(k+"rxp", c.RxPackets), RxDropped: p.counter(k+"rxd", c.RxDropped),
		TxBytes: p.counter(k+"txb", c.TxBytes), TxPackets: p.counter(k+"txp", c.TxPackets), TxDropped: p.counter(k+"txd", c.TxDropped),
	}
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
