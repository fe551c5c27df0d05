package ovsdbtest

import (
	"context"
	"errors"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
)

// labTopologyFile is the topology of a fresh lab, kept current by the ovsdb
// package's lab test.
const labTopologyFile = "../testdata/lab-topology.json"

var errFake = errors.New("fake failure")

func TestFake(t *testing.T) {
	f, err := LoadFake(labTopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	var r ovsdb.Reader = f
	ctx := context.Background()

	topo, err := r.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	br, ok := topo.Bridge("br-int")
	if !ok || len(br.Ports) != 7 {
		t.Fatalf("lab topology: %+v", topo)
	}
	p, ok := br.Port("tapvm4")
	if !ok || p.Tag != 20 || p.Interfaces[0].OFPort != 4 || p.Interfaces[0].IfaceID != "port-vm4" {
		t.Errorf("tapvm4 = %+v", p)
	}
	cfg, err := r.CurCfg(ctx)
	if err != nil || cfg != topo.CurCfg {
		t.Errorf("CurCfg = %d, %v; want %d", cfg, err, topo.CurCfg)
	}

	// Callers get copies: changing one does not change the next.
	topo.Bridges[0].Ports[1].Interfaces[0].ExternalIDs["iface-id"] = "changed"
	topo.Bridges[0].Name = "changed"
	again, _ := r.Topology(ctx)
	if again.Bridges[0].Name != "br-int" || again.Bridges[0].Ports[1].Interfaces[0].ExternalIDs["iface-id"] != "port-vm1" {
		t.Errorf("Fake handed out shared state: %+v", again.Bridges[0].Ports[1])
	}

	// A new topology with a bumped cur_cfg.
	next := again.Clone()
	next.CurCfg++
	next.Bridges[0].Ports = next.Bridges[0].Ports[:2]
	f.SetTopology(next)
	if cfg, _ := r.CurCfg(ctx); cfg != again.CurCfg+1 {
		t.Errorf("CurCfg after SetTopology = %d, want %d", cfg, again.CurCfg+1)
	}
	if got, _ := r.Topology(ctx); len(got.Bridges[0].Ports) != 2 {
		t.Errorf("Topology after SetTopology has %d ports, want 2", len(got.Bridges[0].Ports))
	}
	if n := f.TopologyReads(); n != 3 {
		t.Errorf("TopologyReads = %d, want 3", n)
	}

	f.SetError(errFake)
	if _, err := r.Topology(ctx); !errors.Is(err, errFake) {
		t.Errorf("Topology with SetError: %v", err)
	}
	if _, err := r.CurCfg(ctx); !errors.Is(err, errFake) {
		t.Errorf("CurCfg with SetError: %v", err)
	}
	f.SetError(nil)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Topology(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Topology with a cancelled context: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CurCfg(ctx); !errors.Is(err, ovsdb.ErrClosed) {
		t.Errorf("CurCfg after Close: %v", err)
	}
}

func TestLoadFakeErrors(t *testing.T) {
	if _, err := LoadFake("../testdata/no-such-file.json"); err == nil {
		t.Error("LoadFake of a missing file worked")
	}
	if _, err := LoadFake("../testdata/ovs-3.1/select-Port.json"); err == nil {
		t.Error("LoadFake of a select result (not a Topology) worked")
	}
}
