package loop

import (
	"net"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/macaddr"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// Move is a MAC that two successive fdb/show reads saw on different ports.
type Move struct {
	VLAN uint16
	// MAC shares the memory of the newer table.
	MAC      net.HardwareAddr
	From, To string // OpenFlow ports as fdb/show prints them ("2", "LOCAL")
}

// macKey packs a VLAN and a MAC into one map key: a MAC table can hold
// 50,000 entries and is compared on every poll of a storm.
func macKey(vlan uint16, mac net.HardwareAddr) uint64 {
	if len(mac) != 6 {
		return 0
	}
	return uint64(vlan)<<48 | macaddr.Bits(mac)
}

// Moves returns the MACs that sit on another port in cur than in prev, in
// cur's order. Entries that appear or vanish between the reads (learned,
// expired, evicted) are not moves.
func Moves(prev, cur ovs.FDBTable) []Move {
	at := make(map[uint64]string, len(prev.Entries))
	for _, e := range prev.Entries {
		at[macKey(e.VLAN, e.MAC)] = e.Port
	}
	var out []Move
	for _, e := range cur.Entries {
		from, ok := at[macKey(e.VLAN, e.MAC)]
		if ok && from != e.Port {
			out = append(out, Move{VLAN: e.VLAN, MAC: e.MAC, From: from, To: e.Port})
		}
	}
	return out
}

// PortEntries counts the entries learned on each port of a bridge's MAC
// table, named through ports (fdb/show prints OpenFlow port numbers).
func PortEntries(t ovs.FDBTable, bridge string, ports Ports) map[string]int {
	var c portCounts
	for _, e := range t.Entries {
		c.add(e.Port)
	}
	n := make(map[string]int, len(c))
	for _, pc := range c {
		n[ports.Name(bridge, pc.port)] += pc.n
	}
	return n
}

// portCounts counts by port with a linear search: a bridge's table names
// a handful of ports, and this beats hashing the port of every entry.
type portCounts []struct {
	port string
	n    int
}

func (c *portCounts) add(port string) {
	for i := range *c {
		if (*c)[i].port == port {
			(*c)[i].n++
			return
		}
	}
	*c = append(*c, struct {
		port string
		n    int
	}{port, 1})
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

// fdbIndex remembers where the previous fdb/show read saw each MAC, and is
// updated in place by the next read, so a storm's reads of a large table
// cost one map lookup per entry and no allocation once the map has grown.
type fdbIndex struct {
	at  map[uint64]fdbSlot
	gen uint32
}

type fdbSlot struct {
	port string
	gen  uint32
}

// update records t and returns, per port, how many MACs moved onto it
// since the previous update (nil on the first).
func (x *fdbIndex) update(t ovs.FDBTable) map[string]int {
	if x.at == nil {
		x.at = make(map[uint64]fdbSlot, len(t.Entries))
	}
	x.gen++
	var onto portCounts
	added := 0
	for _, e := range t.Entries {
		k := macKey(e.VLAN, e.MAC)
		old, ok := x.at[k]
		switch {
		case !ok:
			added++
		case old.port != e.Port:
			onto.add(e.Port)
		}
		x.at[k] = fdbSlot{port: e.Port, gen: x.gen}
	}
	// Every old entry was seen again when nothing was added and the sizes
	// match (the common case during a storm): no sweep needed.
	if added > 0 || len(x.at) != len(t.Entries) {
		for k, s := range x.at {
			if s.gen != x.gen {
				delete(x.at, k) // learned elsewhere, expired or evicted
			}
		}
	}
	if len(onto) == 0 {
		return nil
	}
	out := make(map[string]int, len(onto))
	for _, pc := range onto {
		out[pc.port] = pc.n
	}
	return out
}
