package loop

// Report is what the loop, station and MAC-table checks found on a host in
// one poll, as the agent publishes it.
type Report struct {
	// Broadcast are the totals, since the agent started, of broadcast and
	// multicast frames flooded, by bridge and entry port.
	Broadcast []PortCounts
	// PortMoves are the totals, since the agent started, of MAC moves
	// charged to each port (see Evidence.PortMoves).
	PortMoves []PortTotal
	// Loops are the bridges with an active loop, sorted by bridge.
	Loops []BridgeState
	// Stations are the ports with a group-bit MAC.
	Stations []Station
	// Tables are the MAC tables under pressure that were read this poll.
	Tables []Table
	// Skipped counts MAC-table reads that failed (a bridge deleted during
	// the poll, an unreadable reply) since the agent started.
	Skipped uint64
}

// PortTotal is a monotonic total for one port of one bridge.
type PortTotal struct {
	Bridge, Port string
	Value        uint64
}

// BridgeState is one bridge's loop verdict.
type BridgeState struct {
	Bridge string
	State
}

// Table is a MAC table under pressure, with the entries each port holds.
type Table struct {
	Bridge       string
	Entries, Max uint64
	// PerPort is the number of entries learned on each port.
	PerPort map[string]int
	// Top is the port holding the most entries, TopEntries how many.
	Top        string
	TopEntries int
}
