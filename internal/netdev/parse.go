package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Netlink constants used by the parsers. They are spelled out here rather
// than taken from golang.org/x/sys/unix so that the pure parsers (and their
// tests) build on every platform; the values are fixed kernel ABI.
const (
	sizeofNlMsghdr   = 16 // struct nlmsghdr
	sizeofIfInfomsg  = 16 // struct ifinfomsg
	sizeofIfStatsMsg = 12 // struct if_stats_msg
	sizeofRtAttr     = 4  // struct rtattr / struct nlattr

	iflaIfname      = 3  // IFLA_IFNAME: NUL-terminated string
	iflaLink        = 5  // IFLA_LINK: u32, for veth the peer's ifindex
	iflaMaster      = 10 // IFLA_MASTER: u32, ifindex of the bridge/bond master
	iflaLinkinfo    = 18 // IFLA_LINKINFO: nested, holds IFLA_INFO_KIND
	iflaStats64     = 23 // IFLA_STATS64: struct rtnl_link_stats64
	iflaLinkNetnsid = 37 // IFLA_LINK_NETNSID: s32, set when IFLA_LINK is in another netns
	iflaInfoKind    = 1  // IFLA_INFO_KIND inside IFLA_LINKINFO: string

	iflaStatsLink64 = 1 // IFLA_STATS_LINK_64 in an RTM_NEWSTATS reply

	// sizeofLinkStats64Head is how much of struct rtnl_link_stats64 the
	// parsers need: its first eight u64 fields (rx/tx packets, bytes,
	// errors, dropped). The struct has grown over time (24, 25, 26 fields);
	// only this prefix is relied on.
	sizeofLinkStats64Head = 8 * 8
)

// errShort reports a message cut short; it never comes from a healthy
// kernel, so it points at a parser or ABI mismatch.
var errShort = errors.New("truncated netlink message")

// linkMsg is what the agent needs from one RTM_NEWLINK message.
type linkMsg struct {
	index    int
	name     string
	kind     string
	master   int
	link     int  // IFLA_LINK (veth peer, VLAN lower device, ...)
	linkNsid bool // IFLA_LINK refers to another namespace
	stats    bool // IFLA_STATS64 was present
	counters Counters
}

// parseLinkMsg decodes the payload (after the 16-byte nlmsghdr) of an
// RTM_NEWLINK message:
//
//	struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }
//	followed by rtattrs { u16 len; u16 type; payload; } each 4-byte aligned:
//	IFLA_IFNAME "tapX\0", IFLA_MASTER u32, IFLA_LINK u32, IFLA_LINK_NETNSID s32,
//	IFLA_LINKINFO { IFLA_INFO_KIND "veth\0", ... }, IFLA_STATS64 rtnl_link_stats64.
//
// Attributes it does not need are skipped.
func parseLinkMsg(b []byte) (linkMsg, error) {
	var m linkMsg
	if len(b) < sizeofIfInfomsg {
		return m, fmt.Errorf("ifinfomsg: %w", errShort)
	}
	m.index = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	err := walkAttrs(b[sizeofIfInfomsg:], func(typ uint16, v []byte) error {
		switch typ {
		case iflaIfname:
			m.name = cString(v)
		case iflaMaster:
			if len(v) < 4 {
				return fmt.Errorf("IFLA_MASTER: %w", errShort)
			}
			m.master = int(binary.NativeEndian.Uint32(v))
		case iflaLink:
			if len(v) < 4 {
				return fmt.Errorf("IFLA_LINK: %w", errShort)
			}
			m.link = int(binary.NativeEndian.Uint32(v))
		case iflaLinkNetnsid:
			m.linkNsid = true
		case iflaLinkinfo:
			return walkAttrs(v, func(typ uint16, v []byte) error {
				if typ == iflaInfoKind {
					m.kind = cString(v)
				}
				return nil
			})
		case iflaStats64:
			c, err := parseLinkStats64(v)
			if err != nil {
				return fmt.Errorf("IFLA_STATS64: %w", err)
			}
			m.counters, m.stats = c, true
		}
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("link %d: %w", m.index, err)
	}
	return m, nil
}

// parseStatsMsg decodes the payload of an RTM_NEWSTATS message requested
// with filter IFLA_STATS_LINK_64:
//
//	struct if_stats_msg { u8 family; u8 pad1; u16 pad2; u32 ifindex; u32 filter_mask; }
//	followed by nlattrs: IFLA_STATS_LINK_64 struct rtnl_link_stats64
//	(the kernel may put an IFLA_STATS_UNSPEC pad attribute first to align it).
//
// ok is false when the message carries no IFLA_STATS_LINK_64.
func parseStatsMsg(b []byte) (index int, c Counters, ok bool, err error) {
	if len(b) < sizeofIfStatsMsg {
		return 0, c, false, fmt.Errorf("if_stats_msg: %w", errShort)
	}
	index = int(binary.NativeEndian.Uint32(b[4:8]))
	err = walkAttrs(b[sizeofIfStatsMsg:], func(typ uint16, v []byte) error {
		if typ != iflaStatsLink64 {
			return nil
		}
		var perr error
		c, perr = parseLinkStats64(v)
		if perr != nil {
			return fmt.Errorf("IFLA_STATS_LINK_64: %w", perr)
		}
		ok = true
		return nil
	})
	if err != nil {
		return index, c, false, fmt.Errorf("stats of link %d: %w", index, err)
	}
	return index, c, ok, nil
}

// parseLinkStats64 reads the counters from struct rtnl_link_stats64, whose
// first fields are, all u64 in host byte order:
//
//	rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors rx_dropped tx_dropped ...
func parseLinkStats64(v []byte) (Counters, error) {
	if len(v) < sizeofLinkStats64Head {
		return Counters{}, fmt.Errorf("rtnl_link_stats64 of %d bytes: %w", len(v), errShort)
	}
	u := func(i int) uint64 { return binary.NativeEndian.Uint64(v[8*i:]) }
	return Counters{
		RxPackets: u(0),
		TxPackets: u(1),
		RxBytes:   u(2),
		TxBytes:   u(3),
		RxDropped: u(6),
		TxDropped: u(7),
	}, nil
}

// walkAttrs calls f for each netlink attribute in b:
//
//	{ u16 len (header included); u16 type; payload; pad to 4 bytes }
//
// The NLA_F_NESTED and NLA_F_NET_BYTEORDER bits are masked off the type.
func walkAttrs(b []byte, f func(typ uint16, v []byte) error) error {
	for len(b) >= sizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff
		if l < sizeofRtAttr || l > len(b) {
			return fmt.Errorf("attribute type %d length %d of %d bytes left: %w", typ, l, len(b), errShort)
		}
		if err := f(typ, b[sizeofRtAttr:l]); err != nil {
			return err
		}
		l = align4(l)
		if l > len(b) {
			break // the last attribute's padding may be omitted
		}
		b = b[l:]
	}
	return nil
}

// nlMsg is one message of a netlink datagram.
type nlMsg struct {
	typ, flags uint16
	seq, pid   uint32
	data       []byte // payload after the header
}

// Netlink message types and flags the dump loop interprets.
const (
	nlmsgError   = 2    // NLMSG_ERROR: payload starts with s32 -errno
	nlmsgDone    = 3    // NLMSG_DONE: end of a dump, payload s32 error (0 = ok)
	nlmFMulti    = 0x2  // NLM_F_MULTI: part of a multipart reply
	nlmFDumpIntr = 0x10 // NLM_F_DUMP_INTR: the dump changed while it was read
	rtmNewLink   = 16   // RTM_NEWLINK
	rtmGetLink   = 18   // RTM_GETLINK
	rtmNewStats  = 92   // RTM_NEWSTATS
	rtmGetStats  = 94   // RTM_GETSTATS
)

// walkMsgs calls f for each message in one datagram read from a netlink
// socket:
//
//	struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; } payload, pad to 4 bytes
//
// It stops early when f returns false.
func walkMsgs(b []byte, f func(m nlMsg) (bool, error)) error {
	for len(b) >= sizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < sizeofNlMsghdr || l > len(b) {
			return fmt.Errorf("message length %d of %d bytes left: %w", l, len(b), errShort)
		}
		m := nlMsg{
			typ:   binary.NativeEndian.Uint16(b[4:6]),
			flags: binary.NativeEndian.Uint16(b[6:8]),
			seq:   binary.NativeEndian.Uint32(b[8:12]),
			pid:   binary.NativeEndian.Uint32(b[12:16]),
			data:  b[sizeofNlMsghdr:l],
		}
		more, err := f(m)
		if err != nil || !more {
			return err
		}
		l = align4(l)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// cString returns the string up to the first NUL in b.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
