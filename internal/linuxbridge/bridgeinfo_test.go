package linuxbridge

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// infoMessage reads testdata/bridge-info/<name>.hex (see its README).
func infoMessage(t testing.TB, name string) []byte {
	t.Helper()
	h, err := os.ReadFile(filepath.Join("testdata", "bridge-info", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attr encodes one rtattr (padded to 4 bytes).
func attr(typ uint16, val []byte) []byte {
	b := make([]byte, 4, 4+len(val)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(val)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// vlanBridge builds the answer for a bridge with VLAN filtering on, which
// this kernel cannot capture; the layout is include/uapi/linux/if_link.h's.
func vlanBridge() []byte {
	ageing := binary.NativeEndian.AppendUint32(nil, 1500)
	data := append(attr(iflaBrAgeingTime, ageing), attr(iflaBrVlanFiltering, []byte{1})...)
	info := append(attr(iflaInfoKind, []byte("bridge\x00")), attr(iflaInfoData|0x8000, data)...)
	b := make([]byte, sizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:8], 9)
	return append(b, attr(iflaLinkinfo|0x8000, info)...)
}

func TestParseBridgeInfo(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want bridgeInfo
	}{
		{"captured br0 (ageing_time 30000)", infoMessage(t, "br0"), bridgeInfo{AgeingSeconds: 300}},
		{"captured br1 (ageing_time 4500)", infoMessage(t, "br1"), bridgeInfo{AgeingSeconds: 45}},
		{"VLAN filtering", vlanBridge(), bridgeInfo{VLANFiltering: true, AgeingSeconds: 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBridgeInfo(tt.msg)
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseBridgeInfoBad(t *testing.T) {
	br := infoMessage(t, "br0")
	t.Run("not a bridge", func(t *testing.T) {
		_, err := parseBridgeInfo(infoMessage(t, "d0"))
		if err == nil || !strings.Contains(err.Error(), `"veth"`) {
			t.Errorf("err %v, want one naming the veth kind", err)
		}
	})
	for name, b := range map[string][]byte{"empty": nil, "header cut": br[:10], "attribute cut": br[:sizeofIfInfomsg+6]} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseBridgeInfo(b); !errors.Is(err, errShort) {
				t.Errorf("err %v, want a truncation error", err)
			}
		})
	}
}
