package openflow

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/macaddr"
)

// fieldKind says how a match field's value is rendered.
type fieldKind uint8

const (
	kindDec   fieldKind = iota // decimal; masked: hex value/mask
	kindHex                    // hex without leading zeros
	kindMAC                    // 02:00:00:00:00:01
	kindIP                     // 10.0.0.1, fe80::1
	kindBytes                  // hex with every byte, e.g. ip_frag=0x01
	kindRaw                    // the wire bytes in hex, split value/mask
)

// oxmField describes one OXM match field.
type oxmField struct {
	name string
	kind fieldKind
	// size is the value's size in bytes (the mask doubles it); 0 for
	// fields of variable size.
	size int
}

// OXM classes (the top 16 bits of an OXM header).
const (
	classNXM0         = 0x0000 // NXM_OF: fields from OpenFlow 1.0
	classNXM1         = 0x0001 // NXM_NX: Nicira extensions
	classOpenFlow     = 0x8000 // OFPXMC_OPENFLOW_BASIC
	classPacketRegs   = 0x8001 // OFPXMC_PACKET_REGS (OpenFlow 1.5)
	classExperimenter = 0xffff // OFPXMC_EXPERIMENTER: experimenter:4 before the value
)

func oxmKey(class uint16, field uint8) uint32 { return uint32(class)<<8 | uint32(field) }

// oxmFields are the match fields Open vSwitch sends, named as in earlier
// releases of this exporter (the LoxiGen names, "conn_tracking_" shortened
// to "ct_"). Fields not listed are shown as oxm_<class>_<field>=<hex>.
var oxmFields = func() map[uint32]oxmField {
	m := map[uint32]oxmField{}
	add := func(class uint16, field uint8, f oxmField) { m[oxmKey(class, field)] = f }
	for i, f := range []oxmField{
		{"in_port", kindDec, 2}, {"eth_dst", kindMAC, 6}, {"eth_src", kindMAC, 6}, {"eth_type", kindHex, 2},
		{"vlan_tci", kindHex, 2}, {"nw_tos", kindDec, 1}, {"nw_proto", kindDec, 1}, {"ip_src", kindIP, 4},
		{"ip_dst", kindIP, 4}, {"tcp_src", kindDec, 2}, {"tcp_dst", kindDec, 2}, {"udp_src", kindDec, 2},
		{"udp_dst", kindDec, 2}, {"icmp_type", kindDec, 1}, {"icmp_code", kindDec, 1}, {"arp_op", kindDec, 2},
		{"arp_spa", kindIP, 4}, {"arp_tpa", kindIP, 4},
	} {
		add(classNXM0, uint8(i), f)
	}
	for i := range 16 {
		add(classNXM1, uint8(i), oxmField{fmt.Sprintf("reg%d", i), kindHex, 4})
	}
	for i, f := range []oxmField{
		{"tun_id", kindHex, 8}, {"arp_sha", kindMAC, 6}, {"arp_tha", kindMAC, 6}, {"ipv6_src", kindIP, 16},
		{"ipv6_dst", kindIP, 16}, {"icmpv6_type", kindDec, 1}, {"icmpv6_code", kindDec, 1}, {"nd_target", kindIP, 16},
		{"nd_sll", kindMAC, 6}, {"nd_tll", kindMAC, 6}, {"ip_frag", kindBytes, 1}, {"ipv6_label", kindDec, 4},
		{"nw_ecn", kindDec, 1}, {"nw_ttl", kindDec, 1}, {"mpls_ttl", kindDec, 1}, {"tunnel_ipv4_src", kindIP, 4},
		{"tunnel_ipv4_dst", kindIP, 4}, {"pkt_mark", kindHex, 4}, {"tcp_flags", kindHex, 2}, {"dp_hash", kindDec, 4},
		{"recirc_id", kindDec, 4}, {"conj_id", kindDec, 4}, {"tun_gbp_id", kindDec, 2}, {"tun_gbp_flags", kindDec, 1},
	} {
		add(classNXM1, uint8(16+i), f)
	}
	for i := range 64 {
		add(classNXM1, uint8(40+i), oxmField{fmt.Sprintf("tun_metadata%d", i), kindBytes, 0})
	}
	for i, f := range []oxmField{
		{"tun_flags", kindHex, 2}, {"ct_state", kindHex, 4}, {"ct_zone", kindDec, 2}, {"ct_mark", kindHex, 4},
		{"ct_label", kindHex, 16}, {"tun_ipv6_src", kindIP, 16}, {"tun_ipv6_dst", kindIP, 16},
		{"xxreg0", kindHex, 16}, {"xxreg1", kindHex, 16}, {"xxreg2", kindHex, 16}, {"xxreg3", kindHex, 16},
	} {
		add(classNXM1, uint8(104+i), f)
	}
	for i, f := range []oxmField{
		{"ct_nw_proto", kindDec, 1}, {"ct_nw_src", kindIP, 4}, {"ct_nw_dst", kindIP, 4},
		{"ct_ipv6_src", kindIP, 16}, {"ct_ipv6_dst", kindIP, 16}, {"ct_tp_src", kindDec, 2}, {"ct_tp_dst", kindDec, 2},
	} {
		add(classNXM1, uint8(119+i), f)
	}
	addBasicFields(add)
	// OpenFlow 1.3 has no OXM for TCP flags: Open vSwitch uses ONF's.
	add(classExperimenter, 42, oxmField{"ovs_tcp_flags", kindHex, 2})
	return m
}()

// addBasicFields adds the OpenFlow basic class (OpenFlow 1.3 fields 0-39,
// 1.4 fields 41-44).
func addBasicFields(add func(class uint16, field uint8, f oxmField)) {
	for i, f := range []oxmField{
		{"in_port", kindDec, 4}, {"in_phy_port", kindDec, 4}, {"metadata", kindHex, 8}, {"eth_dst", kindMAC, 6},
		{"eth_src", kindMAC, 6}, {"eth_type", kindHex, 2}, {"vlan_vid", kindHex, 2}, {"vlan_pcp", kindDec, 1},
		{"ip_dscp", kindDec, 1}, {"ip_ecn", kindDec, 1}, {"ip_proto", kindDec, 1}, {"ipv4_src", kindIP, 4},
		{"ipv4_dst", kindIP, 4}, {"tcp_src", kindDec, 2}, {"tcp_dst", kindDec, 2}, {"udp_src", kindDec, 2},
		{"udp_dst", kindDec, 2}, {"sctp_src", kindDec, 2}, {"sctp_dst", kindDec, 2}, {"icmpv4_type", kindDec, 1},
		{"icmpv4_code", kindDec, 1}, {"arp_op", kindDec, 2}, {"arp_spa", kindIP, 4}, {"arp_tpa", kindIP, 4},
		{"arp_sha", kindMAC, 6}, {"arp_tha", kindMAC, 6}, {"ipv6_src", kindIP, 16}, {"ipv6_dst", kindIP, 16},
		{"ipv6_flabel", kindDec, 4}, {"icmpv6_type", kindDec, 1}, {"icmpv6_code", kindDec, 1},
		{"ipv6_nd_target", kindIP, 16}, {"ipv6_nd_sll", kindMAC, 6}, {"ipv6_nd_tll", kindMAC, 6},
		{"mpls_label", kindDec, 4}, {"mpls_tc", kindDec, 1}, {"mpls_bos", kindDec, 1}, {"pbb_isid", kindDec, 3},
		{"tunnel_id", kindHex, 8}, {"ipv6_exthdr", kindDec, 2},
	} {
		add(classOpenFlow, uint8(i), f)
	}
	// tcp_flags is shown as wire bytes, as earlier releases of this
	// exporter showed it.
	add(classOpenFlow, 41, oxmField{"pbb_uca", kindDec, 1})
	add(classOpenFlow, 42, oxmField{"tcp_flags", kindRaw, 2})
	add(classOpenFlow, 43, oxmField{"actset_output", kindDec, 4})
	add(classOpenFlow, 44, oxmField{"packet_type", kindDec, 4})
}

// lookupOXM finds the field of an OXM header as version defines it.
func lookupOXM(version uint8, class uint16, field uint8) (oxmField, bool) {
	f, ok := oxmFields[oxmKey(class, field)]
	if class == classOpenFlow && field > 40 && version < Version14 {
		return oxmField{}, false
	}
	return f, ok
}

// appendOXMs renders a match's OXM TLVs, each
//
//	class:16 field:7 hasmask:1 length:8 value [mask]
//
// as name=value[/mask] pairs joined by commas, e.g.
// "eth_type=0x800,ipv4_src=10.0.0.0/255.0.0.0". A TLV that overruns the
// match is shown as "?" and ends the rendering.
func appendOXMs(dst []byte, version uint8, b []byte) []byte {
	for first := true; len(b) > 0; first = false {
		if !first {
			dst = append(dst, ',')
		}
		if len(b) < 4 || 4+int(b[3]) > len(b) {
			return append(dst, '?')
		}
		n := 4 + int(b[3])
		dst = appendOXM(dst, version, b[:n:n])
		b = b[n:]
	}
	return dst
}

// appendOXM renders one OXM TLV. A field not known here, or whose length
// does not fit its definition, is shown with its raw bytes.
func appendOXM(dst []byte, version uint8, tlv []byte) []byte {
	h := be.Uint32(tlv)
	class, field, masked := uint16(h>>16), uint8(h>>9)&0x7f, h&0x100 != 0
	payload := tlv[4:]
	f, ok := lookupOXM(version, class, field)
	if ok && class == classExperimenter {
		ok = len(payload) >= 4 && be.Uint32(payload) == onfExperimenter
		if ok {
			payload = payload[4:]
		}
	}
	want := f.size
	if masked {
		want *= 2
	}
	switch {
	case class == classPacketRegs:
		dst = fmt.Appendf(dst, "xreg%d=", field)
		return appendRaw(dst, masked, tlv[4:])
	case !ok || (f.size != 0 && len(payload) != want) || (masked && len(payload)%2 != 0):
		dst = fmt.Appendf(dst, "oxm_%04x_%d=", class, field)
		return appendRaw(dst, masked, tlv[4:])
	}
	dst = append(dst, f.name...)
	dst = append(dst, '=')
	if f.kind == kindRaw {
		return appendRaw(dst, masked, payload)
	}
	if !masked {
		return appendValue(dst, f.kind, payload)
	}
	kind := f.kind
	if kind == kindDec {
		kind = kindHex // a mask reads better in hex, and so its value
	}
	half := len(payload) / 2
	dst = appendValue(dst, kind, payload[:half])
	dst = append(dst, '/')
	return appendValue(dst, kind, payload[half:])
}

// appendRaw renders an OXM payload in hex, split in value/mask when the
// header's hasmask bit is set.
func appendRaw(dst []byte, masked bool, v []byte) []byte {
	if masked && len(v)%2 == 0 {
		dst = appendBytes(dst, v[:len(v)/2])
		dst = append(dst, '/')
		return appendBytes(dst, v[len(v)/2:])
	}
	return appendBytes(dst, v)
}

// appendValue renders one field value of the given kind.
func appendValue(dst []byte, kind fieldKind, v []byte) []byte {
	switch kind {
	case kindDec:
		if len(v) <= 8 {
			return strconv.AppendUint(dst, beUint(v), 10)
		}
	case kindMAC:
		return macaddr.Append(dst, v)
	case kindIP:
		switch len(v) {
		case 4:
			return netip.AddrFrom4([4]byte(v)).AppendTo(dst)
		case 16:
			return netip.AddrFrom16([16]byte(v)).Unmap().AppendTo(dst)
		}
	case kindBytes:
		return appendBytes(dst, v)
	}
	return appendHex(dst, v)
}

const hexDigits = "0123456789abcdef"

// beUint reads a big-endian unsigned number of at most 8 bytes.
func beUint(v []byte) uint64 {
	var u uint64
	for _, x := range v {
		u = u<<8 | uint64(x)
	}
	return u
}

// appendHex renders a big-endian number of any size in hex without
// leading zeros, e.g. 0x800.
func appendHex(dst []byte, v []byte) []byte {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		return append(dst, "0x0"...)
	}
	dst = append(dst, "0x"...)
	if v[0] < 0x10 {
		dst = append(dst, hexDigits[v[0]])
		v = v[1:]
	}
	return hex.AppendEncode(dst, v)
}

// appendBytes renders bytes in hex, every byte two digits, e.g. 0x0002.
func appendBytes(dst []byte, v []byte) []byte {
	return hex.AppendEncode(append(dst, "0x"...), v)
}

// OpenFlow 1.0 match wildcard bits (OFPFW_*).
const (
	fwInPort    = 1 << 0
	fwDlVLAN    = 1 << 1
	fwDlSrc     = 1 << 2
	fwDlDst     = 1 << 3
	fwDlType    = 1 << 4
	fwNwProto   = 1 << 5
	fwTpSrc     = 1 << 6
	fwTpDst     = 1 << 7
	fwNwSrcBits = 8 // 6 bits: how many low bits of nw_src are ignored
	fwNwDstBits = 14
	fwDlVLANPCP = 1 << 20
	fwNwTos     = 1 << 21
)

// appendMatch10 renders the fields of an OpenFlow 1.0 ofp_match that its
// wildcards do not mask, with ovs-ofctl's names. The match is
//
//	wildcards:4 in_port:2 dl_src:6 dl_dst:6 dl_vlan:2 dl_vlan_pcp:1 pad:1
//	dl_type:2 nw_tos:1 nw_proto:1 pad:2 nw_src:4 nw_dst:4 tp_src:2 tp_dst:2
func appendMatch10(dst []byte, m []byte) []byte {
	w, start := be.Uint32(m), len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ',')
		}
	}
	num := func(bit uint32, name string, v uint64) {
		if w&bit == 0 {
			sep()
			dst = strconv.AppendUint(append(dst, name...), v, 10)
		}
	}
	mac := func(bit uint32, name string, v []byte) {
		if w&bit == 0 {
			sep()
			dst = appendValue(append(dst, name...), kindMAC, v)
		}
	}
	// nw_src/nw_dst wildcards count the ignored low bits (32+ = all).
	ip := func(shift uint, name string, v []byte) {
		if bits := (w >> shift) & 0x3f; bits < 32 {
			sep()
			dst = appendValue(append(dst, name...), kindIP, v)
			dst = strconv.AppendUint(append(dst, '/'), uint64(32-bits), 10)
		}
	}
	num(fwInPort, "in_port=", uint64(be.Uint16(m[4:])))
	num(fwDlVLAN, "dl_vlan=", uint64(be.Uint16(m[18:])))
	num(fwDlVLANPCP, "dl_vlan_pcp=", uint64(m[20]))
	mac(fwDlSrc, "dl_src=", m[6:12])
	mac(fwDlDst, "dl_dst=", m[12:18])
	if w&fwDlType == 0 {
		sep()
		dst = hex.AppendEncode(append(dst, "dl_type=0x"...), m[22:24])
	}
	num(fwNwTos, "nw_tos=", uint64(m[24]))
	num(fwNwProto, "nw_proto=", uint64(m[25]))
	ip(fwNwSrcBits, "nw_src=", m[28:32])
	ip(fwNwDstBits, "nw_dst=", m[32:36])
	num(fwTpSrc, "tp_src=", uint64(be.Uint16(m[36:])))
	num(fwTpDst, "tp_dst=", uint64(be.Uint16(m[38:])))
	return dst
}
