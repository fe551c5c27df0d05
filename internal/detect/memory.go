package detect

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"

// flowMemo is a megaflow's counters as last dumped.
type flowMemo struct {
	key            string
	inPort         string
	used           bool // false for a free slot
	packets, bytes uint64
	seen           int64 // poll number last dumped
	// prevPackets and prevBytes are the counters before this poll's dump
	// (valid while seen is this poll and known is true): a megaflow listed
	// twice in one dump is counted against them both times.
	prevPackets, prevBytes uint64
	known                  bool // it was remembered before this poll's dump
	// next is the slot of the megaflow that followed this one in the
	// last dump that listed it, -1 if none: see take.
	next int32
}

// flowMemory remembers every dumped megaflow's counters so the next poll
// counts only what it added. It must stay bounded however many megaflows a
// VM makes the datapath create, and its counts must stay exact: a megaflow
// is never counted from zero twice.
//
// Three ways to forget, each safe for the counts:
//   - after a complete dump, megaflows it did not list are gone;
//   - after a port's (filtered) dump, that port's megaflows it did not list
//     are gone: if the UFID comes back, it is a new megaflow whose counters
//     restarted, and all of them are new;
//   - megaflows of a port that was not dumped for FlowMemoryPolls polls are
//     dropped by age, although they may still exist. The port is then marked
//     forgotten: until its next dump, a megaflow of it that the memory does
//     not hold is taken as a baseline (counted from its next dump on), since
//     it may be one whose counts were already charged.
//
// The memos live in one array indexed by a map from key to slot, so a poll
// looks each megaflow up once (take) and walks the array, not the map, to
// forget (forget): the memory is read every poll for thousands of flows.
type flowMemory struct {
	slots map[string]int32
	memos []flowMemo
	head  int32   // slot of the first megaflow of the last dump, -1 if none
	free  []int32 // slots of forgotten megaflows, for the next new ones
	// forgotten holds the in_ports whose megaflows were dropped by age and
	// that were not dumped since.
	forgotten map[string]bool
}

func newFlowMemory() flowMemory {
	return flowMemory{slots: map[string]int32{}, head: -1, forgotten: map[string]bool{}}
}

// flowDelta is what a megaflow counted since the previous poll.
type flowDelta struct{ packets, bytes uint64 }

// take records this poll's dump (flooded or not: a megaflow can be
// revalidated from single-output to flooded in place) and returns, per
// flow of in.Flows, what it counted since the previous poll (see delta),
// in out (reused). poll is the current poll number.
//
// A datapath lists its megaflows in the same order from one dump to the
// next, so each flow is first compared with the memo of the one that
// followed its predecessor last time, and looked up by key only when
// that is another megaflow.
func (m *flowMemory) take(out []flowDelta, in Input, poll int64, first bool) []flowDelta {
	out = out[:0]
	prev := int32(-1)
	for i := range in.Flows {
		f := &in.Flows[i]
		slot, ok := m.find(prev, f.Key)
		if !ok {
			slot = m.alloc(f.Key)
		}
		if prev < 0 {
			m.head = slot
		} else {
			m.memos[prev].next = slot
		}
		prev = slot
		memo := &m.memos[slot]
		if memo.seen != poll {
			memo.prevPackets, memo.prevBytes, memo.known = memo.packets, memo.bytes, ok
		}
		out = append(out, m.counted(memo, f, first))
		memo.packets, memo.bytes, memo.seen, memo.inPort = f.Packets, f.Bytes, poll, f.InPort
	}
	return out
}

// find returns the slot of key, trying first the one that followed slot
// prev (-1: the head) in the last dump.
func (m *flowMemory) find(prev int32, key string) (int32, bool) {
	guess := m.head
	if prev >= 0 {
		guess = m.memos[prev].next
	}
	if guess >= 0 && int(guess) < len(m.memos) && m.memos[guess].used && m.memos[guess].key == key {
		return guess, true
	}
	slot, ok := m.slots[key]
	return slot, ok
}

// alloc returns a new slot for key.
func (m *flowMemory) alloc(key string) int32 {
	var slot int32
	if n := len(m.free); n > 0 {
		slot, m.free = m.free[n-1], m.free[:n-1]
	} else {
		slot = int32(len(m.memos))
		m.memos = append(m.memos, flowMemo{})
	}
	m.memos[slot] = flowMemo{key: key, used: true, next: -1}
	m.slots[key] = slot
	return slot
}

// counted is what f counted since the previous poll, memo being its
// memory as take left it. On the detector's first poll, and for a
// megaflow of a forgotten port, it is the baseline: 0. A megaflow created
// since the last dump of its port counted nothing before, so all of it is
// new.
func (m *flowMemory) counted(memo *flowMemo, f *Flow, first bool) flowDelta {
	switch {
	case memo.known:
		return flowDelta{counter.Delta(memo.prevPackets, f.Packets), counter.Delta(memo.prevBytes, f.Bytes)}
	case first || m.forgotten[f.InPort]:
		return flowDelta{}
	default:
		return flowDelta{f.Packets, f.Bytes}
	}
}

// delta returns what f counted since the previous poll, after take saw it
// in this poll's dump.
func (m *flowMemory) delta(f Flow, first bool) (packets, bytes uint64) {
	slot, ok := m.slots[f.Key]
	if !ok {
		return 0, 0 // not in this poll's dump
	}
	d := m.counted(&m.memos[slot], &f, first)
	return d.packets, d.bytes
}

// forget drops, after take, what is gone or too old. poll is the current
// poll number.
func (m *flowMemory) forget(in Input, poll, maxAge int64) {
	defer m.compact()
	if in.Complete {
		for i := range m.memos {
			if memo := &m.memos[i]; memo.used && memo.seen != poll {
				m.drop(int32(i))
			}
		}
		clear(m.forgotten)
		return
	}
	for i := range m.memos {
		memo := &m.memos[i]
		switch {
		case !memo.used || memo.seen == poll:
		case in.Observed[memo.inPort]:
			m.drop(int32(i)) // its port was dumped without it: gone
		case poll-memo.seen > maxAge:
			m.forgotten[memo.inPort] = true
			m.drop(int32(i))
		}
	}
	for p := range in.Observed {
		delete(m.forgotten, p) // the memory now holds all of p's megaflows
	}
}

// drop frees slot.
func (m *flowMemory) drop(slot int32) {
	delete(m.slots, m.memos[slot].key)
	m.memos[slot] = flowMemo{next: -1}
	m.free = append(m.free, slot)
}

// compact moves the memos into a right-sized array and map once most
// slots are free: after a burst of megaflows (a MAC flood) has gone, the
// memory shrinks back.
func (m *flowMemory) compact() {
	if len(m.memos) < 1024 || len(m.slots) > len(m.memos)/4 {
		return
	}
	memos := make([]flowMemo, 0, 2*len(m.slots))
	slots := make(map[string]int32, 2*len(m.slots))
	for i := range m.memos {
		if m.memos[i].used {
			slots[m.memos[i].key] = int32(len(memos))
			memos = append(memos, m.memos[i])
		}
	}
	for i := range memos {
		memos[i].next = -1 // the slots moved
	}
	m.memos, m.slots, m.free, m.head = memos, slots, nil, -1
}

// len returns how many megaflows are remembered.
func (m *flowMemory) len() int { return len(m.slots) }
