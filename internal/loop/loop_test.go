package loop

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// The captures are real output of the labs in lab/loop.sh (OVS 3.1,
// userspace datapath), read one second apart.
const testdata = "../ovs/testdata/ovs-3.1"

func read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fdbShow(t testing.TB, name string) *ovs.FDBTable {
	t.Helper()
	tb, err := ovs.ParseFDBShow(read(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &tb
}

func fdbStats(t testing.TB, name string) ovs.FDBStats {
	t.Helper()
	s, err := ovs.ParseFDBStats(read(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

func dump(t testing.TB, name string) ovs.Megaflows {
	t.Helper()
	m, err := ovs.ParseDumpFlows(read(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func ports(t testing.TB, name string) Ports {
	t.Helper()
	dps, err := ovs.ParseDpifShow(read(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return NewPorts(dps)
}

func mac(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// capture is one lab's pair of reads.
type capture struct {
	prefix string // "loop", "loop-twin"
	flows  Flows
	ports  Ports
}

func loadCapture(t testing.TB, prefix string) capture {
	t.Helper()
	p := ports(t, "loop-dpif-show.txt") // the twin has the same ports but the second link
	var c Counter
	c.Flows(dump(t, prefix+"-dpctl-dump-flows-m.1.txt"), p)
	return capture{prefix: prefix, flows: c.Flows(dump(t, prefix+"-dpctl-dump-flows-m.2.txt"), p), ports: p}
}

func (c capture) input(t testing.TB, bridge string, local net.HardwareAddr) BridgeInput {
	s1 := fdbStats(t, c.prefix+"-fdb-stats-show."+bridge+".1.txt")
	s2 := fdbStats(t, c.prefix+"-fdb-stats-show."+bridge+".2.txt")
	return BridgeInput{
		Bridge: bridge, Interval: time.Second, Moved: s2.Moved - s1.Moved, Flows: c.flows,
		Attached: []PortMAC{{Bridge: "br-int", Port: "tapvm1", MAC: mac(t, "02:00:00:00:00:01")},
			{Bridge: "br-int", Port: "tapvm2", MAC: mac(t, "02:00:00:00:00:02")},
			{Bridge: "br-int", Port: "tapvm3", MAC: mac(t, "02:00:00:00:00:03")}},
		LocalMAC: local, FDB: fdbShow(t, c.prefix+"-fdb-show."+bridge+".2.txt"), Ports: c.ports,
	}
}

func TestAssessLoopAndTwin(t *testing.T) {
	// br-ex's own MAC in each lab, as `ip link show br-ex` printed it.
	loopLocal := strings.Fields(read(t, "loop-br-ex-link.txt"))[2]
	twinLocal := "9a:ff:a6:1a:05:4b" // fdb/show of the twin: LOCAL 9a:ff:a6:1a:05:4b
	cases := []struct {
		prefix, bridge, local string
		storm                 bool
		ports                 []string
		self                  *SelfMAC
	}{
		{"loop", "br-int", "", true, []string{"int-ex1", "int-ex2"}, nil},
		{"loop", "br-ex", loopLocal, true, []string{"ex-int1", "ex-int2"}, &SelfMAC{MAC: loopLocal, Port: "ex-int1"}},
		{"loop-twin", "br-int", "", false, nil, nil},
		{"loop-twin", "br-ex", twinLocal, false, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.prefix+"/"+tc.bridge, func(t *testing.T) {
			c := loadCapture(t, tc.prefix)
			var local net.HardwareAddr
			if tc.local != "" {
				local = mac(t, tc.local)
			}
			ev := Assess(c.input(t, tc.bridge, local), nil, DefaultConfig)
			t.Logf("moves %.0f/s broadcast %.0f pps flaps %v self %v", ev.MovesPerSec, ev.BroadcastPPS, ev.Flaps, ev.Self)
			if ev.Storm != tc.storm {
				t.Errorf("storm = %v, want %v", ev.Storm, tc.storm)
			}
			if !reflect.DeepEqual(ev.Ports, tc.ports) {
				t.Errorf("loop ports = %v, want %v", ev.Ports, tc.ports)
			}
			if !reflect.DeepEqual(ev.Self, tc.self) {
				t.Errorf("self MAC = %+v, want %+v", ev.Self, tc.self)
			}
			for _, p := range ev.Ports {
				if p == "tapvm1" || p == "ext" {
					t.Errorf("%s sent the first broadcast and is no loop port", p)
				}
			}
			var sum uint64
			for _, n := range ev.PortMoves {
				sum += n
			}
			if in := c.input(t, tc.bridge, local); len(ev.Ports) > 0 && sum != in.Moved {
				t.Errorf("port moves add up to %d, bridge moved %d", sum, in.Moved)
			}
		})
	}
}

func TestAssessFlapsNeedStorm(t *testing.T) {
	// The loop's megaflows without its move count: no storm, so the flaps
	// alone name no port; the bridge's own MAC on a link still does.
	c := loadCapture(t, "loop")
	in := c.input(t, "br-int", nil)
	in.Moved = 0
	if ev := Assess(in, nil, DefaultConfig); ev.Storm || len(ev.Ports) != 0 {
		t.Errorf("no moves: storm %v ports %v", ev.Storm, ev.Ports)
	}
	local := strings.Fields(read(t, "loop-br-ex-link.txt"))[2]
	in = c.input(t, "br-ex", mac(t, local))
	in.Moved = 0
	if ev := Assess(in, nil, DefaultConfig); !reflect.DeepEqual(ev.Ports, []string{"ex-int1"}) {
		t.Errorf("own MAC on ex-int1 without moves: ports %v", ev.Ports)
	}
	// ... unless the entry is old: the loop was cut and the entry waits to age out.
	in.FDB.Entries[1].Age = 30
	if ev := Assess(in, nil, DefaultConfig); len(ev.Ports) != 0 {
		t.Errorf("stale own-MAC entry: ports %v", ev.Ports)
	}
}

func TestMoves(t *testing.T) {
	twin := fdbShow(t, "loop-twin-fdb-show.br-int.1.txt")
	loop := fdbShow(t, "loop-fdb-show.br-int.1.txt")
	got := Moves(*twin, *loop)
	want := []Move{{VLAN: 0, MAC: mac(t, "02:00:00:00:00:01"), From: "1", To: "4"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Moves = %+v, want %+v", got, want)
	}
	// Two reads of the storming bridge a second apart: OVS relearns the
	// MACs in revalidator rounds, and the reads see them in place.
	if got := Moves(*loop, *fdbShow(t, "loop-fdb-show.br-int.2.txt")); len(got) != 0 {
		t.Errorf("storm reads: %+v", got)
	}
}

func TestObservedMovesApportioned(t *testing.T) {
	in := BridgeInput{Bridge: "br-int", Interval: time.Second, Moved: 10, Ports: ports(t, "loop-dpif-show.txt")}
	var x fdbIndex
	x.update(*fdbShow(t, "loop-twin-fdb-show.br-int.1.txt")) // vm1 on 1, br-ex's MAC on 4
	onto := x.update(*fdbShow(t, "loop-fdb-show.br-int.1.txt"))
	if want := map[string]int{"4": 1}; !reflect.DeepEqual(onto, want) {
		t.Fatalf("moves onto = %v, want %v", onto, want) // br-ex's MAC differs between the labs: no move
	}
	onto = map[string]int{"4": 7, "5": 3}
	ev := Assess(in, onto, DefaultConfig)
	want := map[string]uint64{"int-ex1": 7, "int-ex2": 3}
	if !reflect.DeepEqual(ev.PortMoves, want) {
		t.Errorf("PortMoves = %v, want %v", ev.PortMoves, want)
	}
	if len(ev.Ports) != 0 {
		t.Errorf("moves without storm named loop ports %v", ev.Ports)
	}
}

func TestApportion(t *testing.T) {
	cases := []struct {
		name   string
		total  uint64
		weight map[string]uint64
		want   map[string]uint64
	}{
		{"even", 10, map[string]uint64{"a": 1, "b": 1}, map[string]uint64{"a": 5, "b": 5}},
		{"remainder to heaviest", 10, map[string]uint64{"a": 1, "b": 2}, map[string]uint64{"a": 3, "b": 7}},
		{"nothing moved", 0, map[string]uint64{"a": 1}, nil},
		{"no evidence", 5, map[string]uint64{}, nil},
		{"zero weight ignored", 4, map[string]uint64{"a": 0, "b": 3}, map[string]uint64{"b": 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := apportion(tc.total, tc.weight); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("apportion(%d, %v) = %v, want %v", tc.total, tc.weight, got, tc.want)
			}
		})
	}
}

func TestTrackerSustainAndClear(t *testing.T) {
	loop, twin := loadCapture(t, "loop"), loadCapture(t, "loop-twin")
	tr := NewTracker(Config{})
	now := time.Unix(1_700_000_000, 0)
	steps := []struct {
		c      capture
		active bool
	}{{loop, false}, {loop, true}, {loop, true}, {twin, true}, {twin, false}, {twin, false}}
	for i, s := range steps {
		st := tr.Observe(s.c.input(t, "br-int", nil), now.Add(time.Duration(i)*time.Second))
		if st.Active != s.active {
			t.Fatalf("poll %d (%s): active %v, want %v", i, s.c.prefix, st.Active, s.active)
		}
		if st.Active && !reflect.DeepEqual(st.LoopPorts, []string{"int-ex1", "int-ex2"}) {
			t.Errorf("poll %d: loop ports %v", i, st.LoopPorts)
		}
		if !st.Active && st.LoopPorts != nil {
			t.Errorf("poll %d: inactive with ports %v", i, st.LoopPorts)
		}
	}
	tr.Retain(map[string]bool{})
	if len(tr.bridges) != 0 {
		t.Error("Retain kept a vanished bridge")
	}
}

func TestWantFDB(t *testing.T) {
	tr := NewTracker(Config{})
	cases := []struct {
		name     string
		moved    uint64
		pressure bool
		want     bool
	}{
		{"calm", 3, false, false},
		{"storm", 800, false, true},
		{"pressure", 0, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tr.WantFDB("br-int", tc.moved, 5*time.Second, tc.pressure); got != tc.want {
				t.Errorf("WantFDB = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPortsName checks the naming of fdb/show's port numbers, from an
// index built by Add and from the agent's own maps alike: the same number
// on two bridges is two ports, and anything fdb/show would not print for
// a known port comes back as it is.
func TestPortsName(t *testing.T) {
	built := ports(t, "loop-dpif-show.txt")
	dps, err := ovs.ParseDpifShow(read(t, "loop-dpif-show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	bridgeOf, byName := map[string]string{}, map[string]*ovs.DPPort{}
	for _, b := range dps[0].Bridges {
		for i, p := range b.Ports {
			bridgeOf[p.Name], byName[p.Name] = b.Name, &b.Ports[i]
		}
	}
	cases := []struct{ bridge, ofport, want string }{
		{"br-int", "4", "int-ex1"},
		{"br-ex", "2", "ex-int1"},
		{"br-int", "2", "tapvm2"},
		{"br-int", "LOCAL", "br-int"},
		{"br-ex", "LOCAL", "br-ex"},
		{"br-int", "99", "99"},
		{"br-int", "04", "04"},
		{"br-int", "65534", "65534"},
		{"br-int", "", ""},
		{"br-int", "4294967297", "4294967297"},
		{"br-nosuch", "4", "4"},
	}
	for name, p := range map[string]Ports{"NewPorts": built, "PortsOf": PortsOf(bridgeOf, byName)} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range cases {
				if got := p.Name(tc.bridge, tc.ofport); got != tc.want {
					t.Errorf("Name(%q, %q) = %q, want %q", tc.bridge, tc.ofport, got, tc.want)
				}
			}
			if got := p.Bridge("ex-int2"); got != "br-ex" {
				t.Errorf("Bridge(ex-int2) = %q", got)
			}
		})
	}
	var zero Ports
	if zero.Name("br-int", "4") != "4" || zero.Bridge("tapvm1") != "" {
		t.Error("the zero Ports names a port")
	}
}
