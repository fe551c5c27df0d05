package collector

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"

// exporterMetrics are the agent's own health: each source's success and
// read time in the last poll, when that poll finished, the OVS version, and
// the detector's megaflow memory.
type exporterMetrics struct {
	sourceUp, pollDuration, lastPoll, ovsInfo *spec
	flowsRemembered                           *spec
}

func newExporterMetrics() *exporterMetrics {
	return &exporterMetrics{
		sourceUp:     gauge("ovs_flood_exporter_source_up", "1 if the source was read successfully in the last poll.", "source"),
		pollDuration: gauge("ovs_flood_exporter_poll_duration_seconds", "Time spent reading the source in the last poll.", "source"),
		lastPoll:     gauge("ovs_flood_exporter_last_poll_timestamp_seconds", "When the last poll finished (the agent polls on its own cadence, --poll.interval)."),
		ovsInfo:      gauge("ovs_flood_exporter_ovs_info", "The ovs-vswitchd version the agent talks to.", "version"),
		flowsRemembered: gauge("ovs_flood_exporter_megaflows_remembered",
			"Megaflows whose counters the detector keeps between polls; it follows the megaflows the last dumps showed, also when the datapath churns through new ones."),
	}
}

func (m *exporterMetrics) specs() []*spec {
	return []*spec{m.sourceUp, m.pollDuration, m.lastPoll, m.ovsInfo, m.flowsRemembered}
}

// beforeFirstPoll reports every source down: nothing has been read yet.
func (m *exporterMetrics) beforeFirstPoll(b *builder) {
	up := b.family(m.sourceUp)
	for _, src := range state.Sources {
		up.addValues(0, src)
	}
}

func (m *exporterMetrics) build(b *builder, s *state.Snapshot) {
	up, duration := b.family(m.sourceUp), b.family(m.pollDuration)
	for _, src := range state.SourcesOf(s) {
		st := s.Sources[src]
		l := b.labels(m.sourceUp, src)
		up.add(boolGauge(st.Up), l)
		duration.add(st.Duration.Seconds(), l)
	}
	b.family(m.lastPoll).addValues(float64(s.Time.UnixNano()) / 1e9)
	b.family(m.flowsRemembered).addValues(float64(s.Detect.FlowsRemembered))
	if s.OVSVersion != "" {
		b.family(m.ovsInfo).addValues(1, s.OVSVersion)
	}
}
