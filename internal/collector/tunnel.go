package collector

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"

// tunnelMetrics join tunnel ports to the hosts at their other end: a copy
// charged to ovs_flood_leaked_bytes_total{port="vx2"} went to remote_ip.
// Endpoint IPs are infrastructure addresses, one series per tunnel port.
type tunnelMetrics struct {
	info *spec
}

func newTunnelMetrics() *tunnelMetrics {
	return &tunnelMetrics{info: gauge("ovs_tunnel_info",
		"Tunnel port endpoints from OVSDB options (\"flow\": set per packet by OpenFlow); join on bridge and port to name the remote host of tunnel copies.",
		"bridge", "port", "type", "local_ip", "remote_ip", "key")}
}

func (m *tunnelMetrics) specs() []*spec { return []*spec{m.info} }

func (m *tunnelMetrics) build(b *builder, s *state.Snapshot) {
	info := b.family(m.info)
	for i := range s.Ports {
		p := &s.Ports[i]
		if t := p.Tunnel; t != nil {
			info.addValues(1, p.Bridge, p.Name, t.Type, t.LocalIP, t.RemoteIP, t.Key)
		}
	}
}
