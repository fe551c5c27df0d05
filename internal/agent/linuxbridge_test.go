package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge/linuxbridgetest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Ifindexes and MACs of the captured Linux-bridge lab (lab/linuxbridge.sh).
const (
	lbVnet1, lbVnet2, lbVnet3, lbUplink = 3, 4, 5, 6
)

var (
	lbVM1 = mustLBMAC("02:00:00:00:01:01")
	lbExt = mustLBMAC("02:00:00:00:01:64")
)

func mustLBMAC(s string) linuxbridge.MAC {
	m, err := linuxbridge.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// noOVS breaks every OVS source the way a host without OVS does.
func noOVS(r *readers) {
	r.unixctl.SetErr("dpif/show", fmt.Errorf("unixctl dpif/show: %w", unixctl.ErrNotRunning))
	r.ovsdb = failing{errors.New("dial unix /var/run/openvswitch/db.sock: no such file or directory")}
	r.openflow = fakeOpenFlow{err: errors.New("no such file or directory")}
}

// lbSource wires the linuxbridge source over fakes fed with the lab's
// captured topology.
func lbSource(t *testing.T, openErr error, bridges ...string) (Source, *linuxbridgetest.Frames, *linuxbridgetest.Reader) {
	t.Helper()
	topo, err := linuxbridgetest.LabTopology()
	if err != nil {
		t.Fatal(err)
	}
	r := linuxbridgetest.NewReader(topo)
	frames := linuxbridgetest.NewFrames()
	open := func() (linuxbridge.FrameCounter, error) {
		if openErr != nil {
			return nil, openErr
		}
		return frames, nil
	}
	return NewLinuxBridge(r, open, linuxbridge.WatchOptions{LibvirtDir: t.TempDir(), Bridges: bridges}, deadline), frames, r
}

// TestLinuxBridgeFloodWithoutOVS is the host: no OVS at all, br0
// with vnet1..3 and an uplink that does not learn; vm1 sends to the
// external host and br0 copies every frame to vnet2, vnet3 and the uplink.
// The flood comes out of the same families as on OVS, the OVS sources are
// down and nothing else breaks.
func TestLinuxBridgeFloodWithoutOVS(t *testing.T) {
	r := fakeReaders(t)
	noOVS(&r)
	lb, frames, _ := lbSource(t, nil)
	cfg := DefaultConfig()
	a := New(cfg, append(r.sources(), lb), nil, &state.Store{})
	const perPoll = 1000
	var s *state.Snapshot
	for i := 0; i < 5; i++ {
		for _, port := range []int{lbVnet2, lbVnet3, lbUplink} {
			frames.Add(linuxbridge.Count{Ifindex: port, Src: lbVM1, Dst: lbExt, Packets: perPoll, Bytes: perPoll * 1442})
		}
		s = a.Poll(context.Background())
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.Sources[state.SourceLinuxBridge]; !st.Up {
		t.Fatalf("linuxbridge down: %s", st.Err)
	}
	if s.Sources[state.SourceUnixctl].Up || s.Sources[state.SourceOVSDB].Up {
		t.Errorf("OVS sources up without OVS: %+v", s.Sources)
	}
	key := detect.FloodKey{Bridge: "br0", InPort: "vnet1", VLAN: 0, DstMAC: "02:00:00:00:01:64"}
	if len(s.Detect.Active) != 1 || s.Detect.Active[0].FloodKey != key {
		t.Fatalf("active floods %+v, want %+v", s.Detect.Active, key)
	}
	var victims []string
	for _, v := range s.Detect.Active[0].Victims {
		victims = append(victims, v.Port)
	}
	if fmt.Sprint(victims) != "[vnet2 vnet3]" {
		t.Errorf("victims %v, want [vnet2 vnet3] (the uplink leads on to the destination)", victims)
	}
	if got := s.Detect.Flooded[detect.CounterKey{Bridge: "br0", InPort: "vnet1", VLAN: 0}].Bytes; got != 4*perPoll*1442 {
		t.Errorf("flooded bytes %d, want %d (the first poll is the baseline)", got, 4*perPoll*1442)
	}
	p, ok := s.PortByName("vnet2")
	if !ok || p.Bridge != "br0" || p.OFPort != 2 || p.AttachedMAC != "02:00:00:00:01:02" || p.Counters == nil {
		t.Errorf("vnet2 = %+v", p)
	}
	if up, _ := s.PortByName("uplink"); up.AttachedMAC != "" || up.IfaceID != "" {
		t.Errorf("uplink has a VM identity: %+v", up)
	}
	var br state.Bridge
	for _, b := range s.Bridges {
		if b.Name == "br0" {
			br = b
		}
	}
	if br.DatapathType != DatapathLinuxBridge || fmt.Sprint(br.LearningOff) != "[uplink]" || br.FDB == nil || br.FDB.Entries != 3 {
		t.Errorf("br0 = %+v (fdb %+v)", br, br.FDB)
	}

	rep := report.Build(s, s)
	if rep.Status != "flooding" || len(rep.Floods) != 1 {
		t.Fatalf("check: status %s, floods %+v", rep.Status, rep.Floods)
	}
	for _, want := range []string{"Learning is off on uplink", "bridge link set dev uplink learning on", "bridge fdb add 02:00:00:00:01:64 dev uplink master static"} {
		if !strings.Contains(rep.Floods[0].Fix, want) {
			t.Errorf("fix %q lacks %q", rep.Floods[0].Fix, want)
		}
	}
}

// TestLinuxBridgeBenign feeds the twins: learned unicast to vm2, a few
// frames flooded before vm3 was learned: nothing is reported.
func TestLinuxBridgeBenign(t *testing.T) {
	r := fakeReaders(t)
	noOVS(&r)
	lb, frames, _ := lbSource(t, nil)
	a := New(DefaultConfig(), append(r.sources(), lb), nil, &state.Store{})
	vm2, vm3 := mustLBMAC("02:00:00:00:01:02"), mustLBMAC("02:00:00:00:01:03")
	var s *state.Snapshot
	for i := 0; i < 5; i++ {
		frames.Add(linuxbridge.Count{Ifindex: lbVnet2, Src: lbVM1, Dst: vm2, Packets: 5000, Bytes: 5000 * 1442})
		if i == 0 { // flooded before vm3 answered; vm3 is in the FDB now
			for _, port := range []int{lbVnet2, lbUplink} {
				frames.Add(linuxbridge.Count{Ifindex: port, Src: lbVM1, Dst: vm3, Packets: 2, Bytes: 2 * 60})
			}
		}
		s = a.Poll(context.Background())
		time.Sleep(20 * time.Millisecond)
	}
	if len(s.Detect.Active) != 0 || len(s.Detect.Flooded) != 0 {
		t.Errorf("benign traffic reported: active %+v flooded %+v", s.Detect.Active, s.Detect.Flooded)
	}
}

// TestLinuxBridgeFaults: a missing privilege or a failing reader takes
// the linuxbridge source down with an error naming the fix, and the OVS
// sources keep working; a host without Linux bridges loads nothing.
func TestLinuxBridgeFaults(t *testing.T) {
	t.Run("missing privilege", func(t *testing.T) {
		r := fakeReaders(t)
		// The OVS fakes have a port called uplink too: name br0, or the
		// default rule takes it for a bridge OVS owns.
		lb, _, _ := lbSource(t, fmt.Errorf("%w: needs CAP_BPF and CAP_NET_ADMIN (install the systemd drop-in deploy/systemd/%s)",
			linuxbridge.ErrObserverUnsupported, linuxbridge.DropIn), "br0")
		s := New(DefaultConfig(), append(r.sources(), lb), nil, &state.Store{}).Poll(context.Background())
		if st := s.Sources[state.SourceLinuxBridge]; st.Up || !strings.Contains(st.Err, linuxbridge.DropIn) {
			t.Errorf("linuxbridge %+v, want down naming the drop-in", st)
		}
		for _, name := range state.Sources {
			if !s.Sources[name].Up {
				t.Errorf("%s down because linuxbridge is: %s", name, s.Sources[name].Err)
			}
		}
	})
	t.Run("reader failing, then bridge gone", func(t *testing.T) {
		r := fakeReaders(t)
		lb, frames, lr := lbSource(t, nil)
		a := New(DefaultConfig(), append(r.sources(), lb), nil, &state.Store{})
		a.Poll(context.Background())
		lr.SetError(errors.New("netlink: no buffer space"))
		if s := a.Poll(context.Background()); s.Sources[state.SourceLinuxBridge].Up {
			t.Error("reader failure not reported")
		}
		lr.SetError(nil)
		lr.Set(linuxbridge.Topology{})
		s := a.Poll(context.Background())
		if !s.Sources[state.SourceLinuxBridge].Up || frames.Attached(lbVnet1) {
			t.Errorf("bridge gone: source %+v, vnet1 still observed %v", s.Sources[state.SourceLinuxBridge], frames.Attached(lbVnet1))
		}
	})
	t.Run("no Linux bridge", func(t *testing.T) {
		r := fakeReaders(t)
		lb, _, lr := lbSource(t, errors.New("must not be opened"))
		lr.Set(linuxbridge.Topology{})
		s := New(DefaultConfig(), append(r.sources(), lb), nil, &state.Store{}).Poll(context.Background())
		if st := s.Sources[state.SourceLinuxBridge]; !st.Up {
			t.Errorf("nothing to watch, yet down: %s", st.Err)
		}
	})
}
