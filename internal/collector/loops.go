package collector

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"

// loopMetrics are L2 loops, broadcast storms and MAC-table pressure by
// port (the fdb source; internal/loop).
type loopMetrics struct {
	bcastPackets, bcastBytes *spec
	portMoves, loopActive    *spec
	portEntries, skipped     *spec
}

func newLoopMetrics() *loopMetrics {
	in := []string{"bridge", "in_port"}
	port := []string{"bridge", "port"}
	return &loopMetrics{
		bcastPackets: counter("ovs_flood_broadcast_packets_total", "Broadcast and multicast frames the bridge flooded, by the port they entered through (frames to a group-bit station MAC are counted as floods instead).", in...),
		bcastBytes:   counter("ovs_flood_broadcast_bytes_total", "Bytes of broadcast and multicast frames the bridge flooded, by the port they entered through.", in...),
		portMoves:    counter("ovs_fdb_port_moves_total", "MAC moves onto the port: the bridge's moved count apportioned to the ports the moving MACs were relearned on (MACs entering through two or more ports at once, or seen moving between fdb/show reads, which are made only while MACs move at storm rate).", port...),
		loopActive:   gauge("ovs_loop_active", "1 for each port an L2 loop runs through (MACs flapping between ports at storm rates with a broadcast surge, or the bridge's own MAC learned on the port); absent otherwise. Evaluated on the agent's poll cadence, not at scrape time.", port...),
		portEntries:  gauge("ovs_fdb_port_entries", "MAC entries learned on the port; read only while the bridge's table is over 80% full or evicting.", port...),
		skipped:      counter("ovs_fdb_table_reads_skipped_total", "MAC-table reads (fdb/show) that failed and were skipped, e.g. a bridge deleted during the poll."),
	}
}

func (m *loopMetrics) specs() []*spec {
	return []*spec{m.bcastPackets, m.bcastBytes, m.portMoves, m.loopActive, m.portEntries, m.skipped}
}

func (m *loopMetrics) build(b *builder, s *state.Snapshot) {
	r := s.L2
	if r == nil {
		return
	}
	bcastPackets, bcastBytes := b.family(m.bcastPackets), b.family(m.bcastBytes)
	for _, c := range r.Broadcast {
		l := b.labels(m.bcastPackets, c.Bridge, c.Port)
		bcastPackets.add(float64(c.Packets), l)
		bcastBytes.add(float64(c.Bytes), l)
	}
	portMoves := b.family(m.portMoves)
	for _, c := range r.PortMoves {
		portMoves.addValues(float64(c.Value), c.Bridge, c.Port)
	}
	loopActive := b.family(m.loopActive)
	for _, l := range r.Loops {
		for _, p := range l.LoopPorts {
			loopActive.addValues(1, l.Bridge, p)
		}
	}
	portEntries := b.family(m.portEntries)
	for _, t := range r.Tables {
		for p, n := range t.PerPort {
			portEntries.addValues(float64(n), t.Bridge, p)
		}
	}
	b.family(m.skipped).addValues(float64(r.Skipped))
}
