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
	"net"
	"sort"
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
}

// Flow is one datapath megaflow as read from dpctl/dump-flows.
type Flow struct {
	// Key identifies the megaflow across polls: datapath plus UFID (or the
	// match text when OVS printed no UFID).
	Key     string
	InPort  string
	Src     net.HardwareAddr
	Dst     net.HardwareAddr
	Packets uint64
	Bytes   uint64
	Outputs []Output
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
	// this poll (the agent's bounded strategy dumps a few ports per poll): a
	// flood from a port that was not looked at is not counted as quiet.
	Observed map[string]bool
	// Received holds, per endpoint port name, the bytes its device has
	// delivered to the VM so far (the tap's transmit counter).
	Received map[string]uint64
	// FDB confirms candidate floods; nil disables confirmation.
	FDB FDB
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
}

// DefaultConfig returns the defaults behind the agent's flags.
func DefaultConfig() Config {
	return Config{SustainPolls: 3, ClearPolls: 2, MinPacketRate: 10, MaxReported: 10, Window: time.Minute}
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
}

type flowMemo struct {
	packets, bytes uint64
	seen           int64 // poll number last seen
}

type floodState struct {
	flood   Flood
	streak  int // consecutive flooded polls
	quiet   int // consecutive quiet polls
	active  bool
	leaked  uint64
	touched bool
}

type sample struct {
	t        time.Time
	leaked   map[PortKey]uint64 // cumulative leaked per port
	received map[string]uint64  // cumulative device counters per port
}

// Detector keeps the memory between polls. It is not safe for concurrent
// use; the agent's poller owns it.
type Detector struct {
	cfg     Config
	poll    int64
	last    time.Time
	flows   map[string]flowMemo
	floods  map[FloodKey]*floodState
	flooded map[CounterKey]Counter
	leaked  map[PortKey]uint64
	history []sample
	started bool
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
	return &Detector{
		cfg:     cfg,
		flows:   map[string]flowMemo{},
		floods:  map[FloodKey]*floodState{},
		flooded: map[CounterKey]Counter{},
		leaked:  map[PortKey]uint64{},
	}
}

// IsUnicast reports whether mac is a unicast address (group bit clear).
func IsUnicast(mac net.HardwareAddr) bool {
	return len(mac) == 6 && mac[0]&1 == 0
}

// Classified is a megaflow judged flooded, with the copies it produced.
type Classified struct {
	Flow    Flow
	Bridge  string
	VLAN    int
	Outputs []string // distinct output ports (tunnel copies count once per remote) other than in_port
}

// Classify returns the flows that are flooded unknown unicast: a unicast
// destination delivered to two or more distinct ports. It is pure.
func Classify(flows []Flow, ports map[string]Port) []Classified {
	var out []Classified
	for _, f := range flows {
		if !IsUnicast(f.Dst) || len(f.Outputs) < 2 {
			continue
		}
		seen := make(map[Output]bool, len(f.Outputs))
		vlan := -1
		var outs []string
		for _, o := range f.Outputs {
			id := Output{Port: o.Port, Tunnel: o.Tunnel}
			if (o.Port == f.InPort && o.Tunnel == "") || seen[id] {
				continue
			}
			seen[id] = true
			outs = append(outs, o.Port)
			if vlan < 0 && o.VLAN >= 0 {
				vlan = o.VLAN
			}
		}
		if len(outs) < 2 {
			continue
		}
		in := ports[f.InPort]
		if in.VLAN >= 0 && in.Name != "" {
			vlan = in.VLAN // an access port's tag is the frame's VLAN
		}
		if vlan < 0 {
			vlan = 0
		}
		out = append(out, Classified{Flow: f, Bridge: in.Bridge, VLAN: vlan, Outputs: outs})
	}
	return out
}

// delta returns how much a megaflow counted since the previous poll. OVS
// restarts a megaflow's counters when it is re-created (same UFID), so a
// decrease is a reset and the current value is all new.
func delta(prev, cur uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	return cur
}

// Observe takes one poll's input and returns the detector's new view.
func (d *Detector) Observe(in Input) Result {
	d.poll++
	elapsed := in.Time.Sub(d.last).Seconds()
	first := !d.started
	d.started, d.last = true, in.Time

	classified := Classify(in.Flows, in.Ports)

	// Per-flood deltas of this poll.
	type acc struct {
		packets, bytes uint64
		victims        map[string]uint64
		src            string
	}
	polled := map[FloodKey]*acc{}
	for _, c := range classified {
		f := c.Flow
		prev, known := d.flows[f.Key]
		var dp, db uint64
		switch {
		case known:
			dp, db = delta(prev.packets, f.Packets), delta(prev.bytes, f.Bytes)
		case !first:
			// Created since the last poll: everything it counted is new.
			dp, db = f.Packets, f.Bytes
		}
		if dp == 0 && db == 0 {
			continue
		}
		ck := CounterKey{Bridge: c.Bridge, InPort: f.InPort, VLAN: c.VLAN}
		cnt := d.flooded[ck]
		cnt.Packets += dp
		cnt.Bytes += db
		d.flooded[ck] = cnt

		fk := FloodKey{Bridge: c.Bridge, InPort: f.InPort, VLAN: c.VLAN, DstMAC: f.Dst.String()}
		a := polled[fk]
		if a == nil {
			a = &acc{victims: map[string]uint64{}}
			polled[fk] = a
		}
		a.packets += dp
		a.bytes += db
		if a.src == "" && f.Src != nil {
			a.src = f.Src.String()
		}
		for _, o := range c.Outputs {
			p, ok := in.Ports[o]
			if !ok || !p.Endpoint {
				continue
			}
			if p.MAC != nil && p.MAC.String() == fk.DstMAC {
				continue // the copy reached its real destination
			}
			d.leaked[PortKey{Bridge: p.Bridge, Port: o}] += db
			a.victims[o] += db
		}
	}

	// Remember every flow's counters (flooded or not: a megaflow can be
	// revalidated from single-output to flooded in place).
	for _, f := range in.Flows {
		d.flows[f.Key] = flowMemo{packets: f.Packets, bytes: f.Bytes, seen: d.poll}
	}
	if in.Complete {
		for k, m := range d.flows {
			if m.seen != d.poll {
				delete(d.flows, k)
			}
		}
	}

	var events []Event
	for _, st := range d.floods {
		st.touched = false
	}
	for fk, a := range polled {
		st := d.floods[fk]
		if st == nil {
			st = &floodState{flood: Flood{FloodKey: fk}}
			d.floods[fk] = st
		}
		st.touched = true
		pps, bps := 0.0, 0.0
		if elapsed > 0 {
			pps, bps = float64(a.packets)/elapsed, float64(a.bytes)/elapsed
		}
		learned := false
		if in.FDB != nil {
			if dst, err := net.ParseMAC(fk.DstMAC); err == nil {
				if l, ok := in.FDB.Learned(fk.Bridge, fk.VLAN, dst); ok && l {
					learned = true
				}
			}
		}
		fl := &st.flood
		fl.PacketRate, fl.ByteRate = pps, bps
		if a.src != "" {
			fl.SrcMAC = a.src
		}
		fl.Victims = fl.Victims[:0]
		var leakedNow uint64
		for p, b := range a.victims {
			fl.Victims = append(fl.Victims, Victim{Port: p, Bytes: b})
			leakedNow += b
		}
		sort.Slice(fl.Victims, func(i, j int) bool { return fl.Victims[i].Port < fl.Victims[j].Port })
		if learned || pps < d.cfg.MinPacketRate {
			st.streak = 0
			st.quiet++
		} else {
			st.streak++
			st.quiet = 0
		}
		if st.active || st.streak > 0 {
			fl.Bytes += a.bytes
			fl.Packets += a.packets
			st.leaked += leakedNow
		}
		if !st.active && st.streak >= d.cfg.SustainPolls {
			st.active = true
			fl.Since = in.Time
			events = append(events, Event{Kind: FloodStarted, Flood: copyFlood(*fl)})
		}
	}
	for fk, st := range d.floods {
		if !st.touched && in.Observed != nil && !in.Observed[fk.InPort] {
			continue // not looked at this poll: neither flooded nor quiet
		}
		if !st.touched {
			st.streak = 0
			st.quiet++
			st.flood.PacketRate, st.flood.ByteRate = 0, 0
		}
		if st.quiet >= d.cfg.ClearPolls || (!st.active && st.streak == 0) {
			if st.active {
				events = append(events, Event{Kind: FloodEnded, Flood: copyFlood(st.flood),
					Duration: in.Time.Sub(st.flood.Since), Leaked: st.leaked})
			}
			delete(d.floods, fk)
		}
	}

	// Leak-ratio window.
	s := sample{t: in.Time, leaked: make(map[PortKey]uint64, len(d.leaked)), received: make(map[string]uint64, len(in.Received))}
	for k, v := range d.leaked {
		s.leaked[k] = v
	}
	for k, v := range in.Received {
		s.received[k] = v
	}
	d.history = append(d.history, s)
	for len(d.history) > 2 && in.Time.Sub(d.history[1].t) >= d.cfg.Window {
		d.history = d.history[1:]
	}

	res := Result{
		Time:     in.Time,
		Flooded:  make(map[CounterKey]Counter, len(d.flooded)),
		Leaked:   make(map[PortKey]uint64, len(d.leaked)),
		Events:   events,
		Baseline: first,
	}
	if !first {
		res.PollSeconds = elapsed
	}
	for k, v := range d.flooded {
		res.Flooded[k] = v
	}
	for k, v := range d.leaked {
		res.Leaked[k] = v
	}
	res.Active = d.active()
	res.Ratios = ratios(d.history, in.Ports)
	return res
}

func copyFlood(f Flood) Flood {
	f.Victims = append([]Victim(nil), f.Victims...)
	return f
}

// active returns the active floods, at most MaxReported per bridge, worst
// (highest byte rate) first.
func (d *Detector) active() []Flood {
	var all []Flood
	for _, st := range d.floods {
		if st.active {
			all = append(all, copyFlood(st.flood))
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].ByteRate != all[j].ByteRate {
			return all[i].ByteRate > all[j].ByteRate
		}
		return less(all[i].FloodKey, all[j].FloodKey)
	})
	perBridge := map[string]int{}
	out := all[:0]
	for _, f := range all {
		if perBridge[f.Bridge] >= d.cfg.MaxReported {
			continue
		}
		perBridge[f.Bridge]++
		out = append(out, f)
	}
	return out
}

func less(a, b FloodKey) bool {
	if a.Bridge != b.Bridge {
		return a.Bridge < b.Bridge
	}
	if a.InPort != b.InPort {
		return a.InPort < b.InPort
	}
	if a.VLAN != b.VLAN {
		return a.VLAN < b.VLAN
	}
	return a.DstMAC < b.DstMAC
}

// ratios computes, for every endpoint port with received traffic in the
// window, the share of it that was flood copies. It is pure.
func ratios(h []sample, ports map[string]Port) []Ratio {
	if len(h) < 2 {
		return nil
	}
	first, last := h[0], h[len(h)-1]
	var out []Ratio
	for name, p := range ports {
		if !p.Endpoint {
			continue
		}
		r1, ok1 := last.received[name]
		r0, ok0 := first.received[name]
		if !ok1 || !ok0 {
			continue
		}
		k := PortKey{Bridge: p.Bridge, Port: name}
		leaked := last.leaked[k] - first.leaked[k]
		received := delta(r0, r1)
		ratio := 0.0
		if received > 0 {
			ratio = float64(leaked) / float64(received)
		} else if leaked > 0 {
			ratio = 1
		}
		if ratio > 1 {
			// Flood copies counted at the datapath can exceed what the
			// device shows when the device dropped some: clamp.
			ratio = 1
		}
		out = append(out, Ratio{PortKey: k, Ratio: ratio, Leaked: leaked, Received: received})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Port < out[j].Port
	})
	return out
}
