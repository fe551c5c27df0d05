package openflow

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"

	"github.com/skydive-project/goloxi"
	"github.com/skydive-project/goloxi/of10"
	"github.com/skydive-project/goloxi/of13"
	"github.com/skydive-project/goloxi/of14"
	"github.com/skydive-project/goloxi/of15"
)

// errMalformed marks replies whose framing is broken.
var errMalformed = errors.New("malformed OpenFlow message")

// safely runs a goloxi decoder, turning its panics into errors: goloxi
// slices its input without bounds checks, so a truncated or corrupt message
// panics inside the library.
func safely[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, fmt.Errorf("%w: %v", errMalformed, r)
		}
	}()
	return f()
}

// statsHeader reads the fixed header of a statistics reply:
//
//	OpenFlow 1.0 ofp_stats_reply:      version:1 type:1(17) length:2 xid:4 stats_type:2 flags:2 body
//	OpenFlow 1.1+ ofp_multipart_reply: version:1 type:1(19) length:2 xid:4 stats_type:2 flags:2 pad:4 body
//
// and returns the statistics type, the flags and the body.
func statsHeader(c *codec, msg []byte) (statsType, flags uint16, body []byte, err error) {
	if len(msg) < c.statsHeader || int(binary.BigEndian.Uint16(msg[2:4])) != len(msg) {
		return 0, 0, nil, fmt.Errorf("%w: statistics reply of %d bytes", errMalformed, len(msg))
	}
	if msg[0] != c.version || msg[1] != c.statsReply {
		return 0, 0, nil, fmt.Errorf("%w: version %d type %d, want a version %d statistics reply", errMalformed, msg[0], msg[1], c.version)
	}
	return binary.BigEndian.Uint16(msg[8:10]), binary.BigEndian.Uint16(msg[10:12]), msg[c.statsHeader:], nil
}

// decodeTableStats decodes one OFPMP_TABLE_STATS reply message with goloxi.
func decodeTableStats(c *codec, msg []byte) ([]TableStats, error) {
	st, _, _, err := statsHeader(c, msg)
	if err != nil {
		return nil, err
	}
	if st != statsTable {
		return nil, fmt.Errorf("%w: statistics type %d in answer to a table statistics request", errMalformed, st)
	}
	m, err := safely(func() (goloxi.Message, error) { return c.decodeMessage(msg) })
	if err != nil {
		return nil, fmt.Errorf("decode table statistics: %w", err)
	}
	out, ok := c.tableStats(m)
	if !ok {
		return nil, fmt.Errorf("%w: got %T, want table statistics", errMalformed, m)
	}
	return out, nil
}

// flowCodec holds the per-version pieces of the flow statistics decoder.
type flowCodec struct {
	layout func(raw []byte) (layout, error)
	// entry decodes a whole ofp_flow_stats with goloxi; nil when goloxi
	// cannot decode this version's entries.
	entry       func(d *goloxi.Decoder) (entry, error)
	oxm         func(d *goloxi.Decoder) (goloxi.IOxm, error)
	instruction func(d *goloxi.Decoder) (any, error)
	action      func(d *goloxi.Decoder) (goloxi.IAction, error)
}

// entry is a decoded flow statistics entry in version-independent form.
type entry struct {
	Flow
	oxms         []goloxi.IOxm
	instructions []any            // goloxi IInstruction values (OpenFlow 1.1+)
	actions      []goloxi.IAction // OpenFlow 1.0 action list
}

// layout says where the parts of one raw flow statistics entry lie.
type layout struct {
	// head is the entry's fixed part plus its match (and, in 1.5, its
	// statistics): what remains after it is instructions (1.1+) or
	// actions (1.0).
	head int
	// oxms are the match's OXM TLVs (1.1+).
	oxms []byte
	// oxs are the statistics' OXS TLVs (1.5).
	oxs []byte
}

func align8(n int) int { return (n + 7) &^ 7 }

// layout11 finds the parts of an OpenFlow 1.3/1.4 ofp_flow_stats:
//
//	length:2 table_id:1 pad:1 duration_sec:4 duration_nsec:4 priority:2
//	idle_timeout:2 hard_timeout:2 flags:2 pad:4 cookie:8 packet_count:8
//	byte_count:8 match{type:2 length:2 oxm_fields pad-to-8} instructions
func layout11(raw []byte) (layout, error) {
	const fixed = 48
	if len(raw) < fixed+8 {
		return layout{}, fmt.Errorf("%w: flow entry of %d bytes", errMalformed, len(raw))
	}
	mlen := int(binary.BigEndian.Uint16(raw[fixed+2:]))
	if mlen < 4 || fixed+align8(mlen) > len(raw) {
		return layout{}, fmt.Errorf("%w: match length %d in a flow entry of %d bytes", errMalformed, mlen, len(raw))
	}
	return layout{head: fixed + align8(mlen), oxms: raw[fixed+4 : fixed+mlen : fixed+mlen]}, nil
}

// layout15 finds the parts of an OpenFlow 1.5 ofp_flow_stats:
//
//	length:2 pad:2 table_id:1 reason:1 priority:2 idle_timeout:2
//	hard_timeout:2 flags:2 importance:2 cookie:8
//	match{type:2 length:2 oxm_fields pad-to-8}
//	stats{reserved:2 length:2 oxs_fields pad-to-8} instructions
//
// goloxi (2019) cannot decode these entries from Open vSwitch: its OXS
// field numbers are off by one from OpenFlow 1.5.1 (it decodes
// packet_count, field 4, as byte_count and rejects byte_count, field 5)
// and it decodes the stats padding as another OXS field. The fixed part
// and the OXS counters are therefore read here; match fields and
// instructions are still decoded by goloxi, one by one.
func layout15(raw []byte) (layout, error) {
	const fixed = 24
	if len(raw) < fixed+16 {
		return layout{}, fmt.Errorf("%w: flow entry of %d bytes", errMalformed, len(raw))
	}
	mlen := int(binary.BigEndian.Uint16(raw[fixed+2:]))
	soff := fixed + align8(mlen)
	if mlen < 4 || soff+8 > len(raw) {
		return layout{}, fmt.Errorf("%w: match length %d in a flow entry of %d bytes", errMalformed, mlen, len(raw))
	}
	slen := int(binary.BigEndian.Uint16(raw[soff+2:]))
	if slen < 4 || soff+align8(slen) > len(raw) {
		return layout{}, fmt.Errorf("%w: stats length %d in a flow entry of %d bytes", errMalformed, slen, len(raw))
	}
	return layout{head: soff + align8(slen), oxms: raw[fixed+4 : fixed+mlen : fixed+mlen],
		oxs: raw[soff+4 : soff+slen : soff+slen]}, nil
}

// layout10 finds the parts of an OpenFlow 1.0 ofp_flow_stats:
//
//	length:2 table_id:1 pad:1 match:40 duration_sec:4 duration_nsec:4
//	priority:2 idle_timeout:2 hard_timeout:2 pad:6 cookie:8
//	packet_count:8 byte_count:8 actions
func layout10(raw []byte) (layout, error) {
	const fixed = 88
	if len(raw) < fixed {
		return layout{}, fmt.Errorf("%w: flow entry of %d bytes", errMalformed, len(raw))
	}
	return layout{head: fixed}, nil
}

// decodeFlowStats decodes one OFPMP_FLOW reply message. Each entry is
// decoded by goloxi on its own, so that one entry goloxi cannot read (an
// action or instruction newer than the library, say) does not lose the
// others; such an entry is taken apart element by element instead.
func decodeFlowStats(c *codec, msg []byte) ([]Flow, error) {
	st, _, body, err := statsHeader(c, msg)
	if err != nil {
		return nil, err
	}
	if st != statsFlow {
		return nil, fmt.Errorf("%w: statistics type %d in answer to a flow statistics request", errMalformed, st)
	}
	var flows []Flow
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, fmt.Errorf("%w: %d trailing bytes after flow entries", errMalformed, len(body))
		}
		n := int(binary.BigEndian.Uint16(body))
		if n < 8 || n > len(body) {
			return nil, fmt.Errorf("%w: flow entry length %d with %d bytes left", errMalformed, n, len(body))
		}
		f, err := decodeFlowEntry(c, body[:n:n])
		if err != nil {
			return nil, fmt.Errorf("flow entry %d: %w", len(flows), err)
		}
		flows = append(flows, f)
		body = body[n:]
	}
	return flows, nil
}

func decodeFlowEntry(c *codec, raw []byte) (Flow, error) {
	fc := &c.flows
	lay, err := fc.layout(raw)
	if err != nil {
		return Flow{}, err
	}
	if fc.entry != nil {
		e, err := safely(func() (entry, error) { return fc.entry(goloxi.NewDecoder(raw)) })
		if err == nil {
			if c.version != Version10 {
				e.Match = renderOXMs(fc, lay.oxms, e.oxms)
			}
			e.Normal = instructionsNormal(e.instructions) || actionsNormal(e.actions)
			return e.Flow, nil
		}
	}
	return salvageFlowEntry(c, raw, lay)
}

// salvageFlowEntry decodes an entry that goloxi could not decode whole:
// the head (fixed fields and match) on its own, then every instruction or
// action separately, skipping the ones goloxi does not know.
func salvageFlowEntry(c *codec, raw []byte, lay layout) (Flow, error) {
	fc := &c.flows
	var f Flow
	if fc.entry == nil { // OpenFlow 1.5: goloxi cannot decode the head (see layout15)
		f = head15(raw)
		if err := oxsCounters(lay.oxs, &f); err != nil {
			return Flow{}, err
		}
		f.Match = renderOXMs(fc, lay.oxms, nil)
	} else {
		// Decode a copy cut after the match, with its length patched,
		// so goloxi reads the head without the undecodable rest.
		head := make([]byte, lay.head)
		copy(head, raw)
		binary.BigEndian.PutUint16(head, uint16(lay.head))
		e, err := safely(func() (entry, error) { return fc.entry(goloxi.NewDecoder(head)) })
		if err != nil {
			return Flow{}, fmt.Errorf("decode flow entry head: %w", err)
		}
		f = e.Flow
		if c.version != Version10 {
			f.Match = renderOXMs(fc, lay.oxms, e.oxms)
		}
	}
	rest := raw[lay.head:]
	if c.version == Version10 {
		normal, err := actionsNormalRaw(fc, rest)
		f.Normal = normal
		return f, err
	}
	err := walkTLVs(rest, 8, func(typ uint16, el []byte) error {
		in, err := safely(func() (any, error) { return fc.instruction(goloxi.NewDecoder(el)) })
		if err == nil {
			f.Normal = f.Normal || instructionsNormal([]any{in})
			return nil
		}
		if typ == 3 || typ == 4 { // OFPIT_WRITE_ACTIONS, OFPIT_APPLY_ACTIONS: type:2 len:2 pad:4 actions
			normal, err := actionsNormalRaw(fc, el[8:])
			f.Normal = f.Normal || normal
			return err
		}
		return nil // an instruction goloxi does not know cannot hold output:NORMAL
	})
	return f, err
}

// head15 reads the fixed part of an OpenFlow 1.5 flow entry (layout in
// layout15): table_id at 4, priority at 6, cookie at 16.
func head15(raw []byte) Flow {
	return Flow{
		TableID:  raw[4],
		Priority: binary.BigEndian.Uint16(raw[6:]),
		Cookie:   binary.BigEndian.Uint64(raw[16:]),
	}
}

// oxsCounters reads the OpenFlow 1.5 OXS statistics of a flow entry, TLVs of
//
//	class:16(0x8002 OFPXSC_OPENFLOW_BASIC) field:7 hasmask:1 length:8 value
//
// with field 0 duration (sec<<32|nsec), 4 packet_count and 5 byte_count;
// other fields (idle_time, flow_count) and other classes are skipped.
func oxsCounters(b []byte, f *Flow) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("%w: %d stray bytes in flow statistics", errMalformed, len(b))
		}
		h := binary.BigEndian.Uint32(b)
		n := 4 + int(h&0xff)
		if n > len(b) {
			return fmt.Errorf("%w: OXS field of %d bytes with %d left", errMalformed, n, len(b))
		}
		if h>>16 == 0x8002 && n == 12 {
			v := binary.BigEndian.Uint64(b[4:])
			switch (h >> 9) & 0x7f {
			case 0:
				f.DurationSec = uint32(v >> 32)
			case 4:
				f.PacketCount = v
			case 5:
				f.ByteCount = v
			}
		}
		b = b[n:]
	}
	return nil
}

// walkTLVs calls fn for each element of a list of OpenFlow actions or
// instructions, which share the framing type:2 length:2 body, with lengths
// of at least min bytes (8 for both: they are padded to 8-byte multiples).
func walkTLVs(b []byte, min int, fn func(typ uint16, el []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("%w: %d stray bytes in an action list", errMalformed, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < min || n > len(b) {
			return fmt.Errorf("%w: element length %d with %d bytes left", errMalformed, n, len(b))
		}
		if err := fn(binary.BigEndian.Uint16(b), b[:n:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// actionsNormalRaw decodes a raw action list one action at a time and
// reports whether it holds output:NORMAL; actions goloxi does not know are
// skipped (they are not an output action).
func actionsNormalRaw(fc *flowCodec, b []byte) (bool, error) {
	normal := false
	err := walkTLVs(b, 8, func(_ uint16, el []byte) error {
		a, err := safely(func() (goloxi.IAction, error) { return fc.action(goloxi.NewDecoder(el)) })
		if err == nil && actionsNormal([]goloxi.IAction{a}) {
			normal = true
		}
		return nil
	})
	return normal, err
}

// instructionsNormal reports whether an apply-actions or write-actions
// instruction outputs to NORMAL.
func instructionsNormal(ins []any) bool {
	for _, in := range ins {
		i, ok := in.(interface {
			GetType() uint16
			GetActions() []goloxi.IAction
		})
		if ok && (i.GetType() == 3 || i.GetType() == 4) && actionsNormal(i.GetActions()) {
			return true
		}
	}
	return false
}

// actionsNormal reports whether an action list contains output:NORMAL
// itself; nested lists (clone) and resubmits are deliberately not followed.
func actionsNormal(acts []goloxi.IAction) bool {
	for _, a := range acts {
		switch o := a.(type) {
		case *of10.ActionOutput:
			if uint16(o.Port) == port10(PortNormal) {
				return true
			}
		case *of13.ActionOutput:
			if uint32(o.Port) == PortNormal {
				return true
			}
		case *of14.ActionOutput:
			if uint32(o.Port) == PortNormal {
				return true
			}
		case *of15.ActionOutput:
			if uint32(o.Port) == PortNormal {
				return true
			}
		}
	}
	return false
}

// renderOXMs renders a match's OXM TLVs as name=value pairs. decoded is
// goloxi's decoding of the whole match: it is used when it holds one field
// per TLV. goloxi skips fields it does not know without consuming their
// value (and then misreads the rest), so otherwise each TLV is decoded on
// its own, framed by its header class:16 field:7 hasmask:1 length:8.
func renderOXMs(fc *flowCodec, raw []byte, decoded []goloxi.IOxm) string {
	var tlvs [][]byte
	for b := raw; len(b) > 0; {
		if len(b) < 4 || 4+int(b[3]) > len(b) {
			tlvs = append(tlvs, nil) // rendered as a marker of the damage
			break
		}
		n := 4 + int(b[3])
		tlvs = append(tlvs, b[:n:n])
		b = b[n:]
	}
	if len(decoded) != len(tlvs) {
		decoded = nil
	}
	parts := make([]string, 0, len(tlvs))
	for i, t := range tlvs {
		if t == nil {
			parts = append(parts, "?")
			continue
		}
		var o goloxi.IOxm
		if decoded != nil {
			o = decoded[i]
		} else {
			o, _ = safely(func() (goloxi.IOxm, error) { return fc.oxm(goloxi.NewDecoder(t)) })
		}
		parts = append(parts, renderOXM(o, t))
	}
	return strings.Join(parts, ",")
}

// renderOXM renders one match field. A field goloxi does not know, or
// decodes to something that does not encode back to the same bytes (its
// OpenFlow 1.5 tcp_flags reads 8 bits of a 16-bit field, for one), is
// shown with its raw value.
func renderOXM(o goloxi.IOxm, raw []byte) string {
	h := binary.BigEndian.Uint32(raw)
	if o == nil {
		name := fmt.Sprintf("oxm_%04x_%d", h>>16, (h>>9)&0x7f)
		if h>>16 == 0x8001 { // OFPXMC_PACKET_REGS: OpenFlow 1.5 registers
			name = fmt.Sprintf("xreg%d", (h>>9)&0x7f)
		}
		return name + "=" + rawOXMValue(h, raw[4:])
	}
	name := strings.TrimSuffix(o.GetOXMName(), "_masked")
	name = strings.Replace(name, "conn_tracking_", "ct_", 1)
	if enc, err := encode(o); err != nil || !bytes.Equal(enc, raw) {
		return name + "=" + rawOXMValue(h, raw[4:])
	}
	hexa := hexFields[name] || strings.HasPrefix(name, "reg") || strings.HasPrefix(name, "xxreg") || strings.HasPrefix(name, "tun_metadata")
	if m, ok := o.(goloxi.IOxmMasked); ok {
		return name + "=" + oxmValue(name, m.GetOXMValue(), true) + "/" + oxmValue(name, m.GetOXMValueMask(), true)
	}
	return name + "=" + oxmValue(name, o.GetOXMValue(), hexa)
}

// rawOXMValue renders an OXM payload in hex, split in value/mask when the
// header's hasmask bit is set.
func rawOXMValue(h uint32, v []byte) string {
	if h&0x100 != 0 && len(v)%2 == 0 {
		return "0x" + hex.EncodeToString(v[:len(v)/2]) + "/0x" + hex.EncodeToString(v[len(v)/2:])
	}
	return "0x" + hex.EncodeToString(v)
}

// hexFields are OXM fields whose values read better in hex.
var hexFields = map[string]bool{
	"eth_type": true, "vlan_vid": true, "vlan_tci": true, "ct_state": true, "metadata": true,
	"tun_id": true, "tunnel_id": true, "pkt_mark": true, "ct_mark": true, "ct_label": true,
	"tcp_flags": true, "ovs_tcp_flags": true, "ip_frag": true, "tun_flags": true,
}

// ipv4Fields are OXM fields that goloxi returns as a uint32 but are IPv4
// addresses.
var ipv4Fields = map[string]bool{"arp_spa": true, "arp_tpa": true, "ip_src": true, "ip_dst": true}

func oxmValue(name string, v any, hexa bool) string {
	switch x := v.(type) {
	case net.HardwareAddr:
		return x.String()
	case net.IP:
		return x.String()
	case []byte:
		return "0x" + hex.EncodeToString(x)
	case goloxi.Uint128:
		if x.Hi == 0 {
			return fmt.Sprintf("0x%x", x.Lo)
		}
		return fmt.Sprintf("0x%x%016x", x.Hi, x.Lo)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if ipv4Fields[name] && rv.Kind() == reflect.Uint32 {
			return net.IPv4(byte(u>>24), byte(u>>16), byte(u>>8), byte(u)).String()
		}
		if hexa {
			return fmt.Sprintf("0x%x", u)
		}
		return fmt.Sprintf("%d", u)
	}
	return fmt.Sprint(v)
}

// match10 renders the fields of an OpenFlow 1.0 match that its wildcards
// do not mask, with ovs-ofctl's names.
func match10(m *of10.MatchV1) string {
	w := uint32(m.Wildcards)
	var p []string
	add := func(bit uint32, s string, args ...any) {
		if w&bit == 0 {
			p = append(p, fmt.Sprintf(s, args...))
		}
	}
	add(of10.OFPFWInPort, "in_port=%d", uint16(m.InPort))
	add(of10.OFPFWDlVLAN, "dl_vlan=%d", m.VlanVid)
	add(of10.OFPFWDlVLANPCP, "dl_vlan_pcp=%d", m.VlanPcp)
	add(of10.OFPFWDlSrc, "dl_src=%s", m.EthSrc)
	add(of10.OFPFWDlDst, "dl_dst=%s", m.EthDst)
	add(of10.OFPFWDlType, "dl_type=0x%04x", m.EthType)
	add(of10.OFPFWNwTos, "nw_tos=%d", m.IpDscp)
	add(of10.OFPFWNwProto, "nw_proto=%d", m.IpProto)
	// nw_src/nw_dst wildcards count the ignored low bits (32+ = all).
	if bits := (w >> of10.OFPFWNwSrcShift) & 0x3f; bits < 32 {
		p = append(p, fmt.Sprintf("nw_src=%s/%d", m.Ipv4Src, 32-bits))
	}
	if bits := (w >> of10.OFPFWNwDstShift) & 0x3f; bits < 32 {
		p = append(p, fmt.Sprintf("nw_dst=%s/%d", m.Ipv4Dst, 32-bits))
	}
	add(of10.OFPFWTpSrc, "tp_src=%d", m.TcpSrc)
	add(of10.OFPFWTpDst, "tp_dst=%d", m.TcpDst)
	return strings.Join(p, ",")
}

// decodeError turns an OpenFlow ERROR message into an *Error.
func decodeError(c *codec, msg []byte) error {
	m, err := safely(func() (goloxi.Message, error) { return c.decodeMessage(msg) })
	if err != nil {
		return fmt.Errorf("undecodable OpenFlow error message: %w", err)
	}
	name := fmt.Sprintf("%T", m)
	e := &Error{Name: name[strings.LastIndexByte(name, '.')+1:]}
	if t, ok := m.(interface{ GetErrType() uint16 }); ok {
		e.Type = t.GetErrType()
	}
	// Each error type has its own code type in goloxi; all are unsigned.
	if get := reflect.ValueOf(m).MethodByName("GetCode"); get.IsValid() && get.Type().NumIn() == 0 && get.Type().NumOut() == 1 {
		if out := get.Call(nil)[0]; out.CanUint() {
			e.Code = uint16(out.Uint())
		}
	}
	return e
}
