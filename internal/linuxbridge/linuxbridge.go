// Package linuxbridge finds unknown-unicast floods on Linux bridges (libvirt
// networks, the Neutron linuxbridge agent, provider bridges), where there
// is no flow table to read: it reads the bridges, their ports and the
// bridge FDB over rtnetlink, and counts the unicast frames every port
// transmits with an eBPF program on the ports' tc egress hook.
//
// A Linux bridge delivers a unicast frame to one port when it has learned
// the destination, and to every port with unicast flooding on (but the one
// it came from) when it has not. A port that transmits a unicast frame
// whose destination is neither learned on that port nor the port's own
// VM's MAC is therefore receiving a flooded copy; the frame's source MAC,
// looked up in the FDB, names the port it entered by. Classify turns the
// kernel's counters into such floods.
package linuxbridge

import (
	"fmt"
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// MAC is an Ethernet address as a comparable value (map keys, counter
// keys), unlike net.HardwareAddr.
type MAC [6]byte

// ParseMAC parses "aa:bb:cc:dd:ee:ff".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("linuxbridge: bad Ethernet address %q", s)
	}
	return MAC(hw), nil
}

// String formats the address as "aa:bb:cc:dd:ee:ff".
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// Unicast reports whether the group bit is clear.
func (m MAC) Unicast() bool { return m[0]&1 == 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// Bridge is one Linux bridge device.
type Bridge struct {
	Name  string
	Index int
	// VLANFiltering is true when the bridge filters by VLAN (then FDB
	// entries and floods are per VLAN).
	VLANFiltering bool
	// AgeingSeconds is how long a learned entry lives without traffic.
	AgeingSeconds int
}

// Port is one device enslaved to a Linux bridge.
type Port struct {
	Name        string
	Index       int
	MasterIndex int
	// No is the port number on its bridge ("port no" of brctl showmacs).
	No int
	// Kind is the rtnetlink kind ("veth", "tun", "vxlan", "" for a NIC).
	Kind string
	// MAC is the port device's own address (on a tap, not the VM's).
	MAC MAC
	// Learning and UnicastFlood are the port's bridge flags
	// ("bridge link set dev X learning on|off flood on|off").
	Learning, UnicastFlood bool
	// PVID is the VLAN untagged frames are classified into, 0 without
	// VLAN filtering.
	PVID int
	// VLANs are the VLANs the port is a member of (VLAN filtering only).
	VLANs []int
	// Peer is the name of a veth port's peer when it is in the same
	// namespace (qvoX for a hybrid plug's qvbX), else "".
	Peer string
	// Counters are the port device's own counters: on a VM's tap,
	// Tx is what the VM received.
	Counters netdev.Counters
}

// FDBEntry is one entry of a bridge's forwarding database.
type FDBEntry struct {
	MAC         MAC
	PortIndex   int
	MasterIndex int
	VLAN        int
	// Local marks the bridge's and ports' own addresses (permanent).
	Local bool
	// Static marks entries added by hand or by a manager ("static").
	Static bool
}

// Topology is what the bridges look like at one poll.
type Topology struct {
	Bridges []Bridge
	Ports   []Port
	FDB     []FDBEntry
}

// Count is the kernel's counter for one (egress port, destination,
// source) triple: frames and bytes, cumulative since the entry appeared.
type Count struct {
	Ifindex  int
	Dst, Src MAC
	Packets  uint64
	Bytes    uint64
}
