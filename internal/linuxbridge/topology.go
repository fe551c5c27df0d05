package linuxbridge

import (
	"context"
	"sort"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// DeviceReader reads the devices (kinds, masters, counters) of the
// namespace the bridges live in: a *netdev.NetlinkReader opened there
// (NewDeviceReaderIn for a namespace other than the agent's). Devices of
// other namespaces it may walk (netdev.Device.Netns set) are ignored.
type DeviceReader interface {
	Devices(ctx context.Context) (map[string]netdev.Device, error)
}

// ownDevices keeps the devices of the reader's own namespace.
func ownDevices(all map[string]netdev.Device) map[string]netdev.Device {
	out := make(map[string]netdev.Device, len(all))
	for _, d := range all {
		if d.Netns == "" {
			out[d.Name] = d
		}
	}
	return out
}

// Reader reads the Linux bridges of a host.
type Reader interface {
	// Read returns the bridges, their ports (with counters) and their FDBs.
	Read(ctx context.Context) (Topology, error)
}

// assemble builds the topology from an AF_BRIDGE link dump and the
// namespace's devices: bridges are the masters that the devices call
// "bridge" (an OVS datapath or a bond is a master too, but never
// AF_BRIDGE's); ports are the links enslaved to them.
func assemble(links []bridgeLink, devs map[string]netdev.Device) Topology {
	kind := make(map[int]netdev.Device, len(devs))
	for _, d := range devs {
		kind[d.Index] = d
	}
	var t Topology
	names := make(map[int]string)
	for _, l := range links {
		names[l.Index] = l.Name
	}
	masters := make(map[int]bool)
	for _, l := range links {
		if l.Master == 0 || !l.HasProtinfo {
			continue
		}
		if d, ok := kind[l.Master]; ok && d.Kind != "bridge" {
			continue
		}
		d := kind[l.Index]
		var peer string
		if d.PeerIndex != 0 {
			peer = kind[d.PeerIndex].Name
		}
		t.Ports = append(t.Ports, Port{
			Name: l.Name, Index: l.Index, MasterIndex: l.Master, No: l.No, Kind: d.Kind, MAC: l.MAC, Peer: peer,
			Learning: l.Learning, UnicastFlood: l.UnicastFlood, PVID: l.PVID, VLANs: l.VLANs,
			Counters: d.Counters,
		})
		masters[l.Master] = true
	}
	for idx := range masters {
		name := names[idx]
		if name == "" {
			for _, d := range devs {
				if d.Index == idx {
					name = d.Name
				}
			}
		}
		t.Bridges = append(t.Bridges, Bridge{Name: name, Index: idx})
	}
	sort.Slice(t.Bridges, func(i, j int) bool { return t.Bridges[i].Name < t.Bridges[j].Name })
	sort.Slice(t.Ports, func(i, j int) bool { return t.Ports[i].Name < t.Ports[j].Name })
	return t
}

// dropGone removes the bridges marked gone (Index 0) and their ports.
func (t *Topology) dropGone() {
	gone := make(map[int]bool)
	kept := t.Bridges[:0]
	for _, b := range t.Bridges {
		if b.Index == 0 {
			continue
		}
		kept = append(kept, b)
	}
	t.Bridges = kept
	live := make(map[int]bool, len(kept))
	for _, b := range kept {
		live[b.Index] = true
	}
	ports := t.Ports[:0]
	for _, p := range t.Ports {
		if live[p.MasterIndex] {
			ports = append(ports, p)
		} else {
			gone[p.Index] = true
		}
	}
	t.Ports = ports
}

// PortsOf returns the ports of the bridge with ifindex br.
func (t Topology) PortsOf(br int) []Port {
	var out []Port
	for _, p := range t.Ports {
		if p.MasterIndex == br {
			out = append(out, p)
		}
	}
	return out
}

// MinAutoPorts is the port count from which a Linux bridge is watched by
// default: a hybrid-plug qbr (tap + qvb) has two ports and only links one
// VM to OVS, which watches that traffic already.
const MinAutoPorts = 3

// Select returns the bridges to watch. With names, exactly those (the
// --linuxbridge.bridge flag). Without, every bridge with at least
// minPorts ports (MinAutoPorts if minPorts <= 0) none of which is owned
// by OVS: a bridge enslaved to
// OVS, or one of whose ports is an OVS port or a veth whose peer is (a
// qvb whose qvo is on br-int), is left to the OVS sources, so that no
// frame is counted twice. ovsPorts holds the names of OVS ports.
func Select(t Topology, names []string, ovsPorts map[string]bool, minPorts int) []Bridge {
	if minPorts <= 0 {
		minPorts = MinAutoPorts
	}
	var out []Bridge
	if len(names) > 0 {
		want := make(map[string]bool, len(names))
		for _, n := range names {
			want[n] = true
		}
		for _, b := range t.Bridges {
			if want[b.Name] {
				out = append(out, b)
			}
		}
		return out
	}
	for _, b := range t.Bridges {
		if ovsPorts[b.Name] {
			continue
		}
		ports := t.PortsOf(b.Index)
		if len(ports) < minPorts {
			continue
		}
		owned := false
		for _, p := range ports {
			if ovsPorts[p.Name] || (p.Peer != "" && ovsPorts[p.Peer]) {
				owned = true
				break
			}
		}
		if !owned {
			out = append(out, b)
		}
	}
	return out
}

// ParseDumps builds a topology from raw rtnetlink messages, as a reader
// receives them: the payloads of an AF_BRIDGE RTM_GETLINK dump (links),
// of AF_BRIDGE RTM_GETNEIGH dumps (fdb) and the namespace's devices. It is
// what NetlinkReader does minus the sockets, for tests and fakes fed with
// captured output.
func ParseDumps(links, fdb [][]byte, devs map[string]netdev.Device) (Topology, error) {
	ls := make([]bridgeLink, 0, len(links))
	for _, b := range links {
		l, err := parseBridgeLink(b)
		if err != nil {
			return Topology{}, err
		}
		ls = append(ls, l)
	}
	t := assemble(ls, devs)
	for _, b := range fdb {
		e, ok, err := parseFDBEntry(b)
		if err != nil {
			return Topology{}, err
		}
		if ok {
			t.FDB = append(t.FDB, e)
		}
	}
	return t, nil
}
