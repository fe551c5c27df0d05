// Package counter turns the counters OVS and the kernel expose, which
// restart whenever their object is re-created (a megaflow re-installed with
// the same UFID, a device re-plugged, ovs-vswitchd restarted), into the
// monotonic totals Prometheus expects.
package counter

// Delta returns how much an upstream counter advanced from prev to cur. A
// decrease means the counter restarted from zero in between, so everything
// it shows now is new.
func Delta(prev, cur uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	return cur
}

// Accumulator keeps, per key, a total that only grows: each upstream reading
// adds its Delta from the previous one. The first reading of a key is taken
// whole (upstream counts since its own start). It is not safe for
// concurrent use.
type Accumulator struct {
	prev, total map[string]uint64
	seen        map[string]bool
}

// NewAccumulator returns an empty Accumulator.
func NewAccumulator() *Accumulator {
	return &Accumulator{prev: map[string]uint64{}, total: map[string]uint64{}, seen: map[string]bool{}}
}

// Add records the upstream value cur for key and returns key's total.
func (a *Accumulator) Add(key string, cur uint64) uint64 {
	a.seen[key] = true
	prev, ok := a.prev[key]
	a.prev[key] = cur
	if !ok {
		a.total[key] = cur
	} else {
		a.total[key] += Delta(prev, cur)
	}
	return a.total[key]
}

// Sweep forgets the keys not added since the previous Sweep (deleted ports,
// bridges), so a key that comes back starts a new total.
func (a *Accumulator) Sweep() {
	for k := range a.prev {
		if !a.seen[k] {
			delete(a.prev, k)
			delete(a.total, k)
		}
	}
	clear(a.seen)
}

// Len returns how many keys the Accumulator remembers.
func (a *Accumulator) Len() int { return len(a.prev) }

// Add returns total+n, held at the largest uint64 instead of wrapping, so a
// total never goes down whatever a malformed reading says.
func Add(total, n uint64) uint64 {
	if s := total + n; s >= total {
		return s
	}
	return ^uint64(0)
}
