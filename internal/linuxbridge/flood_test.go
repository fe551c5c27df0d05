package linuxbridge_test

import (
	"fmt"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge/linuxbridgetest"
)

// Ifindexes in the captured lab topology.
const (
	br0    = 2
	vnet1  = 3
	vnet2  = 4
	vnet3  = 5
	uplink = 6
)

var (
	vm1 = mac("02:00:00:00:01:01")
	vm2 = mac("02:00:00:00:01:02")
	vm3 = mac("02:00:00:00:01:03")
	ext = mac("02:00:00:00:01:64")
)

func mac(s string) linuxbridge.MAC {
	m, err := linuxbridge.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func labTopology(t testing.TB) linuxbridge.Topology {
	t.Helper()
	topo, err := linuxbridgetest.LabTopology()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// copies returns the counters of a frame stream src -> dst that the
// listed ports each transmitted n times (1442-byte frames).
func copies(src, dst linuxbridge.MAC, n uint64, ports ...int) []linuxbridge.Count {
	var out []linuxbridge.Count
	for _, p := range ports {
		out = append(out, linuxbridge.Count{Ifindex: p, Src: src, Dst: dst, Packets: n, Bytes: n * 1442})
	}
	return out
}

func join(cs ...[]linuxbridge.Count) []linuxbridge.Count {
	var out []linuxbridge.Count
	for _, c := range cs {
		out = append(out, c...)
	}
	return out
}

func TestClassifier(t *testing.T) {
	topo := labTopology(t)
	noLearn := topo
	noLearn.FDB = nil // nothing learned: in_port from the silent port
	tests := []struct {
		name    string
		topo    linuxbridge.Topology
		owned   map[string][]linuxbridge.MAC
		polls   [][]linuxbridge.Count
		want    string // fmt of the last poll's streams, "" for none
		packets uint64
	}{
		{
			name:    "flood vm1 to ext",
			topo:    topo,
			polls:   [][]linuxbridge.Count{copies(vm1, ext, 100, vnet2, vnet3, uplink), copies(vm1, ext, 300, vnet2, vnet3, uplink)},
			want:    "br0/vnet1 vlan0 02:00:00:00:01:01>02:00:00:00:01:64 [uplink vnet2 vnet3] learned=false",
			packets: 300,
		},
		{
			name:  "learned unicast is no stream",
			topo:  topo,
			polls: [][]linuxbridge.Count{copies(vm2, vm3, 1000, vnet3), copies(vm2, vm3, 2000, vnet3)},
		},
		{
			name:  "broadcast and multicast never counted",
			topo:  topo,
			polls: [][]linuxbridge.Count{join(copies(vm2, mac("ff:ff:ff:ff:ff:ff"), 50, vnet1, vnet3, uplink), copies(vm3, mac("01:00:5e:01:01:01"), 50, vnet1, vnet2, uplink))},
		},
		{
			name:    "early frames before learning are marked learned",
			topo:    topo,
			polls:   [][]linuxbridge.Count{copies(vm2, vm3, 1, vnet1, uplink)},
			want:    "br0/vnet2 vlan0 02:00:00:00:01:02>02:00:00:00:01:03 [uplink vnet1] learned=true",
			packets: 1,
		},
		{
			name:    "aged-out VM: its own port's delivery is not a copy",
			topo:    noLearn,
			owned:   map[string][]linuxbridge.MAC{"vnet3": {vm3}},
			polls:   [][]linuxbridge.Count{copies(ext, vm3, 40, vnet1, vnet2, vnet3)},
			want:    "br0/uplink vlan0 02:00:00:00:01:64>02:00:00:00:01:03 [vnet1 vnet2] learned=false",
			packets: 40,
		},
		{
			name:    "counter re-created by the LRU counts from zero",
			topo:    topo,
			polls:   [][]linuxbridge.Count{copies(vm1, ext, 500, vnet2, vnet3), copies(vm1, ext, 20, vnet2, vnet3)},
			want:    "br0/vnet1 vlan0 02:00:00:00:01:01>02:00:00:00:01:64 [vnet2 vnet3] learned=false",
			packets: 520,
		},
		{
			name:  "ports of other bridges ignored",
			topo:  topo,
			polls: [][]linuxbridge.Count{copies(vm1, ext, 100, 99, 98)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := linuxbridge.NewClassifier()
			var got []linuxbridge.Stream
			for _, counts := range tt.polls {
				got = c.Update(tt.topo, counts, tt.owned)
			}
			var s string
			if len(got) > 1 {
				t.Fatalf("streams %+v, want at most one", got)
			}
			if len(got) == 1 {
				g := got[0]
				s = fmt.Sprintf("%s/%s vlan%d %s>%s %v learned=%v", g.Bridge, g.InPort, g.VLAN, g.Src, g.Dst, g.Outputs, g.Learned)
				if g.Packets != tt.packets || g.Bytes != tt.packets*1442 {
					t.Errorf("packets %d bytes %d, want %d %d", g.Packets, g.Bytes, tt.packets, tt.packets*1442)
				}
			}
			if s != tt.want {
				t.Errorf("stream\n got %q\nwant %q", s, tt.want)
			}
		})
	}
}

// TestClassifierForgets checks that streams whose kernel entries are gone
// are forgotten, so memory follows the kernel map's bound.
func TestClassifierForgets(t *testing.T) {
	topo := labTopology(t)
	c := linuxbridge.NewClassifier()
	c.Update(topo, copies(vm1, ext, 10, vnet2, vnet3), nil)
	quiet := c.Update(topo, copies(vm1, ext, 10, vnet2, vnet3), nil)
	if len(quiet) != 1 || quiet[0].Packets != 10 || len(quiet[0].Outputs) != 0 || quiet[0].InPort != "vnet1" {
		t.Fatalf("quiet poll: %+v, want the stream kept with 10 packets and no outputs", quiet)
	}
	c.Update(topo, nil, nil) // evicted
	got := c.Update(topo, copies(vm1, ext, 5, vnet2, vnet3), nil)
	if len(got) != 1 || got[0].Packets != 5 {
		t.Fatalf("streams %+v, want one with 5 packets (started over)", got)
	}
}
