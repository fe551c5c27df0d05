package openflow

import (
	"fmt"
	"net"

	"github.com/skydive-project/goloxi"
	"github.com/skydive-project/goloxi/of10"
	"github.com/skydive-project/goloxi/of13"
	"github.com/skydive-project/goloxi/of14"
	"github.com/skydive-project/goloxi/of15"
)

// OpenFlow message types this package handles; the numbers are the same in
// every version except the statistics reply.
const (
	typeHello       = 0
	typeError       = 1
	typeEchoRequest = 2
	typeEchoReply   = 3
	typeStatsReply0 = 17 // OFPT_STATS_REPLY, OpenFlow 1.0
	typeMultipart   = 19 // OFPT_MULTIPART_REPLY, OpenFlow 1.1+

	statsFlow  = 1 // OFPMP_FLOW / OFPST_FLOW
	statsTable = 3 // OFPMP_TABLE_STATS / OFPST_TABLE

	replyMore = 1 // OFPMPF_REPLY_MORE / OFPSF_REPLY_MORE
	tableAll  = 0xff
	groupAny  = 0xffffffff
)

// codec is everything version-specific: goloxi keeps one Go package per
// OpenFlow version, with distinct types, so each version gets its own set of
// small adapters.
type codec struct {
	version uint8
	// statsReply is the message type of statistics replies.
	statsReply uint8
	// statsHeader is the size of the statistics reply header before the body.
	statsHeader int

	hello             func() goloxi.Serializable
	echoRequest       func(xid uint32, data []byte) goloxi.Serializable
	echoReply         func(xid uint32, data []byte) goloxi.Serializable
	tableStatsRequest func(xid uint32) goloxi.Serializable
	flowStatsRequest  func(xid uint32, f FlowFilter) goloxi.Serializable
	decodeMessage     func(data []byte) (goloxi.Message, error)
	tableStats        func(goloxi.Message) ([]TableStats, bool)
	flows             flowCodec
}

// codecs lists the versions this package speaks.
var codecs = map[uint8]*codec{
	Version10: codec10(),
	Version13: codec13(),
	Version14: codec14(),
	Version15: codec15(),
}

// DefaultVersions is the negotiation preference: OpenFlow 1.3 first (Neutron
// always enables it on its bridges), then 1.4 and 1.5, then 1.0.
var DefaultVersions = []uint8{Version13, Version14, Version15, Version10}

func encode(m goloxi.Serializable) ([]byte, error) {
	e := goloxi.NewEncoder()
	if err := m.Serialize(e); err != nil {
		return nil, fmt.Errorf("encode %T: %w", m, err)
	}
	return e.Bytes(), nil
}

func codec13() *codec {
	return &codec{
		version: Version13, statsReply: typeMultipart, statsHeader: 16,
		hello: func() goloxi.Serializable {
			h := of13.NewHello()
			bm := of13.NewHelloElemVersionbitmap()
			// goloxi patches the length of nested elements into the
			// message header instead of the element, so set it here.
			bm.Length = 8
			bm.Bitmaps = []*of13.Uint32{{Value: 1 << Version13}}
			h.Elements = []of13.IHelloElem{bm}
			return h
		},
		echoRequest: func(xid uint32, data []byte) goloxi.Serializable {
			m := of13.NewEchoRequest()
			m.Xid, m.Data = xid, data
			return m
		},
		echoReply: func(xid uint32, data []byte) goloxi.Serializable {
			m := of13.NewEchoReply()
			m.Xid, m.Data = xid, data
			return m
		},
		tableStatsRequest: func(xid uint32) goloxi.Serializable {
			m := of13.NewTableStatsRequest()
			m.Xid = xid
			return m
		},
		flowStatsRequest: func(xid uint32, f FlowFilter) goloxi.Serializable {
			m := of13.NewFlowStatsRequest()
			m.Xid = xid
			m.TableId, m.OutPort, m.OutGroup = f.table(), of13.Port(f.outPort()), groupAny
			m.Match.Type, m.Match.Length = 1, 4 // OFPMT_OXM, no fields
			return m
		},
		decodeMessage: of13.DecodeMessage,
		tableStats: func(m goloxi.Message) ([]TableStats, bool) {
			r, ok := m.(*of13.TableStatsReply)
			if !ok {
				return nil, false
			}
			out := make([]TableStats, 0, len(r.Entries))
			for _, e := range r.Entries {
				out = append(out, TableStats{e.TableId, e.ActiveCount, e.LookupCount, e.MatchedCount})
			}
			return out, true
		},
		flows: flowCodec{
			layout: layout11,
			entry: func(d *goloxi.Decoder) (entry, error) {
				e, err := of13.DecodeFlowStatsEntry(d)
				if err != nil {
					return entry{}, err
				}
				out := entry{
					Flow: Flow{TableID: e.TableId, Priority: e.Priority, Cookie: e.Cookie,
						PacketCount: e.PacketCount, ByteCount: e.ByteCount, DurationSec: e.DurationSec},
					oxms: e.Match.OxmList,
				}
				for _, in := range e.Instructions {
					out.instructions = append(out.instructions, in)
				}
				return out, nil
			},
			oxm:         of13.DecodeOxm,
			instruction: func(d *goloxi.Decoder) (any, error) { return of13.DecodeInstruction(d) },
			action:      of13.DecodeAction,
		},
	}
}

func codec14() *codec {
	return &codec{
		version: Version14, statsReply: typeMultipart, statsHeader: 16,
		hello: func() goloxi.Serializable {
			h := of14.NewHello()
			bm := of14.NewHelloElemVersionbitmap()
			bm.Length = 8
			bm.Bitmaps = []*of14.Uint32{{Value: 1 << Version14}}
			h.Elements = []of14.IHelloElem{bm}
			return h
		},
		echoRequest: func(xid uint32, data []byte) goloxi.Serializable {
			m := of14.NewEchoRequest()
			m.Xid, m.Data = xid, data
			return m
		},
		echoReply: func(xid uint32, data []byte) goloxi.Serializable {
			m := of14.NewEchoReply()
			m.Xid, m.Data = xid, data
			return m
		},
		tableStatsRequest: func(xid uint32) goloxi.Serializable {
			m := of14.NewTableStatsRequest()
			m.Xid = xid
			return m
		},
		flowStatsRequest: func(xid uint32, f FlowFilter) goloxi.Serializable {
			m := of14.NewFlowStatsRequest()
			m.Xid = xid
			m.TableId, m.OutPort, m.OutGroup = f.table(), of14.Port(f.outPort()), groupAny
			m.Match.Type, m.Match.Length = 1, 4
			return m
		},
		decodeMessage: of14.DecodeMessage,
		tableStats: func(m goloxi.Message) ([]TableStats, bool) {
			r, ok := m.(*of14.TableStatsReply)
			if !ok {
				return nil, false
			}
			out := make([]TableStats, 0, len(r.Entries))
			for _, e := range r.Entries {
				out = append(out, TableStats{e.TableId, e.ActiveCount, e.LookupCount, e.MatchedCount})
			}
			return out, true
		},
		flows: flowCodec{
			layout: layout11,
			entry: func(d *goloxi.Decoder) (entry, error) {
				e, err := of14.DecodeFlowStatsEntry(d)
				if err != nil {
					return entry{}, err
				}
				out := entry{
					Flow: Flow{TableID: e.TableId, Priority: e.Priority, Cookie: e.Cookie,
						PacketCount: e.PacketCount, ByteCount: e.ByteCount, DurationSec: e.DurationSec},
					oxms: e.Match.OxmList,
				}
				for _, in := range e.Instructions {
					out.instructions = append(out.instructions, in)
				}
				return out, nil
			},
			oxm:         of14.DecodeOxm,
			instruction: func(d *goloxi.Decoder) (any, error) { return of14.DecodeInstruction(d) },
			action:      of14.DecodeAction,
		},
	}
}

func codec15() *codec {
	return &codec{
		version: Version15, statsReply: typeMultipart, statsHeader: 16,
		hello: func() goloxi.Serializable {
			h := of15.NewHello()
			bm := of15.NewHelloElemVersionbitmap()
			bm.Length = 8
			bm.Bitmaps = []*of15.Uint32{{Value: 1 << Version15}}
			h.Elements = []of15.IHelloElem{bm}
			return h
		},
		echoRequest: func(xid uint32, data []byte) goloxi.Serializable {
			m := of15.NewEchoRequest()
			m.Xid, m.Data = xid, data
			return m
		},
		echoReply: func(xid uint32, data []byte) goloxi.Serializable {
			m := of15.NewEchoReply()
			m.Xid, m.Data = xid, data
			return m
		},
		tableStatsRequest: func(xid uint32) goloxi.Serializable {
			m := of15.NewTableStatsRequest()
			m.Xid = xid
			return m
		},
		flowStatsRequest: func(xid uint32, f FlowFilter) goloxi.Serializable {
			m := of15.NewFlowStatsRequest()
			m.Xid = xid
			m.TableId, m.OutPort, m.OutGroup = f.table(), of15.Port(f.outPort()), groupAny
			m.Match.Type, m.Match.Length = 1, 4
			return m
		},
		decodeMessage: of15.DecodeMessage,
		tableStats: func(m goloxi.Message) ([]TableStats, bool) {
			r, ok := m.(*of15.TableStatsReply)
			if !ok {
				return nil, false
			}
			out := make([]TableStats, 0, len(r.Entries))
			for _, e := range r.Entries {
				out = append(out, TableStats{e.TableId, e.ActiveCount, e.LookupCount, e.MatchedCount})
			}
			return out, true
		},
		flows: flowCodec{
			// goloxi's OpenFlow 1.5 flow entry decoder cannot read what
			// Open vSwitch sends (see layout15), so entries are always
			// taken apart piece by piece.
			layout:      layout15,
			oxm:         of15.DecodeOxm,
			instruction: func(d *goloxi.Decoder) (any, error) { return of15.DecodeInstruction(d) },
			action:      of15.DecodeAction,
		},
	}
}

func codec10() *codec {
	return &codec{
		version: Version10, statsReply: typeStatsReply0, statsHeader: 12,
		hello: func() goloxi.Serializable { return of10.NewHello() },
		echoRequest: func(xid uint32, data []byte) goloxi.Serializable {
			m := of10.NewEchoRequest()
			m.Xid, m.Data = xid, data
			return m
		},
		echoReply: func(xid uint32, data []byte) goloxi.Serializable {
			m := of10.NewEchoReply()
			m.Xid, m.Data = xid, data
			return m
		},
		tableStatsRequest: func(xid uint32) goloxi.Serializable {
			m := of10.NewTableStatsRequest()
			m.Xid = xid
			return m
		},
		flowStatsRequest: func(xid uint32, f FlowFilter) goloxi.Serializable {
			m := of10.NewFlowStatsRequest()
			m.Xid = xid
			m.TableId, m.OutPort = f.table(), of10.Port(port10(f.outPort()))
			// goloxi writes the address fields as given, so they must have
			// their wire length even when wildcarded.
			m.Match = of10.MatchV1{
				Wildcards: of10.OFPFWAll,
				EthSrc:    make(net.HardwareAddr, 6), EthDst: make(net.HardwareAddr, 6),
				Ipv4Src: net.IPv4zero, Ipv4Dst: net.IPv4zero,
			}
			return m
		},
		decodeMessage: of10.DecodeMessage,
		tableStats: func(m goloxi.Message) ([]TableStats, bool) {
			r, ok := m.(*of10.TableStatsReply)
			if !ok {
				return nil, false
			}
			out := make([]TableStats, 0, len(r.Entries))
			for _, e := range r.Entries {
				out = append(out, TableStats{e.TableId, e.ActiveCount, e.LookupCount, e.MatchedCount})
			}
			return out, true
		},
		flows: flowCodec{
			layout: layout10,
			entry: func(d *goloxi.Decoder) (entry, error) {
				e, err := of10.DecodeFlowStatsEntry(d)
				if err != nil {
					return entry{}, err
				}
				return entry{
					Flow: Flow{TableID: e.TableId, Priority: e.Priority, Cookie: e.Cookie,
						PacketCount: e.PacketCount, ByteCount: e.ByteCount, DurationSec: e.DurationSec,
						Match: match10(&e.Match)},
					actions: e.Actions,
				}, nil
			},
			action: of10.DecodeAction,
		},
	}
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
