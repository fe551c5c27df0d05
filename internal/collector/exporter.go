package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// exporterMetrics are the agent's own health: each source's success and
// read time in the last poll, when that poll finished, the OVS version, and
// the detector's megaflow memory.
type exporterMetrics struct {
	sourceUp, pollDuration, lastPoll, ovsInfo *prometheus.Desc
	flowsRemembered                           *prometheus.Desc
}

func newExporterMetrics() *exporterMetrics {
	return &exporterMetrics{
		sourceUp:     newDesc("ovs_flood_exporter_source_up", "1 if the source was read successfully in the last poll.", "source"),
		pollDuration: newDesc("ovs_flood_exporter_poll_duration_seconds", "Time spent reading the source in the last poll.", "source"),
		lastPoll:     newDesc("ovs_flood_exporter_last_poll_timestamp_seconds", "When the last poll finished (the agent polls on its own cadence, --poll.interval)."),
		ovsInfo:      newDesc("ovs_flood_exporter_ovs_info", "The ovs-vswitchd version the agent talks to.", "version"),
		flowsRemembered: newDesc("ovs_flood_exporter_megaflows_remembered",
			"Megaflows whose counters the detector keeps between polls; it follows the megaflows the last dumps showed, also when the datapath churns through new ones."),
	}
}

func (m *exporterMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.sourceUp, m.pollDuration, m.lastPoll, m.ovsInfo, m.flowsRemembered)
}

// beforeFirstPoll reports every source down: nothing has been read yet.
func (m *exporterMetrics) beforeFirstPoll(ch chan<- prometheus.Metric) {
	for _, src := range state.Sources {
		emitGauge(ch, m.sourceUp, 0, src)
	}
}

func (m *exporterMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	for _, src := range state.SourcesOf(s) {
		st := s.Sources[src]
		emitGauge(ch, m.sourceUp, boolGauge(st.Up), src)
		emitGauge(ch, m.pollDuration, st.Duration.Seconds(), src)
	}
	emitGauge(ch, m.lastPoll, float64(s.Time.UnixNano())/1e9)
	emitGauge(ch, m.flowsRemembered, float64(s.Detect.FlowsRemembered))
	if s.OVSVersion != "" {
		emitGauge(ch, m.ovsInfo, 1, s.OVSVersion)
	}
}
