package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// portMetrics are the ports' identity (the join target for Neutron and
// Nova) and their devices' own counters.
type portMetrics struct {
	info                        *prometheus.Desc
	rxBytes, rxPackets, rxDrops *prometheus.Desc
	txBytes, txPackets, txDrops *prometheus.Desc
}

func newPortMetrics() *portMetrics {
	iface := []string{"bridge", "port", "device"}
	return &portMetrics{
		info: newDesc("ovs_port_info",
			"OVS port identity, for joining flood series to Neutron ports and Nova instances. device is the VM-facing device (the tap behind a qbr bridge for hybrid plugs).",
			"bridge", "port", "ofport", "vlan", "device", "iface_id", "attached_mac", "vm_uuid"),
		rxBytes:   newDesc("ovs_interface_receive_bytes_total", "Bytes received by the device (its own view).", iface...),
		txBytes:   newDesc("ovs_interface_transmit_bytes_total", "Bytes transmitted by the device (on a VM tap: what the VM received).", iface...),
		rxPackets: newDesc("ovs_interface_receive_packets_total", "Packets received by the device.", iface...),
		txPackets: newDesc("ovs_interface_transmit_packets_total", "Packets transmitted by the device.", iface...),
		rxDrops:   newDesc("ovs_interface_receive_drops_total", "Received packets dropped by the device.", iface...),
		txDrops:   newDesc("ovs_interface_transmit_drops_total", "Transmitted packets dropped by the device.", iface...),
	}
}

func (m *portMetrics) describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, m.info, m.rxBytes, m.txBytes, m.rxPackets, m.txPackets, m.rxDrops, m.txDrops)
}

func (m *portMetrics) collect(ch chan<- prometheus.Metric, s *state.Snapshot) {
	for _, p := range s.Ports {
		ofport := ""
		if p.OFPort >= 0 {
			ofport = strconv.Itoa(p.OFPort)
		}
		emitGauge(ch, m.info, 1, p.Bridge, p.Name, ofport, label.VLAN(p.VLAN), p.Device, p.IfaceID, p.AttachedMAC, p.VMUUID)
		k := p.Counters
		if k == nil {
			continue // the device was not found this poll
		}
		l := []string{p.Bridge, p.Name, p.Device}
		emitCounter(ch, m.rxBytes, k.RxBytes, l...)
		emitCounter(ch, m.txBytes, k.TxBytes, l...)
		emitCounter(ch, m.rxPackets, k.RxPackets, l...)
		emitCounter(ch, m.txPackets, k.TxPackets, l...)
		emitCounter(ch, m.rxDrops, k.RxDropped, l...)
		emitCounter(ch, m.txDrops, k.TxDropped, l...)
	}
}
