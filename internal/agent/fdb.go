package agent

import (
	"context"
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// lazyFDB reads fdb/show for a bridge the first time the detector asks
// about it in a poll: bridges without flood candidates are never dumped.
type lazyFDB struct {
	ctx    context.Context
	v      ovs.Vswitchd
	tables map[string]map[fdbEntryKey]bool // bridge -> VLAN and MAC
	failed map[string]bool
}

func newLazyFDB(ctx context.Context, v ovs.Vswitchd) *lazyFDB {
	return &lazyFDB{ctx: ctx, v: v, tables: map[string]map[fdbEntryKey]bool{}, failed: map[string]bool{}}
}

// Learned implements detect.FDB.
func (l *lazyFDB) Learned(bridge string, vlan int, mac net.HardwareAddr) (bool, bool) {
	if l.failed[bridge] {
		return false, false
	}
	t, ok := l.tables[bridge]
	if !ok {
		table, err := l.v.FDBShow(l.ctx, bridge)
		if err != nil {
			l.failed[bridge] = true
			return false, false
		}
		t = make(map[fdbEntryKey]bool, len(table.Entries))
		for _, e := range table.Entries {
			t[fdbKey(int(e.VLAN), e.MAC)] = true
		}
		l.tables[bridge] = t
	}
	return t[fdbKey(vlan, mac)], true
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
