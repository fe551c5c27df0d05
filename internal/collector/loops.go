package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// loopMetrics are L2 loops, broadcast storms and MAC-table pressure by
// port (the fdb source; internal/loop).
type loopMetrics struct {
	bcastPackets, bcastBytes *prometheus.Desc
	portMoves, loopActive    *prometheus.Desc
	portEntries, skipped     *prometheus.Desc
}

func newLoopMetrics() *loopMetrics {
	in := []string{"bridge", "in_port"}
	port := []string{"bridge", "port"}
	return &loopMetrics{
		bcastPackets: newDesc("ovs_flood_broadcast_packets_total", "Broadcast and multicast frames the bridge flooded, by the port they entered through (frames to a group-bit station MAC are counted as floods instead).", in...),
		bcastBytes:   newDesc("ovs_flood_broadcast_bytes_total", "Bytes of broadcast and multicast frames the bridge flooded, by the port they entered through.", in...),
		portMoves:    newDesc("ovs_fdb_port_moves_total", "MAC moves onto the port: the bridge's moved count apportioned to the ports the moving MACs were relearned on (MACs entering through two or more ports at once, or seen moving between fdb/show reads, which are made only while MACs move at storm rate).", port...),
		loopActive:   newDesc("ovs_loop_active", "1 for each port an L2 loop runs through (MACs flapping between ports at storm rates with a broadcast surge, or the bridge's own MAC learned on the port); absent otherwise. Evaluated on the agent's poll cadence, not at scrape time.", port...),
		portEntries:  newDesc("ovs_fdb_port_entries", "MAC entries learned on the port; read only while the bridge's table is over 80% full or evicting.", port...),
		skipped:      newDesc("ovs_fdb_table_reads_skipped_total", "MAC-table reads (fdb/show) that failed and were skipped, e.g. a bridge deleted during the poll."),
	}
}

func (m *loopMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.bcastPackets, m.bcastBytes, m.portMoves, m.loopActive, m.portEntries, m.skipped)
}

func (m *loopMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	r := s.L2
	if r == nil {
		return
	}
	for _, c := range r.Broadcast {
		emitCounter(ch, m.bcastPackets, c.Packets, c.Bridge, c.Port)
		emitCounter(ch, m.bcastBytes, c.Bytes, c.Bridge, c.Port)
	}
	for _, c := range r.PortMoves {
		emitCounter(ch, m.portMoves, c.Value, c.Bridge, c.Port)
	}
	for _, l := range r.Loops {
		for _, p := range l.LoopPorts {
			emitGauge(ch, m.loopActive, 1, l.Bridge, p)
		}
	}
	for _, t := range r.Tables {
		for p, n := range t.PerPort {
			emitGauge(ch, m.portEntries, float64(n), t.Bridge, p)
		}
	}
	emitCounter(ch, m.skipped, r.Skipped)
}
