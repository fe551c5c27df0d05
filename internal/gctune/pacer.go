// Package gctune paces the Go garbage collector of a poller whose every
// poll reads megabytes of OVS output that are garbage at once: a
// collection right after a poll when the next interval would start one
// anyway (Pacer), and a soft memory limit that follows the live heap
// (MemoryLimit).
package gctune

import "runtime"

// Pacer runs a collection right after a poll when the heap is so close
// to its goal that what the next interval allocates (the next poll, and a
// scrape's first rendering of a new snapshot, a few MB at 500 ports) would
// start one anyway. Collected then, the poll's garbage is all dead and
// nobody waits; left to the runtime, the collection lands in the middle
// of a scrape or the next poll, and a host polled every second pays for
// it in every scrape it serves. A host with room to spare is left alone.
type Pacer struct {
	read    func() heapFigures
	collect func() // runtime.GC
	// allocs is the allocation total at the last poll's end.
	allocs uint64
}

// heapFigures are the runtime's: bytes allocated since start, bytes held
// by heap objects now (live or not yet swept), and the heap goal at which
// the collector finishes its next cycle.
type heapFigures struct{ allocs, objects, goal uint64 }

// NewPacer returns a Pacer of this process's heap.
func NewPacer() *Pacer { return &Pacer{read: readHeapFigures, collect: runtime.GC} }

// AfterPoll collects now when the heap plus what the last interval
// allocated (and a quarter more) reaches the goal.
func (g *Pacer) AfterPoll() {
	f := g.read()
	spent := f.allocs - g.allocs
	g.allocs = f.allocs
	if f.objects+spent+spent/4 >= f.goal {
		g.collect()
	}
}

func readHeapFigures() heapFigures {
	v := readUint64s("/gc/heap/allocs:bytes", "/memory/classes/heap/objects:bytes", "/gc/heap/goal:bytes")
	return heapFigures{allocs: v[0], objects: v[1], goal: v[2]}
}
