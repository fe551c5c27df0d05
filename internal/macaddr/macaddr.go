// Package macaddr packs and prints MAC addresses without allocating: the
// detector, the loop checks and the OpenFlow decoder handle thousands of
// them per poll.
package macaddr

import "net"

// Bits returns a 6-byte MAC as a 48-bit number, 0 for any other length.
func Bits(m net.HardwareAddr) uint64 {
	if len(m) != 6 {
		return 0
	}
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// FromBits is Bits reversed.
func FromBits(b uint64) net.HardwareAddr {
	return net.HardwareAddr{byte(b >> 40), byte(b >> 32), byte(b >> 24), byte(b >> 16), byte(b >> 8), byte(b)}
}

// Append appends m as net.HardwareAddr.String prints it (lower-case hex
// bytes joined by ':'), so a MAC is compared with a string, or looked up
// by one, without a new string.
func Append(dst []byte, m []byte) []byte {
	const hex = "0123456789abcdef"
	for i, b := range m {
		if i > 0 {
			dst = append(dst, ':')
		}
		dst = append(dst, hex[b>>4], hex[b&0xf])
	}
	return dst
}
