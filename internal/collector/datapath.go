package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// datapathMetrics are the datapaths' megaflow count and lookup counters,
// and whether the agent reads their megaflows with its bounded strategy.
type datapathMetrics struct {
	flows, hit, missed, bounded, blind, dropped *prometheus.Desc
}

func newDatapathMetrics() *datapathMetrics {
	return &datapathMetrics{
		flows:   newDesc("ovs_datapath_flows", "Megaflows installed in the datapath.", "datapath"),
		hit:     newDesc("ovs_datapath_lookups_hit_total", "Datapath packets that hit an installed megaflow.", "datapath"),
		missed:  newDesc("ovs_datapath_lookups_missed_total", "Datapath packets that missed and went to ovs-vswitchd (upcalls).", "datapath"),
		bounded: newDesc("ovs_flood_exporter_megaflow_dump_bounded", "1 when a full megaflow dump of the datapath would exceed --dpctl.max-flows or --dpctl.dump-budget, so the agent reads only a few ports' megaflows per poll (or none: see ovs_flood_exporter_megaflow_dump_blind).", "datapath"),
		blind:   newDesc("ovs_flood_exporter_megaflow_dump_blind", "1 when the datapath has so many megaflows that not even one port's filtered dump fits --dpctl.max-flows/--dpctl.dump-budget: the agent reads no megaflow there and detects no new flood until the count falls (or the budget is raised).", "datapath"),
		dropped: newDesc("ovs_flood_exporter_megaflows_dropped", "Megaflows of the last dump beyond the agent's parse cap (flooded unicast megaflows are kept first); the ports they enter by are not observed in that poll.", "datapath"),
	}
}

func (m *datapathMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.flows, m.hit, m.missed, m.bounded, m.blind, m.dropped)
}

func (m *datapathMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	for _, d := range s.Datapaths {
		emitGauge(ch, m.flows, float64(d.Flows), d.Name)
		emitCounter(ch, m.hit, d.Hit, d.Name)
		emitCounter(ch, m.missed, d.Missed, d.Name)
		emitGauge(ch, m.bounded, boolGauge(d.Bounded), d.Name)
		emitGauge(ch, m.blind, boolGauge(d.Blind), d.Name)
		emitGauge(ch, m.dropped, float64(d.Dropped), d.Name)
	}
}
