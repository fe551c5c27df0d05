package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// floodMetrics are the detector's findings: flood and leak counters, the
// active floods with their rate, rule and victims, and leak ratios.
type floodMetrics struct {
	packets, bytes, leaked  *prometheus.Desc
	active, rateBytes, rate *prometheus.Desc
	rule, victim, leakRatio *prometheus.Desc
}

func newFloodMetrics() *floodMetrics {
	flood := []string{"bridge", "in_port", "vlan"}
	active := []string{"bridge", "in_port", "vlan", "dst_mac"}
	return &floodMetrics{
		packets: newDesc("ovs_flood_unknown_unicast_packets_total",
			"Unicast packets OVS delivered to more than one port because the destination MAC was not learned, by the port where they entered.", flood...),
		bytes: newDesc("ovs_flood_unknown_unicast_bytes_total",
			"Bytes of unicast frames OVS delivered to more than one port because the destination MAC was not learned.", flood...),
		leaked: newDesc("ovs_flood_leaked_bytes_total",
			"Bytes delivered to this endpoint port (a VM), or sent through this tunnel port to its remote host, as copies of flooded frames addressed to some other MAC.", "bridge", "port"),
		active: newDesc("ovs_flood_active",
			"1 while a sustained unknown-unicast flood to dst_mac is detected; absent otherwise. At most --flood.max-reported series per bridge, worst first. Detection runs on the agent's own poll cadence (--poll.interval), not at scrape time.", active...),
		rateBytes: newDesc("ovs_flood_rate_bytes",
			"Current flooded bytes per second of an active flood (same series as ovs_flood_active).", active...),
		rate: newDesc("ovs_flood_rate_packets",
			"Current flooded packets per second of an active flood (same series as ovs_flood_active).", active...),
		rule: newDesc("ovs_flood_rule_info",
			"The OpenFlow rule whose NORMAL action floods an active flood, as found by ofproto/trace.", "bridge", "in_port", "vlan", "dst_mac", "table", "priority", "cookie"),
		victim: newDesc("ovs_flood_victim_rate_bytes",
			"Bytes per second of an active flood copied to a victim port.", "bridge", "in_port", "vlan", "dst_mac", "port"),
		leakRatio: newDesc("ovs_flood_leak_ratio",
			"Share (0-1) of what the device behind this endpoint port delivered to its VM over the detection window that was copies of other hosts' flooded unicast.", "bridge", "port"),
	}
}

func (m *floodMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.packets, m.bytes, m.leaked, m.active, m.rateBytes, m.rate, m.rule, m.victim, m.leakRatio)
}

func (m *floodMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	det := s.Detect
	for k, v := range det.Flooded {
		vlan := label.VLAN(k.VLAN)
		emitCounter(ch, m.packets, v.Packets, k.Bridge, k.InPort, vlan)
		emitCounter(ch, m.bytes, v.Bytes, k.Bridge, k.InPort, vlan)
	}
	for k, v := range det.Leaked {
		emitCounter(ch, m.leaked, v, k.Bridge, k.Port)
	}
	for _, f := range det.Active {
		l := []string{f.Bridge, f.InPort, label.VLAN(f.VLAN), f.DstMAC}
		emitGauge(ch, m.active, 1, l...)
		emitGauge(ch, m.rateBytes, f.ByteRate, l...)
		emitGauge(ch, m.rate, f.PacketRate, l...)
		if r, ok := s.Rules[f.FloodKey]; ok {
			emitGauge(ch, m.rule, 1, append(l, strconv.Itoa(r.Table), strconv.Itoa(r.Priority), label.Cookie(r.Cookie))...)
		}
		if dt := det.PollSeconds; dt > 0 {
			for _, v := range f.Victims {
				emitGauge(ch, m.victim, float64(v.Bytes)/dt, append(l, v.Port)...)
			}
		}
	}
	for _, r := range det.Ratios {
		emitGauge(ch, m.leakRatio, r.Ratio, r.Bridge, r.Port)
	}
}
