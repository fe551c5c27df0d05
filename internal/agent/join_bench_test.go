package agent

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// benchPorts is a bridge of n VM ports as OVSDB, vswitchd and netlink
// report them, unchanged from poll to poll.
func benchPorts(n int) (*ovsdb.Topology, *unixctlView, map[string]netdev.Device) {
	topo := &ovsdb.Topology{Bridges: []ovsdb.Bridge{{Name: "br-int"}}}
	v := &unixctlView{ports: map[string]*ovs.DPPort{}, portBr: map[string]string{}, topoID: dpifTopologies.Add(1)}
	devs := map[string]netdev.Device{}
	for i := range n {
		name := fmt.Sprintf("tap%04d", i)
		topo.Bridges[0].Ports = append(topo.Bridges[0].Ports, ovsdb.Port{Name: name, Tag: 1 + i%50,
			Interfaces: []ovsdb.Interface{{Name: name, OFPort: i + 1, IfaceID: fmt.Sprintf("iface-%d", i),
				AttachedMAC: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i/256, i%256), VMUUID: fmt.Sprintf("vm-%d", i)}}})
		v.ports[name], v.portBr[name] = &ovs.DPPort{Name: name, OFPort: uint32(i + 1), Type: "system"}, "br-int"
		devs[name] = netdev.Device{Name: name, Kind: "tun"}
	}
	return topo, v, devs
}

// BenchmarkOVSPorts500 is a poll's listing of 500 unchanged OVS ports.
func BenchmarkOVSPorts500(b *testing.B) {
	topo, v, devs := benchPorts(500)
	a := New(DefaultConfig(), nil, nil, &state.Store{})
	b.ReportAllocs()
	for b.Loop() {
		p := &Poll{cfg: &a.cfg, log: zap.NewNop(), names: interner{}, ovsdb: topo, unixctl: v, netlink: devs}
		if len(a.ovsPorts(p)) != 500 {
			b.Fatal("ports lost")
		}
	}
}

// BenchmarkSeriesApply500 is the series keeper's work per poll over 500
// unchanged ports, 10 of them flooding on 3 VLANs.
func BenchmarkSeriesApply500(b *testing.B) {
	var ports []state.Port
	for i := range 500 {
		ports = append(ports, state.Port{Bridge: "br-int", Name: fmt.Sprintf("tap%04d", i)})
	}
	flooded := map[detect.CounterKey]detect.Counter{}
	for i := range 10 {
		for vlan := range 3 {
			flooded[detect.CounterKey{Bridge: "br-int", InPort: ports[i].Name, VLAN: vlan + 1}] = detect.Counter{Packets: 1}
		}
	}
	k := newSeriesKeeper(10*time.Minute, 16)
	now := time.Unix(1000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(5 * time.Second)
		k.apply(now, floodedResult(flooded, nil), ports)
	}
}
