package agent

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest/rawframe"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// The labs of lab/loop.sh: br-int (tapvm1..3) and br-ex (ext, LOCAL
// 10.0.0.254) joined by int-ex1/ex-int1, and a second link on demand.

func sendARP(t *testing.T, ns, dev, srcIP, target string) {
	t.Helper()
	s, err := rawframe.Open(ns, dev)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Send(rawframe.ARPRequest(s.MAC, net.ParseIP(srcIP), net.ParseIP(target))); err != nil {
		t.Fatal(err)
	}
}

// sendUDP sends UDP frames from ns at rate frames per second for d, from
// the device's MAC (or a random one per frame) to dst, in the background.
func sendUDP(t *testing.T, ns string, dst net.HardwareAddr, srcIP, dstIP string, rate int, d time.Duration, randomSrc bool) <-chan int {
	t.Helper()
	s, err := rawframe.Open(ns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		defer func() { _ = s.Close() }()
		fixed := rawframe.UDPFrame(s.MAC, dst, net.ParseIP(srcIP), net.ParseIP(dstIP), 1000)
		n, _ := s.Paced(rate, d, func(int) ([]byte, error) {
			if !randomSrc {
				return fixed, nil
			}
			m, err := rawframe.RandomMAC()
			return rawframe.UDPFrame(m, dst, net.ParseIP(srcIP), net.ParseIP(dstIP), 18), err
		})
		done <- n
	}()
	return done
}

func pollEvery(a *Agent, n int, every time.Duration) []*state.Snapshot {
	var out []*state.Snapshot
	for i := 0; i < n; i++ {
		time.Sleep(every)
		out = append(out, a.Poll(context.Background()))
	}
	return out
}

func checkText(t *testing.T, first, last *state.Snapshot) (string, int) {
	t.Helper()
	r := report.Build(first, last)
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String(), r.ExitCode()
}

func loopPorts(s *state.Snapshot) map[string][]string {
	out := map[string][]string{}
	if s.L2 != nil {
		for _, l := range s.L2.Loops {
			out[l.Bridge] = l.LoopPorts
		}
	}
	return out
}

// TestLabAgentLoop: the agent stays silent while one link carries the
// broadcasts, names the loop's ports on both bridges with a second link,
// charges the MAC moves to the links and clears the loop once it is cut.
func TestLabAgentLoop(t *testing.T) {
	l := labtest.UpLoop(t, "al")
	a, _ := labAgent(t, l)
	a.Poll(context.Background())
	sendARP(t, l.Name+"-vm1", "eth0", "10.0.0.1", "10.0.0.200")
	sendARP(t, l.Name, "br-ex", "10.0.0.254", "10.0.0.201")
	twin := pollEvery(a, 3, time.Second)
	for _, s := range twin {
		if p := loopPorts(s); len(p) != 0 {
			t.Errorf("one link: loop reported %v", p)
		}
	}
	if out, code := checkText(t, twin[0], twin[2]); code != report.ExitClean || strings.Contains(out, "L2 LOOP") {
		t.Errorf("one link: check exit %d:\n%s", code, out)
	}

	l.MustRun("link2")
	sendARP(t, l.Name+"-vm1", "eth0", "10.0.0.1", "10.0.0.200")
	sendARP(t, l.Name, "br-ex", "10.0.0.254", "10.0.0.201")
	storm := pollEvery(a, 4, time.Second)
	last := storm[len(storm)-1]
	want := map[string][]string{"br-int": {"int-ex1", "int-ex2"}, "br-ex": {"ex-int1", "ex-int2"}}
	if got := loopPorts(last); !equalPorts(got, want) {
		t.Errorf("loop ports = %v, want %v", got, want)
	}
	moves, bcast := map[string]uint64{}, map[string]uint64{}
	for _, m := range last.L2.PortMoves {
		moves[m.Port] = m.Value
	}
	for _, b := range last.L2.Broadcast {
		bcast[b.Port] = b.Packets
	}
	for _, p := range []string{"int-ex1", "int-ex2", "ex-int1", "ex-int2"} {
		if moves[p] == 0 || bcast[p] < 100 {
			t.Errorf("%s: %d moves, %d broadcasts charged", p, moves[p], bcast[p])
		}
	}
	if moves["tapvm1"] != 0 || moves["ext"] != 0 {
		t.Errorf("moves charged to the senders: %v", moves)
	}
	out, code := checkText(t, storm[0], last)
	t.Logf("check during the storm:\n%s", out)
	if code != report.ExitFlooding || !strings.Contains(out, "L2 LOOP on br-ex through ex-int1, ex-int2") ||
		!strings.Contains(out, "rstp_enable=true") || !strings.Contains(out, "own MAC") {
		t.Errorf("check exit %d, output lacks the loop, its fix or br-ex's own MAC", code)
	}

	l.MustRun("unlink2")
	after := pollEvery(a, 4, time.Second)
	if p := loopPorts(after[len(after)-1]); len(p) != 0 {
		t.Errorf("after the cut: loop still reported %v", p)
	}
}

func equalPorts(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestLabAgentStation: traffic to a port whose attached MAC has the group
// bit set is an active flood to that MAC charged to the other VM, never to
// the station; the same traffic to vm3's learned unicast MAC is nothing.
func TestLabAgentStation(t *testing.T) {
	l := labtest.UpLoop(t, "as")
	a, _ := labAgent(t, l)
	vm1, vm3 := l.Name+"-vm1", l.Name+"-vm3"
	vm3MAC := net.HardwareAddr{2, 0, 0, 0, 0, 3}
	<-sendUDP(t, vm3, net.HardwareAddr{2, 0, 0, 0, 0, 1}, "10.0.0.3", "10.0.0.1", 10, 100*time.Millisecond, false)
	a.Poll(context.Background())
	done := sendUDP(t, vm1, vm3MAC, "10.0.0.1", "10.0.0.3", 1000, 5*time.Second, false)
	twin := pollEvery(a, 4, time.Second)
	<-done
	if act := twin[len(twin)-1].Detect.Active; len(act) != 0 {
		t.Errorf("unicast twin: active floods %+v", act)
	}

	const station = "91:92:ac:18:04:c8"
	if _, err := l.Vsctl("set", "interface", "tapvm3", "external_ids:attached-mac="+station); err != nil {
		t.Fatal(err)
	}
	dst, _ := net.ParseMAC(station)
	a.Poll(context.Background())
	done = sendUDP(t, vm1, dst, "10.0.0.1", "10.0.0.3", 1000, 6*time.Second, false)
	polls := pollEvery(a, 5, time.Second)
	<-done
	last := polls[len(polls)-1]
	var found bool
	for _, f := range last.Detect.Active {
		if f.InPort != "tapvm1" || f.DstMAC != station {
			continue
		}
		found = true
		for _, v := range f.Victims {
			if v.Port == "tapvm3" {
				t.Errorf("the station is charged copies: %+v", f.Victims)
			}
		}
		if len(f.Victims) == 0 || f.Victims[0].Port != "tapvm2" {
			t.Errorf("victims %+v, want tapvm2", f.Victims)
		}
	}
	if !found {
		t.Fatalf("no active flood tapvm1 -> %s: %+v", station, last.Detect.Active)
	}
	out, code := checkText(t, polls[0], last)
	t.Logf("check:\n%s", out)
	if code != report.ExitFlooding || !strings.Contains(out, "STATION tapvm3 on br-int, MAC "+station) {
		t.Errorf("check exit %d, output lacks the station", code)
	}
}

// TestLabAgentFDBPressure: a VM sending from random source MACs at 2,000
// frames a second into a 64-entry table is named as the port filling it,
// while the agent keeps polling on time through the megaflow explosion
// with flat memory; the stream alone puts no pressure on the table.
func TestLabAgentFDBPressure(t *testing.T) {
	l := labtest.UpLoop(t, "am")
	l.MustRun("tablesize", "64")
	a, _ := labAgent(t, l)
	ext := net.HardwareAddr{2, 0, 0, 0, 0, 0x64}
	stream := sendUDP(t, l.Name+"-vm2", ext, "10.0.0.2", "10.0.0.100", 500, 14*time.Second, false)
	a.Poll(context.Background())
	for _, s := range pollEvery(a, 2, time.Second) {
		if s.L2 == nil || len(s.L2.Tables) != 0 {
			t.Errorf("stream alone: tables read %+v", s.L2)
		}
	}
	flood := sendUDP(t, l.Name+"-vm1", ext, "10.0.0.1", "10.0.0.100", 2000, 10*time.Second, true)
	var heap []uint64
	var slowest time.Duration
	var top string
	for i := 0; i < 9; i++ {
		time.Sleep(time.Second)
		start := time.Now()
		s := a.Poll(context.Background())
		if d := time.Since(start); d > slowest {
			slowest = d
		}
		if s.L2 != nil {
			for _, tb := range s.L2.Tables {
				if tb.Bridge == "br-int" {
					top = tb.Top
				}
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = append(heap, ms.HeapInuse)
	}
	n := <-flood
	<-stream
	t.Logf("sent %d random-source frames; slowest poll %v; heap in use per poll %v", n, slowest, heap)
	if n < 18000 {
		t.Errorf("sent %d frames in 10 s, want ~20,000", n)
	}
	if top != "tapvm1" {
		t.Errorf("port filling br-int's table = %q, want tapvm1", top)
	}
	if slowest > time.Second {
		t.Errorf("a poll took %v during the megaflow explosion, longer than the 1 s interval", slowest)
	}
	if heap[len(heap)-1] > 2*heap[2]+16<<20 {
		t.Errorf("heap grew from %d to %d bytes during the MAC flood", heap[2], heap[len(heap)-1])
	}
}
