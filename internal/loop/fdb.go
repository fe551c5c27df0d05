package loop

import (
	"sort"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// Move is a MAC that two successive fdb/show reads saw on different ports.
type Move struct {
	VLAN     uint16
	MAC      string
	From, To string // OpenFlow ports as fdb/show prints them ("2", "LOCAL")
}

type fdbKey struct {
	vlan uint16
	mac  [6]byte
}

// Moves returns the MACs that sit on another port in cur than in prev,
// sorted by MAC. Entries that appear or vanish between the reads (learned,
// expired, evicted) are not moves.
func Moves(prev, cur ovs.FDBTable) []Move {
	at := make(map[fdbKey]string, len(prev.Entries))
	for _, e := range prev.Entries {
		at[fdbKey{e.VLAN, key(e.MAC)}] = e.Port
	}
	var out []Move
	for _, e := range cur.Entries {
		from, ok := at[fdbKey{e.VLAN, key(e.MAC)}]
		if ok && from != e.Port {
			out = append(out, Move{VLAN: e.VLAN, MAC: e.MAC.String(), From: from, To: e.Port})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out
}

// PortEntries counts the entries learned on each port of a bridge's MAC
// table, named through ports (fdb/show prints OpenFlow port numbers).
func PortEntries(t ovs.FDBTable, bridge string, ports Ports) map[string]int {
	n := map[string]int{}
	for _, e := range t.Entries {
		n[ports.Name(bridge, e.Port)]++
	}
	return n
}

// Pressure reports whether a bridge's MAC table is under pressure: over
// 80 % full, or it evicted entries since the previous read (prev nil: no
// previous read). This is when reading the whole table to name the port
// that fills it is worth its cost.
func Pressure(prev *ovs.FDBStats, cur ovs.FDBStats) bool {
	if cur.MaxEntries > 0 && cur.Entries*5 > cur.MaxEntries*4 {
		return true
	}
	return prev != nil && cur.Evicted > prev.Evicted
}

// Top returns the port holding the most entries and its count ("" when
// the table is empty); ties go to the first name in order.
func Top(entries map[string]int) (string, int) {
	port, n := "", 0
	for p, c := range entries {
		if c > n || c == n && p < port {
			port, n = p, c
		}
	}
	return port, n
}
