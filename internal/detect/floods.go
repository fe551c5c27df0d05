package detect

import (
	"cmp"
	"net"
	"slices"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/macaddr"
)

// floodState is a flood's streak between polls.
type floodState struct {
	flood   Flood
	dst     net.HardwareAddr // flood.DstMAC, for the FDB
	streak  int              // consecutive flooded polls
	quiet   int              // consecutive quiet polls
	active  bool
	leaked  uint64
	touched bool
}

// advance moves every flood's streak by one poll: the floods seen flooding
// in d.polled, then the others, which are quiet if their port was looked
// at. It returns the floods that started or ended.
func (d *Detector) advance(in Input, elapsed float64) []Event {
	var events []Event
	for _, st := range d.floods {
		st.touched = false
	}
	for i := range d.polled.list {
		a := &d.polled.list[i]
		st := d.floods[a.id]
		if st == nil {
			dst := macaddr.FromBits(a.id.dst)
			st = &floodState{dst: dst, flood: Flood{FloodKey: FloodKey{Bridge: a.id.bridge, InPort: a.id.inPort,
				VLAN: a.id.vlan, DstMAC: dst.String()}}}
			d.floods[a.id] = st
		}
		if d.flooding(st, a, d.learned(in.FDB, st), elapsed) {
			st.flood.Since = in.Time
			events = append(events, Event{Kind: FloodStarted, Flood: copyFlood(st.flood)})
		}
	}
	for id, st := range d.floods {
		if !st.touched && in.Observed != nil && !in.Observed[id.inPort] {
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
			delete(d.floods, id)
		}
	}
	return events
}

// flooding updates st with one poll in which its destination was flooded
// (a) and reports whether the flood just became active. A poll counts
// towards the streak when the rate reaches MinPacketRate and the FDB has
// not learned the destination meanwhile.
func (d *Detector) flooding(st *floodState, a *polledFlood, learned bool, elapsed float64) (started bool) {
	st.touched = true
	pps, bps := 0.0, 0.0
	if elapsed > 0 {
		pps, bps = float64(a.packets)/elapsed, float64(a.bytes)/elapsed
	}
	fl := &st.flood
	fl.PacketRate, fl.ByteRate = pps, bps
	if len(a.src) > 0 {
		// the same source poll after poll: compared as text, not made again
		var buf [3 * 8]byte
		if src := macaddr.Append(buf[:0], a.src); string(src) != fl.SrcMAC {
			fl.SrcMAC = string(src)
		}
	}
	leakedNow := sumVictims(&fl.Victims, a.victims)
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
		return true
	}
	return false
}

// sumVictims sets *victims to the copies charged (a port once per copy),
// summed by port and sorted by it, and returns their total.
func sumVictims(victims *[]Victim, copies []Victim) (total uint64) {
	slices.SortFunc(copies, func(a, b Victim) int { return strings.Compare(a.Port, b.Port) })
	out := (*victims)[:0]
	for _, c := range copies {
		total += c.Bytes
		if n := len(out); n > 0 && out[n-1].Port == c.Port {
			out[n-1].Bytes += c.Bytes
			continue
		}
		out = append(out, c)
	}
	*victims = out
	return total
}

// learned reports whether the bridge's FDB confirms it has learned the
// flood's destination (then the flood is transient, not sustained).
func (d *Detector) learned(fdb FDB, st *floodState) bool {
	if fdb == nil {
		return false
	}
	l, ok := fdb.Learned(st.flood.Bridge, st.flood.VLAN, st.dst)
	return ok && l
}

// active returns the active floods, at most MaxReported per bridge, worst
// (highest byte rate) first. Only the floods reported are copied, their
// victims into one array.
func (d *Detector) active() []Flood {
	ranked := d.ranked[:0]
	for _, st := range d.floods {
		if st.active {
			ranked = append(ranked, st)
		}
	}
	if len(ranked) == 0 {
		return nil
	}
	out := d.report(ranked)
	clear(ranked) // hold no gone flood until the next poll
	d.ranked = ranked[:0]
	return out
}

// report ranks the active floods and copies out those reported.
func (d *Detector) report(ranked []*floodState) []Flood {
	slices.SortFunc(ranked, func(a, b *floodState) int {
		if c := cmp.Compare(b.flood.ByteRate, a.flood.ByteRate); c != 0 {
			return c
		}
		return compareFloodKeys(a.flood.FloodKey, b.flood.FloodKey)
	})
	var perBridge bridgeCounts // a host has few bridges
	kept, victims := ranked[:0], 0
	for _, st := range ranked {
		if !perBridge.admit(st.flood.Bridge, d.cfg.MaxReported) {
			continue
		}
		kept = append(kept, st)
		victims += len(st.flood.Victims)
	}
	out := make([]Flood, len(kept))
	all := make([]Victim, 0, victims)
	for i, st := range kept {
		out[i] = st.flood
		if n := len(st.flood.Victims); n > 0 {
			all = append(all, st.flood.Victims...)
			out[i].Victims = all[len(all)-n : len(all) : len(all)]
		} else {
			out[i].Victims = nil
		}
	}
	return out
}

type bridgeCount struct {
	bridge string
	n      int
}

type bridgeCounts []bridgeCount

// admit counts one more flood on bridge unless it has max already.
func (c *bridgeCounts) admit(bridge string, max int) bool {
	for i := range *c {
		if b := &(*c)[i]; b.bridge == bridge {
			if b.n >= max {
				return false
			}
			b.n++
			return true
		}
	}
	if max <= 0 {
		return false
	}
	*c = append(*c, bridgeCount{bridge, 1})
	return true
}

func compareFloodKeys(a, b FloodKey) int {
	if c := strings.Compare(a.Bridge, b.Bridge); c != 0 {
		return c
	}
	if c := strings.Compare(a.InPort, b.InPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.VLAN, b.VLAN); c != 0 {
		return c
	}
	return strings.Compare(a.DstMAC, b.DstMAC)
}
