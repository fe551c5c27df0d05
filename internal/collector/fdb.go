package collector

import (
	dto "github.com/prometheus/client_model/go"

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
	entries, max, static             *spec
	learned, expired, evicted, moved *spec
	tableSize, agingTime             *spec
}

func newFDBMetrics() *fdbMetrics {
	br := []string{"bridge"}
	return &fdbMetrics{
		entries:   gauge("ovs_fdb_entries", "MAC entries currently in the bridge's MAC learning table.", br...),
		max:       gauge("ovs_fdb_max_entries", "Maximum MAC entries of the bridge's MAC learning table (other_config:mac-table-size).", br...),
		static:    gauge("ovs_fdb_static_entries", "Static MAC entries in the bridge's MAC learning table.", br...),
		learned:   counter("ovs_fdb_learned_total", "MAC entries learned by the bridge.", br...),
		expired:   counter("ovs_fdb_expired_total", "MAC entries expired after mac-aging-time.", br...),
		evicted:   counter("ovs_fdb_evicted_total", "MAC entries evicted because the table was full.", br...),
		moved:     counter("ovs_fdb_moved_total", "MAC entries relearned on another port (MAC moves; a storm of them means an L2 loop).", br...),
		tableSize: gauge("ovs_fdb_config_table_size", "Configured other_config:mac-table-size (OVS default 8192 when unset).", br...),
		agingTime: gauge("ovs_fdb_config_aging_seconds", "Configured other_config:mac-aging-time (OVS default 300 when unset); a Linux bridge's ageing_time.", br...),
	}
}

func (m *fdbMetrics) specs() []*spec {
	return []*spec{m.entries, m.max, m.static, m.learned, m.expired, m.evicted, m.moved, m.tableSize, m.agingTime}
}

// fdbFamilies are the families of one build.
type fdbFamilies struct {
	entries, max, static             *family
	learned, expired, evicted, moved *family
	tableSize, agingTime             *family
}

func (m *fdbMetrics) build(b *builder, s *state.Snapshot) {
	f := fdbFamilies{
		entries: b.family(m.entries), max: b.family(m.max), static: b.family(m.static),
		learned: b.family(m.learned), expired: b.family(m.expired), evicted: b.family(m.evicted), moved: b.family(m.moved),
		tableSize: b.family(m.tableSize), agingTime: b.family(m.agingTime),
	}
	for _, br := range s.Bridges {
		l := b.labels(m.entries, br.Name)
		if br.DatapathType == linuxBridge {
			f.buildLinux(br, l)
			continue
		}
		if t := br.FDB; t != nil {
			f.entries.add(float64(t.Entries), l)
			f.max.add(float64(t.Max), l)
			f.static.add(float64(t.Static), l)
			f.learned.add(float64(t.Learned), l)
			f.expired.add(float64(t.Expired), l)
			f.evicted.add(float64(t.Evicted), l)
			f.moved.add(float64(t.Moved), l)
		}
		size, aging := br.MACTableSize, br.MACAgingTime
		if size <= 0 {
			size = defaultMACTableSize
		}
		if aging <= 0 {
			aging = defaultMACAgingTime
		}
		f.tableSize.add(float64(size), l)
		f.agingTime.add(float64(aging), l)
	}
}

// linuxBridge is the DatapathType the linuxbridge source gives its bridges.
const linuxBridge = "linuxbridge"

// buildLinux reports a Linux bridge's FDB: the kernel keeps its entries
// and ageing time but no table size and no learning counters, so those
// series are absent rather than stuck at zero.
func (f fdbFamilies) buildLinux(br state.Bridge, l []*dto.LabelPair) {
	if t := br.FDB; t != nil {
		f.entries.add(float64(t.Entries), l)
		f.static.add(float64(t.Static), l)
	}
	if br.MACAgingTime > 0 {
		f.agingTime.add(float64(br.MACAgingTime), l)
	}
}
