package agent

import (
	"context"
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// fdbRefreshPolls bounds how many polls a bridge's cached MAC table may be
// reused while its statistics stay the same: fdb/add, fdb/del and
// fdb/flush can change the table without moving a learning counter.
const fdbRefreshPolls = 12

// lazyFDB reads fdb/show for a bridge the first time the detector asks
// about it in a poll: bridges without flood candidates are never dumped.
// A table read in an earlier poll is reused while the bridge's
// fdb/stats-show figures (entries, static entries, and the learned,
// expired, evicted and moved totals) are unchanged: any learning, ageing,
// eviction or move changes one of them. On a host with a sustained flood
// that saves fdb/show on every poll, for vswitchd (~4 ms of its main
// thread for 4,000 entries) and for the agent.
type lazyFDB struct {
	ctx    context.Context
	v      ovs.Vswitchd
	stats  map[string]*state.FDB // this poll's fdb/stats-show, by bridge
	cache  *fdbCache
	failed map[string]bool
}

func newLazyFDB(ctx context.Context, v ovs.Vswitchd, stats map[string]*state.FDB, cache *fdbCache) *lazyFDB {
	cache.poll++
	if len(stats) > 0 {
		for br := range cache.tables {
			if stats[br] == nil {
				delete(cache.tables, br) // the bridge is gone (or its statistics failed): read it afresh
			}
		}
	}
	return &lazyFDB{ctx: ctx, v: v, stats: stats, cache: cache, failed: map[string]bool{}}
}

// fdbCache keeps the MAC tables read in earlier polls, by bridge.
type fdbCache struct {
	poll   int
	tables map[string]*cachedFDB
}

type cachedFDB struct {
	stats   state.FDB // the statistics when the table was read
	statsOK bool      // false: read without statistics, good for its poll only
	readAt  int       // the poll it was read in
	table   map[fdbEntryKey]bool
}

func newFDBCache() *fdbCache { return &fdbCache{tables: map[string]*cachedFDB{}} }

// Learned implements detect.FDB.
func (l *lazyFDB) Learned(bridge string, vlan int, mac net.HardwareAddr) (bool, bool) {
	if l.failed[bridge] {
		return false, false
	}
	t := l.table(bridge)
	if t == nil {
		return false, false
	}
	return t[fdbKey(vlan, mac)], true
}

// table returns the bridge's MAC table for this poll, reading fdb/show
// unless the cached one is still current; nil when it cannot be read.
func (l *lazyFDB) table(bridge string) map[fdbEntryKey]bool {
	st := l.stats[bridge]
	c := l.cache.tables[bridge]
	if c != nil && (c.readAt == l.cache.poll ||
		(c.statsOK && st != nil && *st == c.stats && l.cache.poll-c.readAt < fdbRefreshPolls)) {
		return c.table
	}
	table, err := l.v.FDBShow(l.ctx, bridge)
	if err != nil {
		l.failed[bridge] = true
		delete(l.cache.tables, bridge)
		return nil
	}
	var t map[fdbEntryKey]bool
	if c != nil {
		// The table this one replaces, refilled: read in an earlier
		// poll, nothing holds it any more.
		t = c.table
		clear(t)
	} else {
		t = make(map[fdbEntryKey]bool, len(table.Entries))
	}
	for _, e := range table.Entries {
		t[fdbKey(int(e.VLAN), e.MAC)] = true
	}
	c = &cachedFDB{readAt: l.cache.poll, table: t}
	if st != nil {
		c.stats, c.statsOK = *st, true
	}
	l.cache.tables[bridge] = c
	return t
}

// fdbEntryKey is a learned MAC on a VLAN, comparable without formatting
// (fdb/show can list thousands of entries).
type fdbEntryKey struct {
	vlan int
	mac  [6]byte
}

func fdbKey(vlan int, mac net.HardwareAddr) fdbEntryKey {
	k := fdbEntryKey{vlan: vlan}
	copy(k.mac[:], mac)
	return k
}
