package detect

import (
	"net"
	"sort"
)

// floodState is a flood's streak between polls.
type floodState struct {
	flood   Flood
	streak  int // consecutive flooded polls
	quiet   int // consecutive quiet polls
	active  bool
	leaked  uint64
	touched bool
}

// advance moves every flood's streak by one poll: the floods seen flooding
// in polled, then the others, which are quiet if their port was looked at.
// It returns the floods that started or ended.
func (d *Detector) advance(in Input, polled map[FloodKey]*polledFlood, elapsed float64) []Event {
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
		if d.flooding(st, a, d.learned(in.FDB, fk), elapsed) {
			st.flood.Since = in.Time
			events = append(events, Event{Kind: FloodStarted, Flood: copyFlood(st.flood)})
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
		return true
	}
	return false
}

// learned reports whether the bridge's FDB confirms it has learned the
// flood's destination (then the flood is transient, not sustained).
func (d *Detector) learned(fdb FDB, fk FloodKey) bool {
	if fdb == nil {
		return false
	}
	dst, err := net.ParseMAC(fk.DstMAC)
	if err != nil {
		return false
	}
	l, ok := fdb.Learned(fk.Bridge, fk.VLAN, dst)
	return ok && l
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
