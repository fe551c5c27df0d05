package agent

import (
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// accumulator turns upstream counters that reset (OVS restarts, megaflows
// re-created, devices re-created) into counters that only reset when the
// agent restarts, as Prometheus expects. A key not seen for retire (a
// deleted port or bridge, or a source down that long) is forgotten.
type accumulator struct {
	retire time.Duration
	keys   map[string]*accumulated
	groups map[groupKey]*counterGroup
	// forgot counts the sweeps that forgot a group: a groupMemo filled
	// before one may name a group no longer in groups.
	forgot int
}

// groupKey names counters read together (a device's six, an OpenFlow
// table's two) without building a string per counter on every poll.
type groupKey struct {
	kind   string // "dev", "lb", "of"
	bridge string
	name   string // the port; "" for a table
	id     int    // the table; 0 for a port
}

// counterGroup is the accumulated state of the counters under one
// groupKey, indexed by the caller's own constants.
type counterGroup struct {
	c     [6]struct{ prev, total uint64 }
	seen  time.Time
	fresh bool // first sight: each add returns the upstream value
}

type accumulated struct {
	prev, total uint64
	seen        time.Time
}

func newAccumulator(retire time.Duration) *accumulator {
	return &accumulator{retire: retire, keys: map[string]*accumulated{}, groups: map[groupKey]*counterGroup{}}
}

// add records the upstream value cur of key at now and returns the
// monotonic total and how much it grew.
func (c *accumulator) add(key string, cur uint64, now time.Time) (total, grew uint64) {
	k, ok := c.keys[key]
	if ok {
		grew = counter.Delta(k.prev, cur)
	} else {
		k = &accumulated{total: cur}
		c.keys[key] = k
	}
	k.total += grew
	k.prev, k.seen = cur, now
	return k.total, grew
}

// group returns the counters under k, marked seen at now. Call it once
// per poll for a key, then add each of its counters.
func (c *accumulator) group(k groupKey, now time.Time) *counterGroup {
	g, ok := c.groups[k]
	if !ok {
		g = &counterGroup{fresh: true}
		c.groups[k] = g
	} else {
		g.fresh = false
	}
	g.seen = now
	return g
}

// groupMemo remembers the groups one caller looked up in the last poll,
// by the caller's own order: the same ports and tables come in the same
// order poll after poll, and comparing a key with the one at its place
// costs less than hashing it.
type groupMemo struct {
	forgot int
	keys   []groupKey
	groups []*counterGroup
}

// groupAt is group(k, now) for the i-th lookup of the poll by the owner of
// m.
func (c *accumulator) groupAt(m *groupMemo, i int, k groupKey, now time.Time) *counterGroup {
	if m.forgot != c.forgot {
		clear(m.groups) // let the forgotten groups go
		m.forgot, m.keys, m.groups = c.forgot, m.keys[:0], m.groups[:0]
	}
	if i < len(m.keys) && m.keys[i] == k {
		g := m.groups[i]
		g.fresh, g.seen = false, now // as group does for a known key
		return g
	}
	g := c.group(k, now)
	for len(m.keys) <= i {
		m.keys, m.groups = append(m.keys, groupKey{}), append(m.groups, nil)
	}
	m.keys[i], m.groups[i] = k, g
	return g
}

// add records the upstream value cur of counter i and returns its
// monotonic total and how much it grew (as accumulator.add).
func (g *counterGroup) add(i int, cur uint64) (total, grew uint64) {
	a := &g.c[i]
	if g.fresh {
		a.prev, a.total = cur, cur
		return cur, 0
	}
	grew = counter.Delta(a.prev, cur)
	a.total += grew
	a.prev = cur
	return a.total, grew
}

// counters returns the monotonic device counters of g (a "dev" or "lb"
// group) for the upstream values c, and how many bytes the device
// received since the last poll.
func (g *counterGroup) counters(c netdev.Counters) (state.Counters, uint64) {
	rxBytes, sent := g.add(0, c.RxBytes)
	total := func(i int, cur uint64) uint64 { t, _ := g.add(i, cur); return t }
	return state.Counters{
		RxBytes: rxBytes, RxPackets: total(1, c.RxPackets), RxDropped: total(2, c.RxDropped),
		TxBytes: total(3, c.TxBytes), TxPackets: total(4, c.TxPackets), TxDropped: total(5, c.TxDropped),
	}, sent
}

// sweep forgets the keys not seen for longer than the retirement delay.
func (c *accumulator) sweep(now time.Time) {
	for key, k := range c.keys {
		if now.Sub(k.seen) > c.retire {
			delete(c.keys, key)
		}
	}
	n := len(c.groups)
	for key, g := range c.groups {
		if now.Sub(g.seen) > c.retire {
			delete(c.groups, key)
		}
	}
	if len(c.groups) != n {
		c.forgot++
	}
}
