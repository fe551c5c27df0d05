package ovs

import "hash/maphash"

// FlowCache keeps, from one dump of a datapath's megaflows to the next,
// the parse of each flow line's match and actions: consecutive dumps
// repeat almost every line but for its counters (packets:, bytes:,
// used:, flags:), and the match is most of what a parse costs. A line is
// found by a hash of its UFID, match and actions text, then compared
// with the text kept, so two lines can never share a parse. Only the
// lines of the last dump are kept; everything a cached Megaflow refers
// to (strings, MACs, tunnel key) is the cache's own copy, never the
// reply's, and is never changed once made.
//
// A datapath lists its megaflows in the same order from one dump to the
// next, so a line is first compared with the one that followed its
// predecessor last time, and hashed only when that is another.
//
// A FlowCache is not safe for concurrent use; use one per datapath, for
// its whole (unfiltered) dumps.
type FlowCache struct {
	seed    maphash.Seed
	slots   map[uint64]int32
	entries []cachedFlow
	free    []int32
	dump    int64 // number of the dump being parsed
	head    int32 // entry of the first line of the last dump, -1 if none
	prev    int32 // entry of the previous line of this dump, -1 if none
	// p carves the cached flows' MACs and outputs from slabs of the
	// cache's own, apart from those of a dump.
	p flowParser
}

// cachedFlow is one line's parse, its counters zero.
type cachedFlow struct {
	flow Megaflow
	hash uint64
	dump int64 // number of the last dump that listed it
	used bool  // false for a free entry
	next int32 // entry of the line that followed it last time, -1 if none
}

// NewFlowCache returns an empty FlowCache.
func NewFlowCache() *FlowCache {
	return &FlowCache{seed: maphash.MakeSeed(), slots: map[uint64]int32{}, head: -1, prev: -1}
}

// begin starts a dump.
func (c *FlowCache) begin() {
	if c != nil {
		c.dump++
		c.prev = -1
	}
}

// cacheOutputsSlab is how many outputs the cache's output slabs hold.
const cacheOutputsSlab = 4096

// parseLine parses line into f like flowParser.parseLine, taking the
// match and actions from the cache when an earlier dump had the same, and
// copies f's outputs into p's slab (so that Megaflows.Release treats
// them like any dump's).
func (c *FlowCache) parseLine(p *flowParser, line string, f *Megaflow) bool {
	if !splitLine(line, f) {
		return false
	}
	slot := c.guess()
	if slot < 0 || !c.entries[slot].holds(f) {
		h := maphash.String(c.seed, f.Key)
		h = h*0x9e3779b97f4a7c15 ^ maphash.String(c.seed, f.Actions)
		h = h*0x9e3779b97f4a7c15 ^ maphash.String(c.seed, f.UFID)
		if slot = c.lookup(h, f); slot < 0 {
			if slot = c.add(h, f); slot < 0 {
				return false
			}
		}
	}
	if c.prev < 0 {
		c.head = slot
	} else {
		c.entries[c.prev].next = slot
	}
	c.prev = slot
	e := &c.entries[slot]
	e.dump = c.dump
	packets, bytes, used := f.Packets, f.Bytes, f.Used
	*f = e.flow
	f.Packets, f.Bytes, f.Used = packets, bytes, used
	if f.Outputs != nil {
		start := len(p.outs)
		p.outs = append(p.outs, f.Outputs...)
		f.Outputs = p.outs[start:len(p.outs):len(p.outs)]
	}
	return true
}

// guess returns the entry of the line that followed the previous one
// last time, -1 if none.
func (c *FlowCache) guess() int32 {
	g := c.head
	if c.prev >= 0 {
		g = c.entries[c.prev].next
	}
	if int(g) >= len(c.entries) {
		return -1
	}
	return g
}

// holds reports whether e is the parse of f's text.
func (e *cachedFlow) holds(f *Megaflow) bool {
	return e.used && e.flow.Key == f.Key && e.flow.Actions == f.Actions && e.flow.UFID == f.UFID
}

// lookup returns the entry holding the parse of f's text, -1 if none.
func (c *FlowCache) lookup(h uint64, f *Megaflow) int32 {
	slot, ok := c.slots[h]
	if !ok || !c.entries[slot].holds(f) {
		return -1 // none, or another line with the same hash
	}
	return slot
}

// add parses a copy of f's UFID, match and actions into a new entry; -1
// when they do not parse.
func (c *FlowCache) add(h uint64, f *Megaflow) int32 {
	text := f.UFID + f.Key + f.Actions // one copy, the reply's text is not kept
	g := Megaflow{UFID: text[:len(f.UFID)], Key: text[len(f.UFID) : len(f.UFID)+len(f.Key)],
		Actions: text[len(f.UFID)+len(f.Key):]}
	if cap(c.p.outs)-len(c.p.outs) < 64 {
		// A new slab: the cached flows keep theirs, never written again.
		c.p.outs = make([]Output, 0, cacheOutputsSlab)
	}
	mark := c.p.mark()
	if !c.p.parseMatch(&g) {
		c.p.rollback(mark)
		return -1
	}
	var slot int32
	if n := len(c.free); n > 0 {
		slot, c.free = c.free[n-1], c.free[:n-1]
	} else {
		slot = int32(len(c.entries))
		c.entries = append(c.entries, cachedFlow{})
	}
	c.entries[slot] = cachedFlow{flow: g, hash: h, used: true, next: -1}
	c.slots[h] = slot // a colliding line's entry is left to eviction
	return slot
}

// evict drops the entries the dump just parsed did not list.
func (c *FlowCache) evict() {
	if c == nil {
		return
	}
	for i := range c.entries {
		e := &c.entries[i]
		if !e.used || e.dump == c.dump {
			continue
		}
		if c.slots[e.hash] == int32(i) {
			delete(c.slots, e.hash)
		}
		*e = cachedFlow{next: -1}
		c.free = append(c.free, int32(i))
	}
	c.compact()
}

// compact moves the entries into a right-sized array and map once most
// are free: after a dump of many more megaflows than usual, the cache
// shrinks back.
func (c *FlowCache) compact() {
	live := len(c.entries) - len(c.free)
	if len(c.entries) < 1024 || live > len(c.entries)/4 {
		return
	}
	entries := make([]cachedFlow, 0, 2*live)
	slots := make(map[uint64]int32, 2*live)
	for i := range c.entries {
		e := &c.entries[i]
		if !e.used {
			continue
		}
		if c.slots[e.hash] == int32(i) {
			slots[e.hash] = int32(len(entries))
		}
		entries = append(entries, *e)
		entries[len(entries)-1].next = -1 // the entries moved
	}
	c.entries, c.slots, c.free, c.head = entries, slots, nil, -1
}

// Len returns how many lines' parses the cache holds.
func (c *FlowCache) Len() int { return len(c.entries) - len(c.free) }
