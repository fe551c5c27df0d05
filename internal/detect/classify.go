package detect

import "net"

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
	// Single is true for a unicast frame delivered to one VM port that
	// does not own its destination (see singleReceivers).
	Single bool
}

// Classify returns the flows that are flooded unknown unicast: a unicast
// destination delivered to two or more distinct ports. It is pure.
func Classify(flows []Flow, ports map[string]Port) []Classified {
	// Sized for every candidate up front: growing a slice of large
	// entries costs more than one pass over the flows.
	n := 0
	for i := range flows {
		if candidate(&flows[i]) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Classified, 0, n)
	seen := map[Output]bool{} // copies' scratch, one for every flow
	for _, f := range flows {
		if !candidate(&f) {
			continue
		}
		outs, vlan := copies(f, seen)
		if len(outs) < 2 {
			continue
		}
		in := ports[f.InPort]
		out = append(out, Classified{Flow: f, Bridge: bridgeOf(in, outs, ports), VLAN: frameVLAN(f, in, vlan), Outputs: outs})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// candidate says whether f may be a flood of unknown unicast: a unicast
// destination with two outputs or more.
func candidate(f *Flow) bool { return IsUnicast(f.Dst) && len(f.Outputs) >= 2 }

// frameVLAN is the VLAN a flood is reported on: an access port's tag,
// else the tag the frame entered with (a trunk, or a VM's tagged sub-port),
// else the first tag seen at an output (seen), else 0.
func frameVLAN(f Flow, in Port, seen int) int {
	switch {
	case in.VLAN >= 0 && in.Name != "":
		return in.VLAN
	case f.VLAN > 0:
		return f.VLAN
	case seen >= 0:
		return seen
	default:
		return 0
	}
}

// bridgeOf is the bridge a flood is reported on: its in_port's, or, when
// the in_port is no OVS port (a datapath tunnel device the agent could
// not resolve), the bridge of the first port it reached, so that a flood
// is never reported without a bridge.
func bridgeOf(in Port, outs []string, ports map[string]Port) string {
	if in.Bridge != "" {
		return in.Bridge
	}
	for _, o := range outs {
		if b := ports[o].Bridge; b != "" {
			return b
		}
	}
	return ""
}

// copies returns the distinct ports f delivers to other than its in_port
// (a tunnel port once per remote) and the first VLAN tag seen on the wire
// (-1 for none). seen is its scratch set, cleared on every call: one set
// for all the flows of a poll, not one per flow.
func copies(f Flow, seen map[Output]bool) (outs []string, vlan int) {
	clear(seen)
	outs = make([]string, 0, len(f.Outputs))
	vlan = -1
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
	return outs, vlan
}
