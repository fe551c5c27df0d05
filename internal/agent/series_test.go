package agent

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// plainLiveness is the retirement rule of seriesKeeper written plainly:
// every listed port is stamped with the poll's time.
type plainLiveness struct {
	retire  time.Duration
	seen    map[detect.PortKey]time.Time
	retired map[detect.PortKey]bool
}

func (k *plainLiveness) apply(now time.Time, res *detect.Result, ports []state.Port) {
	for _, p := range ports {
		pk := detect.PortKey{Bridge: p.Bridge, Port: p.Name}
		k.seen[pk] = now
		delete(k.retired, pk)
	}
	mentioned := map[detect.PortKey]bool{}
	live := func(pk detect.PortKey) bool {
		if k.retired[pk] {
			mentioned[pk] = true
			return false
		}
		t, ok := k.seen[pk]
		if !ok {
			k.seen[pk], t = now, now
		}
		return now.Sub(t) <= k.retire
	}
	for pk := range res.Leaked {
		if !live(pk) {
			delete(res.Leaked, pk)
		}
	}
	for ck := range res.Flooded {
		if !live(detect.PortKey{Bridge: ck.Bridge, Port: ck.InPort}) {
			delete(res.Flooded, ck)
		}
	}
	for pk := range k.retired {
		if !mentioned[pk] {
			delete(k.retired, pk)
		}
	}
	for pk, t := range k.seen {
		if now.Sub(t) > k.retire {
			delete(k.seen, pk)
			k.retired[pk] = true
		}
	}
}

// TestSeriesRetireLikeThePlainRule: over random polls of ports that come,
// go and come back (and series of ports never listed, like tunnels), the
// keeper keeps and drops exactly the series the plain rule does.
func TestSeriesRetireLikeThePlainRule(t *testing.T) {
	const retire = 3 * time.Minute
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			k := newSeriesKeeper(retire, 1000)
			ref := &plainLiveness{retire: retire, seen: map[detect.PortKey]time.Time{}, retired: map[detect.PortKey]bool{}}
			var names []string
			for i := range 8 {
				names = append(names, fmt.Sprintf("tap%d", i))
			}
			ports := []state.Port{}
			now := time.Unix(1000, 0)
			for poll := range 200 {
				now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
				if rng.IntN(4) == 0 { // the list changes
					ports = nil
					for _, n := range names {
						if rng.IntN(2) == 0 {
							ports = append(ports, state.Port{Bridge: "br-int", Name: n})
						}
					}
				}
				flooded := map[detect.CounterKey]detect.Counter{}
				leaked := map[detect.PortKey]uint64{}
				for _, n := range append(names, "vxlan_sys_4789") {
					if rng.IntN(3) == 0 {
						flooded[detect.CounterKey{Bridge: "br-int", InPort: n, VLAN: 10}] = detect.Counter{Packets: 1}
						leaked[detect.PortKey{Bridge: "br-int", Port: n}] = 1
					}
				}
				got, want := floodedResult(flooded, leaked), floodedResult(maps.Clone(flooded), maps.Clone(leaked))
				k.apply(now, got, ports)
				ref.apply(now, want, ports)
				if !maps.Equal(got.Flooded, want.Flooded) || !maps.Equal(got.Leaked, want.Leaked) {
					t.Fatalf("poll %d: flooded %v leaked %v, want %v %v", poll, got.Flooded, got.Leaked, want.Flooded, want.Leaked)
				}
			}
		})
	}
}
