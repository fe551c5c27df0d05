package detect

import (
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/macaddr"
)

// A unicast frame delivered to exactly one port is normally forwarding to
// its owner. It is a leak when that one port is a VM's and the VM does not
// own the destination: OVN sends frames for MACs no port owns to the one
// port whose addresses say "unknown", and a VXLAN receiver whose only VM
// gets another host's unknown unicast sees a single output too. Nested
// MACs (allowed-address pairs, containers behind a VM, VRRP) are owned by
// their VM: they are in its OVN addresses or port security, and the VM
// sends from them.

// maxSendersPerPort bounds the source MACs remembered per port, so that a
// VM sending from random MACs cannot grow the detector's memory.
const maxSendersPerPort = 64

// senderMemoryPolls is how long a MAC a port sent from stays owned by it
// without being seen again (an hour at the default 5 s poll).
const senderMemoryPolls = 720

// senders remembers the source MACs each port was seen sending from.
type senders map[string]map[uint64]int64 // port -> MAC (macaddr.Bits) -> poll last seen

// senderSweepPolls is how often the senders forget old MACs. A MAC's
// last-seen poll is only read by a sweep, which compares it with a
// multiple of senderSweepPolls (senderMemoryPolls is one): only the span
// of senderSweepPolls polls it fell in matters. So a megaflow whose memory
// says it settled the same MAC in the current span is not looked up again
// (learnFlow).
const senderSweepPolls = 60

// learn records this poll's source MACs by in_port, other than the ports'
// own attached MACs (already owned), and forgets old ones. It is learnFlow
// for flows without a megaflow memory.
func (s senders) learn(flows []Flow, ports map[string]Port, poll int64) {
	for i := range flows {
		s.learnFlow(&flows[i], ports, poll, nil)
	}
	s.sweep(poll)
}

// learnFlow records f's source MAC for its in_port. memo, when not nil,
// is f's megaflow memory before this poll's dump updates it: learnFlow
// notes there the span in which it settled which MAC (refreshed it, or
// found the port's MACs at the cap without it), and skips the megaflow
// when it already did in this span for the same in_port and MAC.
func (s senders) learnFlow(f *Flow, ports map[string]Port, poll int64, memo *flowMemo) {
	k, span := macaddr.Bits(f.Src), uint32(poll/senderSweepPolls)+1
	if memo != nil {
		if memo.learnedSpan == span && memo.learnedMAC == k && memo.inPort == f.InPort {
			return
		}
		memo.learnedSpan = 0
	}
	if f.Packets == 0 || !IsUnicast(f.Src) {
		return
	}
	if own := ports[f.InPort].MAC; own != nil && string(own) == string(f.Src) {
		return
	}
	macs := s[f.InPort]
	if macs == nil {
		macs = map[uint64]int64{}
		s[f.InPort] = macs
	}
	if _, known := macs[k]; !known && len(macs) >= maxSendersPerPort {
		// Refused at the cap, which holds for the rest of the span (a
		// port's MACs only grow in it) unless this poll sweeps.
		if memo != nil && poll%senderSweepPolls != 0 {
			memo.learnedSpan, memo.learnedMAC = span, k
		}
		return
	}
	macs[k] = poll
	if memo != nil {
		memo.learnedSpan, memo.learnedMAC = span, k
	}
}

// sweep forgets, once every senderSweepPolls, the MACs not seen for
// senderMemoryPolls.
func (s senders) sweep(poll int64) {
	if poll%senderSweepPolls != 0 {
		return
	}
	for port, macs := range s {
		for k, seen := range macs {
			if poll-seen > senderMemoryPolls {
				delete(macs, k)
			}
		}
		if len(macs) == 0 {
			delete(s, port)
		}
	}
}

// owns reports whether port owns mac: its attached MAC, its other known
// MACs, or a MAC it sends from. known is false when nothing is known of
// the port's MACs (then nothing is concluded).
func (s senders) owns(p Port, mac net.HardwareAddr) (owned, known bool) {
	if len(mac) != 6 {
		return false, false
	}
	k := macaddr.Bits(mac)
	if p.MAC != nil {
		known = true
		if string(p.MAC) == string(mac) {
			return true, true
		}
	}
	for _, m := range p.MACs {
		known = true
		if string(m) == string(mac) {
			return true, true
		}
	}
	if _, sent := s[p.Name][k]; sent {
		return true, true
	}
	return false, known
}

// singleReceiver judges f, the megaflow of in.Flows whose delta since the
// last poll is delta: ok when it delivers a unicast frame to exactly one
// endpoint port that does not own the destination, which no FDB has
// learned there, with the flood it is charged to. A megaflow that carried
// nothing since the last poll is left out before the ownership and FDB
// checks: charge would add nothing for it, and on a busy host such
// megaflows are most of the dump.
func (d *Detector) singleReceiver(in *Input, f *Flow, delta flowDelta) (id floodID, ok bool) {
	// cheap tests first: this runs over every megaflow of every poll
	if len(f.Outputs) != 1 || !IsUnicast(f.Dst) || delta == (flowDelta{}) {
		return id, false
	}
	o := f.Outputs[0]
	if o.Port == f.InPort && o.Tunnel == "" {
		return id, false
	}
	p, ok := in.Ports[o.Port]
	if !ok || !p.Endpoint {
		return id, false
	}
	if owned, known := d.senders.owns(p, f.Dst); owned || !known {
		return id, false
	}
	from := in.Ports[f.InPort]
	vlan := frameVLAN(*f, from, o.VLAN)
	if in.FDB != nil {
		if l, ok := in.FDB.Learned(p.Bridge, frameVLAN(*f, p, o.VLAN), f.Dst); ok && l {
			return id, false // forwarded to where the MAC was learned
		}
	}
	bridge := from.Bridge
	if bridge == "" {
		bridge = p.Bridge // bridgeOf with the one output
	}
	return floodID{bridge: bridge, inPort: f.InPort, vlan: vlan, dst: macaddr.Bits(f.Dst)}, true
}
