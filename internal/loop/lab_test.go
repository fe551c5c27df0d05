package loop

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest/rawframe"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// loopLab is one lab/loop.sh lab.
type loopLab struct {
	*labtest.Lab
	t *testing.T
}

func upLoopLab(t *testing.T, name string) *loopLab {
	t.Helper()
	return &loopLab{Lab: labtest.UpLoop(t, name), t: t}
}

func (l *loopLab) must(cmd string, args ...string) { l.MustRun(cmd, args...) }

// arp sends one broadcast ARP request from netns ns's device dev.
func (l *loopLab) arp(ns, dev, srcIP, target string) {
	l.t.Helper()
	s, err := rawframe.Open(ns, dev)
	if err != nil {
		l.t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Send(rawframe.ARPRequest(s.MAC, net.ParseIP(srcIP), net.ParseIP(target))); err != nil {
		l.t.Fatal(err)
	}
}

// udp sends UDP frames from netns ns at rate frames per second for d, from
// src (nil: the device's own MAC) to dst.
func (l *loopLab) udp(ns string, src, dst net.HardwareAddr, srcIP, dstIP string, rate int, d time.Duration) int {
	l.t.Helper()
	s, err := rawframe.Open(ns, "eth0")
	if err != nil {
		l.t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if src == nil {
		src = s.MAC
	}
	f := rawframe.UDPFrame(src, dst, net.ParseIP(srcIP), net.ParseIP(dstIP), 1000)
	n, err := s.Paced(rate, d, func(int) ([]byte, error) { return f, nil })
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

func (l *loopLab) vsctl(args ...string) {
	l.t.Helper()
	c := exec.Command("ovs-vsctl", append([]string{"--db=unix:" + l.RunDir + "/db.sock"}, args...)...)
	if out, err := c.CombinedOutput(); err != nil {
		l.t.Fatalf("ovs-vsctl %v: %v: %s", args, err, out)
	}
}

func (l *loopLab) linkMAC(dev string) net.HardwareAddr {
	l.t.Helper()
	var m net.HardwareAddr
	err := labtest.InNetns(l.Name, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			m = ifi.HardwareAddr
		}
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return m
}

// reader polls a lab's vswitchd the way the agent does, over one kept
// unixctl connection: the stats of every bridge and the megaflows each
// poll, a MAC table only when the Tracker asks for it.
type reader struct {
	t        *testing.T
	v        ovs.Vswitchd
	tr       *Tracker
	counter  Counter
	stats    map[string]ovs.FDBStats
	last     time.Time
	attached []PortMAC
	local    map[string]net.HardwareAddr
	fdbReads int
}

func newReader(t *testing.T, l *loopLab, attached []PortMAC) *reader {
	c := unixctl.New(l.RunDir, unixctl.Options{})
	t.Cleanup(func() { _ = c.Close() })
	return &reader{t: t, v: ovs.NewVswitchd(c), tr: NewTracker(Config{}), attached: attached,
		local: map[string]net.HardwareAddr{"br-ex": l.linkMAC("br-ex")}}
}

// poll reads once and returns the verdict per bridge and the interval's flows.
func (r *reader) poll() (map[string]State, Flows, map[string]ovs.FDBTable) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dps, err := r.v.DpifShow(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	ports := NewPorts(dps)
	mf, err := r.v.DumpFlows(ctx, "netdev@ovs-netdev")
	if err != nil {
		r.t.Fatal(err)
	}
	now := time.Now()
	flows := r.counter.Flows(mf, ports)
	interval := now.Sub(r.last)
	first := r.last.IsZero()
	r.last = now
	st := FindStations(r.attached, flows)
	states, tables := map[string]State{}, map[string]ovs.FDBTable{}
	next := map[string]ovs.FDBStats{}
	for _, b := range []string{"br-int", "br-ex"} {
		s, err := r.v.FDBStats(ctx, b)
		if err != nil {
			r.t.Fatal(err)
		}
		next[b] = s
		if first {
			continue
		}
		prev := r.stats[b]
		in := BridgeInput{Bridge: b, Interval: interval, Moved: s.Moved - prev.Moved, Flows: flows,
			Stations: st, Attached: r.attached, LocalMAC: r.local[b], Ports: ports}
		if r.tr.WantFDB(b, in.Moved, interval, Pressure(&prev, s)) {
			tb, err := r.v.FDBShow(ctx, b)
			if err != nil {
				r.t.Fatal(err)
			}
			in.FDB, tables[b] = &tb, tb
			r.fdbReads++
		}
		states[b] = r.tr.Observe(in, now)
	}
	r.stats = next
	return states, flows, tables
}

func (r *reader) polls(n int, every time.Duration) []map[string]State {
	var out []map[string]State
	for i := 0; i < n; i++ {
		time.Sleep(every)
		s, _, _ := r.poll()
		out = append(out, s)
	}
	return out
}

var vmMACs = []PortMAC{
	{Bridge: "br-int", Port: "tapvm1", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}},
	{Bridge: "br-int", Port: "tapvm2", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}},
	{Bridge: "br-int", Port: "tapvm3", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 3}},
}

// TestLabLoop: br-int and br-ex joined by one link take the same
// broadcasts (from a VM and from br-ex's own host stack) silently; with a
// second link they storm, the loop is found on both bridges through the
// two links only, br-ex's own MAC shows up on a link; cutting the second
// link clears it.
func TestLabLoop(t *testing.T) {
	l := upLoopLab(t, "lp")
	r := newReader(t, l, vmMACs)
	r.poll()
	// Twin: one link, the same broadcasts.
	l.arp(l.Name+"-vm1", "eth0", "10.0.0.1", "10.0.0.200")
	l.arp(l.Name, "br-ex", "10.0.0.254", "10.0.0.201")
	for i, s := range r.polls(3, time.Second) {
		for b, st := range s {
			if st.Active || len(st.Ports) > 0 || st.Storm {
				t.Errorf("one link, poll %d: %s flagged: %+v", i, b, st)
			}
		}
	}
	if r.fdbReads != 0 {
		t.Errorf("calm bridges: %d fdb/show reads, want none", r.fdbReads)
	}
	// The loop.
	l.must("link2")
	l.arp(l.Name+"-vm1", "eth0", "10.0.0.1", "10.0.0.200")
	l.arp(l.Name, "br-ex", "10.0.0.254", "10.0.0.201")
	var last map[string]State
	for _, s := range r.polls(4, time.Second) {
		last = s
	}
	want := map[string][]string{"br-int": {"int-ex1", "int-ex2"}, "br-ex": {"ex-int1", "ex-int2"}}
	for b, ports := range want {
		st := last[b]
		t.Logf("%s: moves %.0f/s broadcast %.0f pps flaps %v self %v port moves %v", b, st.MovesPerSec, st.BroadcastPPS, st.Flaps, st.Self, st.PortMoves)
		if !st.Active || !slices.Equal(st.LoopPorts, ports) {
			t.Errorf("%s: active %v loop ports %v, want %v", b, st.Active, st.LoopPorts, ports)
		}
		if len(st.PortMoves) == 0 {
			t.Errorf("%s: no moves charged to a port", b)
		}
	}
	if s := last["br-ex"].Self; s == nil || s.MAC != r.local["br-ex"].String() || !strings.HasPrefix(s.Port, "ex-int") {
		t.Errorf("br-ex's own MAC on a link: %+v", s)
	}
	if r.fdbReads == 0 {
		t.Error("storm: fdb/show never read")
	}
	// Cut the second link: the storm stops and the verdict clears within
	// ClearPolls polls of the own-MAC entry's last refresh.
	l.must("unlink2")
	for _, s := range r.polls(4, time.Second)[3:] {
		for b, st := range s {
			if st.Active {
				t.Errorf("after the cut: %s still active: %+v", b, st)
			}
		}
	}
}

// TestLabStation: traffic to a VM port whose attached MAC has the group bit
// set is a flood charged to every other port; the same traffic to a learned
// unicast MAC is not.
func TestLabStation(t *testing.T) {
	l := upLoopLab(t, "st")
	r := newReader(t, l, vmMACs)
	vm1, vm3 := l.Name+"-vm1", l.Name+"-vm3"
	station := net.HardwareAddr{0x91, 0x92, 0xac, 0x18, 0x04, 0xc8}
	send := func(dst net.HardwareAddr) Flows {
		r.poll()
		l.udp(vm1, nil, dst, "10.0.0.1", "10.0.0.3", 500, 2*time.Second)
		_, flows, _ := r.poll()
		return flows
	}
	// Twin: vm3 said hello, so its MAC is learned.
	l.udp(vm3, nil, vmMACs[0].MAC, "10.0.0.3", "10.0.0.1", 10, 100*time.Millisecond)
	flows := send(vmMACs[2].MAC)
	st := FindStations(vmMACs, flows)
	if got := StationFloods(flows, st); len(got) != 0 || len(st.List()) != 0 {
		t.Errorf("unicast twin: stations %+v floods %+v", st.List(), got)
	}
	// The station.
	l.vsctl("set", "interface", "tapvm3", "external_ids:attached-mac="+station.String())
	attached := append(slices.Clone(vmMACs[:2]), PortMAC{Bridge: "br-int", Port: "tapvm3", MAC: station})
	flows = send(station)
	st = FindStations(attached, flows)
	floods := StationFloods(flows, st)
	var found bool
	for _, f := range floods {
		if f.Bridge != "br-int" || f.InPort != "tapvm1" {
			continue
		}
		found = true
		if slices.Contains(f.Victims, "tapvm3") || !slices.Contains(f.Victims, "tapvm2") {
			t.Errorf("victims %v: want tapvm2 and never the station's tapvm3", f.Victims)
		}
		if f.Packets < 500 {
			t.Errorf("flooded %d packets of ~1000 sent", f.Packets)
		}
	}
	if !found {
		t.Errorf("no station flood from tapvm1: %+v", floods)
	}
}

// TestLabFDBPressure: a VM sending from random source MACs at 2,000 frames
// a second fills a 64-entry table; the table is read and the VM's port holds
// the most entries. The same stream alone puts no pressure on it.
func TestLabFDBPressure(t *testing.T) {
	l := upLoopLab(t, "mf")
	l.must("tablesize", "64")
	l.udp(l.Name+"-vm2", nil, net.HardwareAddr{2, 0, 0, 0, 0, 0x64}, "10.0.0.2", "10.0.0.100", 10, 100*time.Millisecond)
	r := newReader(t, l, vmMACs)
	r.poll()
	stream := make(chan error, 1)
	go func() { _, err := l.Run("stream", "8", "5M"); stream <- err }()
	for i := 0; i < 2; i++ {
		time.Sleep(time.Second)
		if _, _, tables := r.poll(); len(tables) != 0 {
			t.Errorf("stream alone: MAC tables read %v", tables)
		}
	}
	s, err := rawframe.Open(l.Name+"-vm1", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 0x64}
	flood := make(chan int, 1)
	go func() {
		n, _ := s.Paced(2000, 4*time.Second, func(int) ([]byte, error) {
			m, err := rawframe.RandomMAC()
			return rawframe.UDPFrame(m, dst, net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.100"), 18), err
		})
		flood <- n
	}()
	var top string
	for i := 0; i < 3; i++ {
		time.Sleep(time.Second)
		_, _, tables := r.poll()
		if tb, ok := tables["br-int"]; ok {
			dps, _ := r.v.DpifShow(context.Background())
			top, _ = Top(PortEntries(tb, "br-int", NewPorts(dps)))
		}
	}
	n := <-flood
	t.Logf("sent %d random-source frames in 4 s", n)
	if n < 7000 {
		t.Errorf("sent %d frames, want ~8000 (2,000/s)", n)
	}
	if top != "tapvm1" {
		t.Errorf("port filling the table = %q, want tapvm1", top)
	}
	if err := <-stream; err != nil {
		t.Errorf("stream: %v", err)
	}
}
