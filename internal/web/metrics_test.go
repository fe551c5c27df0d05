package web

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector/collectortest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Accept headers real scrapers send.
const (
	acceptPrometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	acceptPrometheus2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	acceptProtobuf    = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
)

// scrape GETs /metrics with the given Accept header, asking for gzip when
// gz is set. It returns the response and its body, uncompressed, and
// fails the test unless a gzip body is exactly one gzip member (curl and
// other single-member readers ignore what follows the first).
func scrape(t *testing.T, srv *httptest.Server, accept string, gz bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	// No transparent decompression: the test sees what Prometheus would.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != gz {
		t.Fatalf("asked gzip=%v, got Content-Encoding %q", gz, got)
	}
	if !gz {
		return resp, raw
	}
	return resp, gunzipOneMember(t, raw)
}

func gunzipOneMember(t *testing.T, raw []byte) []byte {
	t.Helper()
	in := bytes.NewReader(raw)
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	body, err := io.ReadAll(zr) // checks the trailer's CRC and size too
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	if in.Len() > 0 {
		t.Fatalf("%d bytes follow the first gzip member", in.Len())
	}
	return body
}

// newMetricsServer serves /metrics of store with the live metrics of
// LiveRegistry.
func newMetricsServer(t *testing.T, store *state.Store) *httptest.Server {
	srv := httptest.NewServer(Handler(store, LiveRegistry(), Options{}))
	t.Cleanup(srv.Close)
	return srv
}

// decode parses a body in the text or a protobuf format into families
// by name, failing on a family served twice or without samples.
func decode(t *testing.T, body []byte, format expfmt.Format) map[string]*dto.MetricFamily {
	t.Helper()
	out := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(bytes.NewReader(body), format)
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("body does not parse as %s: %v", format, err)
		}
		if out[mf.GetName()] != nil {
			t.Errorf("family %s served twice", mf.GetName())
		}
		if len(mf.Metric) == 0 {
			t.Errorf("family %s has no series", mf.GetName())
		}
		out[mf.GetName()] = mf
	}
}

var (
	omType   = regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)
	omSample = regexp.MustCompile(`(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]`)
)

// checkOpenMetrics checks the structure of an OpenMetrics body (there is
// no OpenMetrics parser in prometheus/common): one "# EOF", last; every
// family declared once, with samples; counters declared without their
// _total suffix.
func checkOpenMetrics(t *testing.T, body []byte) map[string]string {
	t.Helper()
	text := string(body)
	if !strings.HasSuffix(text, "\n# EOF\n") || strings.Count(text, "# EOF") != 1 {
		t.Errorf("OpenMetrics body does not end with exactly one # EOF:\n...%s", text[max(0, len(text)-200):])
	}
	types := map[string]string{}
	for _, m := range omType.FindAllStringSubmatch(text, -1) {
		if types[m[1]] != "" {
			t.Errorf("family %s declared twice", m[1])
		}
		types[m[1]] = m[2]
	}
	samples := map[string]bool{}
	for _, m := range omSample.FindAllStringSubmatch(text, -1) {
		samples[m[1]] = true
	}
	for name, typ := range types {
		sample := name
		switch typ {
		case "counter":
			if strings.HasSuffix(name, "_total") {
				t.Errorf("counter family %s declared with _total", name)
			}
			sample += "_total"
		case "summary":
			sample += "_count"
		}
		if !samples[sample] {
			t.Errorf("family %s (%s) has no %s samples", name, typ, sample)
		}
	}
	return types
}

func TestMetricsNegotiation(t *testing.T) {
	store := &state.Store{}
	store.Publish(collectortest.Host(20, 1))
	srv := newMetricsServer(t, store)
	cases := []struct {
		name, accept string
		want         expfmt.FormatType
		escaping     string
	}{
		{"no Accept header", "", expfmt.TypeTextPlain, "underscores"},
		{"Prometheus 3", acceptPrometheus3, expfmt.TypeOpenMetrics, "allow-utf-8"},
		{"Prometheus 2", acceptPrometheus2, expfmt.TypeOpenMetrics, "underscores"},
		{"text 0.0.4", "text/plain;version=0.0.4", expfmt.TypeTextPlain, "underscores"},
		{"protobuf", acceptProtobuf, expfmt.TypeProtoDelim, "underscores"},
		{"unknown type falls back to text", "application/json", expfmt.TypeTextPlain, "underscores"},
	}
	// Families an operator expects, by their OpenMetrics names.
	want := []string{"ovs_port_info", "ovs_interface_transmit_bytes", "ovs_flood_active", "ovs_flood_exporter_source_up",
		"ovs_flood_exporter_build_info", "go_goroutines", "go_memstats_heap_inuse_bytes", "process_cpu_seconds", "process_resident_memory_bytes"}
	for _, tc := range cases {
		for _, gz := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "", true: "/gzip"}[gz], func(t *testing.T) {
				resp, body := scrape(t, srv, tc.accept, gz)
				ct := expfmt.Format(resp.Header.Get("Content-Type"))
				if ct.FormatType() != tc.want || !strings.Contains(string(ct), "escaping="+tc.escaping) {
					t.Errorf("Content-Type %q, want format type %d with escaping=%s", ct, tc.want, tc.escaping)
				}
				if vary := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(vary, "Accept") || !strings.Contains(vary, "Accept-Encoding") {
					t.Errorf("Vary %q: caches must key on Accept and Accept-Encoding", vary)
				}
				var names map[string]string
				if tc.want == expfmt.TypeOpenMetrics {
					names = checkOpenMetrics(t, body)
				} else {
					names = map[string]string{}
					for name, mf := range decode(t, body, ct) {
						names[strings.TrimSuffix(name, "_total")] = mf.GetType().String()
					}
				}
				for _, w := range want {
					if names[w] == "" {
						t.Errorf("no family %s", w)
					}
				}
			})
		}
	}
}

// A gzip body is the text body compressed, as one gzip member, also when
// most families are reused from the previous snapshot's rendering.
func TestGzipMatchesTextAcrossSnapshots(t *testing.T) {
	store := &state.Store{}
	live := prometheus.NewRegistry() // static, so bodies compare byte for byte
	live.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "live_gauge", Help: "A live metric."}, func() float64 { return 42 }))
	cache := newRenderCache(collector.New(store), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(metricsHandler(cache, live, 0, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	for _, accept := range []string{"", acceptPrometheus3, acceptProtobuf} {
		var prevSegs map[string]*segment
		for poll := range 4 {
			snap := collectortest.Host(30, poll/2) // polls 0-1 and 2-3 have equal counters
			snap.Time = time.Unix(int64(1_800_000_000+poll), 0)
			store.Publish(snap)
			_, text := scrape(t, srv, accept, false)
			_, unzipped := scrape(t, srv, accept, true)
			if !bytes.Equal(text, unzipped) {
				t.Errorf("Accept %q, poll %d: gzip body differs from the text body", accept, poll)
			}
			r := cache.get(expfmt.NegotiateAccept(http.Header{"Accept": {accept}}, offeredFormats...))
			segs := map[string]*segment{}
			reused := 0
			for i, name := range r.names {
				segs[name] = r.segs[i]
				if prevSegs[name] == r.segs[i] {
					reused++
				}
			}
			// Port identities never change here; with equal counters
			// every family but the poll timestamp is reused.
			if poll > 0 && prevSegs["ovs_port_info"] != segs["ovs_port_info"] {
				t.Errorf("Accept %q, poll %d: ovs_port_info encoded again though unchanged", accept, poll)
			}
			if poll == 3 && reused != len(r.segs)-1 {
				t.Errorf("Accept %q, poll %d: %d of %d families reused, want all but the poll timestamp", accept, poll, reused, len(r.segs))
			}
			if poll == 2 && segs["ovs_interface_transmit_bytes_total"] == prevSegs["ovs_interface_transmit_bytes_total"] {
				t.Errorf("Accept %q, poll %d: changed counters served from the last snapshot", accept, poll)
			}
			prevSegs = segs
		}
	}
}

func TestMetricsFollowTheLatestSnapshot(t *testing.T) {
	store := &state.Store{}
	srv := newMetricsServer(t, store)
	// Before the first poll: every source down, nothing else of OVS.
	for _, gz := range []bool{false, true} {
		_, body := scrape(t, srv, "", gz)
		if !strings.Contains(string(body), `ovs_flood_exporter_source_up{source="unixctl"} 0`) || strings.Contains(string(body), "ovs_flood_exporter_last_poll_timestamp_seconds") {
			t.Errorf("gzip=%v: before the first poll:\n%s", gz, body)
		}
	}
	for i, up := range []bool{true, false} {
		ts := 100 * (i + 1)
		store.Publish(&state.Snapshot{Time: time.Unix(int64(ts), 0), Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: up}}})
		for _, gz := range []bool{false, true} {
			_, body := scrape(t, srv, "", gz)
			for _, want := range []string{fmt.Sprintf(`ovs_flood_exporter_source_up{source="unixctl"} %d`, map[bool]int{true: 1}[up]),
				fmt.Sprintf("ovs_flood_exporter_last_poll_timestamp_seconds %d\n", ts), "go_goroutines "} {
				if !strings.Contains(string(body), want) {
					t.Errorf("snapshot %d, gzip=%v: body lacks %q", i, gz, want)
				}
			}
		}
	}
}

// Scrapes of one snapshot racing each other share one rendering.
func TestConcurrentScrapesRenderOnce(t *testing.T) {
	store := &state.Store{}
	store.Publish(collectortest.Host(100, 1))
	cache := newRenderCache(collector.New(store), slog.New(slog.DiscardHandler))
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	got := make([]*rendering, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = cache.get(format) })
	}
	wg.Wait()
	for _, r := range got[1:] {
		if r != got[0] {
			t.Fatal("two renderings of one snapshot")
		}
	}
	if !got[0].done.Load() || len(got[0].segs) == 0 {
		t.Fatal("a scrape returned before the rendering was done")
	}
}

func TestAcceptsGzip(t *testing.T) {
	cases := map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"deflate, gzip;q=1.0":  true,
		"gzip;q=0":             false,
		"gzip; q=0.0, deflate": false,
		"*":                    true,
		"*;q=0":                false,
		"identity":             false,
		"x-gzip":               true,
		"br, zstd":             false,
		"gzipx":                false,
	}
	for header, want := range cases {
		t.Run(header, func(t *testing.T) {
			if got := acceptsGzip(header); got != want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
			}
		})
	}
}

// The digest must see every difference that changes the encoding.
func TestFamilyDigest(t *testing.T) {
	fam := func(value float64, labelValue string) *dto.MetricFamily {
		name, lv := "x", labelValue
		return &dto.MetricFamily{Name: &name, Metric: []*dto.Metric{{
			Label: []*dto.LabelPair{{Name: &name, Value: &lv}}, Counter: &dto.Counter{Value: &value}}}}
	}
	cases := []struct {
		name string
		a, b *dto.MetricFamily
		want bool
	}{
		{"equal", fam(1, "a"), fam(1, "a"), true},
		{"value", fam(1, "a"), fam(2, "a"), false},
		{"label value", fam(1, "a"), fam(1, "b"), false},
		{"one series more", fam(1, "a"), &dto.MetricFamily{Metric: append(fam(1, "a").Metric, fam(1, "b").Metric...)}, false},
		{"label boundary", fam2("ab", "c"), fam2("a", "bc"), false},
		{"NaN equals NaN", fam(math.NaN(), "a"), fam(math.NaN(), "a"), true},
		{"gauge value", gauge(1), gauge(2), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := digestOf(tc.a) == digestOf(tc.b); got != tc.want {
				t.Errorf("digests equal = %v, want %v", got, tc.want)
			}
		})
	}
}

func fam2(v1, v2 string) *dto.MetricFamily {
	n1, n2, value := "l1", "l2", 1.0
	return &dto.MetricFamily{Metric: []*dto.Metric{{
		Label: []*dto.LabelPair{{Name: &n1, Value: &v1}, {Name: &n2, Value: &v2}}, Counter: &dto.Counter{Value: &value}}}}
}

func gauge(v float64) *dto.MetricFamily {
	return &dto.MetricFamily{Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
}
