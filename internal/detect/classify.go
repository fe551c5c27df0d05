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
}

// Classify returns the flows that are flooded unknown unicast: a unicast
// destination delivered to two or more distinct ports. It is pure.
func Classify(flows []Flow, ports map[string]Port) []Classified {
	var out []Classified
	for _, f := range flows {
		if !IsUnicast(f.Dst) || len(f.Outputs) < 2 {
			continue
		}
		outs, vlan := copies(f)
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

// copies returns the distinct ports f delivers to other than its in_port
// (a tunnel port once per remote) and the first VLAN tag seen on the wire
// (-1 for none).
func copies(f Flow) (outs []string, vlan int) {
	seen := make(map[Output]bool, len(f.Outputs))
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
