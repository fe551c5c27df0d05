package linuxbridge

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// countingDevices counts the device reads a Read makes.
type countingDevices struct {
	DeviceReader
	n int
}

func (c *countingDevices) Devices(ctx context.Context) (map[string]netdev.Device, error) {
	c.n++
	return c.DeviceReader.Devices(ctx)
}

// TestLabReadWithoutBridges checks that on a namespace with no Linux
// bridge (an OVS-only host) a Read returns no bridge and dumps no device
// counters; that it sends the AF_BRIDGE dump again only after a link
// change or NoBridgeRecheck, yet sees a bridge made between two reads at
// once; and that it dumps on every read while a bridge exists, or
// without a subscription.
func TestLabReadWithoutBridges(t *testing.T) {
	skipLab(t)
	ns := emptyNetns(t, "lbnone")
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")

	devs, err := NewDeviceReaderIn(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer devs.Close()
	counting := &countingDevices{DeviceReader: devs}
	r, err := NewNetlinkReader(ns, counting)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.changes == nil {
		t.Fatal("no link notification subscription")
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	read := func(step string, bridges, ports, dumps int) {
		t.Helper()
		topo, err := r.Read(context.Background())
		if err != nil || len(topo.Bridges) != bridges || len(topo.Ports) != ports || r.dumps != dumps {
			t.Fatalf("%s: %d bridges, %d ports, %d dumps, %v; want %d, %d, %d", step,
				len(topo.Bridges), len(topo.Ports), r.dumps, err, bridges, ports, dumps)
		}
	}
	read("no bridge", 0, 0, 1)
	if counting.n != 0 {
		t.Fatalf("no bridge: %d device reads, want none", counting.n)
	}
	read("no bridge, nothing changed", 0, 0, 1)
	now = now.Add(NoBridgeRecheck)
	read("no bridge, recheck due", 0, 0, 2)
	read("no bridge after the recheck", 0, 0, 2)

	ip("-n", ns, "link", "add", "br9", "type", "bridge")
	ip("-n", ns, "link", "set", "v0", "master", "br9")
	topo, err := r.Read(context.Background())
	if err != nil || len(topo.Bridges) != 1 || len(topo.Ports) != 1 || counting.n != 1 {
		t.Fatalf("br9 with v0: %d bridges, %d ports, %d device reads, %v; want 1, 1, 1", len(topo.Bridges), len(topo.Ports), counting.n, err)
	}
	if topo.Ports[0].Kind != "veth" {
		t.Errorf("v0 kind %q, want veth (from the device read)", topo.Ports[0].Kind)
	}
	read("br9, nothing changed", 1, 1, 4)

	ip("-n", ns, "link", "del", "br9")
	read("br9 deleted", 0, 0, 5)
	read("br9 deleted, nothing changed", 0, 0, 5)

	r.changes.Close() // a broken subscription: every read dumps
	read("without subscription", 0, 0, 6)
	read("without subscription, again", 0, 0, 7)
}

// BenchmarkReadNoBridge is a Read on an OVS-only host's namespace: 500
// devices (250 veth pairs) and no Linux bridge. "kept" trusts the last
// dump while no link changed; "dump" sends the AF_BRIDGE dump every time,
// as a read without a subscription does.
func BenchmarkReadNoBridge(b *testing.B) {
	skipLab(b)
	ns := emptyNetns(b, "lbnoneb")
	var batch strings.Builder
	for i := range 250 {
		fmt.Fprintf(&batch, "link add nb%d type veth peer name nb%dp\n", i, i)
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ip -batch: %v: %s", err, out)
	}
	devs, err := NewDeviceReaderIn(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer devs.Close()
	for _, keep := range []bool{true, false} {
		name := map[bool]string{true: "kept", false: "dump"}[keep]
		b.Run(name, func(b *testing.B) {
			r, err := NewNetlinkReader(ns, devs)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if !keep {
				r.changes.Close()
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if topo, err := r.Read(ctx); err != nil || len(topo.Bridges) != 0 {
					b.Fatalf("%d bridges, %v", len(topo.Bridges), err)
				}
			}
			b.ReportMetric(float64(r.dumps)/float64(b.N), "dumps/op")
		})
	}
}

// emptyNetns makes a new network namespace named name under the lab's
// prefix (one left by an earlier run is deleted first), deleted again
// when tb ends, and returns its name.
func emptyNetns(tb testing.TB, name string) string {
	tb.Helper()
	ns := labtest.Prefix() + name
	_ = exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}
