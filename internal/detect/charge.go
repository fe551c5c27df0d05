package detect

import (
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/macaddr"
)

// floodID is the detector's own key of a flood: a FloodKey whose
// destination is the MAC's 48 bits, so that charging a flooded megaflow
// formats no MAC. Every megaflow charge counts has a 6-byte destination.
type floodID struct {
	bridge, inPort string
	vlan           int
	dst            uint64
}

// polledFlood is what one flood did in one poll.
type polledFlood struct {
	id             floodID
	packets, bytes uint64
	// victims holds one entry per copy charged, a port once per megaflow
	// (or per tunnel remote) that reached it: flooding sums them by port.
	victims []Victim
	// src is the first source MAC seen flooding; it belongs to the
	// poll's input and is dropped with it (done).
	src net.HardwareAddr
}

// polledFloods is the floods of one poll, in the order they were first
// charged, and an index by key. Its storage is reused from poll to poll;
// after a burst of floods it is let go so that it does not stay sized for
// the burst.
type polledFloods struct {
	list []polledFlood
	at   map[floodID]int
}

// get returns id's entry, adding it when new.
func (p *polledFloods) get(id floodID) *polledFlood {
	if i, ok := p.at[id]; ok {
		return &p.list[i]
	}
	if p.at == nil {
		p.at = map[floodID]int{}
	}
	p.at[id] = len(p.list)
	if n := len(p.list); n < cap(p.list) {
		p.list = p.list[:n+1]
		p.list[n] = polledFlood{id: id, victims: p.list[n].victims[:0]}
	} else {
		p.list = append(p.list, polledFlood{id: id})
	}
	return &p.list[len(p.list)-1]
}

// maxKeptFloods bounds the polled floods whose storage is kept for the
// next poll.
const maxKeptFloods = 256

// done empties p for the next poll, dropping what refers to the input.
func (p *polledFloods) done() {
	if len(p.list) > maxKeptFloods {
		*p = polledFloods{}
		return
	}
	for i := range p.list {
		p.list[i].src = nil
		clear(p.list[i].victims) // the port names
	}
	p.list = p.list[:0]
	clear(p.at)
}

// charge adds this poll's deltas of the flooded megaflows to the flood and
// leak counters and to d.polled, per flood; deltas are the flows' own,
// from flowMemory.take. The megaflows are charged in three rounds, unicast
// floods, floods to stations, then single receivers: a megaflow listed
// twice in one dump counts once, the first time one of them is met, and a
// flood's source MAC is the first met. One walk of the dump charges the
// unicast floods and notes the few megaflows of the other two rounds.
func (d *Detector) charge(in *Input, deltas []flowDelta) {
	var counted map[string]bool // only a dump that lists a megaflow twice needs it
	if d.mem.dups {
		counted = map[string]bool{}
	}
	stations, singles := d.stations[:0], d.singles[:0]
	for i := range in.Flows {
		f := &in.Flows[i]
		switch {
		case len(f.Dst) != 6 || len(f.Outputs) == 0:
		case !IsUnicast(f.Dst):
			if len(f.Outputs) >= 2 && len(in.Stations) > 0 {
				stations = append(stations, int32(i))
			}
		case len(f.Outputs) == 1:
			if deltas[i] != (flowDelta{}) {
				singles = append(singles, int32(i))
			}
		default:
			outs, vlan := d.copies.of(f)
			if len(outs) < 2 {
				continue
			}
			from := in.Ports[f.InPort]
			d.chargeFlow(in, f, deltas[i], floodID{bridgeOf(from, outs, in.Ports), f.InPort, frameVLAN(*f, from, vlan), macaddr.Bits(f.Dst)}, outs, counted)
		}
	}
	for _, i := range stations {
		f := &in.Flows[i]
		if id, outs, ok := d.copies.station(f, in.Ports, in.Stations); ok {
			d.chargeFlow(in, f, deltas[i], id, outs, counted)
		}
	}
	for _, i := range singles {
		f := &in.Flows[i]
		if id, ok := d.singleReceiver(in, f, deltas[i]); ok {
			d.copies.outs = append(d.copies.outs[:0], f.Outputs[0].Port)
			d.chargeFlow(in, f, deltas[i], id, d.copies.outs, counted)
		}
	}
	d.stations, d.singles = keptScratch(stations), keptScratch(singles)
}

// keptScratch returns s to keep for the next poll, or nil when a burst
// (a MAC flood's megaflows) grew it beyond what a poll usually needs.
func keptScratch(s []int32) []int32 {
	if cap(s) > 1<<12 {
		return nil
	}
	return s[:0]
}

// chargeFlow charges one flooded megaflow f, whose copies reached outs,
// to the flood id.
func (d *Detector) chargeFlow(in *Input, f *Flow, delta flowDelta, id floodID, outs []string, counted map[string]bool) {
	if counted != nil {
		if counted[f.Key] {
			return // the same megaflow twice in one dump counts once
		}
		counted[f.Key] = true
	}
	if delta == (flowDelta{}) {
		return
	}
	ck := CounterKey{Bridge: id.bridge, InPort: id.inPort, VLAN: id.vlan}
	cnt := d.flooded[ck]
	cnt.Packets, cnt.Bytes = counter.Add(cnt.Packets, delta.packets), counter.Add(cnt.Bytes, delta.bytes)
	d.flooded[ck] = cnt

	a := d.polled.get(id)
	a.packets += delta.packets
	a.bytes += delta.bytes
	if len(a.src) == 0 {
		a.src = f.Src
	}
	a.victims = d.chargeVictims(f.Dst, outs, delta.bytes, in.Ports, a.victims)
}

// chargeVictims charges the copies of a flooded megaflow to the endpoint
// ports it reached, except the destination's own port, and appends them
// to victims.
func (d *Detector) chargeVictims(dst net.HardwareAddr, outs []string, bytes uint64, ports map[string]Port, victims []Victim) []Victim {
	for _, o := range outs {
		p, ok := ports[o]
		if !ok || (!p.Endpoint && !p.Tunnel) {
			continue
		}
		if p.MAC != nil && string(p.MAC) == string(dst) {
			continue // the copy reached its real destination
		}
		k := PortKey{Bridge: p.Bridge, Port: o}
		d.leaked[k] = counter.Add(d.leaked[k], bytes)
		victims = append(victims, Victim{Port: o, Bytes: bytes})
	}
	return victims
}
