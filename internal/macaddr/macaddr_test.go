package macaddr

import (
	"net"
	"testing"
)

func TestBitsAndAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		mac  net.HardwareAddr
		bits uint64
	}{
		{"unicast", net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x64}, 0x020000000064},
		{"broadcast", net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0xffffffffffff},
		{"mixed nibbles", net.HardwareAddr{0xfa, 0x16, 0x3e, 0xab, 0xcd, 0xef}, 0xfa163eabcdef},
		{"too short", net.HardwareAddr{1, 2, 3}, 0},
		{"empty", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Bits(tc.mac); got != tc.bits {
				t.Errorf("Bits(%v) = %#x, want %#x", tc.mac, got, tc.bits)
			}
			if got, want := string(Append([]byte("x"), tc.mac)), "x"+tc.mac.String(); got != want {
				t.Errorf("Append = %q, want %q", got, want)
			}
			if len(tc.mac) == 6 {
				if got := FromBits(tc.bits); got.String() != tc.mac.String() {
					t.Errorf("FromBits(%#x) = %v, want %v", tc.bits, got, tc.mac)
				}
			}
		})
	}
}

// FuzzBits holds Bits, FromBits and Append to the standard library's
// reading of any 6 bytes.
func FuzzBits(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0, 0, 0x64})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := net.HardwareAddr(b)
		if got, want := string(Append(nil, m)), m.String(); got != want {
			t.Fatalf("Append(%x) = %q, want %q", b, got, want)
		}
		if len(b) == 6 && FromBits(Bits(m)).String() != m.String() {
			t.Fatalf("FromBits(Bits(%x)) = %v", b, FromBits(Bits(m)))
		}
		if len(b) != 6 && Bits(m) != 0 {
			t.Fatalf("Bits(%x) = %#x, want 0", b, Bits(m))
		}
	})
}
