package label

import (
	"fmt"
	"testing"
)

func TestCookie(t *testing.T) {
	cases := []struct {
		in   uint64
		want string
	}{
		{0, "0x0"},
		{0x2, "0x2"},
		{0xe4fc1a92d440c578, "0xe4fc1a92d440c578"},
		{^uint64(0), "0xffffffffffffffff"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			got := Cookie(tc.in)
			if got != tc.want {
				t.Errorf("Cookie(%d) = %q, want %q", tc.in, got, tc.want)
			}
			// The labels already published were rendered with %#x: keep them.
			if old := fmt.Sprintf("%#x", tc.in); got != old {
				t.Errorf("Cookie(%d) = %q, but series so far carry %q", tc.in, got, old)
			}
		})
	}
}

func TestVLAN(t *testing.T) {
	cases := map[int]string{-1: "", 0: "0", 10: "10", 4095: "4095"}
	for in, want := range cases {
		t.Run(fmt.Sprint(in), func(t *testing.T) {
			if got := VLAN(in); got != want {
				t.Errorf("VLAN(%d) = %q, want %q", in, got, want)
			}
		})
	}
}
