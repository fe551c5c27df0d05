package agent

import (
	"fmt"
	"testing"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
)

// BenchmarkTunnelResolve measures resolving a poll's tunnel traffic at
// 5,000 megaflows (a fifth from tunnels, a fifth sending through them)
// against a mesh of 100 tunnel ports.
func BenchmarkTunnelResolve(b *testing.B) {
	var tun []ovsdb.Port
	for i := range 100 {
		name := fmt.Sprintf("vx%d", i)
		tun = append(tun, ovsdb.Port{Name: name, Tag: -1, Interfaces: []ovsdb.Interface{{Name: name, Type: "vxlan",
			Options: map[string]string{"key": "flow", "local_ip": "10.1.0.1", "remote_ip": fmt.Sprintf("10.1.%d.%d", i/250, 2+i%250)}}}})
	}
	topo := &ovsdb.Topology{Bridges: []ovsdb.Bridge{{Name: "br-tun", Ports: tun}}}
	base := make([]detect.Flow, 5000)
	for i := range base {
		remote := fmt.Sprintf("10.1.%d.%d", (i%100)/250, 2+(i%100)%250)
		f := detect.Flow{Key: fmt.Sprint(i), InPort: "tapvm1", Outputs: []detect.Output{{Port: "tapvm2", VLAN: -1}}}
		switch i % 5 {
		case 0:
			f.InPort, f.TunnelSrc, f.TunnelDst, f.TunnelID = "vxlan_sys_4789", remote, "10.1.0.1", 100
		case 1:
			f.Outputs = append(f.Outputs, detect.Output{Port: "phy0", Tunnel: remote, TunnelID: 100, TunnelDev: "vxlan_sys_4789"})
		}
		base[i] = f
	}
	p := &Poll{log: zap.NewNop(), ovsdb: topo}
	var r tunnelResolver
	r.update(p)
	flows := make([]detect.Flow, len(base))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range base {
			flows[j] = base[j]
			flows[j].Outputs = append(flows[j].Outputs[:0:0], base[j].Outputs...)
		}
		p.flows = flows
		b.StartTimer()
		r.resolve(p)
	}
	if p.flows[0].InPort != "vx0" || p.flows[1].Outputs[1].Port != "vx1" {
		b.Fatalf("not resolved: %+v %+v", p.flows[0], p.flows[1].Outputs)
	}
}
