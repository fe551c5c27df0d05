package linuxbridge

import (
	"context"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// TestLabHybridPlugLeftToOVS runs the OVS lab with vm3 plugged the
// iptables-hybrid way (tapvm3 -> qbrvm3 -> qvbvm3/qvovm3 -> br-int): the
// qbr is a real Linux bridge, but OVS sees its traffic on qvovm3, so the
// default rule must leave it alone — with its two ports, and still when a
// third port joins it, because qvbvm3's peer is an OVS port.
func TestLabHybridPlugLeftToOVS(t *testing.T) {
	skipLab(t)
	l := labtest.UpEnv(t, "lbh", "LAB_HYBRID=3")
	out, err := l.Vsctl("list-ports", "br-int")
	if err != nil {
		t.Fatal(err)
	}
	ovs := make(map[string]bool)
	for _, p := range strings.Fields(out) {
		ovs[p] = true
	}
	if !ovs["qvovm3"] {
		t.Fatalf("br-int ports %v: no qvovm3", out)
	}
	devs, err := NewDeviceReaderIn(l.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer devs.Close()
	r, err := NewNetlinkReader(l.Name, devs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := func() Topology {
		topo, err := r.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	topo := read()
	if len(topo.Bridges) != 1 || topo.Bridges[0].Name != "qbrvm3" {
		t.Fatalf("Linux bridges %+v, want qbrvm3 only (OVS's datapath is no Linux bridge)", topo.Bridges)
	}
	for _, p := range topo.Ports {
		if p.Name == "qvbvm3" && p.Peer != "qvovm3" {
			t.Errorf("qvbvm3's peer %q, want qvovm3", p.Peer)
		}
	}
	if got := Select(topo, nil, ovs, 0); len(got) != 0 {
		t.Errorf("two-port qbr selected: %+v", got)
	}

	h := nsHandle(t, l.Name)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "extra3", MasterIndex: topo.Bridges[0].Index}, PeerName: "extra3p"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	topo = read()
	if n := len(topo.PortsOf(topo.Bridges[0].Index)); n != 3 {
		t.Fatalf("qbrvm3 has %d ports, want 3", n)
	}
	if got := Select(topo, nil, ovs, 0); len(got) != 0 {
		t.Errorf("qbr with an OVS-owned veth selected: %+v", got)
	}
	if got := Select(topo, nil, nil, 0); len(got) != 1 {
		t.Errorf("without OVS, a three-port qbr is a bridge to watch: got %+v", got)
	}
}
