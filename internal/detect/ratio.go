package detect

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
)

// sample is one poll's cumulative counters, kept for the leak-ratio window.
// A window holds a sample per poll (60 at 1 s polls), so the values are
// dense slices over sorted key lists that consecutive samples share while
// the port set does not change, rather than a map copy per poll.
type sample struct {
	t            time.Time
	leakedKeys   []PortKey // sorted; shared with the previous sample when equal
	leaked       []uint64  // cumulative leaked per port, by leakedKeys
	receivedKeys []string  // sorted; shared with the previous sample when equal
	received     []uint64  // cumulative device counters per port, by receivedKeys
}

// record appends this poll to the leak-ratio window and drops the samples
// that fell out of it (keeping at least two).
func (d *Detector) record(in Input) {
	s := sample{t: in.Time}
	var prev *sample
	if n := len(d.history); n > 0 {
		prev = &d.history[n-1]
	}
	s.leakedKeys, s.leaked = denseLeaked(d.leaked, prev)
	s.receivedKeys, s.received = denseReceived(in.Received, prev)
	d.history = append(d.history, s)
	for len(d.history) > 2 && in.Time.Sub(d.history[1].t) >= d.cfg.Window {
		d.history[0] = sample{} // let the slices go
		d.history = d.history[1:]
	}
}

func comparePortKeys(a, b PortKey) int {
	if c := strings.Compare(a.Bridge, b.Bridge); c != 0 {
		return c
	}
	return strings.Compare(a.Port, b.Port)
}

// denseLeaked returns m's keys sorted (prev's list when it holds the
// same keys) and the values in that order.
func denseLeaked(m map[PortKey]uint64, prev *sample) ([]PortKey, []uint64) {
	keys := prevLeakedKeys(m, prev)
	if keys == nil {
		keys = make([]PortKey, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, comparePortKeys)
	}
	vals := make([]uint64, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	return keys, vals
}

func prevLeakedKeys(m map[PortKey]uint64, prev *sample) []PortKey {
	if prev == nil || len(prev.leakedKeys) != len(m) {
		return nil
	}
	for _, k := range prev.leakedKeys {
		if _, ok := m[k]; !ok {
			return nil
		}
	}
	return prev.leakedKeys
}

// denseReceived is denseLeaked for the device counters.
func denseReceived(m map[string]uint64, prev *sample) ([]string, []uint64) {
	keys := prevReceivedKeys(m, prev)
	if keys == nil {
		keys = make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	vals := make([]uint64, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	return keys, vals
}

func prevReceivedKeys(m map[string]uint64, prev *sample) []string {
	if prev == nil || len(prev.receivedKeys) != len(m) {
		return nil
	}
	for _, k := range prev.receivedKeys {
		if _, ok := m[k]; !ok {
			return nil
		}
	}
	return prev.receivedKeys
}

// leakedOf returns s's cumulative leaked bytes of k and whether k had any.
func (s *sample) leakedOf(k PortKey) (uint64, bool) {
	i, ok := slices.BinarySearchFunc(s.leakedKeys, k, comparePortKeys)
	if !ok {
		return 0, false
	}
	return s.leaked[i], true
}

// receivedOf returns s's device counter of port and whether it had one.
func (s *sample) receivedOf(port string) (uint64, bool) {
	i, ok := slices.BinarySearch(s.receivedKeys, port)
	if !ok {
		return 0, false
	}
	return s.received[i], true
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
	first, last := &h[0], &h[len(h)-1]
	// Only ports that leaked have a ratio: sized once, not grown.
	out := make([]Ratio, 0, min(len(last.leakedKeys), len(ports)))
	for name, p := range ports {
		if !p.Endpoint {
			continue
		}
		k := PortKey{Bridge: p.Bridge, Port: name}
		leakedNow, ever := last.leakedOf(k)
		r1, ok1 := last.receivedOf(name)
		r0, ok0 := first.receivedOf(name)
		if !ever || !ok1 || !ok0 {
			continue
		}
		leakedThen, _ := first.leakedOf(k)
		leaked := counter.Delta(leakedThen, leakedNow)
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
	if len(out) == 0 {
		return nil // no ratio is a nil slice, as it always was
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bridge != out[j].Bridge {
			return out[i].Bridge < out[j].Bridge
		}
		return out[i].Port < out[j].Port
	})
	return out
}
