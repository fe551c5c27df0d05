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
	for key, g := range c.groups {
		if now.Sub(g.seen) > c.retire {
			delete(c.groups, key)
		}
	}
}
