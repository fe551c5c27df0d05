// Package collectortest makes snapshots of a large host for tests and
// benchmarks of the metrics path, without OVS.
package collectortest

import (
	"fmt"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Host returns the snapshot a steady poll publishes on the benchmark host
// of bench/ at the given port count (500 there): Neutron-named VM ports
// on br-int, ten per VLAN, one flooding sender per VLAN whose copies reach
// the other nine, the ten worst floods active with their victims, the
// OpenFlow tables of a Neutron pipeline (most of OVS's 255 tables empty).
// poll makes the counters differ from one poll to the next.
func Host(ports, poll int) *state.Snapshot {
	const perVLAN, reported = 10, 10
	s := &state.Snapshot{
		Time:       time.Unix(1_795_227_087+int64(poll)*5, 0),
		OVSVersion: "3.1.0",
		Sources:    map[string]state.SourceStatus{},
		Datapaths:  []state.Datapath{{Name: "netdev@ovs-netdev", Flows: 5000, Hit: 11000 + uint64(poll), Missed: 9000, Dumped: 5000}},
		Detect: detect.Result{
			Flooded:     map[detect.CounterKey]detect.Counter{},
			Leaked:      map[detect.PortKey]uint64{},
			PollSeconds: 5, FlowsRemembered: 5000,
		},
		Rules: map[detect.FloodKey]state.RuleRef{},
	}
	for i, src := range state.Sources {
		s.Sources[src] = state.SourceStatus{Up: true, Duration: time.Duration(i+1) * 350 * time.Microsecond}
	}
	br := state.Bridge{Name: "br-int", DatapathType: "netdev", MACAgingTime: 300,
		FDB:         &state.FDB{Entries: 4000, Max: 8192, Learned: 4000, Expired: 12, Moved: 3},
		NormalRules: []state.Rule{{Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578, Packets: 9000, Bytes: 954000}}}
	rules := map[uint8]uint32{0: 501, 72: 18998, 81: 500, 94: 1}
	for id := range 255 {
		br.Tables = append(br.Tables, state.Table{ID: uint8(id), Rules: rules[uint8(id)], Lookups: 20000, Matches: 20000})
	}
	s.Bridges = []state.Bridge{br}
	s.Ports = append(s.Ports, state.Port{Bridge: "br-int", Name: "br-int", OFPort: 65534, VLAN: -1, Type: "internal", Device: "br-int"})
	for i := range ports {
		name := fmt.Sprintf("tapbe%06x-00", i)
		vlan := 100 + i/perVLAN
		s.Ports = append(s.Ports, state.Port{Bridge: "br-int", Name: name, OFPort: i + 1, VLAN: vlan, Device: name,
			IfaceID:     fmt.Sprintf("be%06x-%04x-4000-8000-%012x", i, i, i),
			AttachedMAC: fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			VMUUID:      fmt.Sprintf("%08x-0000-4000-9000-%012x", i, i),
			Counters: &state.Counters{RxBytes: uint64(1000*poll + i), RxPackets: uint64(10*poll + i),
				TxBytes: uint64(21200*poll + i), TxPackets: uint64(200*poll + i)}})
		pk := detect.PortKey{Bridge: "br-int", Port: name}
		if i%perVLAN == 0 {
			s.Detect.Flooded[detect.CounterKey{Bridge: "br-int", InPort: name, VLAN: vlan}] = detect.Counter{Packets: uint64(200 * poll), Bytes: uint64(21200 * poll)}
			continue
		}
		s.Detect.Leaked[pk] = uint64(21200 * poll)
		s.Detect.Ratios = append(s.Detect.Ratios, detect.Ratio{PortKey: pk, Ratio: 1, Leaked: 21200, Received: 21200})
	}
	for f := 0; f < reported && f*perVLAN < ports; f++ {
		in := f * perVLAN
		k := detect.FloodKey{Bridge: "br-int", InPort: fmt.Sprintf("tapbe%06x-00", in), VLAN: 100 + f, DstMAC: fmt.Sprintf("02:ee:ee:00:00:%02x", f)}
		fl := detect.Flood{FloodKey: k, PacketRate: 40, ByteRate: 4240}
		for v := in + 1; v < min(in+perVLAN, ports); v++ {
			fl.Victims = append(fl.Victims, detect.Victim{Port: fmt.Sprintf("tapbe%06x-00", v), Bytes: 21200})
		}
		s.Detect.Active = append(s.Detect.Active, fl)
		s.Rules[k] = state.RuleRef{Bridge: "br-int", Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578}
	}
	return s
}
