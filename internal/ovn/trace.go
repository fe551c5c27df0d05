package ovn

import (
	"strconv"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// OpenFlow layout of ovn-controller (OVN 22.03 to 23.09, physical.h): the
// logical ingress pipeline's stage N is OpenFlow table 8+N. The egress
// pipeline's offset moved between releases, so egress lookups search the
// whole pipeline instead.
const (
	ingressTable0 = 8
	ingressTables = 29 // tables 8..36; 37 on are physical output tables
	// multicastKeyMin is the first tunnel key OVN gives multicast groups
	// (_MC_flood 32768, _MC_unknown 32769, …): an outport at or above it
	// is a flood to a group, not a delivery to one port.
	multicastKeyMin = 0x8000
)

// MulticastStep finds, in an ofproto/trace of a frame through OVN's
// integration bridge, the rule that set the logical output port (reg15) to
// a multicast group, as ovn-controller translates
//
//	table=26(ls_in_l2_unknown), priority=50, match=(outport == "none"), action=(outport = "_MC_unknown"; output;)
//
// into OpenFlow table 34:
//
//  34. reg15=0,metadata=0x1, priority 50, cookie 0x18817493
//     set_field:0x8001->reg15
//
// It returns that step and the query that finds its logical flow. ok is
// false when no step sends to a group (the frame went to one port, or
// was dropped).
func MulticastStep(steps []ovs.TraceStep) (step ovs.TraceStep, q FlowQuery, ok bool) {
	for _, s := range steps {
		if s.Cookie == 0 || s.Cookie > 0xffffffff || !setsMulticastOutport(s.Actions) {
			continue
		}
		q = FlowQuery{Cookie: uint32(s.Cookie), Pipeline: "egress", TableID: -1}
		if s.Table >= ingressTable0 && s.Table < ingressTable0+ingressTables {
			q.Pipeline, q.TableID = "ingress", s.Table-ingressTable0
		}
		return s, q, true
	}
	return ovs.TraceStep{}, FlowQuery{}, false
}

// setsMulticastOutport reports whether actions load a multicast key into
// reg15, printed by OVS 2.x as "load:0x8001->NXM_NX_REG15[]" and by 3.x as
// "set_field:0x8001->reg15".
func setsMulticastOutport(actions []string) bool {
	for _, a := range actions {
		var val string
		switch {
		case strings.HasPrefix(a, "set_field:") && strings.HasSuffix(a, "->reg15"):
			val = strings.TrimSuffix(strings.TrimPrefix(a, "set_field:"), "->reg15")
		case strings.HasPrefix(a, "load:") && strings.HasSuffix(a, "->NXM_NX_REG15[]"):
			val = strings.TrimSuffix(strings.TrimPrefix(a, "load:"), "->NXM_NX_REG15[]")
		default:
			continue
		}
		if n, err := strconv.ParseUint(val, 0, 32); err == nil && n >= multicastKeyMin {
			return true
		}
	}
	return false
}
