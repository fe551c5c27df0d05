package web

import (
	"bytes"
	"compress/gzip"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// renderCache renders the OVS metrics once per published snapshot. The
// snapshot only changes once per poll, while Prometheus (often several
// servers) scrapes more often; gathering ~5,000 const metrics costs ~10 ms
// of CPU at 500 ports, so doing it once per poll instead of once per scrape
// is what keeps a scrape cheap.
type renderCache struct {
	store *state.Store
	reg   *prometheus.Registry

	mu   sync.Mutex
	snap *state.Snapshot
	text []byte // text exposition of reg for snap
	gz   []byte // the same, gzip-compressed (made on first gzip scrape)
	err  error
}

func (c *renderCache) get(wantGzip bool) ([]byte, error) {
	s := c.store.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.text == nil || s != c.snap {
		c.snap, c.gz = s, nil
		c.text, c.err = encode(c.reg)
	}
	if !wantGzip {
		return c.text, c.err
	}
	if c.gz == nil {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // 1.3 ms instead of 3.2 ms for ~500 KB, 3% larger
		_, _ = zw.Write(c.text)
		_ = zw.Close()
		c.gz = buf.Bytes()
	}
	return c.gz, c.err
}

// encode gathers g and renders the text exposition format.
func encode(g prometheus.Gatherer) ([]byte, error) {
	mfs, err := g.Gather() // on error, what could be gathered is still returned
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, textFormat)
	for _, mf := range mfs {
		if e := enc.Encode(mf); e != nil && err == nil {
			err = e
		}
	}
	return buf.Bytes(), err
}

var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// metricsHandler serves the cached OVS metrics followed by the live
// process metrics (Go runtime, process, build info), in the text format,
// gzip-compressed when the client accepts it. At most max scrapes run at
// once (0: no limit); more get 503.
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
		gz := strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
		ours, err := cache.get(gz)
		if err != nil {
			log.Error("rendering OVS metrics", "err", err)
		}
		rest, err := encode(live)
		if err != nil {
			log.Error("gathering process metrics", "err", err)
		}
		h := w.Header()
		h.Set("Content-Type", string(textFormat))
		if !gz {
			_, _ = w.Write(ours)
			_, _ = w.Write(rest)
			return
		}
		// Two gzip members one after the other are one valid gzip stream
		// (RFC 1952); Go's and Prometheus's readers accept it.
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		_, _ = w.Write(ours)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(rest)
		_ = zw.Close()
	})
}
