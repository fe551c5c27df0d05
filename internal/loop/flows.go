// Package loop finds L2 loops, broadcast storms, group-bit station MACs and
// MAC-table pressure on Open vSwitch bridges. It is pure: its functions
// read parsed OVS output (fdb/show, fdb/stats-show, dpctl/dump-flows -m,
// dpif/show) and return verdicts; reading OVS is the caller's job.
//
// What it rests on, measured on OVS 3.1 with two links between two NORMAL
// bridges: one broadcast circulates for ever, every port of both bridges
// receives the storm, the bridges' "port moved" counters climb by hundreds
// a second, and the megaflow dump shows the same source MAC entering each
// bridge through both links at storm rate. OVS relearns the MAC in its
// revalidator rounds, so successive fdb/show reads mostly see it on the
// same port: the megaflows, not the table, name the ports a loop runs
// through; the table names a bridge's own MAC learned on a foreign port.
package loop

import (
	"encoding/binary"
	"hash/maphash"
	"iter"
	"net"
	"slices"
	"sort"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/flowtab"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// Flows is one poll's megaflows as the checks read them: the dump itself
// and, side by side, what each megaflow carried over the interval. The
// checks read the dump's own ports and MACs and keep none of them: a dump
// is thousands of megaflows every poll, and copying them, or holding them
// until the next poll, costs more than the checks.
type Flows struct {
	// Dump is the poll's megaflows, their counters cumulative as dumped.
	// Only Key, InPort, Src, Dst, DstMasked and the ports of Outputs are
	// read.
	Dump []detect.Flow
	// Deltas[i] is what Dump[i] carried over the interval
	// (Counter.AppendDeltas); a megaflow without one counts nothing.
	Deltas []Delta
	// Ports names the bridge of each megaflow's in_port ("" when
	// unknown).
	Ports Ports
}

// Delta is what one megaflow carried over a poll interval. It holds no
// pointer: a poll's deltas cost the garbage collector nothing to mark.
type Delta struct {
	Packets, Bytes uint64
	// Counted is false for a megaflow the interval does not count: every
	// one of the first dump (there is no interval yet), one without a key,
	// and one listed again in the same dump.
	Counted bool
}

// counted yields the megaflows of fl the interval counts, in dump order,
// with what each carried.
func (fl *Flows) counted() iter.Seq2[*detect.Flow, Delta] {
	return func(yield func(*detect.Flow, Delta) bool) {
		n := min(len(fl.Dump), len(fl.Deltas))
		for i := 0; i < n; i++ {
			if d := fl.Deltas[i]; d.Counted && !yield(&fl.Dump[i], d) {
				return
			}
		}
	}
}

// bridge returns the bridge of f's in_port, "" when unknown.
func (fl *Flows) bridge(f *detect.Flow) string { return fl.Ports.Bridge(f.InPort) }

// IsGroup reports whether mac has the group (multicast) bit set: the bit
// that makes a switch flood a frame sent to it.
func IsGroup(mac net.HardwareAddr) bool { return len(mac) == 6 && mac[0]&1 == 1 }

// Ports maps between the port names in megaflows and the OpenFlow port
// numbers in fdb/show, per bridge, from dpif/show.
type Ports struct {
	bridgeOf map[string]string      // port name -> bridge
	ports    map[string]*ovs.DPPort // port name -> port (its OpenFlow number)
}

// NewPorts indexes the ports of every bridge in dps.
func NewPorts(dps []ovs.Datapath) Ports {
	var p Ports
	for _, dp := range dps {
		for _, b := range dp.Bridges {
			for _, port := range b.Ports {
				p.Add(b.Name, port.Name, port.OFPort)
			}
		}
	}
	return p
}

// PortsOf returns the Ports of two maps the caller keeps, by port name:
// its bridge, and its datapath port (for its OpenFlow number). The maps
// are read, not copied: a poll of 500 ports builds no index of its own
// (numbers are named only while a MAC table is read, a handful of times).
// The caller must not change them while the Ports is in use; Add writes
// to them.
func PortsOf(bridgeOf map[string]string, ports map[string]*ovs.DPPort) Ports {
	return Ports{bridgeOf: bridgeOf, ports: ports}
}

// Add records port name, OpenFlow port ofport, on bridge.
func (p *Ports) Add(bridge, name string, ofport uint32) {
	if p.bridgeOf == nil {
		p.bridgeOf, p.ports = map[string]string{}, map[string]*ovs.DPPort{}
	}
	p.bridgeOf[name] = bridge
	p.ports[name] = &ovs.DPPort{Name: name, OFPort: ofport}
}

// Bridge returns the bridge a port belongs to, "" when unknown.
func (p Ports) Bridge(port string) string { return p.bridgeOf[port] }

// Name returns the name of OpenFlow port ofport ("3", "LOCAL") of bridge,
// or ofport itself when unknown (a port added since dpif/show was read).
// It looks through every port: it is called for the few ports of a MAC
// table, never per megaflow.
func (p Ports) Name(bridge, ofport string) string {
	n, ok := parseOFPort(ofport)
	if !ok {
		return ofport
	}
	for name, port := range p.ports {
		if port.OFPort == n && p.bridgeOf[name] == bridge {
			return name
		}
	}
	return ofport
}

// parseOFPort reads an OpenFlow port number as fdb/show prints it: decimal
// without leading zeros, or "LOCAL" for the bridge's own port (which is
// never printed as a number).
func parseOFPort(s string) (uint32, bool) {
	if s == "LOCAL" {
		return ovs.LocalOFPort, true
	}
	if s == "" || len(s) > 10 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	if n > 1<<32-1 || n == ovs.LocalOFPort {
		return 0, false
	}
	return uint32(n), true
}

// Counter turns the cumulative counters of successive megaflow dumps into
// what each megaflow carried per interval, keyed by detect.Flow.Key; a
// counter that went down is a re-created megaflow, counted from zero. It
// holds one entry per megaflow of the last complete dump, plus, after
// partial dumps, those seen in the last MaxAge polls. The counts are a
// flowtab table: a poll looks each megaflow up at most once and walks the
// table, not a map, to forget. It is keyed by a fixed-size identity of
// each key (flowID), so it holds no pointer for the garbage collector to
// mark, and no key of an old dump stays reachable through it.
type Counter struct {
	counts flowtab.Keyed[flowID, flowCounts]
	seeds  [2]maphash.Seed
	poll   int
	primed bool
}

// flowID is a megaflow key of the agent's form (16 bytes: its 128-bit
// hash of the datapath and UFID) as is, or a 128-bit keyed hash of any
// other key (a UFID or a match). A hashed key and an agent's key, or two
// hashed keys, are the same flowID only by chance, with odds of 1 in 2^128.
type flowID [16]byte

func (c *Counter) id(key string) flowID {
	var id flowID
	if len(key) == len(id) {
		copy(id[:], key)
		return id
	}
	if c.seeds == ([2]maphash.Seed{}) {
		c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	}
	binary.LittleEndian.PutUint64(id[:8], maphash.String(c.seeds[0], key))
	binary.LittleEndian.PutUint64(id[8:], maphash.String(c.seeds[1], key))
	return id
}

// MaxAge is how many polls a Counter remembers a megaflow that partial
// dumps did not show (a megaflow idle for 10 s is gone from the datapath
// anyway).
const MaxAge = 12

type flowCounts struct {
	packets, bytes uint64
	seen           int
}

// Deltas returns what each megaflow of cur carried since the previous
// call, the i-th delta that of cur[i] (none counted on the first call:
// there is no interval yet). When complete is false (a bounded dump of a
// few ports), megaflows absent from cur are remembered for MaxAge polls,
// so they are not counted from zero when they are dumped again, and
// memory stays bounded while a MAC flood creates megaflows faster than
// they are dumped. The memory is updated in place: a dump of 20,000
// megaflows allocates no new map.
func (c *Counter) Deltas(cur []detect.Flow, complete bool) []Delta {
	return c.AppendDeltas(make([]Delta, 0, len(cur)), cur, complete)
}

// AppendDeltas is Deltas appending to out, so that a caller can reuse one
// buffer across polls.
func (c *Counter) AppendDeltas(out []Delta, cur []detect.Flow, complete bool) []Delta {
	c.poll++
	c.counts.Walk()
	out = slices.Grow(out, len(cur))
	for i := range cur {
		out = append(out, c.count(&cur[i]))
	}
	c.counts.Retain(func(fc *flowCounts) bool {
		return fc.seen == c.poll || (!complete && c.poll-fc.seen <= MaxAge)
	})
	c.primed = true
	return out
}

// count records f's counters and returns their growth since the last dump.
func (c *Counter) count(f *detect.Flow) Delta {
	if f.Key == "" {
		return Delta{}
	}
	fc, ok := c.counts.Visit(c.id(f.Key))
	if ok && fc.seen == c.poll {
		return Delta{} // the same megaflow twice in one dump counts once
	}
	prev := *fc // zero counts for a megaflow new since the last dump
	fc.packets, fc.bytes, fc.seen = f.Packets, f.Bytes, c.poll
	if !c.primed {
		return Delta{}
	}
	return Delta{Packets: delta(prev.packets, f.Packets), Bytes: delta(prev.bytes, f.Bytes), Counted: true}
}

// Len is the number of megaflows remembered.
func (c *Counter) Len() int { return c.counts.Len() }

func delta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// Flows returns the megaflows of cur with what each carried since the
// previous call, their bridges named by ports. A megaflow is keyed by its
// UFID (dumps with -m) or else by its match.
func (c *Counter) Flows(cur ovs.Megaflows, ports Ports) Flows {
	dump := make([]detect.Flow, len(cur.Flows))
	for i := range cur.Flows {
		dump[i] = FlowOf(&cur.Flows[i])
	}
	return Flows{Dump: dump, Deltas: c.Deltas(dump, true), Ports: ports}
}

// FlowOf is megaflow m as the checks read it, keyed by its UFID or else
// its match.
func FlowOf(m *ovs.Megaflow) detect.Flow {
	f := detect.Flow{Key: m.UFID, InPort: m.InPort, Src: m.EthSrc, Dst: m.EthDst, DstMasked: m.EthDstMasked,
		Packets: m.Packets, Bytes: m.Bytes, VLAN: m.VLAN, Outputs: make([]detect.Output, len(m.Outputs))}
	if f.Key == "" {
		f.Key = m.Key
	}
	for i, o := range m.Outputs {
		f.Outputs[i] = detect.Output{Port: o.Port, VLAN: o.VLAN}
	}
	return f
}

// PortCounts is traffic that entered through one port of one bridge.
type PortCounts struct {
	Bridge, Port   string
	Packets, Bytes uint64
}

// Broadcast sums, by bridge and entry port, the broadcast and multicast
// frames OVS copied to one or more ports: flows whose destination has the
// group bit set (or is a masked range of such), except frames to a
// station MAC, which are floods of their own (StationFloods).
func Broadcast(flows Flows, st Stations) []PortCounts {
	sum := map[[2]string]*PortCounts{}
	for f, d := range flows.counted() {
		if f.Dst == nil || !IsGroup(f.Dst) || len(f.Outputs) == 0 || d.Packets == 0 {
			continue
		}
		if !f.DstMasked && st.Has(f.Dst) {
			continue
		}
		k := [2]string{flows.bridge(f), f.InPort}
		c := sum[k]
		if c == nil {
			c = &PortCounts{Bridge: k[0], Port: f.InPort}
			sum[k] = c
		}
		c.Packets += d.Packets
		c.Bytes += d.Bytes
	}
	out := make([]PortCounts, 0, len(sum))
	for _, c := range sum {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Port < out[j].Port
	})
	return out
}
