package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector/collectortest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// BenchmarkMetrics scrapes /metrics of a 500-port host (bench/'s scale,
// without OVS): cold after every new snapshot (whose counters differ from
// the last one's), or cached, as text, gzip or OpenMetrics with gzip.
func BenchmarkMetrics(b *testing.B) {
	store := &state.Store{}
	polls := [2]*state.Snapshot{collectortest.Host(500, 1), collectortest.Host(500, 2)}
	store.Publish(polls[0])
	h := Handler(store, LiveRegistry(), Options{})
	kinds := []struct {
		name, accept string
		gzip         bool
	}{{"text", "", false}, {"gzip", "", true}, {"openmetrics", acceptPrometheus3, true}}
	for _, cold := range []bool{true, false} {
		for _, k := range kinds {
			b.Run(map[bool]string{true: "cold", false: "cached"}[cold]+"/"+k.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				if k.accept != "" {
					req.Header.Set("Accept", k.accept)
				}
				if k.gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				var size int
				b.ReportAllocs()
				for i := range b.N {
					if cold {
						store.Publish(polls[i%2])
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					size = rec.Body.Len()
				}
				b.ReportMetric(float64(size), "bytes")
			})
		}
	}
}
