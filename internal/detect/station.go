package detect

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/macaddr"

// ClassifyStations returns the flows addressed to a station's MAC that
// were delivered to two or more ports. A station (Dragonflow's SNAT port,
// 91:92:…) has a MAC with the group bit set, so every switch floods what is
// sent to it: those floods are reported like unknown unicast. stations maps
// each station MAC (as net.HardwareAddr.String prints it) to the station's
// port, which is dropped from the copies: it is the frames' destination.
// It is pure.
func ClassifyStations(flows []Flow, ports map[string]Port, stations map[string]string) []Classified {
	if len(stations) == 0 {
		return nil
	}
	var out []Classified
	var scratch copyScratch
	for i := range flows {
		f := &flows[i]
		if id, outs, ok := scratch.station(f, ports, stations); ok {
			out = append(out, Classified{Flow: *f, Bridge: id.bridge, VLAN: id.vlan, Outputs: append([]string(nil), outs...)})
		}
	}
	return out
}

// station judges f as ClassifyStations does: ok when it is a flood to a
// station, with its flood and the ports its copies reached (s's, until
// the next call).
func (s *copyScratch) station(f *Flow, ports map[string]Port, stations map[string]string) (id floodID, outs []string, ok bool) {
	if len(f.Dst) != 6 || IsUnicast(f.Dst) || len(f.Outputs) < 2 {
		return id, nil, false
	}
	s.buf = macaddr.Append(s.buf[:0], f.Dst)
	own, ok := stations[string(s.buf)]
	if !ok {
		return id, nil, false
	}
	outs, vlan := s.of(f)
	kept := outs[:0]
	for _, o := range outs {
		if o != own {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		return id, nil, false
	}
	in := ports[f.InPort]
	if in.VLAN >= 0 && in.Name != "" {
		vlan = in.VLAN
	}
	if vlan < 0 {
		vlan = 0
	}
	return floodID{bridge: in.Bridge, inPort: f.InPort, vlan: vlan, dst: macaddr.Bits(f.Dst)}, kept, true
}
