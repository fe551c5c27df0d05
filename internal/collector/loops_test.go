package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// loopSnapshot is the lab's snapshot during the two-link storm of
// lab/loop.sh, with br-int's table under pressure.
func loopSnapshot() *state.Snapshot {
	s := labSnapshot()
	s.L2 = &loop.Report{
		Broadcast: []loop.PortCounts{{Bridge: "br-ex", Port: "ex-int1", Packets: 3320, Bytes: 139440},
			{Bridge: "br-int", Port: "tapvm1", Packets: 1, Bytes: 42}},
		PortMoves: []loop.PortTotal{{Bridge: "br-ex", Port: "ex-int1", Value: 423}, {Bridge: "br-ex", Port: "ex-int2", Value: 423}},
		Loops:     []loop.BridgeState{{Bridge: "br-ex", State: loop.State{Active: true, LoopPorts: []string{"ex-int1", "ex-int2"}}}},
		Tables: []loop.Table{{Bridge: "br-int", Entries: 64, Max: 64, PerPort: map[string]int{"tapvm1": 62, "tapvm2": 1, "uplink": 1},
			Top: "tapvm1", TopEntries: 62}},
		Skipped: 1,
	}
	return s
}

const loopExposition = `
# HELP ovs_fdb_port_entries MAC entries learned on the port; read only while the bridge's table is over 80% full or evicting.
# TYPE ovs_fdb_port_entries gauge
ovs_fdb_port_entries{bridge="br-int",port="tapvm1"} 62
ovs_fdb_port_entries{bridge="br-int",port="tapvm2"} 1
ovs_fdb_port_entries{bridge="br-int",port="uplink"} 1
# HELP ovs_fdb_port_moves_total MAC moves onto the port: the bridge's moved count apportioned to the ports the moving MACs were relearned on (MACs entering through two or more ports at once, or seen moving between fdb/show reads, which are made only while MACs move at storm rate).
# TYPE ovs_fdb_port_moves_total counter
ovs_fdb_port_moves_total{bridge="br-ex",port="ex-int1"} 423
ovs_fdb_port_moves_total{bridge="br-ex",port="ex-int2"} 423
# HELP ovs_fdb_table_reads_skipped_total MAC-table reads (fdb/show) that failed and were skipped, e.g. a bridge deleted during the poll.
# TYPE ovs_fdb_table_reads_skipped_total counter
ovs_fdb_table_reads_skipped_total 1
# HELP ovs_flood_broadcast_bytes_total Bytes of broadcast and multicast frames the bridge flooded, by the port they entered through.
# TYPE ovs_flood_broadcast_bytes_total counter
ovs_flood_broadcast_bytes_total{bridge="br-ex",in_port="ex-int1"} 139440
ovs_flood_broadcast_bytes_total{bridge="br-int",in_port="tapvm1"} 42
# HELP ovs_flood_broadcast_packets_total Broadcast and multicast frames the bridge flooded, by the port they entered through (frames to a group-bit station MAC are counted as floods instead).
# TYPE ovs_flood_broadcast_packets_total counter
ovs_flood_broadcast_packets_total{bridge="br-ex",in_port="ex-int1"} 3320
ovs_flood_broadcast_packets_total{bridge="br-int",in_port="tapvm1"} 1
# HELP ovs_loop_active 1 for each port an L2 loop runs through (MACs flapping between ports at storm rates with a broadcast surge, or the bridge's own MAC learned on the port); absent otherwise. Evaluated on the agent's poll cadence, not at scrape time.
# TYPE ovs_loop_active gauge
ovs_loop_active{bridge="br-ex",port="ex-int1"} 1
ovs_loop_active{bridge="br-ex",port="ex-int2"} 1
`

func TestLoopMetrics(t *testing.T) {
	if err := testutil.GatherAndCompare(domainGatherer{newLoopMetrics(), loopSnapshot()}, strings.NewReader(loopExposition)); err != nil {
		t.Error(err)
	}
	// Without the fdb source's report nothing is emitted (not even zeros).
	if mfs, err := (domainGatherer{newLoopMetrics(), labSnapshot()}).Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("no report: %d families, %v", len(mfs), err)
	}
}
