// Package detect finds unknown-unicast floods in successive datapath
// snapshots and attributes them: who floods (bridge, in_port, VLAN,
// destination MAC), which ports receive the copies (victims), and how much
// of what each victim received was such copies (leak ratio).
//
// The detector works on what OVS's datapath says it did: a megaflow whose
// key has a unicast eth(dst=…) and whose actions output the frame to two or
// more ports is a flooded unknown-unicast megaflow (NORMAL found no FDB
// entry for the destination). Its packet and byte counters, taken as deltas
// between polls, are the flooded traffic; each output port other than the
// destination's own received one copy.
//
// Everything here is a pure function of the inputs plus the Detector's
// memory of previous polls (per-megaflow counters and per-flood streaks), so
// it is tested without OVS, and proven against real OVS in the lab tests.
package detect

import (
	"maps"
	"net"
	"time"
)

// Port describes one OVS port as far as the detector needs it.
type Port struct {
	Bridge string
	Name   string
	// VLAN is the port's access tag, or -1 for a trunk/untagged port.
	VLAN int
	// Endpoint is true for ports that lead to a single host (a VM's tap or
	// veth, a Neutron router/DHCP port): copies delivered there are leaks.
	// Patch, tunnel and uplink ports lead further into the network, where
	// the unknown destination may legitimately be.
	Endpoint bool
	// MAC is the endpoint's own MAC (Neutron's attached-mac), if known.
	MAC net.HardwareAddr
	// MACs are the endpoint's other known MACs: OVN's Port_Binding
	// addresses and port security (allowed-address pairs, a VM's second
	// NIC MAC). Frames to them are not leaks.
	MACs []net.HardwareAddr
	// Tunnel is true for a tunnel port (vx1, ovn-ch2-0): a copy sent
	// through it crosses to another host, one copy per remote, and is
	// charged to it like a copy delivered to a VM.
	Tunnel bool
}

// Output is one output of a megaflow: a port and the VLAN ID on the wire
// there (-1 when untagged).
type Output struct {
	Port string
	VLAN int
	// Tunnel is the remote tunnel endpoint when the copy leaves
	// encapsulated; on the userspace datapath several tunnel copies leave
	// through the same underlay port and differ only here.
	Tunnel string
	// TunnelID is the VNI/key the copy leaves with and TunnelDev the
	// datapath tunnel device that encapsulates it (vxlan_sys_4789); the
	// agent resolves them to the OVS tunnel port, which then becomes Port.
	TunnelID  uint64
	TunnelDev string
}

// Flow is one datapath megaflow as read from dpctl/dump-flows.
type Flow struct {
	// Key identifies the megaflow across polls: any string naming its
	// datapath and UFID (or match text, when OVS printed no UFID) alike
	// in every poll; the agent uses a 16-byte hash of them.
	Key     string
	InPort  string
	Src     net.HardwareAddr
	Dst     net.HardwareAddr
	Packets uint64
	Bytes   uint64
	Outputs []Output
	// TunnelSrc, TunnelDst and TunnelID are the outer header of a frame
	// that arrived encapsulated (the key's tunnel(src=,dst=,tun_id=)),
	// "" and 0 otherwise; InPort is then the datapath tunnel device until
	// the agent resolves it to the OVS tunnel port.
	TunnelSrc, TunnelDst string
	TunnelID             uint64
	// VLAN is the vid of the key's outer vlan(…): the tag the frame
	// carried when it entered, -1 for an untagged frame (or a key that
	// does not match the tag). On a port without an access tag it is the
	// frame's VLAN (a trunk, or a VM's tagged sub-port).
	VLAN int
	// DstMasked is true when Dst is the value of a masked match (a range
	// of destinations, such as every group address), not one MAC. The
	// detector reads one-MAC destinations only: the agent leaves Dst nil
	// for a masked one; the loop checks (internal/loop) read both.
	DstMasked bool
}

// FDB answers whether a bridge has learned a MAC on a VLAN. The agent
// implements it lazily, reading fdb/show only for bridges with candidates.
type FDB interface {
	// Learned reports whether mac is in bridge's MAC table on vlan; ok is
	// false when the table could not be read (then nothing is confirmed).
	Learned(bridge string, vlan int, mac net.HardwareAddr) (learned, ok bool)
}

// Input is one poll's view of the host.
type Input struct {
	Time time.Time
	// Ports by port name (OVS port names are unique per host).
	Ports map[string]Port
	// Flows from every datapath dumped in this poll.
	Flows []Flow
	// Complete is false when the flow dump was skipped or partial in this
	// poll; then flows that are absent are not taken as gone.
	Complete bool
	// Observed, when not nil, lists the in_ports whose flows were dumped in
	// full in this poll (the agent's bounded strategy dumps a few ports per
	// poll): a flood from a port that was not looked at is not counted as
	// quiet, and a megaflow of a listed port that its dump did not show is
	// gone. A port whose dump was cut short must not be listed.
	Observed map[string]bool
	// Received holds, per endpoint port name, the bytes its device has
	// delivered to the VM so far (the tap's transmit counter).
	Received map[string]uint64
	// FDB confirms candidate floods; nil disables confirmation.
	FDB FDB
	// Stations maps the group-bit MACs of station ports to their port (see
	// ClassifyStations): traffic to them is flooded like unknown unicast.
	Stations map[string]string
}

// Config tunes when a flood counts as sustained.
type Config struct {
	// SustainPolls is how many consecutive polls a destination must be
	// flooded (and not learned) before the flood is reported active.
	SustainPolls int
	// ClearPolls is how many consecutive quiet polls end an active flood.
	ClearPolls int
	// MinPacketRate is the flooded packets per second below which a poll
	// does not count towards a sustained flood.
	MinPacketRate float64
	// MaxReported bounds the active floods reported per bridge (worst first).
	MaxReported int
	// Window is the span over which leak ratios are computed.
	Window time.Duration
	// FlowMemoryPolls is how many polls a megaflow's counters are kept
	// after it was last dumped, for megaflows of ports that are not dumped
	// every poll (the bounded strategy). Megaflows of a dumped port that
	// are missing from its dump are forgotten at once.
	FlowMemoryPolls int
}

// DefaultConfig returns the defaults behind the agent's flags.
func DefaultConfig() Config {
	return Config{SustainPolls: 2, ClearPolls: 2, MinPacketRate: 10, MaxReported: 10, Window: time.Minute,
		FlowMemoryPolls: 12}
}

// FloodKey names a flood: where it enters and where it is addressed.
type FloodKey struct {
	Bridge string
	InPort string
	VLAN   int
	DstMAC string
}

// CounterKey names a flood counter series.
type CounterKey struct {
	Bridge string
	InPort string
	VLAN   int
}

// PortKey names a per-port series.
type PortKey struct {
	Bridge string
	Port   string
}

// Counter is a monotonic packet/byte total.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// Victim is a port that receives copies of a flood.
type Victim struct {
	Port string
	// Bytes is what this flood delivered there in the last poll.
	Bytes uint64
}

// Flood is a sustained unknown-unicast flood.
type Flood struct {
	FloodKey
	Since time.Time
	// PacketRate and ByteRate are the flooded rate over the last poll.
	PacketRate float64
	ByteRate   float64
	// Bytes is the total flooded since the flood started.
	Bytes   uint64
	Packets uint64
	Victims []Victim
	// SrcMAC is one source MAC seen flooding to DstMAC (for tracing).
	SrcMAC string
}

// EventKind says whether a flood started or ended.
type EventKind string

// Event kinds.
const (
	FloodStarted EventKind = "started"
	FloodEnded   EventKind = "ended"
)

// Event is a flood starting or ending, for the log.
type Event struct {
	Kind     EventKind
	Flood    Flood
	Duration time.Duration
	// Leaked is the bytes copied to victims over the flood's life.
	Leaked uint64
}

// Ratio is the share of what an endpoint received that was flood copies.
type Ratio struct {
	PortKey
	Ratio float64
	// Leaked and Received are the window's bytes behind the ratio.
	Leaked, Received uint64
}

// Result is the detector's view after one poll. It is immutable.
type Result struct {
	Time     time.Time
	Flooded  map[CounterKey]Counter
	Leaked   map[PortKey]uint64
	Active   []Flood
	Ratios   []Ratio
	Events   []Event
	Baseline bool // true on the first poll: counters only, no deltas yet
	// PollSeconds is the time since the previous poll (0 on the first).
	PollSeconds float64
	// FlowsRemembered is how many megaflows' counters the detector keeps
	// for the next poll (bounded by what the recent dumps showed).
	FlowsRemembered int
}

// Detector keeps the memory between polls. It is not safe for concurrent
// use; the agent's poller owns it.
type Detector struct {
	cfg     Config
	poll    int64
	last    time.Time
	started bool
	mem     flowMemory
	// deltas holds, per flow of the current poll's input, what it counted
	// since the previous poll (the array is reused from poll to poll).
	deltas  []flowDelta
	senders senders
	floods  map[floodID]*floodState
	flooded map[CounterKey]Counter
	leaked  map[PortKey]uint64
	history []sample
	// polled is this poll's floods, in the order charge met them; the
	// storage is kept from poll to poll (see charge.go).
	polled polledFloods
	copies copyScratch
	// stations and singles are charge's scratch: the megaflows of the
	// dump, by index, that may be floods to a station or to one VM.
	stations, singles []int32
	// ranked is active's scratch: the floods it ranks.
	ranked []*floodState
}

// New returns a Detector with cfg (zero fields take DefaultConfig values).
func New(cfg Config) *Detector {
	def := DefaultConfig()
	if cfg.SustainPolls <= 0 {
		cfg.SustainPolls = def.SustainPolls
	}
	if cfg.ClearPolls <= 0 {
		cfg.ClearPolls = def.ClearPolls
	}
	if cfg.MinPacketRate < 0 {
		cfg.MinPacketRate = 0
	}
	if cfg.MaxReported <= 0 {
		cfg.MaxReported = def.MaxReported
	}
	if cfg.Window <= 0 {
		cfg.Window = def.Window
	}
	if cfg.FlowMemoryPolls <= 0 {
		cfg.FlowMemoryPolls = def.FlowMemoryPolls
	}
	return &Detector{
		cfg:     cfg,
		mem:     newFlowMemory(),
		senders: senders{},
		floods:  map[floodID]*floodState{},
		flooded: map[CounterKey]Counter{},
		leaked:  map[PortKey]uint64{},
	}
}

// Observe takes one poll's input and returns the detector's new view.
func (d *Detector) Observe(in Input) Result {
	d.poll++
	elapsed := in.Time.Sub(d.last).Seconds()
	first := !d.started
	d.started, d.last = true, in.Time

	d.deltas = d.mem.take(d.deltas, in, d.poll, first, d.senders)
	d.charge(&in, d.deltas)
	d.mem.forget(in, d.poll, int64(d.cfg.FlowMemoryPolls))
	events := d.advance(in, elapsed)
	d.polled.done()
	d.record(in)

	res := Result{
		Time:     in.Time,
		Flooded:  maps.Clone(d.flooded),
		Leaked:   maps.Clone(d.leaked),
		Active:   d.active(),
		Ratios:   ratios(d.history, in.Ports),
		Events:   events,
		Baseline: first,

		FlowsRemembered: d.mem.len(),
	}
	if !first {
		res.PollSeconds = elapsed
	}
	return res
}

func copyFlood(f Flood) Flood {
	f.Victims = append([]Victim(nil), f.Victims...)
	return f
}
