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

// Add returns total+n, held at the largest uint64 instead of wrapping, so a
// total never goes down whatever a malformed reading says.
func Add(total, n uint64) uint64 {
	if s := total + n; s >= total {
		return s
	}
	return ^uint64(0)
}
