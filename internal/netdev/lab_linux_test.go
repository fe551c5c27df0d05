package netdev

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// TestLabFloodCounters reads the OVS lab's ports while seed 000 floods
// vm1's traffic to the external host: the other VLAN-10 taps transmit
// (their VMs receive) a copy of everything, the VLAN-20 ones nothing; once
// fixed, the copies stop.
func TestLabFloodCounters(t *testing.T) {
	l := labtest.Up(t, "nd1")
	r := newReader(t, Options{})
	ctx := context.Background()
	read := func(t *testing.T) map[string]Device {
		t.Helper()
		devs, err := r.devicesIn(ctx, l.Name)
		if err != nil {
			t.Fatal(err)
		}
		return devs
	}
	ports := []string{"tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"}
	devs := read(t)
	for _, p := range ports {
		d, ok := devs[p]
		if !ok {
			t.Fatalf("no %s in %v", p, keys(devs))
		}
		// The VM end is in the VM's namespace: no usable peer index, so
		// the port is its own VM-facing device.
		if d.Kind != "veth" || d.PeerIndex != 0 || resolveVM(devs, p) != p {
			t.Errorf("%s: %+v, resolves to %q", p, d, resolveVM(devs, p))
		}
	}
	if d := devs["ovs-netdev"]; d.Kind != "tun" {
		t.Errorf("ovs-netdev: %+v", d)
	}

	// peers are the far ends of the ports: eth0 in each VM's namespace
	// and in the external host's.
	peers := map[string]string{"tapvm1": "-vm1", "tapvm2": "-vm2", "tapvm3": "-vm3", "tapvm4": "-vm4", "tapvm5": "-vm5", "uplink": "-ext"}
	readPeers := func(t *testing.T) map[string]Counters {
		t.Helper()
		out := map[string]Counters{}
		for p, suffix := range peers {
			devs, err := r.devicesIn(ctx, l.Name+suffix)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = devs["eth0"].Counters
		}
		return out
	}

	// flood runs the lab's vm1 → ext UDP blast and returns the frame bytes
	// iperf3 sent, each port's counter deltas and those of its far end.
	flood := func(t *testing.T) (uint64, map[string]Counters, map[string]Counters) {
		t.Helper()
		before, beforePeers := read(t), readPeers(t)
		out := l.MustRun("flood", "2", "10M")
		after, afterPeers := read(t), readPeers(t)
		logPath := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			End struct {
				Sum struct {
					Bytes   uint64 `json:"bytes"`
					Packets uint64 `json:"packets"`
				} `json:"sum"`
			} `json:"end"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.End.Sum.Packets == 0 {
			t.Fatalf("iperf3 log %s: %v\n%s", logPath, err, b)
		}
		d, dp := map[string]Counters{}, map[string]Counters{}
		for _, p := range ports {
			d[p] = delta(before[p].Counters, after[p].Counters)
			dp[p] = delta(beforePeers[p], afterPeers[p])
		}
		s := res.End.Sum
		t.Logf("iperf3: %d datagrams, %d bytes", s.Packets, s.Bytes)
		for _, p := range ports {
			t.Logf("%s Δ %+v", p, d[p])
		}
		sent := s.Bytes + s.Packets*(8+20+14)
		// Each port transmits what its far end receives, and the far
		// end transmits what the port receives.
		for _, p := range ports {
			if !near(dp[p].RxBytes, d[p].TxBytes, 0.01) || !near(dp[p].TxBytes, d[p].RxBytes, 0.01) {
				t.Errorf("%s Δ %+v but its peer eth0 Δ %+v", p, d[p], dp[p])
			}
		}
		// What vm1 sent reached its port; the userspace datapath may drop
		// some of it on a loaded machine before forwarding.
		if !near(d["tapvm1"].RxBytes, sent, 0.05) {
			t.Errorf("tapvm1 received %d bytes from vm1, iperf3 sent %d", d["tapvm1"].RxBytes, sent)
		}
		if d["uplink"].TxBytes < sent/10 {
			t.Errorf("uplink transmitted %d bytes of %d sent", d["uplink"].TxBytes, sent)
		}
		return sent, d, dp
	}

	t.Run("flooding", func(t *testing.T) {
		sent, d, _ := flood(t)
		// Every frame OVS forwarded was copied to all VLAN 10 ports.
		up := d["uplink"].TxPackets + d["uplink"].TxDropped
		for _, p := range []string{"tapvm2", "tapvm3"} {
			if got := d[p].TxPackets + d[p].TxDropped; !near(got, up, 0.02) {
				t.Errorf("%s got %d flood copies, the uplink %d", p, got, up)
			}
		}
		for _, p := range []string{"tapvm4", "tapvm5"} {
			if d[p].TxBytes > sent/100 {
				t.Errorf("%s (VLAN 20) received %d bytes of a VLAN 10 flood", p, d[p].TxBytes)
			}
		}
	})
	t.Run("fixed", func(t *testing.T) {
		l.MustRun("fix")
		sent, d, _ := flood(t)
		for _, p := range []string{"tapvm2", "tapvm3", "tapvm4", "tapvm5"} {
			if d[p].TxBytes > sent/100 {
				t.Errorf("%s still received %d bytes after the fix", p, d[p].TxBytes)
			}
		}
	})
}
