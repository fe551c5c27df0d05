package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev/netdevtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovn"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/ovstest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb/ovsdbtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

const captures = "../ovs/testdata/ovs-3.1/"

// fakeOpenFlow answers like the lab's br-int.
type fakeOpenFlow struct{ err error }

func (f fakeOpenFlow) TableStats(context.Context, string) ([]openflow.TableStats, error) {
	return []openflow.TableStats{{TableID: 0, ActiveCount: 2, LookupCount: 100, MatchedCount: 100}, {TableID: 94, ActiveCount: 1, LookupCount: 90, MatchedCount: 90}}, f.err
}

func (f fakeOpenFlow) NormalRules(context.Context, string) ([]openflow.Flow, error) {
	return []openflow.Flow{{TableID: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578, PacketCount: 90, ByteCount: 9000, Normal: true}}, f.err
}

// deadline is the fake sources' deadline: long enough never to expire in
// a test that does not mean it to.
const deadline = time.Minute

// readers are the fakes behind fakeSources, for tests to change.
type readers struct {
	unixctl  *ovstest.Fake
	ovsdb    ovsdb.Reader
	openflow OpenFlowReader
	netlink  *netdevtest.Fake
}

// sources wires the fakes as OpenSources wires the real readers.
func (r readers) sources() []Source {
	return []Source{
		NewOVSDB(r.ovsdb, deadline, deadline),
		NewUnixctl(r.unixctl, deadline),
		NewOpenFlow(r.openflow, deadline),
		NewNetlink(r.netlink, deadline, nil),
		NewFDB(loop.Config{}, deadline),
		NewOVN(noOVN, deadline),
	}
}

// noOVN stands for the Southbound in tests of hosts without OVN (their
// topology has no ovn-remote, so the ovn source never opens it).
func noOVN(string) (ovn.Reader, error) { return nil, errors.New("no OVN in this test") }

// fakeReaders returns readers answering with output captured from the lab
// during the seed-000 flood.
func fakeReaders(t *testing.T) readers {
	t.Helper()
	v, err := ovstest.NewFakeFromDir(captures)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.LoadFile("ofproto/trace br-int in_port=tapvm1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64", captures+"ofproto-trace.flood.txt"); err != nil {
		t.Fatal(err)
	}
	db, err := ovsdbtest.LoadFake("../ovsdb/testdata/lab-topology.json")
	if err != nil {
		t.Fatal(err)
	}
	devs := map[string]netdev.Device{}
	for i, n := range []string{"tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"} {
		devs[n] = netdev.Device{Name: n, Index: i + 10, Kind: "veth"}
	}
	return readers{unixctl: v, ovsdb: db, openflow: fakeOpenFlow{}, netlink: netdevtest.NewFake(devs)}
}

// floodDump is the captured flood dump with the flooded megaflow's
// counters replaced.
func floodDump(t *testing.T, packets, bytes uint64) string {
	t.Helper()
	b, err := os.ReadFile(captures + "dpctl-dump-flows-m.seed000-flood.txt")
	if err != nil {
		t.Fatal(err)
	}
	const orig = "packets:5617, bytes:6967069"
	if !strings.Contains(string(b), orig) {
		t.Fatalf("capture changed: %q not found", orig)
	}
	return strings.Replace(string(b), orig, fmt.Sprintf("packets:%d, bytes:%d", packets, bytes), 1)
}

func TestPollFindsTheCapturedFlood(t *testing.T) {
	r := fakeReaders(t)
	v, nd := r.unixctl, r.netlink
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	a := New(cfg, r.sources(), nil, &state.Store{})
	var s *state.Snapshot
	const perPoll = 1_250_000
	for i := uint64(1); i <= 5; i++ {
		v.SetReply("dpctl/dump-flows --names netdev@ovs-netdev", floodDump(t, i*1000, i*perPoll))
		nd.Add("tapvm2", netdev.Counters{TxBytes: perPoll, TxPackets: 1000})
		nd.Add("tapvm3", netdev.Counters{TxBytes: perPoll, TxPackets: 1000})
		s = a.Poll(context.Background())
		time.Sleep(20 * time.Millisecond) // distinct poll times
	}
	for _, src := range state.Sources {
		if !s.Sources[src].Up {
			t.Errorf("source %s down: %s", src, s.Sources[src].Err)
		}
	}
	key := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"}
	if len(s.Detect.Active) != 1 || s.Detect.Active[0].FloodKey != key {
		t.Fatalf("active = %+v, want %+v", s.Detect.Active, key)
	}
	if r := s.Rules[key]; r.Table != 94 || r.Priority != 1 || r.Cookie != 0xe4fc1a92d440c578 {
		t.Errorf("rule = %+v", r)
	}
	if got := s.Detect.Flooded[detect.CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}].Bytes; got != 4*perPoll {
		t.Errorf("flooded bytes = %d, want %d (baseline excluded)", got, 4*perPoll)
	}
	p, ok := s.PortByName("tapvm2")
	if !ok || p.IfaceID != "port-vm2" || p.VLAN != 10 || p.Counters == nil || p.Counters.TxBytes != 5*perPoll {
		t.Errorf("tapvm2 = %+v (counters %+v)", p, p.Counters)
	}
	if len(s.Bridges) != 1 || s.Bridges[0].FDB == nil || s.Bridges[0].FDB.Max != 8192 || len(s.Bridges[0].NormalRules) != 1 {
		t.Errorf("bridges = %+v", s.Bridges)
	}
	if s.OVSVersion != "3.1.0" {
		t.Errorf("version = %q", s.OVSVersion)
	}
}

func TestPollSurvivesFailingSources(t *testing.T) {
	cases := []struct {
		name     string
		breakSrc func(r *readers)
		down     []string
		check    func(t *testing.T, s *state.Snapshot)
	}{
		{"ovs-vswitchd not running", func(r *readers) {
			r.unixctl.SetErr("dpif/show", fmt.Errorf("unixctl dpif/show: %w", unixctl.ErrNotRunning))
		}, []string{state.SourceUnixctl}, func(t *testing.T, s *state.Snapshot) {
			if !strings.Contains(s.Sources[state.SourceUnixctl].Err, "not running") {
				t.Errorf("error does not name the cause: %q", s.Sources[state.SourceUnixctl].Err)
			}
			if len(s.Ports) == 0 {
				t.Errorf("OVSDB ports must still be reported")
			}
		}},
		{"bridge vanished mid-poll", func(r *readers) {
			r.unixctl.SetErr("fdb/stats-show br-int", &unixctl.ServerError{Method: "fdb/stats-show", Message: "no such bridge"})
		}, nil, func(t *testing.T, s *state.Snapshot) {
			if s.Bridges[0].FDB != nil {
				t.Errorf("FDB of a vanished bridge: %+v", s.Bridges[0].FDB)
			}
		}},
		{"garbage flow dump", func(r *readers) {
			r.unixctl.SetReply("dpctl/dump-flows --names netdev@ovs-netdev", "\x00\x01 this is not a dump\n")
		}, []string{state.SourceUnixctl}, nil},
		{"OVSDB down", func(r *readers) {
			r.ovsdb = failing{errors.New("socket missing")}
		}, []string{state.SourceOVSDB}, func(t *testing.T, s *state.Snapshot) {
			if _, ok := s.PortByName("tapvm1"); !ok {
				t.Errorf("ports from dpif/show must still be reported")
			}
		}},
		{"OpenFlow refused", func(r *readers) {
			r.openflow = fakeOpenFlow{err: errors.New("permission denied")}
		}, []string{state.SourceOpenFlow}, nil},
		{"netlink failing", func(r *readers) {
			r.netlink.SetError(errors.New("netlink socket"))
		}, []string{state.SourceNetlink}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeReaders(t)
			tc.breakSrc(&r)
			store := &state.Store{}
			a := New(DefaultConfig(), r.sources(), nil, store)
			s := a.Poll(context.Background())
			if store.Load() != s {
				t.Fatal("snapshot not published")
			}
			down := map[string]bool{}
			for _, d := range tc.down {
				down[d] = true
			}
			for _, name := range state.Sources {
				if got := s.Sources[name].Up; got == down[name] {
					t.Errorf("source %s up=%v, want %v (err %q)", name, got, !down[name], s.Sources[name].Err)
				}
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestBoundedStrategyAboveMaxFlows(t *testing.T) {
	r := fakeReaders(t)
	v := r.unixctl
	cfg := DefaultConfig()
	cfg.MaxFlows = 1 // the capture has 2 flows
	cfg.BoundedPorts = 2
	filtered := floodDump(t, 10, 1000)
	for _, p := range []string{"br-int", "tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"} {
		v.SetReply("dpctl/dump-flows --names netdev@ovs-netdev filter=in_port="+p, filtered)
	}
	v.SetErr("dpctl/dump-flows --names netdev@ovs-netdev", errors.New("an unbounded dump must not be issued"))
	a := New(cfg, r.sources(), nil, &state.Store{})
	s := a.Poll(context.Background())
	if !s.Sources[state.SourceUnixctl].Up {
		t.Fatalf("unixctl down: %s", s.Sources[state.SourceUnixctl].Err)
	}
	if len(s.Datapaths) != 1 || !s.Datapaths[0].Bounded {
		t.Fatalf("datapaths = %+v, want bounded", s.Datapaths)
	}
	var dumps int
	for _, c := range v.Calls {
		if strings.HasPrefix(c, "dpctl/dump-flows") {
			dumps++
			if !strings.Contains(c, "filter=in_port=") {
				t.Errorf("unfiltered dump issued: %s", c)
			}
		}
	}
	if dumps != cfg.BoundedPorts {
		t.Errorf("%d filtered dumps, want %d", dumps, cfg.BoundedPorts)
	}
}
