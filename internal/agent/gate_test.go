package agent

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovn"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

const gateCaptures = "testdata/gate/"

// The lab's br-int ports (lab/lab.sh), as dpif/show lists them.
var labPorts = []string{"br-int", "tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"}

func portCounters(t *testing.T, name string) map[string]ovs.PortCounters {
	t.Helper()
	b, err := os.ReadFile(gateCaptures + name)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ovs.ParsePortCounters(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func dumpedFlows(t *testing.T, name string) []detect.Flow {
	t.Helper()
	b, err := os.ReadFile(gateCaptures + name)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := ovs.ParseDumpFlows(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []detect.Flow
	for _, m := range mf.Flows {
		out = append(out, toDetectFlow("netdev@ovs-netdev", m, interner{}))
	}
	return out
}

// testFlowIDs names the megaflows of every test alike across calls.
var testFlowIDs = newFlowIDs()

// toDetectFlow converts one megaflow as the unixctl source does.
func toDetectFlow(dp string, m ovs.Megaflow, names interner) detect.Flow {
	s := unixctlSource{ids: testFlowIDs}
	return s.appendFlows(nil, dp, []ovs.Megaflow{m}, names)[0]
}

// synthetic builds counters: name -> {received, sent}.
func synthetic(c map[string][2]uint64) map[string]ovs.PortCounters {
	out := map[string]ovs.PortCounters{}
	for n, v := range c {
		out[n] = ovs.PortCounters{RxPackets: v[0], TxPackets: v[1]}
	}
	return out
}

func gateIn(now time.Time, counters map[string]ovs.PortCounters) gateInput {
	return gateInput{dp: "netdev@ovs-netdev", now: now, flows: 4, counters: counters, ports: labPorts,
		maxFlows: 20000, maxPorts: 1, minRate: 10, sweepPolls: 6}
}

// Counters captured in the lab (lab/lab.sh, 2.5 s apart): idle, then
// learned east-west iperf3 (vm2 -> vm3, which the userspace datapath
// partly drops under load: fewer packets out than in), then the seed-000
// flood (vm1 -> the external MAC, copied to vm2, vm3, the uplink and the
// down LOCAL port).
func TestGateOnCapturedCounters(t *testing.T) {
	g, cfg := newDumpGate(), DefaultGateConfig()
	t0 := time.Unix(1_700_000_000, 0)
	step := 2500 * time.Millisecond
	steps := []struct {
		capture    string
		wantMode   dumpMode
		wantReason string
		flows      string // the dump the poll gets, if it dumps
	}{
		{"dpctl-show-s.calm-0.txt", dumpFull, reasonFirst, ""},
		{"dpctl-show-s.calm-1.txt", dumpSkip, "", ""},
		{"dpctl-show-s.flood-2.txt", dumpFull, reasonReplication, "dpctl-dump-flows-names.flood.txt"},
		{"dpctl-show-s.after-3.txt", dumpFull, reasonFollowing, ""},
	}
	for i, s := range steps {
		now := t0.Add(time.Duration(i) * step)
		p := g.plan(cfg, gateIn(now, portCounters(t, s.capture)))
		if p.mode != s.wantMode || p.reason != s.wantReason {
			t.Fatalf("poll %d (%s): mode %v reason %q (replication %.0f pps), want %v %q",
				i, s.capture, p.mode, p.reason, p.rate, s.wantMode, s.wantReason)
		}
		var flows []detect.Flow
		if s.flows != "" {
			flows = dumpedFlows(t, s.flows)
		}
		g.observe("netdev@ovs-netdev", p, flows, 10, now, nil)
		if i == 2 {
			// ~1,300 packets flooded to 3 ports and the down LOCAL
			// port in 2.5 s: ~3 extra copies each, ~1,500 pps.
			if p.rate < 1000 || p.rate > 2000 {
				t.Errorf("flood poll: replication %.0f pps, want ~1,500", p.rate)
			}
			if got := g.state("netdev@ovs-netdev").candidates; len(got) != 1 || got[0] != "tapvm1" {
				t.Errorf("candidates after the flood dump = %v, want [tapvm1]", got)
			}
		}
	}
	// The flood is over and the last dump found nothing growing: the
	// next calm poll skips again.
	now := t0.Add(4 * step)
	after := portCounters(t, "dpctl-show-s.after-3.txt")
	if p := g.plan(cfg, gateIn(now, after)); p.mode != dumpSkip {
		t.Errorf("calm after the flood: mode %v reason %q, want skip", p.mode, p.reason)
	}
}

func TestGateSweepAndExplained(t *testing.T) {
	g, cfg := newDumpGate(), DefaultGateConfig()
	t0 := time.Unix(1_700_000_000, 0)
	// A steady 40 pps of broadcast copies (vm1 sends 10 pps to 4 ports).
	at := func(sec int) map[string]ovs.PortCounters {
		n := uint64(10 * sec)
		return synthetic(map[string][2]uint64{"tapvm1": {n, 0}, "tapvm2": {0, n}, "tapvm3": {0, n}, "uplink": {0, n}, "br-int": {0, n}})
	}
	var reasons []string
	for sec := 0; sec <= 70; sec += 5 {
		now := t0.Add(time.Duration(sec) * time.Second)
		p := g.plan(cfg, gateIn(now, at(sec)))
		reasons = append(reasons, p.reason)
		g.observe("netdev@ovs-netdev", p, nil, 10, now, nil)
	}
	// First poll, then the 30 pps of unexplained replication once, then
	// only sweeps every 30 s: the broadcast is explained.
	want := "first,replication,,,,,,sweep,,,,,,sweep,"
	if got := strings.Join(reasons, ","); got != want {
		t.Errorf("reasons %s, want %s", got, want)
	}
	// Less replication lowers the bar at once: when the broadcast stops
	// and a flood of the same rate starts, it is dumped.
	st := g.state("netdev@ovs-netdev")
	if st.explained < 29 || st.explained > 31 {
		t.Fatalf("explained %.1f pps, want 30", st.explained)
	}
	quiet := at(70)
	now := t0.Add(75 * time.Second)
	if p := g.plan(cfg, gateIn(now, quiet)); p.reason != "" || st.explained != 0 {
		t.Errorf("no traffic: reason %q, explained %.1f; want skip and 0", p.reason, st.explained)
	}
	if p := g.plan(cfg, gateIn(now.Add(5*time.Second), at(75))); p.reason != reasonReplication {
		t.Errorf("replication back after a pause: reason %q, want replication", p.reason)
	}
}

func TestGateFollowsUntilQuietAndGivesUpOnLegitimateCopies(t *testing.T) {
	g, cfg := newDumpGate(), DefaultGateConfig()
	t0 := time.Unix(1_700_000_000, 0)
	flooded := func(packets uint64) []detect.Flow {
		return []detect.Flow{{Key: "dp/k1", InPort: "tapvm1", Dst: []byte{2, 0, 0, 0, 0, 0x64}, Packets: packets,
			Outputs: []detect.Output{{Port: "tapvm2"}, {Port: "tapvm3"}}}}
	}
	calm := synthetic(map[string][2]uint64{"tapvm1": {0, 0}})
	now := t0
	p := g.plan(cfg, gateIn(now, calm))
	g.observe("netdev@ovs-netdev", p, flooded(0), 10, now, nil)
	// The flood-shaped megaflow grows at 100 pps with no active flood
	// (the detector finds its destination learned, say): followed for
	// candidateGiveUp dumps, then its replication counts as explained.
	var reasons []string
	for i := 1; i <= candidateGiveUp+3; i++ {
		now = t0.Add(time.Duration(i) * 5 * time.Second)
		c := synthetic(map[string][2]uint64{"tapvm1": {uint64(500 * i), 0}, "tapvm2": {0, uint64(500 * i)}, "tapvm3": {0, uint64(500 * i)}})
		p := g.plan(cfg, gateIn(now, c))
		reasons = append(reasons, p.reason)
		g.observe("netdev@ovs-netdev", p, flooded(uint64(500*i)), 10, now, nil)
	}
	want := "replication,following,following,following,following,following,following,,"
	if got := strings.Join(reasons, ","); got != want {
		t.Errorf("reasons %s, want %s", got, want)
	}
	// With an active flood on the port, the gate follows it for as long
	// as the detector keeps it active.
	g2 := newDumpGate()
	in := gateIn(t0, calm)
	g2.plan(cfg, in)
	in.now, in.flooding = t0.Add(5*time.Second), []string{"tapvm1"}
	if p := g2.plan(cfg, in); p.reason != reasonFollowing || p.mode != dumpFull {
		t.Errorf("active flood: %v %q, want a full dump, following", p.mode, p.reason)
	}
}

func TestGateBudget(t *testing.T) {
	cfg := DefaultGateConfig() // 40 ms
	t0 := time.Unix(1_700_000_000, 0)
	busy := synthetic(map[string][2]uint64{"tapvm1": {0, 0}, "tapvm4": {0, 0}})
	// tapvm4 sends 1,000 pps that are copied to two ports.
	busier := synthetic(map[string][2]uint64{"tapvm1": {0, 0}, "tapvm4": {5000, 0}, "tapvm2": {0, 5000}, "tapvm3": {0, 5000}})
	cases := []struct {
		name     string
		flows    int
		maxFlows int
		flooding []string
		maxPorts int
		want     dumpMode
		ports    string
	}{
		// 7.5 µs a megaflow: a full dump fits 40 ms up to 5,333
		// megaflows; a filtered one (2.5 µs) up to 16,000.
		{name: "small: full", flows: 5000, maxFlows: 20000, want: dumpFull},
		{name: "full over budget", flows: 5334, maxFlows: 20000, want: dumpFiltered, ports: "tapvm4"},
		{name: "over --dpctl.max-flows", flows: 3000, maxFlows: 2000, want: dumpFiltered, ports: "tapvm4"},
		{name: "flooding port first", flows: 10000, maxFlows: 20000, flooding: []string{"tapvm1"}, want: dumpFiltered, ports: "tapvm1"},
		{name: "two ports fit", flows: 7000, maxFlows: 5000, flooding: []string{"tapvm1"}, maxPorts: 4, want: dumpFiltered, ports: "tapvm1,tapvm4"},
		{name: "two fit but --dpctl.bounded-ports=1", flows: 7000, maxFlows: 5000, flooding: []string{"tapvm1"}, maxPorts: 1, want: dumpFiltered, ports: "tapvm1"},
		{name: "one filtered dump fits", flows: 16000, maxFlows: 20000, maxPorts: 4, want: dumpFiltered, ports: "tapvm4"},
		{name: "no dump fits", flows: 16001, maxFlows: 20000, want: dumpNone},
		{name: "no dump fits at 100k", flows: 100000, maxFlows: 20000, want: dumpNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newDumpGate()
			in := gateIn(t0, busy)
			in.flows, in.maxFlows, in.maxPorts = tc.flows, tc.maxFlows, max(tc.maxPorts, 1)
			g.observe(in.dp, g.plan(cfg, in), nil, 10, t0, nil)
			in.now, in.counters, in.flooding = t0.Add(5*time.Second), busier, tc.flooding
			g.state(in.dp).turn = 0 // the first poll's turn: the list's head
			p := g.plan(cfg, in)
			if p.reason == "" {
				t.Fatalf("no dump: replication %.0f pps", p.rate)
			}
			if p.mode != tc.want || strings.Join(p.ports, ",") != tc.ports {
				t.Errorf("mode %v ports %v, want %v %s", p.mode, p.ports, tc.want, tc.ports)
			}
			// A calm poll skips, but still says whether a dump would be bounded.
			in.now, in.flooding = in.now.Add(5*time.Second), nil
			g.observe(in.dp, p, nil, 10, in.now, nil)
			calm := g.plan(cfg, in)
			if calm.mode != dumpSkip || calm.bounded != (tc.want != dumpFull) {
				t.Errorf("calm poll: mode %v bounded %v, want a skip, bounded %v", calm.mode, calm.bounded, tc.want != dumpFull)
			}
			// Blind (no dump fits at all) is said on busy and calm polls alike.
			if wantBlind := tc.want == dumpNone; p.blind != wantBlind || calm.blind != wantBlind {
				t.Errorf("blind %v (calm poll %v), want %v", p.blind, calm.blind, wantBlind)
			}
		})
	}
}

func TestGateAlwaysAndCounterResets(t *testing.T) {
	cfg := DefaultGateConfig()
	cfg.Always = true
	g := newDumpGate()
	t0 := time.Unix(1_700_000_000, 0)
	c := synthetic(map[string][2]uint64{"tapvm1": {1000, 1000}})
	for i := range 3 {
		if p := g.plan(cfg, gateIn(t0.Add(time.Duration(i)*time.Second), c)); p.mode != dumpFull || p.reason != reasonAlways {
			t.Fatalf("poll %d with Always: %v %q", i, p.mode, p.reason)
		}
	}
	// A port re-created (counters back to small values) counts from zero.
	g = newDumpGate()
	g.plan(DefaultGateConfig(), gateIn(t0, synthetic(map[string][2]uint64{"tapvm1": {1000, 5000}, "tapvm2": {5000, 1000}})))
	p := g.plan(DefaultGateConfig(), gateIn(t0.Add(time.Second), synthetic(map[string][2]uint64{"tapvm1": {3, 3}, "tapvm2": {5003, 1003}})))
	if p.rate != 0 {
		t.Errorf("replication after a reset %.1f pps, want 0", p.rate)
	}
}

// The unixctl source reads dpctl/show -s each poll and dumps megaflows
// only when the gate lets it; a reply without per-port counters (older
// fixtures, or a datapath that keeps none) dumps every poll.
func TestUnixctlSourceGatesTheDump(t *testing.T) {
	r := fakeReaders(t)
	v := r.unixctl
	a := New(DefaultConfig(), r.sources(), nil, &state.Store{})
	dumps := func() int {
		n := 0
		for _, c := range v.Calls {
			if strings.HasPrefix(c, "dpctl/dump-flows") {
				n++
			}
		}
		v.Calls = nil
		return n
	}
	// Without counters: every poll dumps.
	for i := range 3 {
		a.Poll(context.Background())
		if n := dumps(); n != 1 {
			t.Fatalf("poll %d without counters: %d dumps, want 1", i, n)
		}
	}
	// With the lab's counters: calm polls do not dump, the flood does.
	b := New(DefaultConfig(), r.sources(), nil, &state.Store{})
	names, err := os.ReadFile(gateCaptures + "dpctl-dump-flows-names.flood.txt")
	if err != nil {
		t.Fatal(err)
	}
	v.SetReply("dpctl/dump-flows --names netdev@ovs-netdev", string(names))
	var got []int
	for _, c := range []string{"calm-0", "calm-1", "calm-1", "flood-2"} {
		if err := v.LoadFile("dpctl/show -s netdev@ovs-netdev", gateCaptures+"dpctl-show-s."+c+".txt"); err != nil {
			t.Fatal(err)
		}
		s := b.Poll(context.Background())
		if !s.Sources[state.SourceUnixctl].Up {
			t.Fatalf("unixctl down: %s", s.Sources[state.SourceUnixctl].Err)
		}
		got = append(got, dumps())
	}
	if want := []int{1, 0, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("dumps per poll %v, want %v", got, want)
	}
}

// Filtered dumps take the followed ports in turn when they are more than
// a poll may dump.
func TestGateSuspectsRotate(t *testing.T) {
	st := newDumpGate().state("dp")
	in := gateIn(time.Unix(1_700_000_000, 0), nil)
	in.flooding = []string{"tapvm1", "tapvm2", "tapvm3"}
	var got []string
	for range 4 {
		got = append(got, strings.Join(st.suspects(in, 2), "+"))
	}
	if want := "tapvm1+tapvm2,tapvm3+tapvm1,tapvm2+tapvm3,tapvm1+tapvm2"; strings.Join(got, ",") != want {
		t.Errorf("suspects %s, want %s", strings.Join(got, ","), want)
	}
}

func TestSweepPolls(t *testing.T) {
	tests := []struct {
		sweep, interval time.Duration
		memory, want    int
	}{
		{time.Minute, 5 * time.Second, 12, 12},
		{time.Minute, 10 * time.Second, 12, 6},
		{time.Minute, time.Second, 12, 12}, // the detector's memory bounds it
		{time.Minute, 7 * time.Second, 0, 9},
		{time.Second, 5 * time.Second, 12, 1},
	}
	for _, tt := range tests {
		if got := sweepPolls(tt.sweep, tt.interval, tt.memory); got != tt.want {
			t.Errorf("sweepPolls(%v, %v, %d) = %d, want %d", tt.sweep, tt.interval, tt.memory, got, tt.want)
		}
	}
}

// The gate's memory of flood-shaped megaflows holds only what the last
// dumps listed: a filtered dump forgets its ports' megaflows it did not
// list, and keeps the others'.
func TestGateForgetsMegaflowsDumpsNoLongerList(t *testing.T) {
	g := newDumpGate()
	t0 := time.Unix(1_700_000_000, 0)
	shaped := func(key, in string) detect.Flow {
		return detect.Flow{Key: key, InPort: in, Dst: []byte{2, 0, 0, 0, 0, 0x64}, Packets: 1,
			Outputs: []detect.Output{{Port: "a"}, {Port: "b"}}}
	}
	g.observe("dp", dumpPlan{mode: dumpFull}, []detect.Flow{shaped("k1", "tapvm1"), shaped("k2", "tapvm2")}, 10, t0, nil)
	g.observe("dp", dumpPlan{mode: dumpFiltered, ports: []string{"tapvm1"}}, nil, 10, t0.Add(time.Second), nil)
	st := g.state("dp")
	if _, ok := st.shaped["k1"]; ok {
		t.Error("k1 kept after a dump of its port that did not list it")
	}
	if _, ok := st.shaped["k2"]; !ok {
		t.Error("k2 forgotten by a dump of another port")
	}
	g.observe("dp", dumpPlan{mode: dumpFull}, nil, 10, t0.Add(2*time.Second), nil)
	if len(st.shaped) != 0 {
		t.Errorf("%d megaflows kept after an empty full dump", len(st.shaped))
	}
}

func TestFollowedPorts(t *testing.T) {
	res := detect.Result{
		Active: []detect.Flood{{FloodKey: detect.FloodKey{InPort: "tapvm1"}}},
		Flooded: map[detect.CounterKey]detect.Counter{
			{InPort: "tapvm1", VLAN: 10}: {Packets: 100},
			{InPort: "tapvm2", VLAN: 10}: {Packets: 50}, // grew: a flood the detector counts
			{InPort: "tapvm2", VLAN: 20}: {Packets: 5},
			{InPort: "tapvm3", VLAN: 10}: {Packets: 7}, // did not grow
		},
	}
	got, by := followedPorts(res, map[string]uint64{"tapvm1": 100, "tapvm2": 40, "tapvm3": 7})
	if strings.Join(got, ",") != "tapvm1,tapvm2" {
		t.Errorf("followed %v, want tapvm1 (active) and tapvm2 (grew)", got)
	}
	if by["tapvm2"] != 55 || by["tapvm3"] != 7 {
		t.Errorf("flooded by port %v", by)
	}
}

// MAC moves (a loop's signature) make every poll dump, even when the
// storm's copies would count as explained.
func TestGateFollowsMACMoves(t *testing.T) {
	g, cfg := newDumpGate(), DefaultGateConfig()
	t0 := time.Unix(1_700_000_000, 0)
	c := synthetic(map[string][2]uint64{"tapvm1": {0, 0}})
	in := gateIn(t0, c)
	g.observe(in.dp, g.plan(cfg, in), nil, 10, t0, nil)
	var reasons []string
	for i, moved := range []uint64{0, 500, 1200, 1200} {
		in.now, in.moved = t0.Add(time.Duration(i+1)*5*time.Second), moved
		p := g.plan(cfg, in)
		reasons = append(reasons, p.reason)
		g.observe(in.dp, p, nil, 10, in.now, nil)
	}
	if got := strings.Join(reasons, ","); got != ",moves,moves," {
		t.Errorf("reasons %s, want ,moves,moves,", got)
	}
}

func TestHasLeakReceivers(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Poll
		want bool
	}{
		{"no OVN", &Poll{}, false},
		{"no unknown port", &Poll{ovn: &ovnView{ports: map[string]ovn.PortBinding{"vm1": {LogicalPort: "vm1"}}}}, false},
		{"an unknown port", &Poll{ovn: &ovnView{ports: map[string]ovn.PortBinding{"vm1": {}, "vm2": {LogicalPort: "vm2", Unknown: true}}}}, true},
	} {
		if got := hasLeakReceivers(tc.p); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A megaflow keeps its identity from poll to poll, and no two megaflows
// of the captured dumps (nor the same match on two datapaths) share one.
func TestFlowIDs(t *testing.T) {
	s := unixctlSource{ids: newFlowIDs()}
	mf := func(name string) []ovs.Megaflow {
		m, err := ovs.ParseDumpFlows(string(readCapture(t, name)))
		if err != nil || len(m.Flows) == 0 {
			t.Fatal(len(m.Flows), err)
		}
		return m.Flows
	}
	flows := append(mf(gateCaptures+"dpctl-dump-flows-names.flood.txt"),
		mf("../ovs/testdata/ovs-3.1/bench-5k.dpctl-dump-flows.txt.gz")...)
	a := s.appendFlows(nil, "netdev@ovs-netdev", flows, interner{})
	again := s.appendFlows(nil, "netdev@ovs-netdev", flows, interner{})
	other := s.appendFlows(nil, "system@ovs-system", flows, interner{})
	seen := map[string]bool{}
	for i := range a {
		if len(a[i].Key) != flowIDLen || a[i].Key != again[i].Key {
			t.Fatalf("flow %d: identity %x, then %x", i, a[i].Key, again[i].Key)
		}
		if seen[a[i].Key] || seen[other[i].Key] || a[i].Key == other[i].Key {
			t.Fatalf("flow %d (%s): identity shared", i, flows[i].Key)
		}
		seen[a[i].Key], seen[other[i].Key] = true, true
	}
	withUFID := flows[0]
	withUFID.UFID = "3cf89955-7a92-4d8c-a35f-3cdf3b61fb10"
	if got := s.appendFlows(nil, "netdev@ovs-netdev", []ovs.Megaflow{withUFID}, interner{}); got[0].Key == a[0].Key {
		t.Error("the UFID, when printed, does not name the megaflow")
	}
}
