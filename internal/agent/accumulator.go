package agent

import (
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
)

// accumulator turns upstream counters that reset (OVS restarts, megaflows
// re-created, devices re-created) into counters that only reset when the
// agent restarts, as Prometheus expects. A key not seen for retire (a
// deleted port or bridge, or a source down that long) is forgotten.
type accumulator struct {
	retire time.Duration
	keys   map[string]*accumulated
}

type accumulated struct {
	prev, total uint64
	seen        time.Time
}

func newAccumulator(retire time.Duration) *accumulator {
	return &accumulator{retire: retire, keys: map[string]*accumulated{}}
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

// sweep forgets the keys not seen for longer than the retirement delay.
func (c *accumulator) sweep(now time.Time) {
	for key, k := range c.keys {
		if now.Sub(k.seen) > c.retire {
			delete(c.keys, key)
		}
	}
}
