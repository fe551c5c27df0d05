package agent

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb/ovsdbtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// hostState is what the fakes serve in one step of TestPollReusesStorageExactly:
// the captured lab with one port (none when drop is "") gone from
// vswitchd, OVSDB and the kernel alike.
type hostState struct {
	name       string
	drop       string
	hit        string // the datapath's hit counter in dpif/show
	configured int64  // OVSDB's cur_cfg, bumped when the topology changes
	// unchanged: the ports are those of the step before, so what was
	// derived from them is reused (the test checks that it is).
	unchanged bool
}

// apply makes the fakes serve h; with OVSDB down, the ports come from
// dpif/show alone.
func (h hostState) apply(t *testing.T, r readers, ovsdbDown bool) {
	t.Helper()
	b, err := os.ReadFile(captures + "dpif-show.txt")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if h.drop == "" || !strings.HasPrefix(strings.TrimSpace(l), h.drop+" ") {
			lines = append(lines, l)
		}
	}
	dpif := strings.Replace(strings.Join(lines, "\n"), "hit:22404", "hit:"+h.hit, 1)
	r.unixctl.SetReply("dpif/show", dpif)

	db := r.ovsdb.(*ovsdbtest.Fake)
	db.SetError(nil)
	topo, err := db.Topology(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	full, err := ovsdbtest.LoadFake("../ovsdb/testdata/lab-topology.json")
	if err != nil {
		t.Fatal(err)
	}
	if topo, err = full.Topology(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range topo.Bridges {
		topo.Bridges[i].Ports = slices.DeleteFunc(topo.Bridges[i].Ports, func(p ovsdb.Port) bool { return p.Name == h.drop })
	}
	topo.CurCfg = h.configured
	db.SetTopology(topo)
	if ovsdbDown {
		db.SetError(os.ErrDeadlineExceeded)
	}

	devs := map[string]netdev.Device{}
	for i, n := range []string{"tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"} {
		if n != h.drop {
			devs[n] = netdev.Device{Name: n, Index: i + 10, Kind: "veth", Counters: netdev.Counters{TxBytes: uint64(1000 * (i + 1))}}
		}
	}
	r.netlink.Set(devs)
}

// portView is what a snapshot says of a port, its counters' presence
// included (their values depend on the agent's history).
type portView struct {
	state.Port
	counted bool
}

func portViews(s *state.Snapshot) []portView {
	out := make([]portView, len(s.Ports))
	for i, p := range s.Ports {
		out[i] = portView{Port: p, counted: p.Counters != nil}
		out[i].Counters, out[i].OVN, out[i].Tunnel = nil, nil, nil
	}
	return out
}

// TestPollReusesStorageExactly polls one agent through ports that come and
// go, and compares every poll with the first poll of a fresh agent fed the
// same host: the maps and parses the agent reuses from poll to poll
// (dpif/show's parse and the ports indexed from it, the device map, the
// attached MACs, ovsPorts' index) must never let a removed port linger or
// a present one vanish.
func TestPollReusesStorageExactly(t *testing.T) {
	steps := []hostState{
		{name: "lab", hit: "22404", configured: 1},
		{name: "counters moved", hit: "23000", configured: 1, unchanged: true},
		{name: "tapvm3 removed", drop: "tapvm3", hit: "23100", configured: 2},
		{name: "tapvm3 back, uplink removed", drop: "uplink", hit: "23200", configured: 3},
		{name: "counters moved again", drop: "uplink", hit: "23300", configured: 3, unchanged: true},
		{name: "tapvm5 removed", drop: "tapvm5", hit: "23400", configured: 4},
		{name: "all back", hit: "23500", configured: 5},
	}
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	for _, ovsdbDown := range []bool{false, true} {
		long := fakeReaders(t)
		a := New(cfg, long.sources(), nil, &state.Store{})
		for _, h := range steps {
			t.Run(fmt.Sprintf("%s/OVSDB down=%v", h.name, ovsdbDown), func(t *testing.T) {
				h.apply(t, long, ovsdbDown)
				before := unixctlOf(a).topo.ports
				attached := sourceOf[*fdbSource](a).attached
				got := a.Poll(context.Background())
				after := unixctlOf(a).topo.ports
				if reused := before != nil && sameMap(before, after); reused != h.unchanged {
					t.Errorf("dpif/show's port index reused: %v, want %v", reused, h.unchanged)
				}
				if reused := attached != nil && &attached[0] == &sourceOf[*fdbSource](a).attached[0]; reused != (h.unchanged && !ovsdbDown) {
					t.Errorf("attached MACs reused: %v, want %v", reused, h.unchanged && !ovsdbDown)
				}
				fresh := fakeReaders(t)
				h.apply(t, fresh, ovsdbDown)
				b := New(cfg, fresh.sources(), nil, &state.Store{})
				want := b.Poll(context.Background())
				compareReuse(t, h, a, got, b, want)
			})
		}
	}
}

// compareReuse compares the poll got of agent a, which reused storage,
// with the poll want of the fresh agent b.
func compareReuse(t *testing.T, h hostState, a *Agent, got *state.Snapshot, b *Agent, want *state.Snapshot) {
	t.Helper()
	if g, w := portViews(got), portViews(want); !slices.Equal(g, w) {
		t.Errorf("ports after reuse:\n%+v\nfresh agent:\n%+v", g, w)
	}
	if h.drop != "" {
		if _, ok := got.PortByName(h.drop); ok {
			t.Errorf("%s lingers in the snapshot", h.drop)
		}
	}
	for what, pair := range map[string][2][]string{
		"sent hint":            {sortedKeys(a.sent), sortedKeys(b.sent)},
		"unixctl ports":        {sortedKeys(unixctlOf(a).topo.ports), sortedKeys(unixctlOf(b).topo.ports)},
		"unixctl port bridges": {sortedKeys(unixctlOf(a).topo.portBr), sortedKeys(unixctlOf(b).topo.portBr)},
		"devices":              {sortedKeys(netlinkOf(a).devs), sortedKeys(netlinkOf(b).devs)},
		"attached MACs":        {attachedPorts(a), attachedPorts(b)},
		"datapath ports":       {datapathPorts(unixctlOf(a)), datapathPorts(unixctlOf(b))},
	} {
		if !slices.Equal(pair[0], pair[1]) {
			t.Errorf("%s after reuse %q, fresh agent %q", what, pair[0], pair[1])
		}
	}
	if got.Datapaths[0].Hit != want.Datapaths[0].Hit {
		t.Errorf("datapath hits %d after reuse, %d fresh", got.Datapaths[0].Hit, want.Datapaths[0].Hit)
	}
}

// datapathPorts lists the ports the dump gate is given, of every datapath.
func datapathPorts(s *unixctlSource) []string {
	var out []string
	for _, dp := range s.topo.from {
		for _, port := range s.portsOf(dp) {
			out = append(out, dp.Name+"/"+port)
		}
	}
	return out
}

// attachedPorts lists the ports of the attached MACs the fdb source read.
func attachedPorts(a *Agent) []string {
	var out []string
	for _, pm := range sourceOf[*fdbSource](a).attached {
		out = append(out, pm.Bridge+"/"+pm.Port+"/"+pm.MAC.String())
	}
	return out
}

// sameMap says whether x and y are the same map, not merely equal ones.
func sameMap[M ~map[K]V, K comparable, V any](x, y M) bool {
	return reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer()
}

func unixctlOf(a *Agent) *unixctlSource { return sourceOf[*unixctlSource](a) }
func netlinkOf(a *Agent) *netlinkSource { return sourceOf[*netlinkSource](a) }

func sourceOf[S Source](a *Agent) S {
	for _, s := range a.sources {
		if u, ok := s.(S); ok {
			return u
		}
	}
	panic("no such source")
}

// TestPortMACFollowsThePort feeds portMAC the attached MACs of polls whose
// ports move, change MAC, lose it or grow in number: the MAC taken from
// the last poll's place must always be the one of the port there now.
func TestPortMACFollowsThePort(t *testing.T) {
	polls := [][]string{
		{"02:00:00:00:00:01", "", "02:00:00:00:00:03"},
		{"02:00:00:00:00:01", "", "02:00:00:00:00:03"},
		{"", "02:00:00:00:00:01", "02:00:00:00:00:03", "02:00:00:00:00:04"},
		{"02:00:00:00:00:09", "not a mac", "02:00:00:00:00:03"},
		{"02:00:00:00:00:09"},
		{"02:00:00:00:00:03", "02:00:00:00:00:09", "", "", "02:00:00:00:00:05"},
	}
	a := New(DefaultConfig(), nil, nil, &state.Store{})
	for n, macs := range polls {
		for i, s := range macs {
			if got, want := a.portMAC(i, s), parseMAC(s); !slices.Equal(got, want) {
				t.Errorf("poll %d, port %d (%q): %v, want %v", n, i, s, got, want)
			}
		}
	}
}
