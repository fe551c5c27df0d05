package linuxbridge_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge/linuxbridgetest"
)

func TestWatcher(t *testing.T) {
	topo := labTopology(t)
	r := linuxbridgetest.NewReader(topo)
	frames := linuxbridgetest.NewFrames()
	w := linuxbridge.NewWatcher(linuxbridge.WatchOptions{LibvirtDir: filepath.Join("testdata", "libvirt")}, r,
		func() (linuxbridge.FrameCounter, error) { return frames, nil })
	ctx := context.Background()
	if _, err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []int{vnet1, vnet2, vnet3, uplink} {
		if !frames.Attached(idx) {
			t.Errorf("ifindex %d not observed", idx)
		}
	}
	for _, c := range copies(vm1, ext, 700, vnet2, vnet3, uplink) {
		frames.Add(c)
	}
	res, err := w.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.LibvirtErr == nil {
		t.Error("broken.xml not reported")
	}
	if vm := res.VMs["vnet2"]; vm.Name != "web-1" {
		t.Errorf("vnet2's VM %+v, want web-1 from libvirt's XML", vm)
	}
	if len(res.Streams) != 1 || res.Streams[0].InPort != "vnet1" || res.Streams[0].Packets != 700 {
		t.Fatalf("streams %+v", res.Streams)
	}

	t.Run("bridge gone", func(t *testing.T) {
		r.Set(linuxbridge.Topology{})
		res, err := w.Poll(ctx)
		if err != nil || len(res.Streams) != 0 || frames.Attached(vnet1) {
			t.Errorf("after the bridge went: %+v %v, vnet1 observed %v", res, err, frames.Attached(vnet1))
		}
	})
	t.Run("faults", func(t *testing.T) {
		r.Set(topo)
		frames.SetSyncError(errors.New("attach to ifindex 5: no such device"))
		res, err := w.Poll(ctx)
		if err != nil || res.FrameErr == nil {
			t.Errorf("attach failure: poll err %v, FrameErr %v; want the poll good and FrameErr set", err, res.FrameErr)
		}
		frames.SetError(errors.New("map gone"))
		if _, err := w.Poll(ctx); err == nil {
			t.Error("counter failure not reported")
		}
		r.SetError(errors.New("netlink down"))
		if _, err := w.Poll(ctx); err == nil {
			t.Error("reader failure not reported")
		}
	})
}

// TestWatcherOpensLazily checks that the frame counter is opened only
// once a bridge is to be watched, reopened while it fails, and that a
// failure names itself while the topology is still returned.
func TestWatcherOpensLazily(t *testing.T) {
	r := linuxbridgetest.NewReader(linuxbridge.Topology{})
	opened := 0
	openErr := errors.New("needs CAP_BPF")
	w := linuxbridge.NewWatcher(linuxbridge.WatchOptions{LibvirtDir: t.TempDir()}, r, func() (linuxbridge.FrameCounter, error) {
		opened++
		if openErr != nil {
			return nil, openErr
		}
		return linuxbridgetest.NewFrames(), nil
	})
	ctx := context.Background()
	if _, err := w.Poll(ctx); err != nil || opened != 0 {
		t.Fatalf("no bridge: err %v, opened %d times; want nothing loaded", err, opened)
	}
	r.Set(labTopology(t))
	res, err := w.Poll(ctx)
	if !errors.Is(err, openErr) || len(res.Topology.Bridges) != 1 {
		t.Fatalf("open failing: err %v, bridges %+v", err, res.Topology.Bridges)
	}
	openErr = nil
	if _, err := w.Poll(ctx); err != nil || opened != 2 {
		t.Fatalf("after the fix: err %v, opened %d times, want 2", err, opened)
	}
	if _, err := w.Poll(ctx); err != nil || opened != 2 {
		t.Fatalf("opened again: %d", opened)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWatcherAsksOVSPortsOnlyWithBridges checks that OVS's port names,
// which the agent lists from the whole poll, are asked for only in polls
// that found a Linux bridge, and are then applied: a bridge whose port
// OVS owns is left alone.
func TestWatcherAsksOVSPortsOnlyWithBridges(t *testing.T) {
	r := linuxbridgetest.NewReader(linuxbridge.Topology{})
	asked := 0
	ovs := map[string]bool{}
	w := linuxbridge.NewWatcher(linuxbridge.WatchOptions{LibvirtDir: t.TempDir(), OVSPorts: func() map[string]bool {
		asked++
		return ovs
	}}, r, func() (linuxbridge.FrameCounter, error) { return linuxbridgetest.NewFrames(), nil })
	defer w.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := w.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 0 {
		t.Fatalf("no bridge: OVS's ports asked %d times, want 0", asked)
	}
	topo := labTopology(t)
	r.Set(topo)
	res, err := w.Poll(ctx)
	if err != nil || asked != 1 || len(res.Topology.Bridges) != 1 {
		t.Fatalf("a bridge: asked %d times, %d bridges watched, %v; want 1, 1", asked, len(res.Topology.Bridges), err)
	}
	ovs[topo.Ports[0].Name] = true // OVS owns one of its ports now
	res, err = w.Poll(ctx)
	if err != nil || asked != 2 || len(res.Topology.Bridges) != 0 {
		t.Fatalf("a bridge OVS owns: asked %d times, %d bridges watched, %v; want 2, 0", asked, len(res.Topology.Bridges), err)
	}
}
