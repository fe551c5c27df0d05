package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// OVS's defaults for the MAC table, reported when the bridge leaves them
// unset.
const (
	defaultMACTableSize = 8192
	defaultMACAgingTime = 300
)

// fdbMetrics are the bridges' MAC learning tables: fill, churn and
// configuration.
type fdbMetrics struct {
	entries, max, static             *prometheus.Desc
	learned, expired, evicted, moved *prometheus.Desc
	tableSize, agingTime             *prometheus.Desc
}

func newFDBMetrics() *fdbMetrics {
	br := []string{"bridge"}
	return &fdbMetrics{
		entries:   newDesc("ovs_fdb_entries", "MAC entries currently in the bridge's MAC learning table.", br...),
		max:       newDesc("ovs_fdb_max_entries", "Maximum MAC entries of the bridge's MAC learning table (other_config:mac-table-size).", br...),
		static:    newDesc("ovs_fdb_static_entries", "Static MAC entries in the bridge's MAC learning table.", br...),
		learned:   newDesc("ovs_fdb_learned_total", "MAC entries learned by the bridge.", br...),
		expired:   newDesc("ovs_fdb_expired_total", "MAC entries expired after mac-aging-time.", br...),
		evicted:   newDesc("ovs_fdb_evicted_total", "MAC entries evicted because the table was full.", br...),
		moved:     newDesc("ovs_fdb_moved_total", "MAC entries relearned on another port (MAC moves; a storm of them means an L2 loop).", br...),
		tableSize: newDesc("ovs_fdb_config_table_size", "Configured other_config:mac-table-size (OVS default 8192 when unset).", br...),
		agingTime: newDesc("ovs_fdb_config_aging_seconds", "Configured other_config:mac-aging-time (OVS default 300 when unset); a Linux bridge's ageing_time.", br...),
	}
}

func (m *fdbMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.entries, m.max, m.static, m.learned, m.expired, m.evicted, m.moved, m.tableSize, m.agingTime)
}

func (m *fdbMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	for _, b := range s.Bridges {
		if b.DatapathType == linuxBridge {
			m.collectLinux(ch, b)
			continue
		}
		if f := b.FDB; f != nil {
			emitGauge(ch, m.entries, float64(f.Entries), b.Name)
			emitGauge(ch, m.max, float64(f.Max), b.Name)
			emitGauge(ch, m.static, float64(f.Static), b.Name)
			emitCounter(ch, m.learned, f.Learned, b.Name)
			emitCounter(ch, m.expired, f.Expired, b.Name)
			emitCounter(ch, m.evicted, f.Evicted, b.Name)
			emitCounter(ch, m.moved, f.Moved, b.Name)
		}
		size, aging := b.MACTableSize, b.MACAgingTime
		if size <= 0 {
			size = defaultMACTableSize
		}
		if aging <= 0 {
			aging = defaultMACAgingTime
		}
		emitGauge(ch, m.tableSize, float64(size), b.Name)
		emitGauge(ch, m.agingTime, float64(aging), b.Name)
	}
}

// linuxBridge is the DatapathType the linuxbridge source gives its bridges.
const linuxBridge = "linuxbridge"

// collectLinux reports a Linux bridge's FDB: the kernel keeps its entries
// and ageing time but no table size and no learning counters, so those
// series are absent rather than stuck at zero.
func (m *fdbMetrics) collectLinux(ch chan<- prometheus.Metric, b state.Bridge) {
	if f := b.FDB; f != nil {
		emitGauge(ch, m.entries, float64(f.Entries), b.Name)
		emitGauge(ch, m.static, float64(f.Static), b.Name)
	}
	if b.MACAgingTime > 0 {
		emitGauge(ch, m.agingTime, float64(b.MACAgingTime), b.Name)
	}
}
