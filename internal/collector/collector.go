// Package collector exposes the latest published snapshot as Prometheus
// metrics. It never talks to OVS: the poller reads OVS on its own fixed
// cadence (detection needs it, independent of scrape intervals) and the
// metrics only describe the latest snapshot.
//
// The metric families are built straight from a snapshot as protobuf
// families (client_model), once per snapshot, and shared by every scrape
// of it: at 500 ports, ~4,700 const metrics through prometheus.Collector
// and a Registry cost ~6-7 ms of CPU and 86,000 allocations per build;
// the families built directly ~1 ms and ~400 allocations.
//
// Metrics are grouped by domain, one file each: floods, FDB, OpenFlow,
// ports and interfaces, datapaths, and the exporter's own health. Each
// domain declares its families once and builds them from its part of the
// snapshot.
package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// domain is the metrics of one concern: its families and how to build
// them from a snapshot.
type domain interface {
	specs() []*spec
	// build adds the domain's families for s, which is never nil.
	build(b *builder, s *state.Snapshot)
}

// Collector turns the store's latest snapshot into metric families. It is
// a prometheus.Gatherer (the families of the latest snapshot, built once
// per snapshot) and, for registries that merge it with other collectors,
// a prometheus.Collector.
type Collector struct {
	store    *state.Store
	exporter *exporterMetrics
	domains  []domain
	descs    map[string]*prometheus.Desc

	mu     sync.Mutex
	latest *Families
	hint   sizes // of the last build
}

// New returns a Collector reading from store.
func New(store *state.Store) *Collector {
	exp := newExporterMetrics()
	c := &Collector{
		store:    store,
		exporter: exp,
		domains: []domain{
			newFloodMetrics(), newFDBMetrics(), newOpenFlowMetrics(),
			newPortMetrics(), newTunnelMetrics(), newDatapathMetrics(), newLoopMetrics(), exp,
		},
		descs: map[string]*prometheus.Desc{},
	}
	for _, d := range c.domains {
		for _, sp := range d.specs() {
			c.descs[sp.name] = sp.desc
		}
	}
	return c
}

// Families is the metric families of one snapshot, built on first use.
// Concurrent users of the same Families share one build.
type Families struct {
	snap *state.Snapshot
	get  func() ([]*dto.MetricFamily, error)
}

// Snapshot is the snapshot the families describe (nil before the first
// poll).
func (f *Families) Snapshot() *state.Snapshot { return f.snap }

// Gather implements prometheus.Gatherer: the families sorted by name,
// their metrics sorted by labels, as a Registry returns them. They are
// shared by every caller and must not be modified. On error, the
// families that could be built are returned too.
func (f *Families) Gather() ([]*dto.MetricFamily, error) { return f.get() }

// Families returns the families of the store's latest snapshot: the same
// value until a new snapshot is published. Nothing is built until its
// Gather is called, so a poll that nobody scrapes costs nothing here
// (polls can be every second, scrapes every 15 s), and several
// Prometheus servers scraping one snapshot pay for one build.
func (c *Collector) Families() *Families {
	s := c.store.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.latest == nil || c.latest.snap != s {
		c.latest = &Families{snap: s, get: sync.OnceValues(func() ([]*dto.MetricFamily, error) { return c.build(s) })}
	}
	return c.latest
}

// Gather implements prometheus.Gatherer for the latest snapshot.
func (c *Collector) Gather() ([]*dto.MetricFamily, error) { return c.Families().Gather() }

// Latest is the store's latest snapshot (nil before the first poll).
func (c *Collector) Latest() *state.Snapshot { return c.store.Load() }

// Build builds the families of s (nil: before the first poll) without
// keeping them: for a caller that encodes them at once and keeps only the
// encoding, so the families do not stay in memory until the next poll.
func (c *Collector) Build(s *state.Snapshot) ([]*dto.MetricFamily, error) { return c.build(s) }

func (c *Collector) build(s *state.Snapshot) ([]*dto.MetricFamily, error) {
	c.mu.Lock()
	b := newBuilder(c.hint)
	c.mu.Unlock()
	if s == nil {
		c.exporter.beforeFirstPoll(b)
	} else {
		for _, d := range c.domains {
			d.build(b, s)
		}
	}
	c.mu.Lock()
	c.hint = b.sizes()
	c.mu.Unlock()
	return b.finish()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.domains {
		for _, sp := range d.specs() {
			ch <- sp.desc
		}
	}
}

// Collect implements prometheus.Collector with the latest snapshot's
// families. Serving goes through Gather, which skips the registry's
// per-metric copies and checks; this is for callers that need one
// registry holding more collectors.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	mfs, err := c.Gather()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
	}
	for _, mf := range mfs {
		d := c.descs[mf.GetName()]
		for _, m := range mf.Metric {
			ch <- builtMetric{desc: d, m: m}
		}
	}
}

// builtMetric is a built metric as a prometheus.Metric.
type builtMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (b builtMetric) Desc() *prometheus.Desc { return b.desc }

func (b builtMetric) Write(out *dto.Metric) error {
	out.Label = append(out.Label[:0], b.m.Label...)
	out.Gauge, out.Counter = b.m.Gauge, b.m.Counter
	return nil
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
