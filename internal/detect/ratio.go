package detect

import (
	"maps"
	"sort"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
)

// sample is one poll's cumulative counters, kept for the leak-ratio window.
type sample struct {
	t        time.Time
	leaked   map[PortKey]uint64 // cumulative leaked per port
	received map[string]uint64  // cumulative device counters per port
}

// record appends this poll to the leak-ratio window and drops the samples
// that fell out of it (keeping at least two).
func (d *Detector) record(in Input) {
	d.history = append(d.history, sample{t: in.Time, leaked: maps.Clone(d.leaked), received: maps.Clone(in.Received)})
	for len(d.history) > 2 && in.Time.Sub(d.history[1].t) >= d.cfg.Window {
		d.history[0] = sample{} // let the maps go
		d.history = d.history[1:]
	}
}

// ratios computes, for every endpoint port that has received flood copies
// since the agent started and has a device counter at both ends of the
// window, the share of what it received in the window that was copies. A
// port that never received a copy has no ratio (not a series of zeros). It
// is pure.
func ratios(h []sample, ports map[string]Port) []Ratio {
	if len(h) < 2 {
		return nil
	}
	first, last := h[0], h[len(h)-1]
	var out []Ratio
	for name, p := range ports {
		if !p.Endpoint {
			continue
		}
		k := PortKey{Bridge: p.Bridge, Port: name}
		leakedNow, ever := last.leaked[k]
		r1, ok1 := last.received[name]
		r0, ok0 := first.received[name]
		if !ever || !ok1 || !ok0 {
			continue
		}
		leaked := counter.Delta(first.leaked[k], leakedNow)
		received := counter.Delta(r0, r1)
		ratio := 0.0
		if received > 0 {
			ratio = float64(leaked) / float64(received)
		} else if leaked > 0 {
			ratio = 1
		}
		// Flood copies counted at the datapath can exceed what the device
		// shows when the device dropped some: clamp.
		ratio = min(ratio, 1)
		out = append(out, Ratio{PortKey: k, Ratio: ratio, Leaked: leaked, Received: received})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Port < out[j].Port
	})
	return out
}
