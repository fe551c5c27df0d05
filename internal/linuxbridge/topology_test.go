package linuxbridge_test

import (
	"fmt"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
)

func TestLabTopologyCaptured(t *testing.T) {
	topo := labTopology(t)
	if len(topo.Bridges) != 1 || topo.Bridges[0].Name != "br0" || topo.Bridges[0].Index != br0 {
		t.Fatalf("bridges %+v, want br0", topo.Bridges)
	}
	var got []string
	for _, p := range topo.Ports {
		got = append(got, fmt.Sprintf("%s:%d:%s:learn=%v:flood=%v", p.Name, p.Index, p.Kind, p.Learning, p.UnicastFlood))
	}
	want := "[uplink:6:veth:learn=false:flood=true vnet1:3:veth:learn=true:flood=true vnet2:4:veth:learn=true:flood=true vnet3:5:veth:learn=true:flood=true]"
	if fmt.Sprint(got) != want {
		t.Errorf("ports\n got %v\nwant %s", got, want)
	}
}

func TestSelect(t *testing.T) {
	port := func(name string, idx, master int, peer string) linuxbridge.Port {
		return linuxbridge.Port{Name: name, Index: idx, MasterIndex: master, Peer: peer}
	}
	topo := linuxbridge.Topology{
		Bridges: []linuxbridge.Bridge{{Name: "br0", Index: 1}, {Name: "qbrabc", Index: 2}, {Name: "brq1", Index: 3}, {Name: "brovs", Index: 4}},
		Ports: []linuxbridge.Port{
			port("vnet1", 10, 1, ""), port("vnet2", 11, 1, ""), port("eth1", 12, 1, ""),
			port("tapabc", 20, 2, ""), port("qvbabc", 21, 2, "qvoabc"),
			port("tapx", 30, 3, ""), port("tapy", 31, 3, ""),
			port("a", 40, 4, ""), port("b", 41, 4, ""), port("qvbz", 42, 4, "qvoz"),
		},
	}
	ovs := map[string]bool{"qvoabc": true, "qvoz": true}
	names := func(bs []linuxbridge.Bridge) string {
		var s []string
		for _, b := range bs {
			s = append(s, b.Name)
		}
		return fmt.Sprint(s)
	}
	tests := []struct {
		name  string
		flags []string
		ovs   map[string]bool
		min   int
		want  string
	}{
		{"auto: three ports or more, not OVS's", nil, ovs, 0, "[br0]"},
		{"auto without OVS: qbr still has two ports", nil, nil, 0, "[br0 brovs]"},
		{"any size, still not OVS's", nil, ovs, 1, "[br0 brq1]"},
		{"named", []string{"qbrabc", "brq1", "nosuch"}, ovs, 0, "[qbrabc brq1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(linuxbridge.Select(topo, tt.flags, tt.ovs, tt.min)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
