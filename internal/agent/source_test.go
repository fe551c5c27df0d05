package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/ovstest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// hungOVSDB is an ovsdb-server that accepts requests and never answers.
type hungOVSDB struct{}

func (hungOVSDB) Topology(ctx context.Context) (ovsdb.Topology, error) {
	<-ctx.Done()
	return ovsdb.Topology{}, ctx.Err()
}

func (hungOVSDB) CurCfg(ctx context.Context) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (hungOVSDB) Close() error { return nil }

// hungNetlink is a netlink socket that never answers.
type hungNetlink struct{}

func (hungNetlink) Devices(ctx context.Context) (map[string]netdev.Device, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A source that hangs is down alone: the others are read, under their own
// deadlines, in the same poll.
func TestHungSourceIsDownAlone(t *testing.T) {
	const short = 50 * time.Millisecond
	cases := []struct {
		name string
		hang func(r readers) []Source
		down string
	}{
		{"ovsdb-server hangs", func(r readers) []Source {
			return []Source{NewOVSDB(hungOVSDB{}, deadline, short), NewUnixctl(r.unixctl, deadline),
				NewOpenFlow(r.openflow, deadline), NewNetlink(r.netlink, deadline, nil), NewFDB(loop.Config{}, deadline),
				NewOVN(noOVN, deadline)}
		}, state.SourceOVSDB},
		{"netlink hangs", func(r readers) []Source {
			return []Source{NewOVSDB(r.ovsdb, deadline, deadline), NewUnixctl(r.unixctl, deadline),
				NewOpenFlow(r.openflow, deadline), NewNetlink(hungNetlink{}, short, nil), NewFDB(loop.Config{}, deadline),
				NewOVN(noOVN, deadline)}
		}, state.SourceNetlink},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeReaders(t)
			a := New(DefaultConfig(), tc.hang(r), nil, &state.Store{})
			s := a.Poll(context.Background())
			for _, name := range state.Sources {
				st := s.Sources[name]
				if name == tc.down {
					if st.Up || !strings.Contains(st.Err, "deadline") {
						t.Errorf("%s: up=%v err=%q, want down with a deadline error", name, st.Up, st.Err)
					}
					continue
				}
				if !st.Up {
					t.Errorf("%s down in the same poll: %s", name, st.Err)
				}
			}
			if len(s.Bridges) != 1 || s.Bridges[0].FDB == nil {
				t.Errorf("bridges not read: %+v", s.Bridges)
			}
		})
	}
}

// An error anywhere in the unixctl read must not mark the megaflow dump
// complete (which makes the detector forget the flows it did not see and
// count their whole lifetime again on the next poll).
func TestFailedReadKeepsFloodCountersExact(t *testing.T) {
	const perPoll = 1_000_000
	cases := []struct {
		name string
		key  string // the command that fails in the third poll
	}{
		{"dpif/show", "dpif/show"},
		{"dpctl/show", "dpctl/show -s netdev@ovs-netdev"},
		{"dpctl/dump-flows", "dpctl/dump-flows --names netdev@ovs-netdev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeReaders(t)
			v := r.unixctl
			a := New(DefaultConfig(), r.sources(), nil, &state.Store{})
			var s *state.Snapshot
			for i := uint64(1); i <= 4; i++ {
				v.SetReply("dpctl/dump-flows --names netdev@ovs-netdev", floodDump(t, i*1000, i*perPoll))
				if i == 3 {
					v.SetErr(tc.key, errors.New("vswitchd busy"))
				}
				s = a.Poll(context.Background())
				if i == 3 {
					if s.Sources[state.SourceUnixctl].Up {
						t.Fatal("unixctl up with a failing command")
					}
					delete(v.Errs, tc.key)
				}
			}
			// Polls 1..4 saw the megaflow at 1..4 × perPoll; the first is
			// the baseline, so 3 × perPoll were flooded.
			got := s.Detect.Flooded[detect.CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}]
			if got.Bytes != 3*perPoll || got.Packets != 3000 {
				t.Errorf("flooded = %+v, want %d bytes and 3000 packets", got, 3*perPoll)
			}
		})
	}
}

// lanSource is what a non-OVS source looks like (a Linux bridge, say):
// one file, its bridge and ports added to the poll.
type lanSource struct{}

func (lanSource) Name() string           { return "lan" }
func (lanSource) Timeout() time.Duration { return time.Second }
func (lanSource) Read(_ context.Context, p *Poll) error {
	p.AddBridge(state.Bridge{Name: "br0"})
	p.AddPort(state.Port{Bridge: "br0", Name: "vnet1", OFPort: -1, VLAN: -1, Device: "vnet1"})
	return nil
}

// With OVS absent every OVS source is down, and a source that does not
// need OVS still reads and publishes.
func TestSourceWorksWithOVSAbsent(t *testing.T) {
	nothing := ovstest.NewFake() // every command fails: no vswitchd
	sources := []Source{
		NewOVSDB(failing{errors.New("no such socket")}, deadline, deadline),
		NewUnixctl(nothing, deadline),
		NewOpenFlow(fakeOpenFlow{err: errors.New("no such socket")}, deadline),
		NewNetlink(fakeReaders(t).netlink, deadline, nil),
		lanSource{},
	}
	s := New(DefaultConfig(), sources, nil, &state.Store{}).Poll(context.Background())
	for name, up := range map[string]bool{state.SourceOVSDB: false, state.SourceUnixctl: false,
		state.SourceOpenFlow: true, state.SourceNetlink: true, "lan": true} {
		if s.Sources[name].Up != up {
			t.Errorf("%s up=%v, want %v (%s)", name, s.Sources[name].Up, up, s.Sources[name].Err)
		}
	}
	if len(s.Bridges) != 1 || s.Bridges[0].Name != "br0" {
		t.Errorf("bridges = %+v, want br0 only", s.Bridges)
	}
	if p, ok := s.PortByName("vnet1"); !ok || p.Bridge != "br0" {
		t.Errorf("vnet1 = %+v, %v", p, ok)
	}
}

// A source's state changes are logged once, not every poll.
func TestSourceStateChangesLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	r := fakeReaders(t)
	a := New(DefaultConfig(), r.sources(), zap.New(core), &state.Store{})
	r.netlink.SetError(errors.New("netlink socket"))
	for range 3 {
		a.Poll(context.Background())
	}
	r.netlink.SetError(nil)
	for range 2 {
		a.Poll(context.Background())
	}
	down := logs.FilterMessage("source unreadable").Len()
	up := logs.FilterMessage("source recovered").Len()
	if down != 1 || up != 1 {
		t.Errorf("logged %d down and %d recovered lines, want 1 and 1", down, up)
	}
}

func TestNetnsErrorsLoggedOncePerChange(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	var n NetnsErrors
	walk := func(failing ...string) {
		for _, ns := range failing {
			n.Report(ns, fmt.Errorf("setns %s: operation not permitted", ns))
		}
		n.settle(log)
	}
	walk("qrouter-1")
	walk("qrouter-1")
	walk("qrouter-1", "qdhcp-2")
	walk()
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message+" "+e.ContextMap()["netns"].(string))
	}
	want := []string{
		"network namespace unreadable: its devices' counters are missing qrouter-1",
		"network namespace unreadable: its devices' counters are missing qdhcp-2",
		"network namespace readable again (or gone) qdhcp-2",
		"network namespace readable again (or gone) qrouter-1",
	}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing log line %q in %q", w, got)
		}
	}
}

// The watchdog is fed while the poll loop moves, however long the poll
// interval: a 30 s interval is still progressing 25 s after a poll.
func TestProgressingIndependentOfInterval(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Interval = 30 * time.Second
	sources := fakeReaders(t).sources()
	a := New(cfg, sources, nil, &state.Store{})
	a.Poll(context.Background())
	now := time.Now()
	if !a.Progressing(now.Add(25 * time.Second)) {
		t.Error("not progressing 25 s after a poll with a 30 s interval")
	}
	stuck := now.Add(2*cfg.Interval + time.Duration(len(sources))*deadline + time.Second)
	if a.Progressing(stuck) {
		t.Error("still progressing long after the loop stopped moving")
	}
}
