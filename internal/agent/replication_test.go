package agent

import (
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// TestReplicationForgetsGonePorts: a port missing from a poll's counters
// is forgotten, so when it comes back (re-created, counters lower) its
// packets count from zero; ports swapped one for another in a poll too.
func TestReplicationForgetsGonePorts(t *testing.T) {
	pc := func(rx uint64) ovs.PortCounters { return ovs.PortCounters{RxPackets: rx} }
	polls := []struct {
		counters map[string]ovs.PortCounters
		wantB    uint64 // what b received in the poll
	}{
		{map[string]ovs.PortCounters{"a": pc(10), "b": pc(100)}, 0},
		{map[string]ovs.PortCounters{"a": pc(20), "b": pc(150)}, 50},
		{map[string]ovs.PortCounters{"a": pc(30), "c": pc(5)}, 0}, // b gone, c new: same count
		{map[string]ovs.PortCounters{"a": pc(40), "c": pc(6), "b": pc(120)}, 120},
		{map[string]ovs.PortCounters{"a": pc(50), "c": pc(7), "b": pc(130)}, 10},
	}
	var st gateState
	now := time.Unix(1000, 0)
	for i, poll := range polls {
		now = now.Add(5 * time.Second)
		st.replication(poll.counters, now)
		if got := st.received("b"); got != poll.wantB {
			t.Errorf("poll %d: b received %d, want %d", i, got, poll.wantB)
		}
		if len(st.ports) != len(poll.counters) {
			t.Errorf("poll %d: %d ports remembered, want %d", i, len(st.ports), len(poll.counters))
		}
	}
}
