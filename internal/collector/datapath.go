package collector

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"

// datapathMetrics are the datapaths' megaflow count and lookup counters,
// and whether the agent reads their megaflows with its bounded strategy.
type datapathMetrics struct {
	flows, hit, missed, bounded, blind, dropped *spec
}

func newDatapathMetrics() *datapathMetrics {
	return &datapathMetrics{
		flows:   gauge("ovs_datapath_flows", "Megaflows installed in the datapath.", "datapath"),
		hit:     counter("ovs_datapath_lookups_hit_total", "Datapath packets that hit an installed megaflow.", "datapath"),
		missed:  counter("ovs_datapath_lookups_missed_total", "Datapath packets that missed and went to ovs-vswitchd (upcalls).", "datapath"),
		bounded: gauge("ovs_flood_exporter_megaflow_dump_bounded", "1 when a full megaflow dump of the datapath would exceed --dpctl.max-flows or --dpctl.dump-budget, so the agent reads only a few ports' megaflows per poll (or none: see ovs_flood_exporter_megaflow_dump_blind).", "datapath"),
		blind:   gauge("ovs_flood_exporter_megaflow_dump_blind", "1 when the datapath has so many megaflows that not even one port's filtered dump fits --dpctl.max-flows/--dpctl.dump-budget: the agent reads no megaflow there and detects no new flood until the count falls (or the budget is raised).", "datapath"),
		dropped: gauge("ovs_flood_exporter_megaflows_dropped", "Megaflows of the last dump beyond the agent's parse cap (flooded unicast megaflows are kept first); the ports they enter by are not observed in that poll.", "datapath"),
	}
}

func (m *datapathMetrics) specs() []*spec {
	return []*spec{m.flows, m.hit, m.missed, m.bounded, m.blind, m.dropped}
}

func (m *datapathMetrics) build(b *builder, s *state.Snapshot) {
	flows, hit, missed := b.family(m.flows), b.family(m.hit), b.family(m.missed)
	bounded, blind, dropped := b.family(m.bounded), b.family(m.blind), b.family(m.dropped)
	for _, d := range s.Datapaths {
		l := b.labels(m.flows, d.Name)
		flows.add(float64(d.Flows), l)
		hit.add(float64(d.Hit), l)
		missed.add(float64(d.Missed), l)
		bounded.add(boolGauge(d.Bounded), l)
		blind.add(boolGauge(d.Blind), l)
		dropped.add(float64(d.Dropped), l)
	}
}
