package collector

import (
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// openFlowMetrics are the bridges' OpenFlow table statistics and the
// counters of the rules whose actions include NORMAL.
type openFlowMetrics struct {
	lookups, matches, rules    *spec
	normalPackets, normalBytes *spec
}

func newOpenFlowMetrics() *openFlowMetrics {
	tbl := []string{"bridge", "table"}
	rule := []string{"bridge", "table", "priority", "cookie"}
	return &openFlowMetrics{
		lookups: counter("ovs_openflow_table_lookups_total", "Packets looked up in this OpenFlow table.", tbl...),
		matches: counter("ovs_openflow_table_matches_total", "Packets that matched a rule in this OpenFlow table.", tbl...),
		rules:   gauge("ovs_openflow_table_rules", "Active rules in this OpenFlow table; tables without rules have no ovs_openflow_table_* series.", tbl...),
		normalPackets: counter("ovs_openflow_normal_rule_packets_total",
			"Packets that hit an OpenFlow rule whose actions include NORMAL (MAC learning switch).", rule...),
		normalBytes: counter("ovs_openflow_normal_rule_bytes_total",
			"Bytes that hit an OpenFlow rule whose actions include NORMAL.", rule...),
	}
}

func (m *openFlowMetrics) specs() []*spec {
	return []*spec{m.lookups, m.matches, m.rules, m.normalPackets, m.normalBytes}
}

func (m *openFlowMetrics) build(b *builder, s *state.Snapshot) {
	lookups, matches, rules := b.family(m.lookups), b.family(m.matches), b.family(m.rules)
	normalPackets, normalBytes := b.family(m.normalPackets), b.family(m.normalBytes)
	for _, br := range s.Bridges {
		for _, t := range br.Tables {
			if t.Rules == 0 {
				continue // OVS reports 255 tables; a pipeline uses a few
			}
			l := b.labels(m.lookups, br.Name, itoa(int(t.ID)))
			lookups.add(float64(t.Lookups), l)
			matches.add(float64(t.Matches), l)
			rules.add(float64(t.Rules), l)
		}
		m.buildNormal(b, br, normalPackets, normalBytes)
	}
}

// buildNormal adds one series per table, priority and cookie; rules that
// differ only by match share those labels, and the first one is reported.
func (m *openFlowMetrics) buildNormal(b *builder, br state.Bridge, packets, bytes *family) {
	type ruleID struct {
		table    uint8
		priority uint16
		cookie   uint64
	}
	seen := map[ruleID]bool{}
	for _, r := range br.NormalRules {
		id := ruleID{r.Table, r.Priority, r.Cookie}
		if seen[id] {
			continue
		}
		seen[id] = true
		l := b.labels(m.normalPackets, br.Name, itoa(int(r.Table)), itoa(int(r.Priority)), label.Cookie(r.Cookie))
		packets.add(float64(r.Packets), l)
		bytes.add(float64(r.Bytes), l)
	}
}
