package detect

import (
	"slices"
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
	var keys []PortKey
	if prev != nil {
		keys = prev.leakedKeys
	}
	return dense(m, keys, comparePortKeys)
}

// denseReceived is denseLeaked for the device counters.
func denseReceived(m map[string]uint64, prev *sample) ([]string, []uint64) {
	var keys []string
	if prev != nil {
		keys = prev.receivedKeys
	}
	return dense(m, keys, strings.Compare)
}

// dense returns m's values by prevKeys when those are m's keys (looking
// each up once), else by m's keys newly sorted with compare.
func dense[K comparable](m map[K]uint64, prevKeys []K, compare func(a, b K) int) ([]K, []uint64) {
	vals := make([]uint64, len(m))
	if len(prevKeys) == len(m) {
		same := true
		for i, k := range prevKeys {
			v, ok := m[k]
			if !ok {
				same = false
				break
			}
			vals[i] = v
		}
		if same {
			return prevKeys, vals
		}
	}
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	for i, k := range keys {
		vals[i] = m[k]
	}
	return keys, vals
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

// sameSlice reports whether a and b are one list (consecutive samples
// share their key lists while the keys do not change).
func sameSlice[K any](a, b []K) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// ratios computes, for every endpoint port that has received flood copies
// since the agent started and has a device counter at both ends of the
// window, the share of what it received in the window that was copies. A
// port that never received a copy has no ratio (not a series of zeros). It
// is pure.
//
// Only the ports that leaked are looked at, in the order of the last
// sample's keys, which is the order of the result; while the window's
// samples share their key lists, one index serves both ends.
func ratios(h []sample, ports map[string]Port) []Ratio {
	if len(h) < 2 {
		return nil
	}
	first, last := &h[0], &h[len(h)-1]
	sharedLeaked := sameSlice(first.leakedKeys, last.leakedKeys)
	sharedReceived := sameSlice(first.receivedKeys, last.receivedKeys)
	var out []Ratio
	var recv receivedCursor
	for i, k := range last.leakedKeys {
		if p, ok := ports[k.Port]; !ok || !p.Endpoint || p.Bridge != k.Bridge {
			continue
		}
		j, ok1 := recv.find(last.receivedKeys, k.Port)
		if !ok1 {
			continue
		}
		var r0, leakedThen uint64
		if sharedReceived {
			r0 = first.received[j]
		} else if r0, ok1 = first.receivedOf(k.Port); !ok1 {
			continue
		}
		if sharedLeaked {
			leakedThen = first.leaked[i]
		} else {
			leakedThen, _ = first.leakedOf(k)
		}
		if out == nil {
			// Only ports that leaked have a ratio: sized once, not grown.
			out = make([]Ratio, 0, min(len(last.leakedKeys)-i, len(ports)))
		}
		out = append(out, ratio(k, counter.Delta(leakedThen, last.leaked[i]), counter.Delta(r0, last.received[j])))
	}
	return out // no ratio is a nil slice, as it always was
}

// ratio is k's Ratio from what leaked there and what it received.
func ratio(k PortKey, leaked, received uint64) Ratio {
	r := 0.0
	if received > 0 {
		r = float64(leaked) / float64(received)
	} else if leaked > 0 {
		r = 1
	}
	// Flood copies counted at the datapath can exceed what the device
	// shows when the device dropped some: clamp.
	return Ratio{PortKey: k, Ratio: min(r, 1), Leaked: leaked, Received: received}
}

// receivedCursor finds ports in a sorted key list, starting each search
// where the last one ended when the port names ascend, as the leaked keys
// of one bridge do.
type receivedCursor struct {
	at   int
	last string
}

// find returns the index of port in keys and whether it is there.
func (c *receivedCursor) find(keys []string, port string) (int, bool) {
	lo := 0
	if c.at < len(keys) && port >= c.last {
		lo = c.at
		// usually the next port or the one after it
		for n := 0; lo < len(keys) && keys[lo] < port && n < 4; n++ {
			lo++
		}
	}
	if lo < len(keys) && keys[lo] == port {
		c.at, c.last = lo, port
		return lo, true
	}
	i, ok := slices.BinarySearch(keys[lo:], port)
	c.at, c.last = lo+i, port
	return lo + i, ok
}
