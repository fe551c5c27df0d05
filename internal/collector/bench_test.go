package collector

import (
	"bytes"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector/collectortest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// BenchmarkFamilies builds the families of a new snapshot of a 500-port
// host (the bench/ host's scale) and encodes them as text: the work of
// the first scrape after a poll.
func BenchmarkFamilies(b *testing.B) {
	store := &state.Store{}
	c := New(store)
	snaps := [2]*state.Snapshot{collectortest.Host(500, 1), collectortest.Host(500, 2)}
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			store.Publish(snaps[i%2])
			if _, err := c.Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		mfs, err := c.Gather()
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		b.ReportAllocs()
		for range b.N {
			buf.Reset()
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
}
