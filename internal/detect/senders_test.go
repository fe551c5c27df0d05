package detect

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// TestSendersSkipOnlyWithinASpan checks that learning through the megaflow
// memory (take, which skips a megaflow that refreshed the same MAC in the
// current span) remembers exactly the MACs that looking every one up does
// (learn), each last seen in the same span, over polls that cross many
// sweeps and expiries: megaflows come and go, change source MAC and
// in_port, carry nothing, and ports' own MACs change.
func TestSendersSkipOnlyWithinASpan(t *testing.T) {
	cases := []struct {
		name               string
		ports, macs, flows int
	}{
		{"below the cap", 4, 40, 40},
		{"beyond the cap", 2, 4 * maxSendersPerPort, 3 * maxSendersPerPort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem, memoized, looked := newFlowMemory(), senders{}, senders{}
			max := learnAlongside(t, tc.ports, tc.macs, tc.flows, &mem, memoized, looked)
			if max == 0 {
				t.Fatal("nothing learned: the test proves nothing")
			}
			if atCap := max >= maxSendersPerPort; atCap != (tc.name == "beyond the cap") {
				t.Fatalf("a port held at most %d MACs: not the case the test is for", max)
			}
		})
	}
}

// learnAlongside learns the same polls into memoized through the megaflow
// memory and into looked by looking every MAC up, failing t as soon as
// they differ, and returns the most MACs a port held.
func learnAlongside(t *testing.T, nPorts, nMACs, nFlows int, mem *flowMemory, memoized, looked senders) (max int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, uint64(nFlows)))
	ports := map[string]Port{}
	for i := range nPorts {
		n := fmt.Sprint("tap", i)
		ports[n] = Port{Bridge: "br-int", Name: n, Endpoint: true}
	}
	srcs := make([]net.HardwareAddr, nMACs)
	for i := range srcs {
		srcs[i] = net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
	}
	flows := make([]Flow, nFlows)
	for i := range flows {
		flows[i] = Flow{Key: fmt.Sprint("k", i), InPort: fmt.Sprint("tap", i%nPorts), Src: srcs[i%nMACs], Packets: 1}
	}
	var deltas []flowDelta
	for poll := int64(1); poll <= 3*senderMemoryPolls; poll++ {
		var dump []Flow
		for i := range flows {
			f := &flows[i]
			switch r := rng.IntN(1000); {
			case r < 30:
				f.Src = srcs[rng.IntN(len(srcs))]
			case r < 60:
				f.InPort = fmt.Sprint("tap", rng.IntN(nPorts))
			case r < 80:
				f.Packets = 0
			case r < 100:
				f.Packets = 1
			}
			// a megaflow is idle (not dumped) for stretches, some longer
			// than the senders remember
			if (poll/int64(50+i*23))%3 != 2 {
				dump = append(dump, *f)
			}
		}
		if rng.IntN(100) == 0 {
			p := ports["tap1"]
			p.MAC = srcs[rng.IntN(len(srcs))]
			ports["tap1"] = p
		}
		deltas = mem.take(deltas, Input{Ports: ports, Flows: dump, Complete: true}, poll, false, memoized)
		mem.forget(Input{Complete: true}, poll, 12)
		looked.learn(dump, ports, poll)
		if err := sameSenders(memoized, looked); err != nil {
			t.Fatalf("poll %d: %v", poll, err)
		}
		for _, macs := range looked {
			max = maxOf(max, len(macs))
		}
	}
	return max
}

func maxOf(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// sameSenders says how a and b differ in the MACs they hold or in the span
// each was last seen in.
func sameSenders(a, b senders) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d ports against %d", len(a), len(b))
	}
	for port, macs := range b {
		if len(a[port]) != len(macs) {
			return fmt.Errorf("port %s: %d MACs against %d", port, len(a[port]), len(macs))
		}
		for k, seen := range macs {
			got, ok := a[port][k]
			if !ok || got/senderSweepPolls != seen/senderSweepPolls {
				return fmt.Errorf("port %s, MAC %012x: last seen at poll %d (held %v), want the span of poll %d", port, k, got, ok, seen)
			}
		}
	}
	return nil
}
