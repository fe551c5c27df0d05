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
	var scratch copyScratch
	for i := range flows {
		f := &flows[i]
		if !candidate(f) {
			continue
		}
		outs, vlan := scratch.of(f)
		if len(outs) < 2 {
			continue
		}
		in := ports[f.InPort]
		out = append(out, Classified{Flow: *f, Bridge: bridgeOf(in, outs, ports), VLAN: frameVLAN(*f, in, vlan),
			Outputs: append([]string(nil), outs...)})
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

// copyScratch holds what judging a megaflow's copies needs, kept for all
// the megaflows of a poll.
type copyScratch struct {
	outs []string
	// seen holds the copies taken so far, a tunnel port once per remote;
	// byMap replaces it for a megaflow with many outputs.
	seen  []copyID
	byMap map[copyID]bool
	buf   []byte // a station MAC as text
}

type copyID struct{ port, tunnel string }

// manyOutputs is the output count from which the copies are told apart
// by a map rather than by comparing each with those taken.
const manyOutputs = 16

// of returns the distinct ports f delivers to other than its in_port (a
// tunnel port once per remote), in the order of its actions, and the first
// VLAN tag seen on the wire (-1 for none). outs is s's: it holds until the
// next call.
func (s *copyScratch) of(f *Flow) (outs []string, vlan int) {
	s.outs, s.seen = s.outs[:0], s.seen[:0]
	many := len(f.Outputs) > manyOutputs
	if many {
		if s.byMap == nil {
			s.byMap = map[copyID]bool{}
		}
		clear(s.byMap)
	}
	vlan = -1
	for _, o := range f.Outputs {
		if o.Port == f.InPort && o.Tunnel == "" {
			continue
		}
		id := copyID{o.Port, o.Tunnel}
		if many {
			if s.byMap[id] {
				continue
			}
			s.byMap[id] = true
		} else if s.taken(id) {
			continue
		}
		s.outs = append(s.outs, o.Port)
		if vlan < 0 && o.VLAN >= 0 {
			vlan = o.VLAN
		}
	}
	return s.outs, vlan
}

// taken reports whether id is among the copies taken, adding it if not.
func (s *copyScratch) taken(id copyID) bool {
	for _, c := range s.seen {
		if c == id {
			return true
		}
	}
	s.seen = append(s.seen, id)
	return false
}
