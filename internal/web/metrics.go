package web

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// offeredFormats are what /metrics negotiates from the Accept header, as
// promhttp with OpenMetrics enabled: OpenMetrics 1.0.0 and 0.0.1, the
// protobuf formats, and the text format (also the fallback). The escaping
// parameter a client asks for is honoured by expfmt.
var offeredFormats = expfmt.DefaultOpenMetricsAcceptedFormats()

// renderCache renders the OVS metric families once per snapshot and
// format, on the first scrape that needs it, and keeps what did not change
// since the previous snapshot.
//
// Why lazily and not when the poller publishes: polls can run every
// second while Prometheus scrapes every 15 s, so rendering at publish time
// would spend most of its work on snapshots nobody reads, on the poll's
// own CPU budget. Rendered at the first scrape, a snapshot costs nothing
// until scraped and once however many servers scrape it (concurrent
// scrapes wait for one rendering).
//
// Why per family: between two polls most families are unchanged (port
// identities, drop counters of healthy devices, leak ratios of a steady
// flood, the table configuration), and encoding and compressing ~500 KiB
// at 500 ports is most of a scrape's cost. A family whose metrics equal
// the previous snapshot's keeps its encoded text and deflate blocks.
type renderCache struct {
	ovs *collector.Collector
	log *slog.Logger

	mu     sync.Mutex
	latest map[expfmt.Format]*rendering
}

func newRenderCache(ovs *collector.Collector, log *slog.Logger) *renderCache {
	return &renderCache{ovs: ovs, log: log, latest: map[expfmt.Format]*rendering{}}
}

// rendering is the OVS families of one snapshot encoded in one format:
// one segment per family.
type rendering struct {
	snap   *state.Snapshot
	format expfmt.Format
	once   sync.Once
	done   atomic.Bool
	prev   *rendering // until rendered: whose segments to reuse

	// names and digests are the families encoded, segs their encodings,
	// index by index. The families themselves are not kept: a digest of
	// their series and values is enough to tell the next snapshot's
	// unchanged ones, and keeping ~5,000 series' messages until the next
	// poll would leave the collector less room under the memory limit.
	names   []string
	digests []familyDigest
	segs    []*segment
	// crc and size are of the whole text, for the gzip trailer.
	crc  uint32
	size int
}

// segment is one family's encoded text and, once a gzip scrape asked for
// it, its deflate blocks: made by a fresh compressor and ending in a sync
// flush, so segments concatenate into one valid deflate stream (no
// back-reference crosses a boundary) and can be reused across snapshots.
type segment struct {
	text    []byte
	once    sync.Once
	deflate []byte
}

// get returns the rendering of the latest snapshot in format.
func (c *renderCache) get(format expfmt.Format) *rendering {
	snap := c.ovs.Latest()
	c.mu.Lock()
	r := c.latest[format]
	if r == nil || r.snap != snap {
		r = &rendering{snap: snap, format: format, prev: r}
		c.latest[format] = r
	}
	c.mu.Unlock()
	r.once.Do(func() { r.render(c.ovs, c.log) })
	return r
}

func (r *rendering) render(ovs *collector.Collector, log *slog.Logger) {
	mfs, err := ovs.Build(r.snap) // on error, what could be built is still served
	if err != nil {
		log.Error("building OVS metrics", "err", err)
	}
	var prev map[string]int
	var prevDigests []familyDigest
	var prevSegs []*segment
	// A previous rendering still under way (a scrape of the last snapshot
	// racing with this one) is not waited for: nothing is reused then.
	if p := r.prev; p != nil && p.done.Load() {
		prevDigests, prevSegs = p.digests, p.segs
		prev = make(map[string]int, len(p.names))
		for i, name := range p.names {
			prev[name] = i
		}
	}
	r.prev = nil // let the older renderings go
	var out target
	// Never closed: an OpenMetrics "# EOF" belongs after the live metrics.
	enc := expfmt.NewEncoder(&out, r.format)
	for _, mf := range mfs {
		size := 4096
		d := digestOf(mf)
		if i, ok := prev[mf.GetName()]; ok {
			if prevDigests[i] == d {
				r.keep(mf.GetName(), d, prevSegs[i])
				continue
			}
			size = len(prevSegs[i].text) + len(prevSegs[i].text)/8 // values grow a little
		}
		out.b = make([]byte, 0, size)
		if err := enc.Encode(mf); err != nil {
			log.Error("encoding OVS metrics", "family", mf.GetName(), "err", err)
			continue
		}
		r.keep(mf.GetName(), d, &segment{text: out.b})
	}
	for _, s := range r.segs {
		r.crc = crc32.Update(r.crc, crc32.IEEETable, s.text)
		r.size += len(s.text)
	}
	r.done.Store(true)
}

// target is where the encoder writes: each family into its own slice,
// sized from the family's last encoding.
type target struct{ b []byte }

func (t *target) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	return len(p), nil
}

func (r *rendering) keep(name string, d familyDigest, s *segment) {
	r.names, r.digests, r.segs = append(r.names, name), append(r.digests, d), append(r.segs, s)
}

// familyDigest stands for a family's series and values: two families of
// the same name with equal digests encode to the same bytes. It is a
// 128-bit hash (two seeds) of every label name and value and every value's
// bits, with the series count beside it; a collision, which would serve a
// family's last encoding for one more poll, is out of reach in practice.
type familyDigest struct {
	series int
	h1, h2 uint64
}

var digestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func digestOf(mf *dto.MetricFamily) familyDigest {
	var h [2]maphash.Hash
	for i := range h {
		h[i].SetSeed(digestSeeds[i])
	}
	var buf [8]byte
	for _, m := range mf.Metric {
		for i := range h {
			for _, l := range m.Label {
				// 0xff never occurs in UTF-8: it ends each name and value.
				_, _ = h[i].WriteString(l.GetName())
				_ = h[i].WriteByte(0xff)
				_, _ = h[i].WriteString(l.GetValue())
				_ = h[i].WriteByte(0xff)
			}
			binary.LittleEndian.PutUint64(buf[:], valueBits(m))
			_, _ = h[i].Write(buf[:])
		}
	}
	return familyDigest{series: len(mf.Metric), h1: h[0].Sum64(), h2: h[1].Sum64()}
}

// valueBits is the value of a gauge or counter (the only types the OVS
// families have) as bits, so NaN equals NaN.
func valueBits(m *dto.Metric) uint64 {
	if m.Counter != nil {
		return math.Float64bits(m.Counter.GetValue())
	}
	return math.Float64bits(m.Gauge.GetValue())
}

// writeText writes the rendering's text followed by rest.
func (r *rendering) writeText(w io.Writer, rest []byte) error {
	for _, s := range r.segs {
		if _, err := w.Write(s.text); err != nil {
			return err
		}
	}
	_, err := w.Write(rest)
	return err
}

// gzipHeader is RFC 1952's: magic, deflate, no flags, no mtime, no extra
// flags, OS unknown.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// writeGzip writes one gzip member (some clients, curl among them, read
// only the first member of a multi-member stream) of the rendering's text
// followed by rest: the segments' cached deflate blocks, rest compressed
// now as the final block, and the trailer for the whole.
func (r *rendering) writeGzip(w io.Writer, rest []byte) error {
	if _, err := w.Write(gzipHeader); err != nil {
		return err
	}
	// One compressor for the response (~1 MiB of tables), dropped after
	// it rather than kept for the next scrape: scrapes come every 15 s or
	// so, and kept it would narrow the room the collector has under the
	// memory limit between every two polls.
	var c compressor
	for _, s := range r.segs {
		if _, err := w.Write(s.deflated(&c)); err != nil {
			return err
		}
	}
	fw := c.to(w)
	if _, err := fw.Write(rest); err != nil {
		return err
	}
	if err := fw.Close(); err != nil { // the final block
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32.Update(r.crc, crc32.IEEETable, rest))
	binary.LittleEndian.PutUint32(trailer[4:], uint32(r.size+len(rest))) // ISIZE is the size mod 2^32
	_, err := w.Write(trailer[:])
	return err
}

// deflated returns the segment's deflate blocks, compressing them with c
// the first time.
func (s *segment) deflated(c *compressor) []byte {
	s.once.Do(func() {
		var buf bytes.Buffer
		fw := c.to(&buf)
		_, _ = fw.Write(s.text)
		_ = fw.Flush() // byte-aligned end of non-final blocks: more may follow
		s.deflate = buf.Bytes()
	})
	return s.deflate
}

// compressor is a deflate writer made on first use and reset for each
// destination. BestSpeed compresses the 500-port host's 500 KiB in
// ~1.3 ms instead of ~3 ms at the default level, 3% larger.
type compressor struct{ fw *flate.Writer }

func (c *compressor) to(w io.Writer) *flate.Writer {
	if c.fw == nil {
		c.fw, _ = flate.NewWriter(w, flate.BestSpeed)
	} else {
		c.fw.Reset(w)
	}
	return c.fw
}

// encodeLive gathers g and encodes it in format, closing the encoder (for
// OpenMetrics, the final "# EOF").
func encodeLive(g prometheus.Gatherer, format expfmt.Format) ([]byte, error) {
	mfs, err := g.Gather() // on error, what could be gathered is still returned
	if format.FormatType() == expfmt.TypeOpenMetrics {
		mfs = withoutOpenMetricsClashes(mfs)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if e := enc.Encode(mf); e != nil && err == nil {
			err = e
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if e := c.Close(); e != nil && err == nil {
			err = e
		}
	}
	return buf.Bytes(), err
}

// withoutOpenMetricsClashes drops the families whose name is, in
// OpenMetrics, the family name of a counter (its name without _total):
// the Go collector's gauge go_memstats_alloc_bytes and counter
// go_memstats_alloc_bytes_total would be two families of one name, which
// OpenMetrics forbids. The gauge has a twin, go_memstats_heap_alloc_bytes.
func withoutOpenMetricsClashes(mfs []*dto.MetricFamily) []*dto.MetricFamily {
	counters := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_COUNTER {
			counters[strings.TrimSuffix(mf.GetName(), "_total")] = true
		}
	}
	return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool {
		return mf.GetType() != dto.MetricType_COUNTER && counters[mf.GetName()]
	})
}

// acceptsGzip reports whether an Accept-Encoding header value allows
// gzip (by name or "*", with a non-zero q).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// metricsHandler serves the OVS metrics (rendered once per snapshot)
// followed by the live process metrics (Go runtime, process, build info,
// gathered at every scrape), in the format the Accept header negotiates
// (OpenMetrics for a current Prometheus), gzip-compressed when the client
// accepts it. At most max scrapes run at once (0: no limit); more get 503.
func metricsHandler(cache *renderCache, live prometheus.Gatherer, max int, log *slog.Logger) http.Handler {
	var sem chan struct{}
	if max > 0 {
		sem = make(chan struct{}, max)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sem != nil {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			default:
				http.Error(w, "too many concurrent scrapes (--web.max-requests)", http.StatusServiceUnavailable)
				return
			}
		}
		format := expfmt.NegotiateAccept(r.Header, offeredFormats...)
		ours := cache.get(format)
		rest, err := encodeLive(live, format)
		if err != nil {
			log.Error("gathering process metrics", "err", err)
		}
		h := w.Header()
		h.Set("Content-Type", string(format))
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			_ = ours.writeText(w, rest)
			return
		}
		h.Set("Content-Encoding", "gzip")
		_ = ours.writeGzip(w, rest)
	})
}
