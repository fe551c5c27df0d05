package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// tunnelMetrics join tunnel ports to the hosts at their other end: a copy
// charged to ovs_flood_leaked_bytes_total{port="vx2"} went to remote_ip.
// Endpoint IPs are infrastructure addresses, one series per tunnel port.
type tunnelMetrics struct {
	info *prometheus.Desc
}

func newTunnelMetrics() *tunnelMetrics {
	return &tunnelMetrics{info: newDesc("ovs_tunnel_info",
		"Tunnel port endpoints from OVSDB options (\"flow\": set per packet by OpenFlow); join on bridge and port to name the remote host of tunnel copies.",
		"bridge", "port", "type", "local_ip", "remote_ip", "key")}
}

func (m *tunnelMetrics) describe(ch chan<- *prometheus.Desc) { describeAll(ch, m.info) }

func (m *tunnelMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	for _, p := range s.Ports {
		if t := p.Tunnel; t != nil {
			emitGauge(ch, m.info, 1, p.Bridge, p.Name, t.Type, t.LocalIP, t.RemoteIP, t.Key)
		}
	}
}
