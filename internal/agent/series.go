package agent

import (
	"cmp"
	"slices"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// seriesKeeper bounds the flood and leak counter series the snapshot
// exports, so that neither churning ports nor a trunk port can grow them
// without limit:
//   - the series of a port that is gone (not in the poll's ports) are
//     dropped once it has been gone for retire;
//   - an in_port keeps its own vlan label for the first maxVLANs VLANs it
//     floods on; the flooded counters of its further VLANs are summed under
//     vlan="other" (state.VLANOther), which stays monotonic.
type seriesKeeper struct {
	retire   time.Duration
	maxVLANs int
	// seen is when each port not in the last poll's list was last
	// listed (or first had a series); the listed ports are seen now.
	seen     map[detect.PortKey]time.Time
	listed   map[detect.PortKey]bool
	order    []detect.PortKey                // the listed ports, in the poll's order
	listedAt time.Time                       // the poll that listed them
	retired  map[detect.PortKey]bool         // gone ports the detector still counts
	vlans    map[detect.PortKey]map[int]bool // VLANs with their own series
	members  map[detect.CounterKey]detect.Counter
	other    map[detect.PortKey]detect.Counter
}

func newSeriesKeeper(retire time.Duration, maxVLANs int) *seriesKeeper {
	return &seriesKeeper{retire: retire, maxVLANs: maxVLANs, seen: map[detect.PortKey]time.Time{},
		listed: map[detect.PortKey]bool{}, retired: map[detect.PortKey]bool{},
		vlans: map[detect.PortKey]map[int]bool{}, members: map[detect.CounterKey]detect.Counter{},
		other: map[detect.PortKey]detect.Counter{}}
}

// apply rewrites res.Flooded and res.Leaked (fresh maps, owned by the
// caller) to the series to export.
func (k *seriesKeeper) apply(now time.Time, res *detect.Result, ports []state.Port) {
	k.list(now, ports)
	mentioned := map[detect.PortKey]bool{}
	live := func(pk detect.PortKey) bool {
		if k.retired[pk] {
			mentioned[pk] = true
			return false
		}
		if k.listed[pk] {
			return true
		}
		t, ok := k.seen[pk]
		if !ok { // a port the poll does not list (a tunnel, say): from its first series
			k.seen[pk], t = now, now
		}
		return now.Sub(t) <= k.retire
	}
	for pk := range res.Leaked {
		if !live(pk) {
			delete(res.Leaked, pk)
		}
	}
	k.capVLANs(res.Flooded, live)
	for pk := range k.retired {
		if !mentioned[pk] {
			delete(k.retired, pk)
		}
	}
	for pk, t := range k.seen {
		if now.Sub(t) > k.retire {
			k.forget(pk)
			k.retired[pk] = true
		}
	}
}

// list notes the poll's ports as seen now. The list mostly is the last
// poll's: only when it changed are the ports it no longer has given the
// time they were last listed, and the new ones taken out of retirement.
func (k *seriesKeeper) list(now time.Time, ports []state.Port) {
	defer func() { k.listedAt = now }()
	if len(ports) == len(k.order) {
		same := true
		for i := range ports {
			if ports[i].Bridge != k.order[i].Bridge || ports[i].Name != k.order[i].Port {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	for pk := range k.listed {
		k.seen[pk] = k.listedAt
	}
	clear(k.listed)
	k.order = k.order[:0]
	for _, p := range ports {
		pk := detect.PortKey{Bridge: p.Bridge, Port: p.Name}
		k.listed[pk] = true
		k.order = append(k.order, pk)
		delete(k.seen, pk)
		delete(k.retired, pk)
	}
}

// capVLANs drops the series of retired ports and folds VLANs beyond the
// cap into vlan="other".
func (k *seriesKeeper) capVLANs(flooded map[detect.CounterKey]detect.Counter, live func(detect.PortKey) bool) {
	keys := make([]detect.CounterKey, 0, len(flooded))
	for ck := range flooded {
		keys = append(keys, ck)
	}
	// Only each port's own VLANs' order matters, and a port has each
	// VLAN once.
	slices.SortFunc(keys, func(x, y detect.CounterKey) int { return cmp.Compare(x.VLAN, y.VLAN) })
	for _, ck := range keys {
		pk := detect.PortKey{Bridge: ck.Bridge, Port: ck.InPort}
		if !live(pk) {
			delete(flooded, ck)
			continue
		}
		if k.admit(pk, ck.VLAN) {
			continue
		}
		cur := flooded[ck]
		delete(flooded, ck)
		prev, known := k.members[ck]
		k.members[ck] = cur
		o := k.other[pk]
		if known {
			o.Packets += counter.Delta(prev.Packets, cur.Packets)
			o.Bytes += counter.Delta(prev.Bytes, cur.Bytes)
		} else {
			o.Packets += cur.Packets
			o.Bytes += cur.Bytes
		}
		k.other[pk] = o
	}
	for pk, o := range k.other {
		if live(pk) {
			flooded[detect.CounterKey{Bridge: pk.Bridge, InPort: pk.Port, VLAN: state.VLANOther}] = o
		}
	}
}

// admit says whether vlan has (or now gets) its own series on port pk.
func (k *seriesKeeper) admit(pk detect.PortKey, vlan int) bool {
	set := k.vlans[pk]
	if set == nil {
		set = map[int]bool{}
		k.vlans[pk] = set
	}
	if set[vlan] {
		return true
	}
	if len(set) >= k.maxVLANs {
		return false
	}
	set[vlan] = true
	return true
}

func (k *seriesKeeper) forget(pk detect.PortKey) {
	delete(k.seen, pk)
	delete(k.vlans, pk)
	delete(k.other, pk)
	for ck := range k.members {
		if ck.Bridge == pk.Bridge && ck.InPort == pk.Port {
			delete(k.members, ck)
		}
	}
}
