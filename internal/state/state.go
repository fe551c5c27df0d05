// Package state holds the immutable view of a host that the poller
// publishes after every poll and that collectors, the landing page and the
// check command read. Nothing in here talks to OVS.
package state

import (
	"sync/atomic"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
)

// Source names, used as the "source" label.
const (
	SourceUnixctl  = "unixctl"
	SourceOVSDB    = "ovsdb"
	SourceNetlink  = "netlink"
	SourceOpenFlow = "openflow"
	SourceFDB      = "fdb"
	// SourceOVN reads the OVN Southbound named by external_ids:ovn-remote;
	// on a host without OVN it has nothing to read and stays up.
	SourceOVN = "ovn"
	// SourceLinuxBridge reads Linux bridges (libvirt, Neutron linuxbridge)
	// and the frames they flood.
	SourceLinuxBridge = "linuxbridge"
)

// VLANOther is the VLAN of the flood counters that sum an in_port's VLANs
// beyond the agent's cap (its label value is "other"): a trunk port can
// flood on any of 4,094 VLANs, and each must not become a series.
const VLANOther = label.OtherVLAN

// Sources lists every source that is always wired, in label order.
var Sources = []string{SourceUnixctl, SourceOVSDB, SourceNetlink, SourceOpenFlow, SourceFDB, SourceOVN}

// OptionalSources are sources that may not be wired (--linuxbridge.enabled
// =false): they are reported only when a snapshot has their status.
var OptionalSources = []string{SourceLinuxBridge}

// SourcesOf lists the sources s has a status for, in label order: every
// one of Sources, then the optional sources that were read.
func SourcesOf(s *Snapshot) []string {
	out := append([]string(nil), Sources...)
	for _, name := range OptionalSources {
		if _, ok := s.Sources[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// SourceStatus is how reading one source went in the last poll.
type SourceStatus struct {
	Up       bool
	Duration time.Duration
	// Err is the last error, worded for an operator (cause and fix).
	Err string
}

// FDB is a bridge's MAC-learning table statistics (fdb/stats-show).
type FDB struct {
	Entries, Max, Static             uint64
	Learned, Expired, Evicted, Moved uint64
}

// Table is one OpenFlow table's statistics.
type Table struct {
	ID               uint8
	Rules            uint32
	Lookups, Matches uint64
}

// Rule is an OpenFlow rule whose actions include NORMAL.
type Rule struct {
	Table          uint8
	Priority       uint16
	Cookie         uint64
	Packets, Bytes uint64
	Match          string
}

// Bridge is one bridge's state.
type Bridge struct {
	Name         string
	DatapathType string
	// FDB is nil when fdb/stats-show could not be read this poll.
	FDB *FDB
	// Tables and NormalRules are nil when OpenFlow could not be read.
	Tables       []Table
	NormalRules  []Rule
	MACTableSize int
	MACAgingTime int
	// LearningOff lists the ports that do not learn MACs (Linux bridges,
	// "bridge link set dev X learning off"): the usual cause of their
	// floods.
	LearningOff []string
}

// Counters are a device's own counters (on a tap, Tx is what the VM got).
type Counters struct {
	RxBytes, RxPackets, RxDropped uint64
	TxBytes, TxPackets, TxDropped uint64
}

// Port is one OVS port with its Neutron/Nova identity and device counters.
type Port struct {
	Bridge string
	Name   string
	OFPort int
	// VLAN is the access tag, -1 when none.
	VLAN int
	Type string
	// Device is the VM-facing device (the tap behind a qbr bridge for a
	// hybrid plug; the port's own device otherwise).
	Device      string
	IfaceID     string
	AttachedMAC string
	VMUUID      string
	// Counters is nil when the device was not found.
	Counters *Counters
	// Tunnel is set on a tunnel port (type vxlan, geneve, …).
	Tunnel *Tunnel
	// OVN is set on a port bound to an OVN logical switch port.
	OVN *OVNPort
}

// Tunnel is a tunnel port's endpoints as configured in OVSDB options;
// "flow" means set per packet by OpenFlow.
type Tunnel struct {
	Type              string
	LocalIP, RemoteIP string
	// Key is the VNI/key ("flow", a number, "in/out" when they differ).
	Key string
}

// OVNPort is what the OVN Southbound says of the logical port a VM port
// binds (external_ids:iface-id = Port_Binding.logical_port).
type OVNPort struct {
	LogicalPort string
	// Switch is the logical switch's name.
	Switch string
	// MACs are the port's MACs from its addresses and port security.
	MACs []string
	// Unknown is true when the port's addresses include "unknown": OVN
	// delivers it every frame whose destination no port owns.
	Unknown bool
	// PortSecurity is false when the port has no port_security entries.
	PortSecurity bool
	// ParentPort and Tag are set on a trunk sub-port.
	ParentPort string
	Tag        int
	// Children are the trunk sub-ports (containers, Neutron trunk
	// subports) behind this port, by the VLAN tag their frames carry.
	Children map[int]string
}

// Datapath is one datapath's state.
type Datapath struct {
	Name   string
	Flows  int
	Hit    uint64
	Missed uint64
	// Bounded is true when the flow count was above the dump limit and
	// the megaflow dump used the bounded strategy.
	Bounded bool
	// Blind is true when the datapath has so many megaflows that not even
	// one filtered dump fits the dump budget: no megaflow is read, so no
	// new flood can be detected on it.
	Blind bool
	// Dumped is the number of megaflows read this poll.
	Dumped int
	// Dropped is the number of megaflows the dump held beyond the parse
	// cap this poll (see ovs.FlowParseOptions); their ports were not
	// observed, so their floods are neither counted nor cleared.
	Dropped int
}

// RuleRef names the OpenFlow rule whose NORMAL action flooded a flow,
// as found by ofproto/trace.
type RuleRef struct {
	Bridge   string
	Table    int
	Priority int
	Cookie   uint64
	Match    string
	// Path is the trace's rule chain, one "table N priority P ..." per step.
	Path []string
	// Flow is the flow that was traced.
	Flow string
	// Logical is the OVN logical flow behind the rule that sent the frame
	// to a multicast group, when the bridge is OVN's; nil otherwise.
	Logical *LogicalFlow
}

// LogicalFlow is an OVN Southbound logical flow, found by the OpenFlow
// cookie ovn-controller derived from its UUID.
type LogicalFlow struct {
	UUID     string
	Pipeline string
	TableID  int
	Stage    string
	Priority int
	Match    string
	Actions  string
	// UnknownPorts are the logical switch's ports whose addresses include
	// "unknown", on every chassis: where OVN sends frames no port owns.
	UnknownPorts []string
}

// Snapshot is everything published after one poll.
type Snapshot struct {
	Time       time.Time
	OVSVersion string
	Sources    map[string]SourceStatus
	Bridges    []Bridge
	Ports      []Port
	Datapaths  []Datapath
	Detect     detect.Result
	// Rules maps active floods to the rule that flooded them.
	Rules map[detect.FloodKey]RuleRef
	// Hostname is the host the agent runs on.
	Hostname string
	// L2 is what the loop, station and MAC-table checks found; nil when
	// the fdb source had nothing to weigh.
	L2 *loop.Report
}

// PortByName returns the port called name, if any.
func (s *Snapshot) PortByName(name string) (Port, bool) {
	for _, p := range s.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// Store publishes the latest snapshot to concurrent readers.
type Store struct{ p atomic.Pointer[Snapshot] }

// Load returns the latest snapshot, or nil before the first poll.
func (s *Store) Load() *Snapshot { return s.p.Load() }

// Publish makes snap the latest snapshot. snap must not change afterwards.
func (s *Store) Publish(snap *Snapshot) { s.p.Store(snap) }
