package detect

import (
	"fmt"
	"math"
	"net"
	"slices"
	"testing"
	"time"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

const (
	extMAC = "02:00:00:00:00:64"
	vm1MAC = "02:00:00:00:00:01"
	vm2MAC = "02:00:00:00:00:02"
	vm3MAC = "02:00:00:00:00:03"
)

// labPorts mirrors lab/lab.sh: three VMs on VLAN 10, two on VLAN 20, an
// uplink on VLAN 10 and the bridge's LOCAL port.
func labPorts() map[string]Port {
	ports := map[string]Port{
		"uplink": {Bridge: "br-int", Name: "uplink", VLAN: 10},
		"br-int": {Bridge: "br-int", Name: "br-int", VLAN: -1},
	}
	for i := 1; i <= 5; i++ {
		vlan := 10
		if i > 3 {
			vlan = 20
		}
		n := fmt.Sprintf("tapvm%d", i)
		ports[n] = Port{Bridge: "br-int", Name: n, VLAN: vlan, Endpoint: true, MAC: mac(fmt.Sprintf("02:00:00:00:00:%02x", i))}
	}
	return ports
}

// floodFlow is the seed-000 megaflow: vm1 -> ext, flooded on VLAN 10.
func floodFlow(key string, packets, bytes uint64) Flow {
	return Flow{Key: key, InPort: "tapvm1", Src: mac(vm1MAC), Dst: mac(extMAC), Packets: packets, Bytes: bytes,
		Outputs: []Output{{Port: "br-int", VLAN: 10}, {Port: "tapvm2", VLAN: -1}, {Port: "tapvm3", VLAN: -1}, {Port: "uplink", VLAN: -1}}}
}

type fdbSet map[string]bool

func (f fdbSet) Learned(bridge string, vlan int, m net.HardwareAddr) (bool, bool) {
	return f[fmt.Sprintf("%s/%d/%s", bridge, vlan, m)], true
}

type step struct {
	flows    []Flow
	received map[string]uint64
	fdb      fdbSet
}

func run(t *testing.T, cfg Config, steps []step) []Result {
	t.Helper()
	d := New(cfg)
	t0 := time.Unix(1_700_000_000, 0)
	var out []Result
	for i, s := range steps {
		out = append(out, d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(),
			Flows: s.flows, Complete: true, Received: s.received, FDB: s.fdb}))
	}
	return out
}

func TestSustainedFloodIsFoundAndAttributed(t *testing.T) {
	const perPoll = 12_500_000 // 20 Mbit/s for 5 s
	var steps []step
	for i := 0; i <= 6; i++ {
		n := uint64(i)
		steps = append(steps, step{
			flows:    []Flow{floodFlow("dp/ufid-1", n*10_000, n*perPoll)},
			received: map[string]uint64{"tapvm2": n * perPoll, "tapvm3": n * perPoll, "tapvm4": 0, "tapvm1": 1000},
		})
	}
	res := run(t, DefaultConfig(), steps)

	if !res[0].Baseline || len(res[0].Flooded) != 0 {
		t.Fatalf("first poll must only set the baseline, got %+v", res[0].Flooded)
	}
	// Sustained after SustainPolls flooded polls (polls 1..2), not before.
	sustain := DefaultConfig().SustainPolls
	for i := 1; i < sustain; i++ {
		if len(res[i].Active) != 0 {
			t.Fatalf("poll %d: active too early: %+v", i, res[i].Active)
		}
	}
	if len(res[sustain].Active) != 1 {
		t.Fatalf("poll %d: want the flood active after %d flooded polls, got %+v", sustain, sustain, res[sustain].Active)
	}
	last := res[len(res)-1]
	if len(last.Active) != 1 {
		t.Fatalf("want 1 active flood, got %+v", last.Active)
	}
	f := last.Active[0]
	want := FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: extMAC}
	if f.FloodKey != want {
		t.Errorf("flood key = %+v, want %+v", f.FloodKey, want)
	}
	if len(f.Victims) != 2 || f.Victims[0].Port != "tapvm2" || f.Victims[1].Port != "tapvm3" {
		t.Errorf("victims = %+v, want tapvm2, tapvm3 only", f.Victims)
	}
	if math.Abs(f.ByteRate-perPoll/5) > 1 {
		t.Errorf("byte rate = %v, want %v", f.ByteRate, perPoll/5)
	}
	c := last.Flooded[CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}]
	if c.Bytes != 6*perPoll || c.Packets != 60_000 {
		t.Errorf("flood counter = %+v, want 6 polls worth", c)
	}
	if got := last.Leaked[PortKey{"br-int", "tapvm2"}]; got != 6*perPoll {
		t.Errorf("leaked to tapvm2 = %d", got)
	}
	if _, ok := last.Leaked[PortKey{"br-int", "uplink"}]; ok {
		t.Errorf("uplink is not an endpoint and must not be charged")
	}
	ratios := map[string]float64{}
	for _, r := range last.Ratios {
		ratios[r.Port] = r.Ratio
	}
	if ratios["tapvm2"] < 0.99 || ratios["tapvm3"] < 0.99 {
		t.Errorf("victim leak ratios = %v, want ~1", ratios)
	}
	if ratios["tapvm1"] != 0 || ratios["tapvm4"] != 0 {
		t.Errorf("non-victims must have ratio 0: %v", ratios)
	}
	var started int
	for _, r := range res {
		for _, e := range r.Events {
			if e.Kind == FloodStarted {
				started++
			}
		}
	}
	if started != 1 {
		t.Errorf("want exactly one start event, got %d", started)
	}
}

func TestNotFloods(t *testing.T) {
	bcast := Flow{Key: "b", InPort: "tapvm1", Src: mac(vm1MAC), Dst: mac("ff:ff:ff:ff:ff:ff"),
		Outputs: []Output{{Port: "tapvm2", VLAN: -1}, {Port: "tapvm3", VLAN: -1}, {Port: "uplink", VLAN: -1}}}
	mcast := Flow{Key: "m", InPort: "tapvm1", Src: mac(vm1MAC), Dst: mac("01:00:5e:00:00:01"),
		Outputs: []Output{{Port: "tapvm2", VLAN: -1}, {Port: "tapvm3", VLAN: -1}}}
	learned := Flow{Key: "l", InPort: "tapvm2", Src: mac(vm2MAC), Dst: mac(vm3MAC), Outputs: []Output{{Port: "tapvm3", VLAN: -1}}}
	grow := func(f Flow, i int) Flow { f.Packets, f.Bytes = uint64(i)*1000, uint64(i)*1_000_000; return f }

	cases := []struct {
		name  string
		steps func(i int) step
	}{
		{"broadcast", func(i int) step { return step{flows: []Flow{grow(bcast, i)}} }},
		{"multicast", func(i int) step { return step{flows: []Flow{grow(mcast, i)}} }},
		{"learned east-west", func(i int) step { return step{flows: []Flow{grow(learned, i)}} }},
		{"flooded but FDB has learned the destination", func(i int) step {
			return step{flows: []Flow{floodFlow("f", uint64(i)*1000, uint64(i)*1_000_000)},
				fdb: fdbSet{"br-int/10/" + extMAC: true}}
		}},
		{"below the minimum rate", func(i int) step {
			return step{flows: []Flow{floodFlow("f", uint64(i)*10, uint64(i)*1000)}}
		}},
		{"first frames before learning", func(i int) step {
			if i <= 1 {
				return step{flows: []Flow{floodFlow("f", uint64(i)*200, uint64(i)*200_000)}}
			}
			return step{flows: []Flow{{Key: "f", InPort: "tapvm1", Src: mac(vm1MAC), Dst: mac(extMAC),
				Packets: uint64(i) * 1000, Bytes: uint64(i) * 1_000_000, Outputs: []Output{{Port: "uplink", VLAN: -1}}}}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var steps []step
			for i := 0; i < 8; i++ {
				steps = append(steps, tc.steps(i))
			}
			for i, r := range run(t, DefaultConfig(), steps) {
				if len(r.Active) != 0 {
					t.Fatalf("poll %d: unexpected active flood %+v", i, r.Active)
				}
			}
		})
	}
}

func TestFloodClearsAndCountersSurviveResets(t *testing.T) {
	steps := []step{
		{flows: []Flow{floodFlow("u1", 0, 0)}},
		{flows: []Flow{floodFlow("u1", 1000, 1_000_000)}},
		{flows: []Flow{floodFlow("u1", 2000, 2_000_000)}},
		// megaflow re-created with the same UFID: counters restart
		{flows: []Flow{floodFlow("u1", 500, 500_000)}},
		{flows: []Flow{floodFlow("u1", 1500, 1_500_000)}},
		// traffic stops: megaflow idles out
		{flows: nil},
		{flows: nil},
		{flows: nil},
	}
	res := run(t, DefaultConfig(), steps)
	if len(res[4].Active) != 1 {
		t.Fatalf("want active at poll 4, got %+v", res[4].Active)
	}
	c := res[4].Flooded[CounterKey{"br-int", "tapvm1", 10}]
	if c.Bytes != 1_000_000+1_000_000+500_000+1_000_000 {
		t.Errorf("bytes across a reset = %d", c.Bytes)
	}
	if len(res[6].Active) != 0 {
		t.Errorf("flood must clear after %d quiet polls: %+v", DefaultConfig().ClearPolls, res[6].Active)
	}
	var ended *Event
	for _, r := range res {
		for i, e := range r.Events {
			if e.Kind == FloodEnded {
				ended = &r.Events[i]
			}
		}
	}
	if ended == nil {
		t.Fatal("no end event")
	}
	if ended.Leaked == 0 || ended.Duration <= 0 {
		t.Errorf("end event lacks duration/leaked: %+v", ended)
	}
	// Counters stay after the flood ends (monotonic series).
	if got := res[7].Flooded[CounterKey{"br-int", "tapvm1", 10}]; got != c {
		t.Errorf("counter changed after end: %+v vs %+v", got, c)
	}
}

func TestMaxReportedBoundsActiveFloods(t *testing.T) {
	var steps []step
	for i := 0; i < 5; i++ {
		var flows []Flow
		for j := 0; j < 30; j++ {
			f := floodFlow(fmt.Sprintf("u%d", j), uint64(i*1000), uint64(i*(j+1)*10_000))
			f.Dst = mac(fmt.Sprintf("02:aa:00:00:00:%02x", j))
			flows = append(flows, f)
		}
		steps = append(steps, step{flows: flows})
	}
	cfg := DefaultConfig()
	cfg.MaxReported = 4
	last := run(t, cfg, steps)[4]
	if len(last.Active) != 4 {
		t.Fatalf("want 4 reported, got %d", len(last.Active))
	}
	if last.Active[0].DstMAC != "02:aa:00:00:00:1d" {
		t.Errorf("worst first: got %s", last.Active[0].DstMAC)
	}
}

func TestClassify(t *testing.T) {
	ports := labPorts()
	cases := []struct {
		name string
		flow Flow
		want int // number of outputs judged, 0 = not flooded
	}{
		{"seed 000 flood", floodFlow("a", 1, 1), 4},
		{"single output", Flow{InPort: "tapvm1", Dst: mac(extMAC), Outputs: []Output{{Port: "uplink", VLAN: -1}}}, 0},
		{"duplicate outputs", Flow{InPort: "tapvm1", Dst: mac(extMAC), Outputs: []Output{{Port: "uplink", VLAN: -1}, {Port: "uplink", VLAN: 10}}}, 0},
		{"output back to in_port ignored", Flow{InPort: "tapvm1", Dst: mac(extMAC), Outputs: []Output{{Port: "tapvm1", VLAN: -1}, {Port: "uplink", VLAN: -1}}}, 0},
		{"tunnel copies to two remotes through one underlay port", Flow{InPort: "tapvm1", Dst: mac(extMAC),
			Outputs: []Output{{Port: "phys0", VLAN: -1, Tunnel: "192.0.2.2"}, {Port: "phys0", VLAN: -1, Tunnel: "192.0.2.3"}}}, 2},
		{"no dst", Flow{InPort: "tapvm1", Outputs: []Output{{Port: "tapvm2", VLAN: -1}, {Port: "uplink", VLAN: -1}}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify([]Flow{tc.flow}, ports)
			n := 0
			if len(got) == 1 {
				n = len(got[0].Outputs)
				if got[0].VLAN != 10 {
					t.Errorf("vlan = %d", got[0].VLAN)
				}
			}
			if n != tc.want {
				t.Errorf("outputs = %d, want %d (%+v)", n, tc.want, got)
			}
		})
	}
}

func TestCopyToTheRealDestinationIsNotALeak(t *testing.T) {
	// vm1 -> vm3 while br-int has not learned vm3: vm3 gets its own frames,
	// vm2 gets copies.
	var steps []step
	for i := 0; i < 5; i++ {
		f := floodFlow("u", uint64(i)*1000, uint64(i)*1_000_000)
		f.Dst = mac(vm3MAC)
		steps = append(steps, step{flows: []Flow{f}})
	}
	last := run(t, DefaultConfig(), steps)[4]
	if got := last.Leaked[PortKey{"br-int", "tapvm3"}]; got != 0 {
		t.Errorf("destination charged with %d leaked bytes", got)
	}
	if got := last.Leaked[PortKey{"br-int", "tapvm2"}]; got != 4_000_000 {
		t.Errorf("tapvm2 leaked = %d, want 4000000", got)
	}
	if len(last.Active) != 1 || len(last.Active[0].Victims) != 1 || last.Active[0].Victims[0].Port != "tapvm2" {
		t.Errorf("victims = %+v, want tapvm2 only", last.Active)
	}
}

func TestUnobservedPortIsNotQuiet(t *testing.T) {
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	var last Result
	for i := 0; i < 5; i++ {
		last = d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(), Complete: true,
			Flows: []Flow{floodFlow("u", uint64(i)*1000, uint64(i)*1_000_000)}})
	}
	if len(last.Active) != 1 {
		t.Fatalf("want an active flood, got %+v", last.Active)
	}
	// Bounded mode: tapvm1 is not dumped for several polls.
	for i := 5; i < 9; i++ {
		last = d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(),
			Observed: map[string]bool{"tapvm2": true}})
	}
	if len(last.Active) != 1 {
		t.Errorf("a flood from a port not looked at must stay active, got %+v", last.Active)
	}
	// Looked at and quiet: it clears.
	for i := 9; i < 11; i++ {
		last = d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: labPorts(),
			Observed: map[string]bool{"tapvm1": true}})
	}
	if len(last.Active) != 0 {
		t.Errorf("quiet observed polls must clear the flood: %+v", last.Active)
	}
}

// TestCopiesOfManyOutputs: a megaflow with more outputs than copies are
// compared one by one (a flood on a big VLAN) is told apart by a map; both
// ways keep the first of each copy, in the order of the actions.
func TestCopiesOfManyOutputs(t *testing.T) {
	for _, n := range []int{3, manyOutputs, 3 * manyOutputs} {
		t.Run(fmt.Sprint(n, " ports"), func(t *testing.T) {
			f := Flow{InPort: "in"}
			var want []string
			for i := range n {
				p := fmt.Sprint("p", i)
				want = append(want, p)
				f.Outputs = append(f.Outputs, Output{Port: p, VLAN: -1}, Output{Port: "in", VLAN: 7})
			}
			for _, remote := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.2"} {
				f.Outputs = append(f.Outputs, Output{Port: "phys", VLAN: -1, Tunnel: remote})
			}
			want = append(want, "phys", "phys")
			for i := range n { // every port again, tagged
				f.Outputs = append(f.Outputs, Output{Port: fmt.Sprint("p", i), VLAN: 10})
			}
			var s copyScratch
			for range 2 { // the scratch is reused
				outs, vlan := s.of(&f)
				if !slices.Equal(outs, want) || vlan != -1 {
					t.Fatalf("copies = %v, vlan %d; want %v, -1", outs, vlan, want)
				}
			}
		})
	}
}
