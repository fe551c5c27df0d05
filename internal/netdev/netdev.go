// Package netdev reads per-device counters and the little topology the
// exporter needs (master bridge, veth peer, device kind) over rtnetlink, for
// the devices behind Open vSwitch ports.
//
// It never forks and never reads sysfs. A poll is one netlink dump per
// network namespace: RTM_GETSTATS asking only for IFLA_STATS_LINK_64, which
// carries counters and ifindexes but no names. Names, kinds, masters and
// peers come from RTM_GETLINK (what netlink.LinkList sends), which is
// cached and dumped again only when the kernel announces a link change on
// an RTNLGRP_LINK subscription, when the set of ifindexes changes, or when
// the cache is older than Options.TopologyMaxAge. Measured here for 1000
// taps in one namespace (go test -bench Netns, 2 busy vCPUs): RTM_GETSTATS
// 0.3–0.5 ms and a whole Devices poll 0.6–0.9 ms with 27 allocations (the
// result map); RTM_GETLINK 4–12 ms, nearly all of it the kernel formatting
// every device's attributes; netlink.LinkList 10–23 ms and 7.9 MB of
// garbage per call.
//
// Devices in the agent's own namespace are keyed by name. Neutron moves some
// OVS internal ports into qrouter-/snat-/qdhcp- namespaces, where names such
// as "lo" repeat, so devices read from a named namespace are keyed
// "ns/name" (see Key); an interface name cannot contain '/', so the two
// never collide.
package netdev

import (
	"context"
	"sort"
	"strings"
)

// Counters are a device's kernel counters, from its own point of view: on
// a VM's tap device, Tx is what the VM received and Rx what it sent.
type Counters struct {
	RxBytes, RxPackets, RxDropped uint64
	TxBytes, TxPackets, TxDropped uint64
}

// Device is one network device and its counters at the time of the poll.
type Device struct {
	// Name is the interface name inside its namespace.
	Name string
	// Index is the ifindex, unique only within the namespace.
	Index int
	// Netns is "" for the agent's own namespace, else the namespace's name
	// under /run/netns.
	Netns string
	// Kind is the rtnetlink link kind: veth, bridge, tun, openvswitch,
	// vxlan, ...; "" for devices without one (physical NICs, lo).
	Kind string
	// MasterIndex is the ifindex of the bridge (Linux bridge, OVS datapath,
	// bond) the device is enslaved to, 0 if none.
	MasterIndex int
	// PeerIndex is the ifindex of a veth's peer when the peer is in the
	// same namespace; 0 if the device is no veth, or the peer is unknown or
	// in another namespace (where its ifindex would mean nothing here).
	PeerIndex int
	// Counters are the device's counters.
	Counters Counters
}

// Key returns the key of the device name of namespace ns in a map returned
// by Reader.Devices: the bare name in the agent's namespace (ns == ""),
// "ns/name" elsewhere.
func Key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// Reader reads the devices of the host.
type Reader interface {
	// Devices returns the devices of the agent's namespace keyed by name
	// and, if the reader walks namespaces, those of other namespaces keyed
	// "ns/name" (see Key).
	Devices(ctx context.Context) (map[string]Device, error)
}

// Filler is a Reader that can also fill a map its caller keeps from one
// read to the next: a poll then does not build a new map of every device.
type Filler interface {
	Reader
	// FillDevices clears devs and fills it with what Devices would
	// return. On error devs holds an unspecified part of the devices.
	FillDevices(ctx context.Context, devs map[string]Device) error
}

// Find returns the device called name: the one in the agent's namespace if
// there is one, else the only device of that name in any other namespace
// (an OVS internal port that Neutron moved into a qrouter- namespace, say).
// It reports false when there is none or the name is ambiguous. The
// fallback scans devs, so callers resolving many names should look up the
// agent's namespace directly first.
func Find(devs map[string]Device, name string) (Device, bool) {
	if d, ok := devs[name]; ok {
		return d, true
	}
	var (
		found Device
		n     int
	)
	for _, d := range devs {
		if d.Name == name && d.Netns != "" {
			found = d
			n++
		}
	}
	return found, n == 1
}

// VMDevices finds, for an OVS port, the device that faces the VM behind
// it. Its zero value resolves nothing; use NewVMDevices.
//
// With the iptables hybrid plug, Nova and Neutron wire a VM as
// tap → qbr (Linux bridge) → qvb ⇄ qvo (veth pair) → OVS, so the OVS port
// is qvoX and the VM's counters are on tapX. If a port is a veth whose peer
// is enslaved to a Linux bridge, it resolves to another port of that
// bridge: the one whose name starts with "tap", the first by name if there
// are several (or no tap* but several others). In every other case (a tap
// directly on OVS, an internal port, an unknown name, a bridge with no
// other port) it resolves to itself.
//
// The devices are indexed once, and only when some port is a veth with a
// known peer: on a host whose VMs plug their taps straight into OVS no
// port needs it.
type VMDevices struct {
	devs map[string]Device
	t    *topology
}

// NewVMDevices returns the VMDevices that resolves ports among devs.
func NewVMDevices(devs map[string]Device) *VMDevices { return &VMDevices{devs: devs} }

// Resolve returns the key of the device that faces the VM behind OVS
// port p (a key of the devices, usually the port's name).
func (r *VMDevices) Resolve(p string) string {
	if d, ok := r.devs[p]; !ok || d.Kind != "veth" || d.PeerIndex == 0 {
		return p
	}
	if r.t == nil {
		r.t = newTopology(r.devs)
	}
	return r.t.resolveVM(p)
}

// nsIndex identifies a device across namespaces.
type nsIndex struct {
	ns    string
	index int
}

// topology indexes a device map by ifindex and by master.
type topology struct {
	devs    map[string]Device
	byIndex map[nsIndex]string   // → key
	ports   map[nsIndex][]string // master → keys of its ports, sorted
}

func newTopology(devs map[string]Device) *topology {
	t := &topology{
		devs:    devs,
		byIndex: make(map[nsIndex]string, len(devs)),
		ports:   make(map[nsIndex][]string),
	}
	for k, d := range devs {
		t.byIndex[nsIndex{d.Netns, d.Index}] = k
		if d.MasterIndex != 0 {
			m := nsIndex{d.Netns, d.MasterIndex}
			t.ports[m] = append(t.ports[m], k)
		}
	}
	for _, ks := range t.ports {
		sort.Strings(ks)
	}
	return t
}

func (t *topology) resolveVM(port string) string {
	d, ok := t.devs[port]
	if !ok || d.Kind != "veth" || d.PeerIndex == 0 {
		return port
	}
	peerKey, ok := t.byIndex[nsIndex{d.Netns, d.PeerIndex}]
	if !ok {
		return port
	}
	peer := t.devs[peerKey]
	if peer.MasterIndex == 0 {
		return port
	}
	br := nsIndex{peer.Netns, peer.MasterIndex}
	if brKey, ok := t.byIndex[br]; !ok || t.devs[brKey].Kind != "bridge" {
		return port // enslaved to OVS, a bond, ...: not a hybrid plug
	}
	var first string
	for _, k := range t.ports[br] { // sorted, so the choice is stable
		if k == peerKey || k == port {
			continue
		}
		if strings.HasPrefix(t.devs[k].Name, "tap") {
			return k
		}
		if first == "" {
			first = k
		}
	}
	if first == "" {
		return port
	}
	return first
}
