package netdev

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Captured with capture_tool_linux_test.go: the raw RTM_GETLINK and
// RTM_GETSTATS dump replies of a namespace holding a hybrid plug (qbrX with
// tapX, vnetX and qvbX; qvbX ⇄ qvoX), after 10 UDP frames sent out of qvoX.
const (
	captureGetLink  = "getlink.bin"
	captureGetStats = "getstats.bin"
)

// readCapture returns a capture; they are in the byte order of the machine
// that took them (x86-64), which is every machine these tests run on.
func readCapture(tb testing.TB, name string) []byte {
	tb.Helper()
	if !littleEndian() {
		tb.Fatal("the netlink captures are little-endian; recapture them on this machine (see capture_tool_linux_test.go)")
	}
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// capturedPayloads returns the payloads of the messages of type typ in a
// capture.
func capturedPayloads(tb testing.TB, name string, typ uint16) [][]byte {
	tb.Helper()
	var out [][]byte
	err := walkMsgs(readCapture(tb, name), func(m nlMsg) (bool, error) {
		if m.typ == typ {
			out = append(out, m.data)
		}
		return true, nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestCapturedDumps decodes real kernel replies: every device of the hybrid
// plug with its kind, master and peer, and the same counters from
// RTM_GETSTATS as from RTM_GETLINK.
func TestCapturedDumps(t *testing.T) {
	links := map[string]linkMsg{}
	byIndex := map[int]string{}
	for _, p := range capturedPayloads(t, captureGetLink, rtmNewLink) {
		m, err := parseLinkMsg(p)
		if err != nil {
			t.Fatal(err)
		}
		links[m.name] = m
		byIndex[m.index] = m.name
	}
	tests := []struct {
		name, kind, master, link string
	}{
		{"lo", "", "", ""},
		{"qbrX", "bridge", "", ""},
		{"qvbX", "veth", "qbrX", "qvoX"},
		{"qvoX", "veth", "", "qvbX"},
		{"tapX", "tun", "qbrX", ""},
		{"vnetX", "veth", "qbrX", "vnetX-vm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := links[tt.name]
			if !ok {
				t.Fatalf("not in the dump: %v", byIndex)
			}
			if m.kind != tt.kind || byIndex[m.master] != tt.master || !m.stats {
				t.Errorf("kind %q master %q stats %v, want %q %q", m.kind, byIndex[m.master], m.stats, tt.kind, tt.master)
			}
			if tt.link != "" && (byIndex[m.link] != tt.link || m.linkNsid) {
				t.Errorf("link %q (nsid %v), want %q", byIndex[m.link], m.linkNsid, tt.link)
			}
		})
	}
	if got := links["qvoX"].counters.TxPackets; got < 10 {
		t.Errorf("qvoX sent %d packets, want the 10 UDP frames at least", got)
	}

	stats := capturedPayloads(t, captureGetStats, rtmNewStats)
	if len(stats) != len(links) {
		t.Errorf("%d RTM_NEWSTATS for %d links", len(stats), len(links))
	}
	for _, p := range stats {
		idx, c, ok, err := parseStatsMsg(p)
		if err != nil || !ok {
			t.Fatalf("parseStatsMsg: %v, ok %v", err, ok)
		}
		name, known := byIndex[idx]
		if !known {
			t.Errorf("stats for unknown ifindex %d", idx)
			continue
		}
		if c != links[name].counters {
			t.Errorf("%s: RTM_GETSTATS %+v, RTM_GETLINK %+v", name, c, links[name].counters)
		}
	}
}

// FuzzParseLinkMsg feeds parseLinkMsg real RTM_NEWLINK payloads and their
// mutations: it must return an error or a message, never panic.
func FuzzParseLinkMsg(f *testing.F) {
	for _, p := range capturedPayloads(f, captureGetLink, rtmNewLink) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseLinkMsg(b)
		if err != nil {
			return
		}
		if strings.IndexByte(m.name, 0) >= 0 || strings.IndexByte(m.kind, 0) >= 0 {
			t.Errorf("NUL in name %q or kind %q", m.name, m.kind)
		}
	})
}

// FuzzParseStatsMsg feeds parseStatsMsg real RTM_NEWSTATS payloads and
// their mutations.
func FuzzParseStatsMsg(f *testing.F) {
	for _, p := range capturedPayloads(f, captureGetStats, rtmNewStats) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, ok, err := parseStatsMsg(b)
		if err != nil && ok {
			t.Errorf("ok with error %v", err)
		}
	})
}

// FuzzWalkMsgs feeds walkMsgs whole captured dumps and their mutations:
// every message it reports lies within the input, and it never panics.
func FuzzWalkMsgs(f *testing.F) {
	f.Add(readCapture(f, captureGetLink))
	f.Add(readCapture(f, captureGetStats))
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		_ = walkMsgs(b, func(m nlMsg) (bool, error) {
			total += sizeofNlMsghdr + len(m.data)
			if total > len(b) {
				t.Fatalf("messages cover %d bytes of a %d-byte datagram", total, len(b))
			}
			return true, nil
		})
	})
}
