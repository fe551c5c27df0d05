package loop

import (
	"net"
	"slices"
	"sort"
)

// Station is a port whose MAC has the group bit set, as Dragonflow's SNAT
// port (91:92:…): a switch floods every frame sent to such a MAC, so all
// of the station's traffic is copied to every other port of its network.
type Station struct {
	Bridge, Port string
	MAC          net.HardwareAddr
	// Why says how the MAC was found: "attached-mac" (the port's
	// external_ids:attached-mac) or "source" (frames the port sends carry
	// it as their source, which no NIC may do).
	Why string
}

// PortMAC is a port and the MAC its VM was given (external_ids:attached-mac).
type PortMAC struct {
	Bridge, Port string
	MAC          net.HardwareAddr
}

// Stations is the set of station MACs of a host.
type Stations struct {
	byMAC map[[6]byte]Station
	// via is, per bridge and station MAC, the port of that bridge the
	// station is reached through (its own port, or the link towards it).
	via map[string]map[[6]byte]string
}

func key(mac net.HardwareAddr) (k [6]byte) {
	copy(k[:], mac)
	return k
}

// FindStations returns the stations among ports (by their attached MAC)
// and among the senders of flows (a port sending frames from a group-bit
// source MAC). A station found only by its frames is named by the VM port
// (one of ports) that sends them, else by the first port seen.
func FindStations(ports []PortMAC, flows Flows) Stations {
	s := Stations{byMAC: map[[6]byte]Station{}, via: map[string]map[[6]byte]string{}}
	// The VM ports, indexed only on first need: frames from a group MAC
	// are rare, and a poll would otherwise index every port.
	var vm map[[2]string]bool
	isVM := func(bridge, port string) bool {
		if vm == nil {
			vm = make(map[[2]string]bool, len(ports))
			for _, p := range ports {
				vm[[2]string{p.Bridge, p.Port}] = true
			}
		}
		return vm[[2]string{bridge, port}]
	}
	for _, p := range ports {
		if IsGroup(p.MAC) {
			s.byMAC[key(p.MAC)] = Station{Bridge: p.Bridge, Port: p.Port, MAC: p.MAC, Why: "attached-mac"}
			s.setVia(p.Bridge, p.MAC, p.Port)
		}
	}
	for f := range flows.counted() {
		if f.Src == nil || !IsGroup(f.Src) || f.InPort == "" {
			continue
		}
		bridge := flows.bridge(f)
		s.setVia(bridge, f.Src, f.InPort)
		old, ok := s.byMAC[key(f.Src)]
		if ok && (old.Why == "attached-mac" || isVM(old.Bridge, old.Port)) {
			continue
		}
		// A copy of the MAC: the report outlives the poll's dump.
		s.byMAC[key(f.Src)] = Station{Bridge: bridge, Port: f.InPort, MAC: slices.Clone(f.Src), Why: "source"}
	}
	return s
}

func (s *Stations) setVia(bridge string, mac net.HardwareAddr, port string) {
	m := s.via[bridge]
	if m == nil {
		m = map[[6]byte]string{}
		s.via[bridge] = m
	}
	if _, ok := m[key(mac)]; !ok {
		m[key(mac)] = port
	}
}

// Via returns the port of bridge through which the station with MAC mac is
// reached, "" when not known on that bridge.
func (s Stations) Via(bridge string, mac net.HardwareAddr) string { return s.via[bridge][key(mac)] }

// Has reports whether mac is a station's MAC.
func (s Stations) Has(mac net.HardwareAddr) bool {
	_, ok := s.byMAC[key(mac)]
	return ok
}

// Get returns the station with MAC mac.
func (s Stations) Get(mac net.HardwareAddr) (Station, bool) {
	st, ok := s.byMAC[key(mac)]
	return st, ok
}

// List returns the stations sorted by bridge and port.
func (s Stations) List() []Station {
	out := make([]Station, 0, len(s.byMAC))
	for _, st := range s.byMAC {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// StationFlood is traffic to a station's MAC that OVS copied to more than
// one port, from one entry port: to be reported like an unknown-unicast
// flood to that MAC.
type StationFlood struct {
	Bridge, InPort string
	Dst            net.HardwareAddr
	Station        Station
	// Victims are the ports that received copies: every output but the
	// station's own port (on another bridge: the port towards it, when
	// known).
	Victims        []string
	Packets, Bytes uint64
}

// StationFloods returns the floods to station MACs among flows, one per
// bridge, entry port and station, victims merged.
func StationFloods(flows Flows, st Stations) []StationFlood {
	type k struct {
		bridge, in string
		mac        [6]byte
	}
	sum := map[k]*StationFlood{}
	var order []k
	for f, d := range flows.counted() {
		if f.Dst == nil || f.DstMasked || len(f.Outputs) < 2 || d.Packets == 0 {
			continue
		}
		s, ok := st.Get(f.Dst)
		if !ok {
			continue
		}
		bridge := flows.bridge(f)
		kk := k{bridge, f.InPort, key(f.Dst)}
		sf := sum[kk]
		if sf == nil {
			sf = &StationFlood{Bridge: bridge, InPort: f.InPort, Dst: slices.Clone(f.Dst), Station: s}
			sum[kk] = sf
			order = append(order, kk)
		}
		sf.Packets += d.Packets
		sf.Bytes += d.Bytes
		via := st.Via(bridge, f.Dst)
		for _, o := range f.Outputs {
			if o.Port == via || o.Port == f.InPort || contains(sf.Victims, o.Port) {
				continue
			}
			sf.Victims = append(sf.Victims, o.Port)
		}
	}
	out := make([]StationFlood, 0, len(order))
	for _, kk := range order {
		sf := sum[kk]
		sort.Strings(sf.Victims)
		out = append(out, *sf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bytes > out[j].Bytes })
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
