// Package label renders OVS values the way operators read them in OVS's own
// output, so a metric label, the check command and the landing page show the
// same text for the same thing.
package label

import "strconv"

// Cookie renders an OpenFlow cookie as ovs-ofctl dump-flows prints it: "0x"
// and lower-case hex digits ("0x0", "0xe4fc1a92d440c578").
func Cookie(c uint64) string {
	return "0x" + strconv.FormatUint(c, 16)
}

// OtherVLAN stands for the VLANs an in_port's flood series sum beyond the
// agent's per-port cap; 802.1Q IDs end at 4095, so it names no real VLAN.
const OtherVLAN = 4096

// VLAN renders a VLAN ID for a label: "" for none (negative), "other" for
// OtherVLAN.
func VLAN(v int) string {
	if v < 0 {
		return ""
	}
	if v == OtherVLAN {
		return "other"
	}
	return strconv.Itoa(v)
}
