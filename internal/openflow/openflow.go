// Package openflow reads OpenFlow table and flow statistics from a bridge's
// management socket, <rundir>/<bridge>.mgmt, the unix socket on which
// ovs-vswitchd speaks OpenFlow to local tools such as ovs-ofctl.
//
// It carries its own codec for exactly what it exchanges, in OpenFlow 1.0,
// 1.3, 1.4 and 1.5: HELLO with version negotiation, ECHO, ERROR, and the
// table and flow statistics requests and replies (codec.go builds the
// requests, decode.go and match.go read the replies). Decoders are pure
// functions over one message that return wrapped errors and never panic.
// Of a flow entry they read the counters, the match (rendered as text) and
// whether an OFPAT_OUTPUT to NORMAL sits in its actions; every other
// action or instruction is skipped by its length unread, so one Open
// vSwitch extension newer than this code does not hide a rule. The
// connection frames messages on the stream (the 8-byte OpenFlow header),
// matches replies to requests by transaction id, reassembles multipart
// replies and answers the switch's echo requests.
//
// The agent never modifies the switch: only HELLO, ECHO and statistics
// requests are sent.
package openflow

import "fmt"

// OpenFlow wire versions (the version byte of the header).
const (
	Version10 uint8 = 0x01
	Version13 uint8 = 0x04
	Version14 uint8 = 0x05
	Version15 uint8 = 0x06
)

// Reserved OpenFlow port numbers used by this package (OpenFlow 1.1+
// 32-bit numbering; OpenFlow 1.0 uses the low 16 bits).
const (
	// PortNormal is OFPP_NORMAL: forward with the switch's L2/L3 pipeline,
	// which floods frames to unknown destinations.
	PortNormal uint32 = 0xfffffffa
	// PortAny is OFPP_ANY, the wildcard for the out_port filter.
	PortAny uint32 = 0xffffffff
)

// VersionName returns the name the Bridge table's protocols column uses for
// an OpenFlow wire version, e.g. "OpenFlow13".
func VersionName(v uint8) string {
	switch v {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07:
		return fmt.Sprintf("OpenFlow1%d", v-1)
	}
	return fmt.Sprintf("OpenFlow(0x%02x)", v)
}

// TableStats is one entry of an OFPMP_TABLE_STATS reply.
type TableStats struct {
	TableID uint8
	// ActiveCount is the number of rules in the table.
	ActiveCount uint32
	// LookupCount and MatchedCount are cumulative packet counts since the
	// switch started (they reset when ovs-vswitchd restarts).
	LookupCount, MatchedCount uint64
}

// Flow is one rule of an OFPMP_FLOW reply.
type Flow struct {
	TableID  uint8
	Priority uint16
	// Cookie is the opaque 64-bit value set by the controller
	// (ovs-ofctl's cookie=0x...).
	Cookie                 uint64
	PacketCount, ByteCount uint64
	DurationSec            uint32
	// Match is a compact, best-effort rendering of the rule's match, e.g.
	// "in_port=6,eth_dst=02:00:00:00:00:01"; empty for a catch-all rule.
	Match string
	// Normal is true when the rule's actions (or its apply-actions /
	// write-actions instructions) contain a direct output:NORMAL. NORMAL
	// reached through resubmit or nested in clone() does not count.
	Normal bool
}

// FlowFilter narrows a flow statistics request. The zero value selects
// every rule of every table.
type FlowFilter struct {
	// OneTable restricts the dump to table TableID; otherwise every table
	// is dumped (OFPTT_ALL).
	OneTable bool
	TableID  uint8
	// OutPort keeps only rules that output to this port (the OpenFlow
	// out_port filter, evaluated by the switch); 0 means any port.
	OutPort uint32
}

// Error is an OpenFlow ERROR message received in answer to a request.
type Error struct {
	// Type and Code are the ofp_error_msg type and code.
	Type, Code uint16
	// Name names the error type, e.g. "BadRequestErrorMsg" ("ErrorMsg"
	// for a type the version does not define).
	Name string
}

// Error renders the error with its numeric type and code, which index the
// OpenFlow specification's ofp_error_type tables.
func (e *Error) Error() string {
	return fmt.Sprintf("OpenFlow error %s (type %d, code %d)", e.Name, e.Type, e.Code)
}
