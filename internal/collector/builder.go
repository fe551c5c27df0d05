package collector

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
)

// spec is one metric family's contract: name, HELP, type and label names.
// Specs are made once; every build shares their name strings.
type spec struct {
	name, help string
	typ        dto.MetricType
	// labels are the label names in the order callers pass values.
	labels []string
	// sorted are the label names in exposition order (sorted), order[i]
	// the index in labels of sorted[i].
	sorted []*string
	order  []int
	desc   *prometheus.Desc
}

func newSpec(typ dto.MetricType, name, help string, labels []string) *spec {
	s := &spec{name: name, help: help, typ: typ, labels: labels, desc: prometheus.NewDesc(name, help, labels, nil)}
	s.order = make([]int, len(labels))
	for i := range s.order {
		s.order[i] = i
	}
	sort.SliceStable(s.order, func(i, j int) bool { return labels[s.order[i]] < labels[s.order[j]] })
	for _, i := range s.order {
		s.sorted = append(s.sorted, &labels[i])
	}
	return s
}

func gauge(name, help string, labels ...string) *spec {
	return newSpec(dto.MetricType_GAUGE, name, help, labels)
}

func counter(name, help string, labels ...string) *spec {
	return newSpec(dto.MetricType_COUNTER, name, help, labels)
}

// slab hands out pointers to elements of large shared arrays: one build
// makes ~5,000 metrics of ~5 protobuf messages each, and allocating them
// one by one is what made the registry path slow (86,000 allocations a
// scrape). Elements are never copied, only handed out.
type slab[T any] struct {
	buf []T
	// used counts the elements handed out, for the next build's reserve.
	used int
}

const slabMin, slabMax = 64, 4096

func (s *slab[T]) grow(n int) {
	if len(s.buf)+n <= cap(s.buf) {
		return
	}
	size := min(max(2*cap(s.buf), slabMin), slabMax)
	s.buf = make([]T, 0, max(size, n))
}

// reserve makes the first chunk hold n elements (the previous build's
// count: snapshots of one host have about the same size).
func (s *slab[T]) reserve(n int) {
	if n > 0 {
		s.buf = make([]T, 0, n)
	}
}

func (s *slab[T]) one() *T {
	s.grow(1)
	s.used++
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}

// many returns n contiguous elements; appending to the result cannot
// overwrite a neighbour (its capacity is n).
func (s *slab[T]) many(n int) []T {
	s.grow(n)
	s.used += n
	l := len(s.buf)
	s.buf = s.buf[:l+n]
	return s.buf[l : l+n : l+n]
}

// builder makes the metric families of one snapshot.
type builder struct {
	families []*family
	// errs are programming errors found while building (a wrong number
	// of label values, a family built twice); the rest is still served.
	errs []string

	metrics  slab[dto.Metric]
	gauges   slab[dto.Gauge]
	counters slab[dto.Counter]
	floats   slab[float64]
	strs     slab[string]
	pairs    slab[dto.LabelPair]
	ptrs     slab[*dto.LabelPair]

	// Most values of info gauges and of idle counters are 1 and 0: their
	// messages are shared.
	gaugeOne, gaugeZero *dto.Gauge
	counterZero         *dto.Counter

	hint map[string]int // metrics by family in the last build
}

// sizes are a build's slab usage, to reserve for the next one.
type sizes struct {
	metrics, gauges, counters, floats, strs, pairs, ptrs int
	// families are the metric counts by family name.
	families map[string]int
}

func newBuilder(hint sizes) *builder {
	b := &builder{hint: hint.families}
	b.metrics.reserve(hint.metrics)
	b.gauges.reserve(hint.gauges)
	b.counters.reserve(hint.counters)
	b.floats.reserve(hint.floats)
	b.strs.reserve(hint.strs)
	b.pairs.reserve(hint.pairs)
	b.ptrs.reserve(hint.ptrs)
	one, zero := 1.0, 0.0
	b.gaugeOne = &dto.Gauge{Value: &one}
	b.gaugeZero = &dto.Gauge{Value: &zero}
	b.counterZero = &dto.Counter{Value: &zero}
	return b
}

func (b *builder) sizes() sizes {
	fams := make(map[string]int, len(b.families))
	for _, f := range b.families {
		fams[f.spec.name] = len(f.metrics)
	}
	return sizes{b.metrics.used, b.gauges.used, b.counters.used, b.floats.used, b.strs.used, b.pairs.used, b.ptrs.used, fams}
}

// family collects the metrics of one spec during a build.
type family struct {
	b       *builder
	spec    *spec
	metrics []*dto.Metric
}

// family starts the family of sp; call it once per spec and build.
func (b *builder) family(sp *spec) *family {
	f := &family{b: b, spec: sp}
	if n := b.hint[sp.name]; n > 0 {
		f.metrics = make([]*dto.Metric, 0, n)
	}
	b.families = append(b.families, f)
	return f
}

// labels makes the label pairs of sp for values (in sp's label order).
// The result may be shared by the metrics of several families with the
// same label names (the six interface counters of a port).
func (b *builder) labels(sp *spec, values ...string) []*dto.LabelPair {
	if len(values) != len(sp.labels) {
		b.errs = append(b.errs, fmt.Sprintf("%s: %d label values for %d labels", sp.name, len(values), len(sp.labels)))
		return nil
	}
	if len(values) == 0 {
		return nil
	}
	ptrs := b.ptrs.many(len(values))
	pairs := b.pairs.many(len(values))
	for i, j := range sp.order {
		v := b.strs.one()
		*v = values[j]
		pairs[i].Name, pairs[i].Value = sp.sorted[i], v
		ptrs[i] = &pairs[i]
	}
	return ptrs
}

// add appends a metric with value v and the given label pairs (from
// b.labels of a spec with the same label names).
func (f *family) add(v float64, labels []*dto.LabelPair) {
	if len(labels) != len(f.spec.labels) {
		return // reported by labels
	}
	b := f.b
	m := b.metrics.one()
	m.Label = labels
	zero := math.Float64bits(v) == 0
	switch {
	case f.spec.typ == dto.MetricType_COUNTER && zero:
		m.Counter = b.counterZero
	case f.spec.typ == dto.MetricType_COUNTER:
		c := b.counters.one()
		c.Value = b.float(v)
		m.Counter = c
	case zero:
		m.Gauge = b.gaugeZero
	case v == 1:
		m.Gauge = b.gaugeOne
	default:
		g := b.gauges.one()
		g.Value = b.float(v)
		m.Gauge = g
	}
	f.metrics = append(f.metrics, m)
}

func (b *builder) float(v float64) *float64 {
	p := b.floats.one()
	*p = v
	return p
}

// pick returns the pairs of from (labels of another spec) that sp has, in
// sp's order: a port's identity labels reused for its counters.
func (b *builder) pick(from []*dto.LabelPair, sp *spec) []*dto.LabelPair {
	out := b.ptrs.many(len(sp.sorted))
	i := 0
	for _, p := range from {
		if i < len(out) && *p.Name == *sp.sorted[i] {
			out[i] = p
			i++
		}
	}
	if i != len(out) {
		b.errs = append(b.errs, fmt.Sprintf("%s: labels %v not all in the given pairs", sp.name, sp.labels))
		return nil
	}
	return out
}

// addValues is add with labels made from values.
func (f *family) addValues(v float64, values ...string) {
	f.add(v, f.b.labels(f.spec, values...))
}

// finish returns the non-empty families sorted by name, each one's
// metrics sorted by label values, as a prometheus.Registry gathers them.
// A series made twice is kept once and reported in the error.
func (b *builder) finish() ([]*dto.MetricFamily, error) {
	out := make([]*dto.MetricFamily, 0, len(b.families))
	errs := b.errs
	for _, f := range b.families {
		if len(f.metrics) == 0 {
			continue
		}
		ms, dup := sortMetrics(f.metrics)
		if dup != nil {
			errs = append(errs, "series built more than once (one kept): "+seriesString(f.spec.name, dup))
		}
		typ := f.spec.typ
		out = append(out, &dto.MetricFamily{Name: &f.spec.name, Help: &f.spec.help, Type: &typ, Metric: ms})
	}
	slices.SortStableFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	out = slices.CompactFunc(out, func(a, b *dto.MetricFamily) bool {
		if a.GetName() != b.GetName() {
			return false
		}
		errs = append(errs, "metric family built twice (first kept): "+a.GetName())
		return true
	})
	if errs != nil {
		return out, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// sortMetrics sorts ms by label values (all share the same label names,
// in the same order) and drops repeated series but one, returning one of
// the dropped. Most families are built in order already (ports come
// sorted): one pass finds that.
func sortMetrics(ms []*dto.Metric) ([]*dto.Metric, *dto.Metric) {
	ordered := true
	for i := 1; i < len(ms) && ordered; i++ {
		ordered = compareLabels(ms[i-1], ms[i]) < 0
	}
	if ordered {
		return ms, nil
	}
	slices.SortFunc(ms, compareLabels)
	var dup *dto.Metric
	out := ms[:1]
	for _, m := range ms[1:] {
		if compareLabels(out[len(out)-1], m) == 0 {
			dup = m
			continue
		}
		out = append(out, m)
	}
	return out, dup
}

func compareLabels(a, b *dto.Metric) int {
	for i, p := range a.Label {
		if c := strings.Compare(*p.Value, *b.Label[i].Value); c != 0 {
			return c
		}
	}
	return 0
}

func seriesString(name string, m *dto.Metric) string {
	var sb strings.Builder
	sb.WriteString(name)
	sb.WriteByte('{')
	for i, p := range m.Label {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", p.GetName(), p.GetValue())
	}
	sb.WriteByte('}')
	return sb.String()
}

// smallInts are the decimal strings of 0-4095 (VLAN IDs, most OpenFlow
// port and table numbers), so labels need no conversion per series.
var smallInts = func() (t [4096]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func itoa(i int) string {
	if i >= 0 && i < len(smallInts) {
		return smallInts[i]
	}
	return strconv.Itoa(i)
}

// vlanLabel is label.VLAN without a conversion per series.
func vlanLabel(v int) string {
	if v >= 0 && v < label.OtherVLAN {
		return smallInts[v]
	}
	return label.VLAN(v)
}
