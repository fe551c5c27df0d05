package collector

import (
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// portMetrics are the ports' identity (the join target for Neutron and
// Nova) and their devices' own counters.
type portMetrics struct {
	info                        *spec
	rxBytes, rxPackets, rxDrops *spec
	txBytes, txPackets, txDrops *spec
}

func newPortMetrics() *portMetrics {
	iface := []string{"bridge", "port", "device"}
	return &portMetrics{
		info: gauge("ovs_port_info",
			"OVS port identity, for joining flood series to Neutron ports and Nova instances. device is the VM-facing device (the tap behind a qbr bridge for hybrid plugs).",
			"bridge", "port", "ofport", "vlan", "device", "iface_id", "attached_mac", "vm_uuid"),
		rxBytes:   counter("ovs_interface_receive_bytes_total", "Bytes received by the device (its own view).", iface...),
		txBytes:   counter("ovs_interface_transmit_bytes_total", "Bytes transmitted by the device (on a VM tap: what the VM received).", iface...),
		rxPackets: counter("ovs_interface_receive_packets_total", "Packets received by the device.", iface...),
		txPackets: counter("ovs_interface_transmit_packets_total", "Packets transmitted by the device.", iface...),
		rxDrops:   counter("ovs_interface_receive_drops_total", "Received packets dropped by the device.", iface...),
		txDrops:   counter("ovs_interface_transmit_drops_total", "Transmitted packets dropped by the device.", iface...),
	}
}

func (m *portMetrics) specs() []*spec {
	return []*spec{m.info, m.rxBytes, m.txBytes, m.rxPackets, m.txPackets, m.rxDrops, m.txDrops}
}

func (m *portMetrics) build(b *builder, s *state.Snapshot) {
	info := b.family(m.info)
	rxBytes, txBytes := b.family(m.rxBytes), b.family(m.txBytes)
	rxPackets, txPackets := b.family(m.rxPackets), b.family(m.txPackets)
	rxDrops, txDrops := b.family(m.rxDrops), b.family(m.txDrops)
	for i := range s.Ports {
		p := &s.Ports[i]
		ofport := ""
		if p.OFPort >= 0 {
			ofport = itoa(p.OFPort)
		}
		id := b.labels(m.info, p.Bridge, p.Name, ofport, vlanLabel(p.VLAN), p.Device, p.IfaceID, p.AttachedMAC, p.VMUUID)
		info.add(1, id)
		k := p.Counters
		if k == nil {
			continue // the device was not found this poll
		}
		// The six counters share one label set, made of the identity's.
		l := b.pick(id, m.rxBytes)
		rxBytes.add(float64(k.RxBytes), l)
		txBytes.add(float64(k.TxBytes), l)
		rxPackets.add(float64(k.RxPackets), l)
		txPackets.add(float64(k.TxPackets), l)
		rxDrops.add(float64(k.RxDropped), l)
		txDrops.add(float64(k.TxDropped), l)
	}
}
