package collector

import (
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// floodMetrics are the detector's findings: flood and leak counters, the
// active floods with their rate, rule and victims, and leak ratios.
type floodMetrics struct {
	packets, bytes, leaked  *spec
	active, rateBytes, rate *spec
	rule, victim, leakRatio *spec
}

func newFloodMetrics() *floodMetrics {
	flood := []string{"bridge", "in_port", "vlan"}
	active := []string{"bridge", "in_port", "vlan", "dst_mac"}
	return &floodMetrics{
		packets: counter("ovs_flood_unknown_unicast_packets_total",
			"Unicast packets OVS delivered to more than one port because the destination MAC was not learned, by the port where they entered.", flood...),
		bytes: counter("ovs_flood_unknown_unicast_bytes_total",
			"Bytes of unicast frames OVS delivered to more than one port because the destination MAC was not learned.", flood...),
		leaked: counter("ovs_flood_leaked_bytes_total",
			"Bytes delivered to this endpoint port (a VM), or sent through this tunnel port to its remote host, as copies of flooded frames addressed to some other MAC.", "bridge", "port"),
		active: gauge("ovs_flood_active",
			"1 while a sustained unknown-unicast flood to dst_mac is detected; absent otherwise. At most --flood.max-reported series per bridge, worst first. Detection runs on the agent's own poll cadence (--poll.interval), not at scrape time.", active...),
		rateBytes: gauge("ovs_flood_rate_bytes",
			"Current flooded bytes per second of an active flood (same series as ovs_flood_active).", active...),
		rate: gauge("ovs_flood_rate_packets",
			"Current flooded packets per second of an active flood (same series as ovs_flood_active).", active...),
		rule: gauge("ovs_flood_rule_info",
			"The OpenFlow rule whose NORMAL action floods an active flood, as found by ofproto/trace.", "bridge", "in_port", "vlan", "dst_mac", "table", "priority", "cookie"),
		victim: gauge("ovs_flood_victim_rate_bytes",
			"Bytes per second of an active flood copied to a victim port.", "bridge", "in_port", "vlan", "dst_mac", "port"),
		leakRatio: gauge("ovs_flood_leak_ratio",
			"Share (0-1) of what the device behind this endpoint port delivered to its VM over the detection window that was copies of other hosts' flooded unicast; absent for a port that never received a copy, or that received nothing in the window.", "bridge", "port"),
	}
}

func (m *floodMetrics) specs() []*spec {
	return []*spec{m.packets, m.bytes, m.leaked, m.active, m.rateBytes, m.rate, m.rule, m.victim, m.leakRatio}
}

func (m *floodMetrics) build(b *builder, s *state.Snapshot) {
	det := s.Detect
	packets, bytes := b.family(m.packets), b.family(m.bytes)
	for k, v := range det.Flooded {
		l := b.labels(m.packets, k.Bridge, k.InPort, vlanLabel(k.VLAN))
		packets.add(float64(v.Packets), l)
		bytes.add(float64(v.Bytes), l)
	}
	leaked := b.family(m.leaked)
	for k, v := range det.Leaked {
		leaked.addValues(float64(v), k.Bridge, k.Port)
	}
	m.buildActive(b, s)
	ratio := b.family(m.leakRatio)
	for _, r := range det.Ratios {
		if r.Leaked == 0 && r.Received == 0 {
			continue // 0 of 0: nothing to say about this window
		}
		ratio.addValues(r.Ratio, r.Bridge, r.Port)
	}
}

func (m *floodMetrics) buildActive(b *builder, s *state.Snapshot) {
	det := s.Detect
	active, rateBytes, rate := b.family(m.active), b.family(m.rateBytes), b.family(m.rate)
	rule, victim := b.family(m.rule), b.family(m.victim)
	for _, f := range det.Active {
		vlan := vlanLabel(f.VLAN)
		l := b.labels(m.active, f.Bridge, f.InPort, vlan, f.DstMAC)
		active.add(1, l)
		rateBytes.add(f.ByteRate, l)
		rate.add(f.PacketRate, l)
		if r, ok := s.Rules[f.FloodKey]; ok {
			rule.addValues(1, f.Bridge, f.InPort, vlan, f.DstMAC, itoa(r.Table), itoa(r.Priority), label.Cookie(r.Cookie))
		}
		if dt := det.PollSeconds; dt > 0 {
			for _, v := range f.Victims {
				victim.addValues(float64(v.Bytes)/dt, f.Bridge, f.InPort, vlan, f.DstMAC, v.Port)
			}
		}
	}
}
