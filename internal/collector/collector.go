// Package collector exposes the latest published snapshot as Prometheus
// metrics. It never talks to OVS: the poller reads OVS on its own fixed
// cadence (detection needs it, independent of scrape intervals) and a scrape
// only turns the latest snapshot into const metrics.
//
// Metrics are grouped by domain, one file each: floods, FDB, OpenFlow,
// ports and interfaces, datapaths, and the exporter's own health. Each
// domain builds its descriptors once and reads its part of the snapshot.
package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// domain is the metrics of one concern: its descriptors and how to read
// them from a snapshot.
type domain interface {
	describe(ch chan<- *prometheus.Desc)
	// collect emits the domain's metrics from s, which is never nil.
	collect(ch chan<- prometheus.Metric, s *state.Snapshot)
}

// Collector turns state snapshots into metrics.
type Collector struct {
	store    *state.Store
	exporter *exporterMetrics
	domains  []domain
}

// New returns a Collector reading from store.
func New(store *state.Store) *Collector {
	exp := newExporterMetrics()
	return &Collector{
		store:    store,
		exporter: exp,
		domains: []domain{
			newFloodMetrics(), newFDBMetrics(), newOpenFlowMetrics(),
			newPortMetrics(), newTunnelMetrics(), newDatapathMetrics(), newLoopMetrics(), exp,
		},
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.domains {
		d.describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.store.Load()
	if s == nil {
		c.exporter.beforeFirstPoll(ch)
		return
	}
	for _, d := range c.domains {
		d.collect(ch, s)
	}
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

func describeAll(ch chan<- *prometheus.Desc, descs ...*prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func emitCounter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func emitGauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
