package gctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// limitHeadroom is what the runtime needs beside the heap (goroutine
// stacks, GC metadata, fragmentation).
const limitHeadroom = 4 << 20

// MemoryLimit keeps the Go runtime's soft memory limit at floor, or at
// 1.5 times the live heap plus headroom when that is more. Each poll reads
// a few MB of OVS output that is garbage at once, so without a limit the
// heap floats at twice what is live; the floor keeps a typical host's
// close to what it needs. A host big enough to need more gets a limit that
// grows with it, so its collector never runs back to back at the floor
// (it collects as with GOGC=50 there).
type MemoryLimit struct {
	floor int64
	live  func() uint64     // the live heap after the last GC
	set   func(int64) int64 // debug.SetMemoryLimit
}

// adjust sets the limit for the live heap now and returns it.
func (m MemoryLimit) adjust() int64 {
	live := int64(m.live())
	limit := max(m.floor, live+live/2+limitHeadroom)
	m.set(limit)
	return limit
}

// Keep adjusts the limit now and then every period until ctx ends.
func (m MemoryLimit) Keep(ctx context.Context, every time.Duration) {
	m.adjust()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.adjust()
		}
	}
}

// NewMemoryLimit returns the MemoryLimit of this process with floor (bytes).
func NewMemoryLimit(floor int64) MemoryLimit {
	return MemoryLimit{floor: floor, live: liveHeap, set: debug.SetMemoryLimit}
}

// liveHeap returns the heap the last GC found live.
func liveHeap() uint64 { return readUint64s("/gc/heap/live:bytes")[0] }

// readUint64s reads runtime metrics of kind uint64, 0 for one the runtime
// does not have.
func readUint64s(names ...string) []uint64 {
	s := make([]metrics.Sample, len(names))
	for i, name := range names {
		s[i].Name = name
	}
	metrics.Read(s)
	out := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			out[i] = s[i].Value.Uint64()
		}
	}
	return out
}
