package openflow

import "encoding/binary"

// OpenFlow message types this package handles; the numbers are the same in
// every version except the statistics request and reply.
const (
	typeHello       = 0
	typeError       = 1
	typeEchoRequest = 2
	typeEchoReply   = 3
	typeStatsReq0   = 16 // OFPT_STATS_REQUEST, OpenFlow 1.0
	typeStatsReply0 = 17 // OFPT_STATS_REPLY, OpenFlow 1.0
	typeMultipartRq = 18 // OFPT_MULTIPART_REQUEST, OpenFlow 1.1+
	typeMultipart   = 19 // OFPT_MULTIPART_REPLY, OpenFlow 1.1+

	statsFlow  = 1 // OFPMP_FLOW / OFPST_FLOW
	statsTable = 3 // OFPMP_TABLE_STATS / OFPST_TABLE

	replyMore = 1 // OFPMPF_REPLY_MORE / OFPSF_REPLY_MORE
	tableAll  = 0xff
	groupAny  = 0xffffffff

	helloElemVersionBitmap = 1          // OFPHET_VERSIONBITMAP
	wildcardAll10          = 1<<22 - 1  // OFPFW_ALL (OpenFlow 1.0)
	matchTypeOXM           = 1          // OFPMT_OXM
	onfExperimenter        = 0x4f4e4600 // ONF_EXPERIMENTER_ID
)

// codec is everything that differs between the OpenFlow versions this
// package speaks: message types, header sizes and the layout of a flow
// statistics entry.
type codec struct {
	version uint8
	// statsRequest and statsReply are the message types of statistics
	// requests and replies.
	statsRequest, statsReply uint8
	// statsHeader is the size of the statistics message header before the
	// body: 12 in OpenFlow 1.0, 16 (with 4 bytes of padding) after.
	statsHeader int
	// tableEntry is the size of one ofp_table_stats.
	tableEntry int
	// flowEntry decodes one ofp_flow_stats; rather than setting
	// Flow.Match it appends the match's rendering to match and returns
	// the extended slice.
	flowEntry func(raw, match []byte) (Flow, []byte, error)
}

// codecs lists the versions this package speaks.
var codecs = map[uint8]*codec{
	Version10: {version: Version10, statsRequest: typeStatsReq0, statsReply: typeStatsReply0, statsHeader: 12,
		tableEntry: 64, flowEntry: flowEntry10},
	Version13: {version: Version13, statsRequest: typeMultipartRq, statsReply: typeMultipart, statsHeader: 16,
		tableEntry: 24, flowEntry: flowEntry13(Version13)},
	Version14: {version: Version14, statsRequest: typeMultipartRq, statsReply: typeMultipart, statsHeader: 16,
		tableEntry: 24, flowEntry: flowEntry13(Version14)},
	Version15: {version: Version15, statsRequest: typeMultipartRq, statsReply: typeMultipart, statsHeader: 16,
		tableEntry: 24, flowEntry: flowEntry15},
}

// DefaultVersions is the negotiation preference: OpenFlow 1.3 first (Neutron
// always enables it on its bridges), then 1.4 and 1.5, then 1.0.
var DefaultVersions = []uint8{Version13, Version14, Version15, Version10}

// message returns a message of type typ with room for a body of n bytes
// after the header version:1 type:1 length:2 xid:4.
func (c *codec) message(typ uint8, xid uint32, n int) []byte {
	m := make([]byte, 8+n)
	m[0], m[1] = c.version, typ
	binary.BigEndian.PutUint16(m[2:], uint16(8+n))
	binary.BigEndian.PutUint32(m[4:], xid)
	return m
}

// helloMsg is the HELLO offering exactly this codec's version. From
// OpenFlow 1.3 on it carries a version bitmap element
// (type:2=1 length:2=8 bitmap:4); OpenFlow 1.0 has no elements.
func (c *codec) helloMsg() []byte {
	if c.version == Version10 {
		return c.message(typeHello, 0, 0)
	}
	m := c.message(typeHello, 0, 8)
	binary.BigEndian.PutUint16(m[8:], helloElemVersionBitmap)
	binary.BigEndian.PutUint16(m[10:], 8)
	binary.BigEndian.PutUint32(m[12:], 1<<c.version)
	return m
}

func (c *codec) echoRequestMsg(xid uint32, data []byte) []byte {
	m := c.message(typeEchoRequest, xid, len(data))
	copy(m[8:], data)
	return m
}

func (c *codec) echoReplyMsg(xid uint32, data []byte) []byte {
	m := c.message(typeEchoReply, xid, len(data))
	copy(m[8:], data)
	return m
}

// statsRequestMsg is a statistics request of type statsType with room
// for a body of n bytes after its header (stats_type:2 flags:2, and pad:4
// from OpenFlow 1.1 on).
func (c *codec) statsRequestMsg(xid uint32, statsType uint16, n int) []byte {
	m := c.message(c.statsRequest, xid, c.statsHeader-8+n)
	binary.BigEndian.PutUint16(m[8:], statsType)
	return m
}

// tableStatsRequestMsg is an OFPMP_TABLE_STATS request; it has no body.
func (c *codec) tableStatsRequestMsg(xid uint32) []byte {
	return c.statsRequestMsg(xid, statsTable, 0)
}

// flowStatsRequestMsg is an OFPMP_FLOW request for the rules f selects,
// with the bodies
//
//	OpenFlow 1.0:  match:40 (all wildcarded) table_id:1 pad:1 out_port:2
//	OpenFlow 1.1+: table_id:1 pad:3 out_port:4 out_group:4 pad:4 cookie:8
//	               cookie_mask:8 match{type:2=OXM length:2=4 pad:4}
func (c *codec) flowStatsRequestMsg(xid uint32, f FlowFilter) []byte {
	if c.version == Version10 {
		m := c.statsRequestMsg(xid, statsFlow, 44)
		b := m[c.statsHeader:]
		binary.BigEndian.PutUint32(b, wildcardAll10)
		b[40] = f.table()
		binary.BigEndian.PutUint16(b[42:], port10(f.outPort()))
		return m
	}
	m := c.statsRequestMsg(xid, statsFlow, 40)
	b := m[c.statsHeader:]
	b[0] = f.table()
	binary.BigEndian.PutUint32(b[4:], f.outPort())
	binary.BigEndian.PutUint32(b[8:], groupAny)
	binary.BigEndian.PutUint16(b[32:], matchTypeOXM)
	binary.BigEndian.PutUint16(b[34:], 4)
	return m
}

func (f FlowFilter) table() uint8 {
	if f.OneTable {
		return f.TableID
	}
	return tableAll
}

func (f FlowFilter) outPort() uint32 {
	if f.OutPort == 0 {
		return PortAny
	}
	return f.OutPort
}

// port10 maps an OpenFlow 1.1+ port number to OpenFlow 1.0's 16-bit space:
// the reserved ports keep their low 16 bits (OFPP_NORMAL 0xfffffffa is
// 0xfffa, OFPP_ANY becomes OFPP_NONE 0xffff).
func port10(p uint32) uint16 {
	if p >= 0xffffff00 {
		return uint16(p)
	}
	if p > 0xff00 {
		return 0xffff
	}
	return uint16(p)
}
