package loop

import (
	"net"
	"sort"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// Config holds the thresholds of the loop verdict.
type Config struct {
	// MinMovesPerSec is the bridge's MAC-move rate (fdb/stats-show) that
	// counts as a storm. A VM migration or a VRRP failover moves a few
	// MACs once; a loop moves them hundreds of times a second.
	MinMovesPerSec float64
	// MinBroadcastPPS is the rate of broadcast and multicast frames
	// flooded on the bridge that counts as a surge.
	MinBroadcastPPS float64
	// MinPortPPS is the rate at which a source MAC must enter through a
	// port for that port to count as one it flaps through.
	MinPortPPS float64
	// SustainPolls is how many consecutive polls must show the loop
	// before it is active; ClearPolls how many quiet polls clear it.
	SustainPolls, ClearPolls int
}

// DefaultConfig is the verdict's default thresholds.
var DefaultConfig = Config{MinMovesPerSec: 20, MinBroadcastPPS: 100, MinPortPPS: 20, SustainPolls: 2, ClearPolls: 2}

// BridgeInput is what one poll saw of one bridge.
type BridgeInput struct {
	Bridge string
	// Interval is the time since the previous poll.
	Interval time.Duration
	// Moved is the growth of the bridge's "port moved" count
	// (fdb/stats-show) over the interval.
	Moved uint64
	// Flows are the interval's megaflows; those entering other bridges
	// are ignored.
	Flows Flows
	// Stations are the host's station MACs: frames to them are not
	// broadcasts.
	Stations Stations
	// Attached are the ports' attached MACs: a MAC entering through the
	// port it belongs to is its owner sending, never a loop.
	Attached []PortMAC
	// LocalMAC is the MAC of the bridge's own (LOCAL) port; nil when
	// unknown.
	LocalMAC net.HardwareAddr
	// FDB is the bridge's MAC table when it was read this poll, else nil.
	FDB *ovs.FDBTable
	// Ports names the OpenFlow port numbers of FDB.
	Ports Ports
}

// Flap is a MAC entering one bridge through two or more ports at once.
type Flap struct {
	MAC   string
	Ports []string
}

// SelfMAC is a bridge's own MAC learned on a port other than LOCAL: its own
// frames came back to it from outside.
type SelfMAC struct {
	MAC, Port string
}

// Evidence is what one poll shows of a loop on one bridge.
type Evidence struct {
	Bridge                    string
	MovesPerSec, BroadcastPPS float64
	// Storm is true when both the move rate and the broadcast rate are
	// at storm level.
	Storm bool
	Flaps []Flap
	Self  *SelfMAC
	// Ports are the ports the loop runs through this poll, sorted; empty
	// when this poll shows no loop.
	Ports []string
	// PortMoves is the interval's moves (BridgeInput.Moved) apportioned
	// to the ports the moving MACs were relearned on: the flapping ports
	// by the frames each let in, or, without flaps, the ports that
	// successive fdb/show reads saw MACs move onto.
	PortMoves map[string]uint64
}

// Assess weighs one poll of one bridge; onto counts, per OpenFlow port,
// the MACs that moved onto it between this poll's fdb/show read and the
// previous one (nil without two reads).
func Assess(in BridgeInput, onto map[string]int, cfg Config) Evidence {
	ev := Evidence{Bridge: in.Bridge}
	secs := in.Interval.Seconds()
	if secs <= 0 {
		return ev
	}
	ev.MovesPerSec = float64(in.Moved) / secs
	var bcast uint64
	for _, c := range Broadcast(in.Flows, in.Stations) {
		if c.Bridge == in.Bridge {
			bcast += c.Packets
		}
	}
	ev.BroadcastPPS = float64(bcast) / secs
	ev.Storm = ev.MovesPerSec >= cfg.MinMovesPerSec && ev.BroadcastPPS >= cfg.MinBroadcastPPS
	var flaps []Flap
	var weight map[string]uint64
	if in.Moved > 0 { // nothing moved: nothing flaps, nothing to charge
		flaps, weight = flapping(in, cfg.MinPortPPS*secs)
	}
	ev.Self = selfMAC(in)
	ports := map[string]bool{}
	if ev.Storm {
		ev.Flaps = flaps
		for _, f := range flaps {
			for _, p := range f.Ports {
				ports[p] = true
			}
		}
	}
	if ev.Self != nil {
		ports[ev.Self.Port] = true
	}
	for p := range ports {
		ev.Ports = append(ev.Ports, p)
	}
	sort.Strings(ev.Ports)
	if len(flaps) == 0 {
		weight = map[string]uint64{}
		for port, n := range onto {
			weight[in.Ports.Name(in.Bridge, port)] += uint64(n)
		}
	}
	ev.PortMoves = apportion(in.Moved, weight)
	return ev
}

// flapping returns the source MACs that entered the bridge through two or
// more ports, at least min frames each, other than the port the MAC is
// attached to; and, per port, the frames of flapping MACs it let in.
func flapping(in BridgeInput, min float64) ([]Flap, map[string]uint64) {
	owner := map[[6]byte]string{}
	for _, a := range in.Attached {
		if a.Bridge == "" || a.Bridge == in.Bridge {
			owner[key(a.MAC)] = a.Port
		}
	}
	if in.LocalMAC != nil {
		owner[key(in.LocalMAC)] = in.Ports.Name(in.Bridge, "LOCAL")
	}
	by := map[[6]byte]map[string]uint64{}
	for f, d := range in.Flows.counted() {
		if f.Src == nil || IsGroup(f.Src) || d.Packets == 0 || in.Flows.bridge(f) != in.Bridge {
			continue
		}
		k := key(f.Src)
		if owner[k] == f.InPort {
			continue
		}
		if by[k] == nil {
			by[k] = map[string]uint64{}
		}
		by[k][f.InPort] += d.Packets
	}
	var flaps []Flap
	weight := map[string]uint64{}
	for k, ports := range by {
		var fl Flap
		for p, n := range ports {
			if float64(n) >= min {
				fl.Ports = append(fl.Ports, p)
			}
		}
		if len(fl.Ports) < 2 {
			continue
		}
		sort.Strings(fl.Ports)
		fl.MAC = net.HardwareAddr(k[:]).String()
		flaps = append(flaps, fl)
		for _, p := range fl.Ports {
			weight[p] += ports[p]
		}
	}
	sort.Slice(flaps, func(i, j int) bool { return flaps[i].MAC < flaps[j].MAC })
	return flaps, weight
}

// selfMAC finds the bridge's own MAC learned on another port, recently
// (within the poll interval): a stale entry left from a loop that has been
// cut is not a loop.
func selfMAC(in BridgeInput) *SelfMAC {
	if in.FDB == nil || len(in.LocalMAC) != 6 {
		return nil
	}
	maxAge := max(int(in.Interval.Seconds()), 1)
	for _, e := range in.FDB.Entries {
		if e.Port == "LOCAL" || e.Static || e.Age > maxAge || key(e.MAC) != key(in.LocalMAC) {
			continue
		}
		return &SelfMAC{MAC: e.MAC.String(), Port: in.Ports.Name(in.Bridge, e.Port)}
	}
	return nil
}

// apportion splits total among the ports of weight in proportion to their
// weights; the shares add up to total exactly (the remainder goes to the
// heaviest ports first).
func apportion(total uint64, weight map[string]uint64) map[string]uint64 {
	var sum uint64
	ports := make([]string, 0, len(weight))
	for p, w := range weight {
		if w > 0 {
			sum += w
			ports = append(ports, p)
		}
	}
	if total == 0 || sum == 0 {
		return nil
	}
	sort.Slice(ports, func(i, j int) bool {
		if weight[ports[i]] != weight[ports[j]] {
			return weight[ports[i]] > weight[ports[j]]
		}
		return ports[i] < ports[j]
	})
	out := make(map[string]uint64, len(ports))
	var given uint64
	for _, p := range ports {
		share := uint64(float64(total) * float64(weight[p]) / float64(sum))
		out[p] = share
		given += share
	}
	for i := 0; given < total; i = (i + 1) % len(ports) {
		out[ports[i]]++
		given++
	}
	return out
}
