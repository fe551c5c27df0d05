package detect

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"
)

// macFlow is a megaflow a MAC-flooding VM makes the datapath create: one
// per new source MAC, learned destination, single output.
func macFlow(port string, n int, packets uint64) Flow {
	src := net.HardwareAddr{0x02, 0xee, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	return Flow{Key: fmt.Sprintf("netdev@ovs-netdev/ufid:%s-%08x", port, n), InPort: port, Src: src, Dst: mac(vm3MAC),
		Packets: packets, Bytes: packets * 100, Outputs: []Output{{Port: "tapvm3", VLAN: -1}}}
}

// TestBoundedModeMemoryStaysBounded is the megaflow explosion in bounded
// mode: every poll the datapath holds 2,000 megaflows the previous poll did
// not (a VM sending from new source MACs), and only some ports are dumped.
func TestBoundedModeMemoryStaysBounded(t *testing.T) {
	const polls, perPoll = 50, 2000
	cfg := DefaultConfig()
	cases := []struct {
		name string
		// port returns the port dumped (and flooding megaflows) at poll i.
		port func(i int) string
		max  int
	}{
		{"the attacker's port is dumped every poll", func(int) string { return "tapvm1" }, perPoll},
		{"the attacker's port is dumped every third poll", func(i int) string {
			return []string{"tapvm1", "tapvm2", "tapvm4"}[i%3]
		}, 3 * perPoll},
		{"a new port every poll (only age forgets)", func(i int) string { return fmt.Sprintf("tap%02d", i) },
			(cfg.FlowMemoryPolls + 1) * perPoll},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := New(cfg)
			t0 := time.Unix(1_700_000_000, 0)
			for i := 0; i < polls; i++ {
				p := tc.port(i)
				flows := make([]Flow, 0, perPoll)
				for j := 0; j < perPoll; j++ {
					flows = append(flows, macFlow(p, i*perPoll+j, 1))
				}
				res := d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(), Flows: flows,
					Observed: map[string]bool{p: true}})
				if n := res.FlowsRemembered; n > tc.max || n != d.mem.len() {
					t.Fatalf("poll %d: %d megaflows remembered (%d held), want at most %d", i, n, d.mem.len(), tc.max)
				}
			}
			if n := len(d.mem.forgotten); n > polls {
				t.Errorf("%d forgotten ports for %d ports seen", n, polls)
			}
		})
	}
}

// bounded is one poll of a bounded-mode test: the flows dumped and the
// ports they were dumped for.
type bounded struct {
	flows    []Flow
	observed []string
}

func runBounded(t *testing.T, cfg Config, polls []bounded) []Result {
	t.Helper()
	d := New(cfg)
	t0 := time.Unix(1_700_000_000, 0)
	var out []Result
	for i, p := range polls {
		obs := map[string]bool{}
		for _, o := range p.observed {
			obs[o] = true
		}
		out = append(out, d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(),
			Flows: p.flows, Observed: obs}))
	}
	return out
}

// TestForgettingKeepsCountsExact checks that forgetting megaflows never
// counts one from zero twice: the flood counter never exceeds what the
// datapath carried.
func TestForgettingKeepsCountsExact(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlowMemoryPolls = 3
	vm1 := []string{"tapvm1"}
	other := []string{"tapvm2"}
	f := func(bytes uint64) []Flow { return []Flow{floodFlow("u1", bytes/1000, bytes)} }
	idle := func(n int) []bounded {
		var out []bounded
		for i := 0; i < n; i++ {
			out = append(out, bounded{observed: other})
		}
		return out
	}
	cat := func(parts ...[]bounded) []bounded {
		var out []bounded
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		polls []bounded
		want  uint64
	}{
		{"gone from its port's dump, re-created with the same UFID: all new", []bounded{
			{f(0), vm1}, {f(1_000_000), vm1},
			{nil, vm1}, // idled out
			{f(300_000), vm1},
		}, 1_300_000},
		{"not dumped for fewer polls than the memory: the gap is counted", cat(
			[]bounded{{f(0), vm1}, {f(1_000_000), vm1}}, idle(3),
			[]bounded{{f(9_000_000), vm1}},
		), 9_000_000},
		{"forgotten by age while it lived: a baseline when seen again", cat(
			[]bounded{{f(0), vm1}, {f(1_000_000), vm1}}, idle(5),
			[]bounded{{f(9_000_000), vm1}, {f(9_500_000), vm1}},
		), 1_000_000 + 500_000},
		{"a new megaflow of a forgotten port: a baseline (never counted twice)", cat(
			[]bounded{{f(0), vm1}, {f(1_000_000), vm1}}, idle(5),
			[]bounded{{[]Flow{floodFlow("u2", 2000, 2_000_000)}, vm1}, {[]Flow{floodFlow("u2", 3000, 3_000_000)}, vm1}},
		), 1_000_000 + 1_000_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runBounded(t, cfg, tc.polls)
			got := res[len(res)-1].Flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes
			if got != tc.want {
				t.Errorf("flooded bytes = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestCompleteDumpAfterForgetting: a port forgotten by age is a baseline at
// its next dump even when that dump is a complete one, and exact after it.
func TestCompleteDumpAfterForgetting(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlowMemoryPolls = 2
	d := New(cfg)
	t0 := time.Unix(1_700_000_000, 0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 5 * time.Second) }
	d.Observe(Input{Time: at(0), Ports: labPorts(), Flows: []Flow{floodFlow("u1", 0, 0)}, Complete: true})
	d.Observe(Input{Time: at(1), Ports: labPorts(), Flows: []Flow{floodFlow("u1", 1000, 1_000_000)}, Complete: true})
	for i := 2; i < 6; i++ { // the dump fails: nothing observed
		d.Observe(Input{Time: at(i), Ports: labPorts()})
	}
	if d.mem.len() != 0 || !d.mem.forgotten["tapvm1"] {
		t.Fatalf("after %d polls without a dump: %d remembered, forgotten %v", 4, d.mem.len(), d.mem.forgotten)
	}
	r := d.Observe(Input{Time: at(6), Ports: labPorts(), Flows: []Flow{floodFlow("u1", 5000, 5_000_000)}, Complete: true})
	if got := r.Flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes; got != 1_000_000 {
		t.Errorf("after the gap: %d bytes, want 1000000 (the re-seen megaflow is a baseline)", got)
	}
	if len(d.mem.forgotten) != 0 {
		t.Errorf("a complete dump must clear forgotten ports: %v", d.mem.forgotten)
	}
	r = d.Observe(Input{Time: at(7), Ports: labPorts(), Flows: []Flow{floodFlow("u1", 6000, 6_000_000)}, Complete: true})
	if got := r.Flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes; got != 2_000_000 {
		t.Errorf("next poll: %d bytes, want 2000000", got)
	}
}

// BenchmarkObserveChurn is one bounded-mode poll of a MAC-flooding VM:
// 2,000 megaflows the previous poll did not show, plus the seed-000 flood.
func BenchmarkObserveChurn(b *testing.B) {
	const perPoll = 2000
	polls := make([][]Flow, 8)
	for i := range polls {
		for j := 0; j < perPoll; j++ {
			polls[i] = append(polls[i], macFlow("tapvm1", i*perPoll+j, 1))
		}
		polls[i] = append(polls[i], floodFlow("seed", uint64(i)*1000, uint64(i)*1_000_000))
	}
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	obs := map[string]bool{"tapvm1": true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(), Flows: polls[i%len(polls)], Observed: obs})
	}
}

// BenchmarkObserveSteady is one full-dump poll of a busy host: 5,000
// megaflows that every poll lists again with grown counters (single
// deliveries between VMs, most to their owners), 50 of them flooded.
func BenchmarkObserveSteady(b *testing.B) {
	const n, floods = 5000, 50
	flows := make([]Flow, 0, n)
	for j := 0; j < n-floods; j++ {
		flows = append(flows, macFlow("tapvm1", j, 1))
	}
	for j := 0; j < floods; j++ {
		flows = append(flows, floodFlow(fmt.Sprintf("flood-%d", j), 1, 100))
	}
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	ports := labPorts()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range flows {
			flows[j].Packets += uint64(j % 3)
			flows[j].Bytes += uint64(j%3) * 100
		}
		d.Observe(Input{Time: t0.Add(time.Duration(i) * time.Second), Ports: ports, Flows: flows, Complete: true})
	}
}

// TestFlowMemoryShrinks checks that the memory of a burst of megaflows
// (a MAC flood) is given back once they are gone, and that the megaflows
// that stay keep their counts across the move.
func TestFlowMemoryShrinks(t *testing.T) {
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	var burst []Flow
	for j := 0; j < 5000; j++ {
		burst = append(burst, macFlow("tapvm1", j, 1))
	}
	flood := floodFlow("seed", 1000, 1_000_000)
	d.Observe(Input{Time: t0, Ports: labPorts(), Flows: append(burst, flood), Complete: true})
	flood.Packets, flood.Bytes = 2000, 2_000_000
	r := d.Observe(Input{Time: t0.Add(time.Second), Ports: labPorts(), Flows: []Flow{flood}, Complete: true})
	if n := d.mem.memos.Slots(); n > 16 {
		t.Errorf("%d memo slots kept for 1 megaflow", n)
	}
	if d.mem.len() != 1 || r.FlowsRemembered != 1 {
		t.Errorf("%d megaflows remembered, want 1", d.mem.len())
	}
	flood.Packets, flood.Bytes = 3000, 3_000_000
	r = d.Observe(Input{Time: t0.Add(2 * time.Second), Ports: labPorts(), Flows: []Flow{flood}, Complete: true})
	if got := r.Flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes; got != 2_000_000 {
		t.Errorf("flooded %d bytes over two polls after the move, want 2000000", got)
	}
}

// TestFlowMemoryAnyOrder checks that the counts do not depend on the
// order of a dump (the memory guesses each megaflow from the order of
// the last one): the same flooded megaflows listed in another order, with
// one gone and one new, count exactly what they added.
func TestFlowMemoryAnyOrder(t *testing.T) {
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	var flows []Flow
	for j := 0; j < 6; j++ {
		flows = append(flows, floodFlow(fmt.Sprint("f", j), 1000, 100_000))
	}
	flows = append(flows, macFlow("tapvm1", 1, 5))
	d.Observe(Input{Time: t0, Ports: labPorts(), Flows: flows, Complete: true})
	orders := [][]int{{5, 4, 3, 2, 1, 6}, {6, 0, 2, 4, 1, 3, 5}, {1, 1, 3, 2, 5, 4, 0}}
	for i, order := range orders {
		var next []Flow
		for _, j := range order {
			f := flows[j]
			f.Packets += 1000 * uint64(i+1)
			f.Bytes += 100_000 * uint64(i+1)
			next = append(next, f)
		}
		before := d.flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes
		r := d.Observe(Input{Time: t0.Add(time.Duration(i+1) * time.Second), Ports: labPorts(), Flows: next, Complete: true})
		// The flooded megaflows of this dump, each counted once; one that
		// was gone last time is new, counted from zero.
		want := uint64(0)
		seen := map[int]bool{}
		for _, j := range order {
			if j == 6 || seen[j] {
				continue
			}
			seen[j] = true
			if i > 0 && !slices.Contains(orders[i-1], j) {
				want += next[slices.Index(order, j)].Bytes
			} else {
				want += 100_000 // what each poll adds
			}
		}
		if got := r.Flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes - before; got != want {
			t.Errorf("order %v: %d bytes flooded, want %d", order, got, want)
		}
	}
}

// TestCompleteDumpForgetsWhatItDidNotList: a complete dump that lists
// every megaflow held keeps them all without walking the memory; one that
// lists as many megaflows, one of them twice, still forgets the one it
// left out.
func TestCompleteDumpForgetsWhatItDidNotList(t *testing.T) {
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	a, b := floodFlow("a", 1000, 100_000), floodFlow("b", 1000, 100_000)
	d.Observe(Input{Time: t0, Ports: labPorts(), Flows: []Flow{a, b}, Complete: true})
	d.Observe(Input{Time: t0.Add(time.Second), Ports: labPorts(), Flows: []Flow{b, a}, Complete: true})
	if n := d.mem.len(); n != 2 {
		t.Fatalf("%d megaflows remembered after a dump of both, want 2", n)
	}
	a.Packets, a.Bytes = 2000, 200_000
	d.Observe(Input{Time: t0.Add(2 * time.Second), Ports: labPorts(), Flows: []Flow{a, a}, Complete: true})
	if n := d.mem.len(); n != 1 {
		t.Fatalf("%d megaflows remembered after a dump of a twice, want 1: b is gone", n)
	}
	// b comes back: a new megaflow, all of it counted.
	r := d.Observe(Input{Time: t0.Add(3 * time.Second), Ports: labPorts(), Flows: []Flow{a, b}, Complete: true})
	// a added 100000 once (listed twice), b all of its 100000.
	if got := r.Flooded[CounterKey{"br-int", "tapvm1", 10}].Bytes; got != 100_000+100_000 {
		t.Errorf("flooded %d bytes, want 200000 (b counted from zero once it is back)", got)
	}
}
