package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// openFlowMetrics are the bridges' OpenFlow table statistics and the
// counters of the rules whose actions include NORMAL.
type openFlowMetrics struct {
	lookups, matches, rules    *prometheus.Desc
	normalPackets, normalBytes *prometheus.Desc
}

func newOpenFlowMetrics() *openFlowMetrics {
	tbl := []string{"bridge", "table"}
	rule := []string{"bridge", "table", "priority", "cookie"}
	return &openFlowMetrics{
		lookups: newDesc("ovs_openflow_table_lookups_total", "Packets looked up in this OpenFlow table.", tbl...),
		matches: newDesc("ovs_openflow_table_matches_total", "Packets that matched a rule in this OpenFlow table.", tbl...),
		rules:   newDesc("ovs_openflow_table_rules", "Active rules in this OpenFlow table.", tbl...),
		normalPackets: newDesc("ovs_openflow_normal_rule_packets_total",
			"Packets that hit an OpenFlow rule whose actions include NORMAL (MAC learning switch).", rule...),
		normalBytes: newDesc("ovs_openflow_normal_rule_bytes_total",
			"Bytes that hit an OpenFlow rule whose actions include NORMAL.", rule...),
	}
}

func (m *openFlowMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.lookups, m.matches, m.rules, m.normalPackets, m.normalBytes)
}

func (m *openFlowMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	for _, b := range s.Bridges {
		for _, t := range b.Tables {
			if t.Rules == 0 {
				continue // OVS reports 255 tables; a pipeline uses a few
			}
			id := strconv.Itoa(int(t.ID))
			emitCounter(ch, m.lookups, t.Lookups, b.Name, id)
			emitCounter(ch, m.matches, t.Matches, b.Name, id)
			emitGauge(ch, m.rules, float64(t.Rules), b.Name, id)
		}
		m.collectNormal(ch, b)
	}
}

// collectNormal emits one series per table, priority and cookie; rules that
// differ only by match share those labels, and the first one is reported.
func (m *openFlowMetrics) collectNormal(ch chan<- prometheus.Metric, b state.Bridge) {
	type ruleID struct {
		table    uint8
		priority uint16
		cookie   uint64
	}
	seen := map[ruleID]bool{}
	for _, r := range b.NormalRules {
		id := ruleID{r.Table, r.Priority, r.Cookie}
		if seen[id] {
			continue
		}
		seen[id] = true
		l := []string{b.Name, strconv.Itoa(int(r.Table)), strconv.Itoa(int(r.Priority)), label.Cookie(r.Cookie)}
		emitCounter(ch, m.normalPackets, r.Packets, l...)
		emitCounter(ch, m.normalBytes, r.Bytes, l...)
	}
}
