package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovn"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// meshTopology is hypervisor n of lab/overlay.sh as OVSDB describes it: the
// tunnel ports' options as captured (overlay-flood-hvN.vsctl… in the ovs
// testdata), VM ports on br-int.
func meshTopology(n int) *ovsdb.Topology {
	local := "172.31.0." + string(rune('0'+n))
	var tun []ovsdb.Port
	for m := 1; m <= 3; m++ {
		if m == n {
			continue
		}
		name := "vx" + string(rune('0'+m))
		tun = append(tun, ovsdb.Port{Name: name, Tag: -1, Interfaces: []ovsdb.Interface{{Name: name, Type: "vxlan", OFPort: m,
			Options: map[string]string{"df_default": "true", "key": "flow", "local_ip": local, "remote_ip": "172.31.0." + string(rune('0'+m))}}}})
	}
	return &ovsdb.Topology{Bridges: []ovsdb.Bridge{
		{Name: "br-int", Ports: []ovsdb.Port{
			{Name: "tapvm1", Tag: 1, Interfaces: []ovsdb.Interface{{Name: "tapvm1", IfaceID: "port-hv-vm1", AttachedMAC: "02:00:00:01:0" + string(rune('0'+n)) + ":01"}}},
			{Name: "tapvm2", Tag: 1, Interfaces: []ovsdb.Interface{{Name: "tapvm2", IfaceID: "port-hv-vm2", AttachedMAC: "02:00:00:01:0" + string(rune('0'+n)) + ":02"}}},
		}},
		{Name: "br-tun", Ports: tun},
	}}
}

// capturedFlows parses a megaflow dump captured from the lab.
func capturedFlows(t *testing.T, file string) *Poll {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "ovs", "testdata", "ovs-3.1", file))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := ovs.ParseDumpFlows(string(b))
	if err != nil {
		t.Fatal(err)
	}
	p := &Poll{log: zap.NewNop(), names: interner{}}
	for _, m := range mf.Flows {
		p.flows = append(p.flows, toDetectFlow("netdev@ovs-netdev", m, p.names))
	}
	return p
}

func TestTunnelsResolvedOnCapturedMesh(t *testing.T) {
	for _, tc := range []struct {
		hv      int
		file    string
		in      string   // in_port of the flood megaflow
		outputs []string // its outputs after resolution
	}{
		{1, "overlay-flood-hv1.dpctl-dump-flows-m.txt", "tapvm1", []string{"br-int", "tapvm2", "vx2", "vx3"}},
		{2, "overlay-flood-hv2.dpctl-dump-flows-m.txt", "vx1", []string{"br-int", "tapvm1", "tapvm2"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p := capturedFlows(t, tc.file)
			p.ovsdb = meshTopology(tc.hv)
			var r tunnelResolver
			r.resolve(p)
			found := false
			for _, f := range p.flows {
				if f.Dst.String() != nobodyMAC {
					continue
				}
				found = true
				var outs []string
				for _, o := range f.Outputs {
					outs = append(outs, o.Port)
				}
				slices.Sort(outs)
				if f.InPort != tc.in || strings.Join(outs, ",") != strings.Join(tc.outputs, ",") {
					t.Errorf("in_port %s outputs %v, want %s %v", f.InPort, outs, tc.in, tc.outputs)
				}
			}
			if !found {
				t.Fatal("the captured flood megaflow is missing")
			}
			if tp := r.portTunnel("vx3"); tp == nil && tc.hv == 1 || tp != nil && tp.RemoteIP != "172.31.0.3" {
				t.Errorf("vx3's tunnel state %+v", tp)
			}
		})
	}
}

// TestUnresolvedTunnelIsLoggedNotGuessed: a receiver whose OVSDB lost its
// tunnel ports keeps the datapath device as in_port and says why, once.
func TestUnresolvedTunnelIsLoggedNotGuessed(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	p := capturedFlows(t, "overlay-flood-hv2.dpctl-dump-flows-m.txt")
	p.log = zap.New(core)
	topo := meshTopology(2)
	topo.Bridges[1].Ports = topo.Bridges[1].Ports[1:] // vx1 is gone
	topo.Bridges[1].Ports[0].Interfaces[0].Options["remote-ip"] = "172.31.0.9"
	p.ovsdb = topo
	var r tunnelResolver
	r.resolve(p)
	r.resolve(p)
	for _, f := range p.flows {
		if f.Dst.String() == nobodyMAC && f.InPort != "vxlan_sys_4789" {
			t.Errorf("in_port %q, want the datapath device kept", f.InPort)
		}
	}
	if n := logs.FilterField(zap.String("reason", "tunnel_unresolved")).Len(); n != 1 {
		t.Errorf("%d tunnel_unresolved lines, want 1: %v", n, logs.All())
	}
	if logs.FilterMessageSnippet("options OVS does not document").Len() != 1 {
		t.Errorf("the undocumented option remote-ip was not logged: %v", logs.All())
	}
}

// ovnTopology is chassis ch1 of lab/ovn.sh.
func ovnTopology(remote string) *ovsdb.Topology {
	return &ovsdb.Topology{SystemID: "ch1", OVNRemote: remote, Bridges: []ovsdb.Bridge{{Name: "br-int", Ports: []ovsdb.Port{
		{Name: "tapvm1", Tag: -1, Interfaces: []ovsdb.Interface{{Name: "tapvm1", IfaceID: "vm1", AttachedMAC: "02:00:00:02:00:01"}}},
		{Name: "tapvm2", Tag: -1, Interfaces: []ovsdb.Interface{{Name: "tapvm2", IfaceID: "vm2", AttachedMAC: "02:00:00:02:00:02"}}},
	}}}}
}

func TestOVNSourceFromCapturedSouthbound(t *testing.T) {
	replay, err := ovn.LoadReplay(filepath.Join("..", "ovn", "testdata", "ovn-unknown1.replies.json"))
	if err != nil {
		t.Fatal(err)
	}
	src := NewOVN(func(string) (ovn.Reader, error) { return replay, nil }, time.Second)
	a := New(DefaultConfig(), nil, nil, &state.Store{})
	for range 2 { // the second poll uses the cached chassis and switch names
		p := &Poll{cfg: &a.cfg, log: zap.NewNop(), names: interner{}, ovsdb: ovnTopology("unix:/var/run/ovn/ovnsb_db.sock")}
		if err := src.Read(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		p.ports = a.ovsPorts(p)
		a.joinOverlay(p)
		for _, port := range p.ports {
			o := port.OVN
			if o == nil || o.Switch != "sw0" || o.LogicalPort != port.IfaceID || o.Unknown != (port.Name == "tapvm2") || o.PortSecurity {
				t.Errorf("%s: OVN %+v", port.Name, o)
			}
		}
	}
	if n := replay.Calls(); n != 4 {
		t.Errorf("%d Southbound reads for two polls, want 4 (chassis and switch name once, bindings per poll)", n)
	}
}

func TestOVNSourceBadInput(t *testing.T) {
	ctx := context.Background()
	open := func(remote string) (ovn.Reader, error) { return ovn.NewClient(remote) }
	for _, tc := range []struct {
		name string
		topo *ovsdb.Topology
		err  string
	}{
		{"not OVN", ovnTopology(""), ""},
		{"OVSDB never read", nil, ""},
		{"Southbound unreachable", ovnTopology("unix:" + filepath.Join(t.TempDir(), "ovnsb_db.sock")), "does not exist"},
		{"ssl remote", ovnTopology("ssl:192.0.2.10:6642"), "certificates"},
		{"no system-id", func() *ovsdb.Topology {
			o := ovnTopology("unix:/x.sock")
			o.SystemID = ""
			return o
		}(), "system-id is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := NewOVN(open, time.Second)
			p := &Poll{log: zap.NewNop(), names: interner{}, ovsdb: tc.topo}
			err := src.Read(ctx, p)
			if tc.err == "" {
				if err != nil || p.ovn != nil {
					t.Fatalf("err %v, view %v", err, p.ovn)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
