package detect

import "net"

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
type senders map[string]map[[6]byte]int64 // port -> MAC -> poll last seen

func macKey(m net.HardwareAddr) (k [6]byte, ok bool) {
	if len(m) != 6 {
		return k, false
	}
	copy(k[:], m)
	return k, true
}

// learn records this poll's source MACs by in_port, other than the ports'
// own attached MACs (already owned), and forgets old ones.
func (s senders) learn(flows []Flow, ports map[string]Port, poll int64) {
	for _, f := range flows {
		k, ok := macKey(f.Src)
		if !ok || f.Packets == 0 || !IsUnicast(f.Src) {
			continue
		}
		if own := ports[f.InPort].MAC; own != nil && string(own) == string(f.Src) {
			continue
		}
		macs := s[f.InPort]
		if macs == nil {
			macs = map[[6]byte]int64{}
			s[f.InPort] = macs
		}
		if _, known := macs[k]; !known && len(macs) >= maxSendersPerPort {
			continue
		}
		macs[k] = poll
	}
	if poll%60 != 0 {
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
	k, ok := macKey(mac)
	if !ok {
		return false, false
	}
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

// singleReceivers returns the megaflows that deliver a unicast frame to
// exactly one endpoint port that does not own the destination, which no
// FDB has learned there. Megaflows that carried nothing since the last
// poll (deltas, one per flow of in.Flows) are left out before the
// ownership and FDB checks: charge would add nothing for them, and on a
// busy host they are most of the dump.
func (d *Detector) singleReceivers(in Input, deltas []flowDelta) []Classified {
	var out []Classified
	for i := range in.Flows {
		f := &in.Flows[i]
		// cheap tests first: this runs over every megaflow of every poll
		if len(f.Outputs) != 1 || !IsUnicast(f.Dst) {
			continue
		}
		if deltas[i] == (flowDelta{}) {
			continue
		}
		o := f.Outputs[0]
		if o.Port == f.InPort && o.Tunnel == "" {
			continue
		}
		p, ok := in.Ports[o.Port]
		if !ok || !p.Endpoint {
			continue
		}
		if owned, known := d.senders.owns(p, f.Dst); owned || !known {
			continue
		}
		vlan := frameVLAN(*f, in.Ports[f.InPort], o.VLAN)
		if in.FDB != nil {
			if l, ok := in.FDB.Learned(p.Bridge, frameVLAN(*f, p, o.VLAN), f.Dst); ok && l {
				continue // forwarded to where the MAC was learned
			}
		}
		outs := []string{o.Port}
		out = append(out, Classified{Flow: *f, Bridge: bridgeOf(in.Ports[f.InPort], outs, in.Ports), VLAN: vlan, Outputs: outs, Single: true})
	}
	return out
}
