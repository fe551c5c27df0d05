package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func scrapeMetrics(t *testing.T, h *httptest.Server, gz bool) string {
	t.Helper()
	req := httptest.NewRequest("GET", h.URL+"/metrics", nil)
	req.RequestURI = ""
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	tr := httpTransport{}
	resp, err := tr.do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if gz {
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("no gzip: %v", resp.Header)
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		// One member, as curl and other single-member readers expect.
		zr.Multistream(false)
		r = io.MultiReader(zr, checkEOF{t: t, r: resp.Body})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsRenderedOncePerSnapshot(t *testing.T) {
	store := &state.Store{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(store))
	live := prometheus.NewRegistry()
	live.MustRegister(collectors.NewGoCollector())
	srv := httptest.NewServer(Handler(store, reg, live, Options{SlogLogger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()

	store.Publish(&state.Snapshot{Time: time.Unix(100, 0), Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: true}}})
	for _, gz := range []bool{false, true} {
		body := scrapeMetrics(t, srv, gz)
		for _, want := range []string{`ovs_flood_exporter_source_up{source="unixctl"} 1`, "ovs_flood_exporter_last_poll_timestamp_seconds 100", "go_goroutines "} {
			if !strings.Contains(body, want) {
				t.Errorf("gzip=%v: body lacks %q", gz, want)
			}
		}
		// One valid exposition: every family once, parseable.
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader([]byte(body))); err != nil {
			t.Errorf("gzip=%v: exposition does not parse: %v", gz, err)
		}
	}
	// A new snapshot is rendered anew.
	store.Publish(&state.Snapshot{Time: time.Unix(200, 0), Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: false}}})
	for _, gz := range []bool{true, false} {
		body := scrapeMetrics(t, srv, gz)
		if !strings.Contains(body, `ovs_flood_exporter_source_up{source="unixctl"} 0`) || !strings.Contains(body, "ovs_flood_exporter_last_poll_timestamp_seconds 200") {
			t.Errorf("gzip=%v: stale rendering after a new snapshot:\n%s", gz, body)
		}
	}
}

// httpTransport sends requests without transparent decompression, so the
// test sees exactly what a Prometheus server would.
type httpTransport struct{}

func (httpTransport) do(req *http.Request) (*http.Response, error) {
	return (&http.Transport{DisableCompression: true}).RoundTrip(req)
}

// checkEOF fails the test if anything follows the first gzip member.
type checkEOF struct {
	t *testing.T
	r io.Reader
}

func (c checkEOF) Read([]byte) (int, error) {
	if n, _ := io.Copy(io.Discard, c.r); n > 0 {
		c.t.Errorf("%d bytes follow the first gzip member", n)
	}
	return 0, io.EOF
}
