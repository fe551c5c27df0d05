package linuxbridge

import (
	"context"
	"os/exec"
	"testing"

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
// counters, and that it reads them once a bridge has ports.
func TestLabReadWithoutBridges(t *testing.T) {
	skipLab(t)
	ns := labtest.Prefix() + "lbnone"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
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
	topo, err := r.Read(context.Background())
	if err != nil || len(topo.Bridges) != 0 || counting.n != 0 {
		t.Fatalf("no bridge: %d bridges, %d device reads, %v; want none and none", len(topo.Bridges), counting.n, err)
	}
	ip("-n", ns, "link", "add", "br9", "type", "bridge")
	ip("-n", ns, "link", "set", "v0", "master", "br9")
	topo, err = r.Read(context.Background())
	if err != nil || len(topo.Bridges) != 1 || len(topo.Ports) != 1 || counting.n != 1 {
		t.Fatalf("br9 with v0: %d bridges, %d ports, %d device reads, %v; want 1, 1, 1", len(topo.Bridges), len(topo.Ports), counting.n, err)
	}
	if topo.Ports[0].Kind != "veth" {
		t.Errorf("v0 kind %q, want veth (from the device read)", topo.Ports[0].Kind)
	}
}
