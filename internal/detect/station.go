package detect

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
	seen := map[Output]bool{} // copies' scratch, one for every flow
	for _, f := range flows {
		if len(f.Dst) != 6 || IsUnicast(f.Dst) || len(f.Outputs) < 2 {
			continue
		}
		own, ok := stations[f.Dst.String()]
		if !ok {
			continue
		}
		outs, vlan := copies(f, seen)
		kept := outs[:0]
		for _, o := range outs {
			if o != own {
				kept = append(kept, o)
			}
		}
		if len(kept) == 0 {
			continue
		}
		in := ports[f.InPort]
		if in.VLAN >= 0 && in.Name != "" {
			vlan = in.VLAN
		}
		if vlan < 0 {
			vlan = 0
		}
		out = append(out, Classified{Flow: f, Bridge: in.Bridge, VLAN: vlan, Outputs: kept})
	}
	return out
}
