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
