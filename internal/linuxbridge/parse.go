package linuxbridge

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// rtnetlink constants (include/uapi/linux/{rtnetlink,if_link,if_bridge,
// neighbour}.h), spelled out so that the parsers build on every OS.
const (
	sizeofIfInfomsg = 16
	sizeofNdmsg     = 12

	iflaAddress  = 1
	iflaIfname   = 3
	iflaMaster   = 10
	iflaProtinfo = 12
	iflaAfSpec   = 26
	iflaLinkinfo = 18

	iflaInfoKind = 1
	iflaInfoData = 2

	iflaBrAgeingTime    = 4
	iflaBrVlanFiltering = 7

	iflaBrportLearning     = 8
	iflaBrportUnicastFlood = 9
	iflaBrportNo           = 18

	iflaBridgeVlanInfo = 2

	bridgeVlanInfoPVID       = 1 << 1
	bridgeVlanInfoRangeBegin = 1 << 3
	bridgeVlanInfoRangeEnd   = 1 << 4

	ndaLladdr = 2
	ndaVlan   = 5
	ndaMaster = 9

	nudNoARP     = 0x40
	nudPermanent = 0x80
	ntfSelf      = 0x02

	nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// errShort is wrapped by every parser when a message ends early.
var errShort = errors.New("message truncated")

// walkAttrs calls f for each rtnetlink attribute (struct rtattr: u16 len,
// u16 type, value, padded to 4 bytes) in b.
func walkAttrs(b []byte, f func(typ uint16, val []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return fmt.Errorf("attribute %d: length %d of %d bytes: %w", typ, l, len(b), errShort)
		}
		if err := f(typ, b[4:l]); err != nil {
			return err
		}
		next := (l + 3) &^ 3
		if next >= len(b) {
			return nil
		}
		b = b[next:]
	}
	return nil
}

// bridgeLink is one RTM_NEWLINK message of an AF_BRIDGE dump: a bridge
// port, or a bridge itself (no master, no protinfo).
type bridgeLink struct {
	Index, Master int
	Name          string
	MAC           MAC
	HasProtinfo   bool
	No            int
	Learning      bool
	UnicastFlood  bool
	PVID          int
	VLANs         []int
}

// parseBridgeLink parses the payload of one RTM_NEWLINK message of an
// AF_BRIDGE RTM_GETLINK dump (what "bridge -d link show" prints as
//
//	4: vnet2@br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state forwarding ...
//	    ... learning on flood on mcast_flood on ...
//
// ): struct ifinfomsg, then IFLA_IFNAME, IFLA_MASTER, IFLA_ADDRESS,
// IFLA_PROTINFO (nested IFLA_BRPORT_* u8 flags, u16 port number) and, when the request
// carried RTEXT_FILTER_BRVLAN, IFLA_AF_SPEC with one IFLA_BRIDGE_VLAN_INFO
// (u16 flags, u16 vid) per VLAN or VLAN range.
func parseBridgeLink(b []byte) (bridgeLink, error) {
	var l bridgeLink
	if len(b) < sizeofIfInfomsg {
		return l, fmt.Errorf("bridge link: %d bytes: %w", len(b), errShort)
	}
	l.Index = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	err := walkAttrs(b[sizeofIfInfomsg:], func(typ uint16, v []byte) error {
		switch typ {
		case iflaIfname:
			l.Name = cString(v)
		case iflaMaster:
			if len(v) < 4 {
				return fmt.Errorf("IFLA_MASTER: %w", errShort)
			}
			l.Master = int(int32(binary.NativeEndian.Uint32(v)))
		case iflaAddress:
			if len(v) == 6 {
				l.MAC = MAC(v)
			}
		case iflaProtinfo:
			l.HasProtinfo = true
			return walkAttrs(v, l.protinfo)
		case iflaAfSpec:
			return walkAttrs(v, l.vlanInfo)
		}
		return nil
	})
	if err != nil {
		return l, fmt.Errorf("bridge link %d: %w", l.Index, err)
	}
	return l, nil
}

func (l *bridgeLink) protinfo(typ uint16, v []byte) error {
	if len(v) < 1 {
		return nil
	}
	switch typ {
	case iflaBrportLearning:
		l.Learning = v[0] != 0
	case iflaBrportUnicastFlood:
		l.UnicastFlood = v[0] != 0
	case iflaBrportNo:
		if len(v) >= 2 {
			l.No = int(binary.NativeEndian.Uint16(v))
		}
	}
	return nil
}

func (l *bridgeLink) vlanInfo(typ uint16, v []byte) error {
	if typ != iflaBridgeVlanInfo {
		return nil
	}
	if len(v) < 4 {
		return fmt.Errorf("IFLA_BRIDGE_VLAN_INFO: %w", errShort)
	}
	flags := binary.NativeEndian.Uint16(v[0:2])
	vid := int(binary.NativeEndian.Uint16(v[2:4]))
	if flags&bridgeVlanInfoPVID != 0 {
		l.PVID = vid
	}
	switch {
	case flags&bridgeVlanInfoRangeEnd != 0 && len(l.VLANs) > 0:
		// The range began at the previous entry; fill it in, bounded by
		// the 4094 VLANs there are.
		for id := l.VLANs[len(l.VLANs)-1] + 1; id <= vid && id < 4095; id++ {
			l.VLANs = append(l.VLANs, id)
		}
	default:
		_ = bridgeVlanInfoRangeBegin // a range's first VID is listed as is
		l.VLANs = append(l.VLANs, vid)
	}
	return nil
}

// parseFDBEntry parses the payload of one RTM_NEWNEIGH message of an
// AF_BRIDGE RTM_GETNEIGH dump (what "bridge fdb show br br0" prints as
//
//	02:00:00:00:01:01 dev vnet1 master br0
//	ca:a1:b0:60:5b:cc dev vnet1 master br0 permanent
//	01:00:5e:00:00:01 dev vnet1 self permanent
//
// ): struct ndmsg (u8 family, 3 pad, s32 ifindex, u16 state, u8 flags,
// u8 type), then NDA_LLADDR, NDA_MASTER (u32), NDA_VLAN (u16). It reports
// ok false for entries that are no bridge FDB entry: the ports' own
// "self" entries (multicast filters) and entries without a master.
func parseFDBEntry(b []byte) (e FDBEntry, ok bool, err error) {
	if len(b) < sizeofNdmsg {
		return e, false, fmt.Errorf("fdb entry: %d bytes: %w", len(b), errShort)
	}
	e.PortIndex = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	state := binary.NativeEndian.Uint16(b[8:10])
	flags := b[10]
	var hasMAC bool
	err = walkAttrs(b[sizeofNdmsg:], func(typ uint16, v []byte) error {
		switch typ {
		case ndaLladdr:
			if len(v) == 6 {
				e.MAC, hasMAC = MAC(v), true
			}
		case ndaMaster:
			if len(v) < 4 {
				return fmt.Errorf("NDA_MASTER: %w", errShort)
			}
			e.MasterIndex = int(int32(binary.NativeEndian.Uint32(v)))
		case ndaVlan:
			if len(v) < 2 {
				return fmt.Errorf("NDA_VLAN: %w", errShort)
			}
			e.VLAN = int(binary.NativeEndian.Uint16(v))
		}
		return nil
	})
	if err != nil {
		return e, false, fmt.Errorf("fdb entry on ifindex %d: %w", e.PortIndex, err)
	}
	e.Local = state&nudPermanent != 0
	e.Static = state&nudNoARP != 0
	return e, hasMAC && e.MasterIndex != 0 && flags&ntfSelf == 0, nil
}

// bridgeInfo is what the agent reads of a bridge device's own settings.
type bridgeInfo struct {
	VLANFiltering bool
	// AgeingSeconds is the FDB ageing time; -1 when the message had none.
	AgeingSeconds int
}

// parseBridgeInfo parses the payload of the RTM_NEWLINK answer to an
// RTM_GETLINK of one bridge device (what "ip -d link show br0" prints as
//
//	2: br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 ... state UP ...
//	    bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 stp_state 0 priority 32768 vlan_filtering 0 ...
//
// ): struct ifinfomsg, then IFLA_LINKINFO holding IFLA_INFO_KIND "bridge"
// and IFLA_INFO_DATA with IFLA_BR_AGEING_TIME (u32, centiseconds) and
// IFLA_BR_VLAN_FILTERING (u8). It fails when the device is no bridge.
func parseBridgeInfo(b []byte) (bridgeInfo, error) {
	info := bridgeInfo{AgeingSeconds: -1}
	if len(b) < sizeofIfInfomsg {
		return info, fmt.Errorf("bridge device: %d bytes: %w", len(b), errShort)
	}
	index := int(int32(binary.NativeEndian.Uint32(b[4:8])))
	var kind string
	err := walkAttrs(b[sizeofIfInfomsg:], func(typ uint16, v []byte) error {
		if typ != iflaLinkinfo {
			return nil
		}
		return walkAttrs(v, func(typ uint16, v []byte) error {
			switch typ {
			case iflaInfoKind:
				kind = cString(v)
			case iflaInfoData:
				return walkAttrs(v, info.data)
			}
			return nil
		})
	})
	if err != nil {
		return info, fmt.Errorf("bridge device %d: %w", index, err)
	}
	if kind != "bridge" {
		return info, fmt.Errorf("device %d is of kind %q, not a bridge", index, kind)
	}
	return info, nil
}

func (info *bridgeInfo) data(typ uint16, v []byte) error {
	switch typ {
	case iflaBrAgeingTime:
		if len(v) < 4 {
			return fmt.Errorf("IFLA_BR_AGEING_TIME: %w", errShort)
		}
		info.AgeingSeconds = int(binary.NativeEndian.Uint32(v) / 100) // clock_t, USER_HZ
	case iflaBrVlanFiltering:
		if len(v) < 1 {
			return fmt.Errorf("IFLA_BR_VLAN_FILTERING: %w", errShort)
		}
		info.VLANFiltering = v[0] != 0
	}
	return nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
