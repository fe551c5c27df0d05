package detect

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// rawSender sends hand-made Ethernet frames from a lab VM's eth0.
type rawSender struct {
	fd   int
	addr syscall.SockaddrLinklayer
}

const labEtherType = 0x88b5 // IEEE local experimental: no stack answers it

func newRawSender(t *testing.T, netns string) *rawSender {
	t.Helper()
	s := &rawSender{}
	err := labtest.InNetns(netns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		// The socket stays in the VM's namespace after the thread leaves it.
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		var proto [2]byte
		binary.BigEndian.PutUint16(proto[:], labEtherType)
		s.fd = fd
		s.addr = syscall.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: binary.NativeEndian.Uint16(proto[:]), Halen: 6}
		return nil
	})
	if err != nil {
		t.Fatalf("raw socket in %s: %v", netns, err)
	}
	t.Cleanup(func() { _ = syscall.Close(s.fd) })
	return s
}

// send sends one 100-byte frame from src to dst.
func (s *rawSender) send(src, dst net.HardwareAddr) error {
	frame := make([]byte, 100)
	copy(frame, dst)
	copy(frame[6:], src)
	binary.BigEndian.PutUint16(frame[12:], labEtherType)
	if err := syscall.Sendto(s.fd, frame, 0, &s.addr); err != nil {
		return fmt.Errorf("send from %s: %w", src, err)
	}
	return nil
}

// dumpPort reads tapvm1's megaflows the way the bounded strategy does: a
// filtered dump of one in_port.
func dumpPort(t *testing.T, l *labtest.Lab, port string) []Flow {
	t.Helper()
	out, err := l.Appctl("dpctl/dump-flows", "-m", "netdev@ovs-netdev", "filter=in_port="+port)
	if err != nil {
		t.Fatalf("dump-flows: %v", err)
	}
	mf, err := ovs.ParseDumpFlows(out)
	if err != nil {
		t.Fatalf("parse dump-flows: %v", err)
	}
	flows := make([]Flow, 0, len(mf.Flows))
	for _, m := range mf.Flows {
		f := Flow{Key: "netdev@ovs-netdev/" + m.UFID, InPort: m.InPort, Src: m.EthSrc, Dst: m.EthDst,
			Packets: m.Packets, Bytes: m.Bytes}
		for _, o := range m.Outputs {
			f.Outputs = append(f.Outputs, Output{Port: o.Port, VLAN: o.VLAN, Tunnel: o.TunnelDst})
		}
		flows = append(flows, f)
	}
	return flows
}

// TestLabBoundedModeForgetsIdleMegaflows runs the megaflow explosion on
// real OVS: a VM sends from new source MACs every poll (one megaflow each,
// flooded because the destination is the seed-000 external host that is
// never learned), those megaflows idle out, and only tapvm1 is dumped, as in
// bounded mode. Meanwhile the VM floods steadily from its own MAC. The
// detector must remember no more megaflows than the last dump shows and
// count the steady flood, never more than was sent.
func TestLabBoundedModeForgetsIdleMegaflows(t *testing.T) {
	l := labtest.Up(t, "dt1")
	// Megaflows idle out after 0.5 s instead of 10 s, so a short test sees
	// many generations of them; the steady flood keeps its megaflow alive.
	if _, err := l.Vsctl("set", "Open_vSwitch", ".", "other_config:max-idle=500"); err != nil {
		t.Fatal(err)
	}
	tx := newRawSender(t, l.Name+"-vm1")
	ext, vm1 := mac(extMAC), mac(vm1MAC)
	const polls, perPoll, frame = 10, 150, 100

	var steady atomic.Uint64 // steady frames sent
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := tx.send(vm1, ext); err != nil {
					t.Error(err)
					return
				}
				steady.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	time.Sleep(300 * time.Millisecond) // the steady megaflow is installed

	d := New(DefaultConfig())
	distinct := map[string]bool{}
	var res Result
	var before, after uint64 // steady frames sent around the first and last dumps
	for i := 0; i < polls; i++ {
		for j := 0; j < perPoll; j++ {
			if err := tx.send(net.HardwareAddr{0x02, 0xee, 0, byte(i), byte(j >> 8), byte(j)}, ext); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond) // installed
		s0 := steady.Load()
		flows := dumpPort(t, l, "tapvm1")
		s1 := steady.Load()
		res = d.Observe(Input{Time: time.Now(), Ports: labPorts(), Flows: flows, Observed: map[string]bool{"tapvm1": true}})
		if i == 0 {
			before = s1
		}
		lower := s0 - before
		after = s1
		for _, f := range flows {
			distinct[f.Key] = true
		}
		if n := d.mem.len(); n > len(flows) {
			t.Errorf("poll %d: %d megaflows remembered, the dump showed %d", i, n, len(flows))
		}
		time.Sleep(1500 * time.Millisecond) // this poll's new megaflows idle out
		if i == polls-1 {
			got := res.Flooded[CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}]
			// Only the steady frames can count: each new-source frame is the
			// one packet of its megaflow, the upcall, which OVS does not count.
			if max := (after - before + 2) * frame; got.Bytes > max {
				t.Errorf("counted %d flooded bytes, but at most %d were sent between the first and last dump", got.Bytes, max)
			}
			// Allow for frames the loaded userspace datapath drops.
			if min := lower * frame * 8 / 10; got.Bytes < min {
				t.Errorf("counted %d flooded bytes, want at least %d (80%% of the steady frames)", got.Bytes, min)
			}
			t.Logf("%d distinct megaflows over %d polls, %d remembered at the end; counted %d bytes, %d steady frames sent",
				len(distinct), polls, d.mem.len(), got.Bytes, after-before)
		}
	}
	if len(distinct) < 3*perPoll {
		t.Fatalf("only %d distinct megaflows seen: the datapath did not make a new megaflow per source MAC", len(distinct))
	}
}
