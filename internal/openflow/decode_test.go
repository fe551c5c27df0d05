package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func decodeAllFlows(t testing.TB, c *codec, msgs [][]byte) []Flow {
	t.Helper()
	var out []Flow
	for _, m := range msgs {
		fs, err := decodeFlowStats(c, m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fs...)
	}
	return out
}

// flowEntries splits a captured flow statistics reply into raw entries
// (test-side framing, to handle entries one by one).
func flowEntries(t testing.TB, c *codec, msg []byte) [][]byte {
	t.Helper()
	body := msg[c.statsHeader:]
	var out [][]byte
	for len(body) > 0 {
		n := int(binary.BigEndian.Uint16(body))
		out = append(out, body[:n:n])
		body = body[n:]
	}
	return out
}

func TestDecodeFlowStatsCaptures(t *testing.T) {
	dump, err := os.ReadFile(filepath.Join(captureDir, "ofctl-dump-flows.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := parseOfctl(string(dump))
	if len(want) != 27 {
		t.Fatalf("ovs-ofctl capture lists %d rules, want 27", len(want))
	}
	// Match renderings per version for a few rules (table/priority).
	matches := map[uint8]map[[2]int]string{
		Version13: {
			{0, 100}: "in_port=6", {81, 1}: "", {94, 1}: "",
			{100, 27}: "in_port=3,eth_src=02:00:00:00:00:00/ff:ff:ff:00:00:00",
			{100, 7}:  "eth_type=0x800,reg5=0x5,ct_state=0x22/0x22",
			{100, 25}: "eth_type=0x806,arp_tpa=10.0.0.1",
			{100, 14}: "eth_type=0x800,ip_proto=6,ovs_tcp_flags=0x2/0x2",
			{100, 10}: "eth_type=0x800,ipv4_src=10.0.0.0/255.0.0.0",
			{100, 9}:  "conj_id=7,eth_type=0x800",
			{100, 13}: "vlan_vid=0x100a",
		},
		Version15: {
			{0, 100}: "in_port=6",
			// OpenFlow 1.5's tcp_flags and packet registers are shown
			// as their wire bytes.
			{100, 14}: "eth_type=0x800,ip_proto=6,tcp_flags=0x0002/0x0002",
			{100, 7}:  "eth_type=0x800,xreg2=0x0000000000000005/0x00000000ffffffff,ct_state=0x22/0x22",
		},
		Version10: {
			{0, 100}: "in_port=6", {100, 25}: "dl_type=0x0806,nw_dst=10.0.0.1/32",
			{100, 10}: "dl_type=0x0800,nw_src=10.0.0.0/8", {100, 13}: "dl_vlan=10",
		},
	}
	for _, v := range []uint8{Version13, Version14, Version15, Version10} {
		t.Run(VersionName(v), func(t *testing.T) {
			c := codecs[v]
			flows := decodeAllFlows(t, c, loadCapture(t, fmt.Sprintf("of1%d-flow-stats.bin", v-1)))
			if len(flows) != len(want) {
				t.Fatalf("%d flows, ovs-ofctl lists %d", len(flows), len(want))
			}
			byKey := map[[2]int]Flow{}
			for _, f := range flows {
				k := [2]int{int(f.TableID), int(f.Priority)}
				if _, dup := byKey[k]; dup && k != [2]int{81, 50} {
					t.Errorf("duplicate rule %v", k)
				}
				byKey[k] = f
			}
			for _, o := range want {
				k := [2]int{o.table, o.priority}
				f, ok := byKey[k]
				if !ok {
					t.Errorf("rule %v missing", k)
					continue
				}
				if k == [2]int{81, 50} {
					continue // five rules share table and priority
				}
				wantNormal := ofctlNormal(o.actions)
				if v == Version10 && o.actions == "write_actions(NORMAL)" {
					wantNormal = false // OpenFlow 1.0 has no write-actions: OVS omits them
				}
				if f.Cookie != o.cookie || f.PacketCount != o.packets || f.ByteCount != o.bytes || f.Normal != wantNormal {
					t.Errorf("rule %v = cookie %#x packets %d bytes %d normal %v; ovs-ofctl: cookie %#x packets %d bytes %d actions %s",
						k, f.Cookie, f.PacketCount, f.ByteCount, f.Normal, o.cookie, o.packets, o.bytes, o.actions)
				}
			}
			if f := byKey[[2]int{94, 1}]; f.Cookie != 0xe4fc1a92d440c578 || f.PacketCount != 112 || !f.Normal {
				t.Errorf("table 94 priority 1 = %+v, want cookie 0xe4fc1a92d440c578, 112 packets, NORMAL", f)
			}
			if f := byKey[[2]int{0, 100}]; f.DurationSec != 1 {
				t.Errorf("table 0 priority 100 duration %d s, want 1 (ovs-ofctl: 1.346s)", f.DurationSec)
			}
			ms := matches[v]
			if v == Version14 {
				ms = matches[Version13]
			}
			for k, m := range ms {
				if got := byKey[k].Match; got != m {
					t.Errorf("rule %v match %q, want %q", k, got, m)
				}
			}
		})
	}
}

func TestDecodeTableStatsCaptures(t *testing.T) {
	var first []TableStats
	for _, v := range []uint8{Version13, Version14, Version15, Version10} {
		t.Run(VersionName(v), func(t *testing.T) {
			msgs := loadCapture(t, fmt.Sprintf("of1%d-table-stats.bin", v-1))
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			ts, err := decodeTableStats(codecs[v], msgs[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 254 {
				t.Fatalf("%d tables, want 254", len(ts))
			}
			for i, s := range ts {
				if int(s.TableID) != i {
					t.Fatalf("entry %d is table %d", i, s.TableID)
				}
			}
			// 120 packets entered table 0 (ovs-ofctl: 8 + 112); table
			// 100 holds the 18 extra rules and sees no traffic.
			if ts[0].LookupCount != 120 || ts[0].MatchedCount != 120 || ts[0].ActiveCount != 2 {
				t.Errorf("table 0 = %+v", ts[0])
			}
			if ts[94].ActiveCount != 1 || ts[94].LookupCount != 112 || ts[100].ActiveCount != 18 || ts[100].LookupCount != 0 {
				t.Errorf("table 94 = %+v, table 100 = %+v", ts[94], ts[100])
			}
			if first == nil {
				first = ts
			} else if fmt.Sprint(ts) != fmt.Sprint(first) {
				t.Errorf("%s table statistics differ from OpenFlow13's", VersionName(v))
			}
		})
	}
}

func TestDecodeMultipartCapture(t *testing.T) {
	msgs := loadCapture(t, "of13-flow-stats-multipart.bin.gz")
	if len(msgs) < 2 {
		t.Fatalf("%d parts, want a reply Open vSwitch split in several", len(msgs))
	}
	for i, m := range msgs {
		_, flags, _, err := statsHeader(codecs[Version13], m)
		if err != nil {
			t.Fatal(err)
		}
		if more := flags&replyMore != 0; more != (i < len(msgs)-1) {
			t.Errorf("part %d of %d: MORE=%v", i, len(msgs), more)
		}
	}
	flows := decodeAllFlows(t, codecs[Version13], msgs)
	if len(flows) != 1200 {
		t.Fatalf("%d flows, want 1200", len(flows))
	}
	seen := map[string]bool{}
	for _, f := range flows {
		if f.TableID != 120 || f.Normal || f.Priority < 100 || f.Priority > 106 {
			t.Fatalf("unexpected %+v", f)
		}
		seen[f.Match] = true
	}
	if len(seen) != 1200 || !seen["eth_type=0x800,ipv4_src=10.1.4.175"] {
		t.Errorf("%d distinct matches; 10.1.4.175 present: %v", len(seen), seen["eth_type=0x800,ipv4_src=10.1.4.175"])
	}
}

func TestHelloVersions(t *testing.T) {
	for _, tc := range []struct {
		file string
		hex  []byte
		want uint32
	}{
		{file: "hello-default.bin", want: 0x7e}, // OpenFlow 1.0-1.5, no bitmap
		{file: "hello-of14.bin", want: 1 << Version14},
		{file: "hello-of11-of12.bin", want: 0x0c}, // version 3 header with a bitmap
		{hex: []byte{1, 0, 0, 8, 0, 0, 0, 1}, want: 0x02},
		{hex: []byte{4, 0, 0, 12, 0, 0, 0, 1, 0, 1, 0, 4}, want: 0x1e}, // undecodable element: fall back
	} {
		name := tc.file
		if name == "" {
			name = fmt.Sprintf("%x", tc.hex)
		}
		t.Run(name, func(t *testing.T) {
			msg := tc.hex
			if tc.file != "" {
				msg = loadCapture(t, tc.file)[0]
			}
			if got := helloVersions(msg); got != tc.want {
				t.Errorf("helloVersions = %#x (%s), want %#x (%s)", got, versionList(got), tc.want, versionList(tc.want))
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	err := decodeError(codecs[Version13], loadCapture(t, "of13-error.bin")[0])
	var oe *Error
	if !errors.As(err, &oe) || oe.Type != 4 || oe.Code != 1 || oe.Name != "BadMatchErrorMsg" {
		t.Fatalf("got %v, want OFPET_BAD_MATCH/OFPBMC_BAD_TYPE", err)
	}
	if got := err.Error(); got != "OpenFlow error BadMatchErrorMsg (type 4, code 1)" {
		t.Errorf("message %q", got)
	}
}

// TestDecodeCorrupt damages every byte of every capture in turn: the
// decoders must return errors or results, never panic.
func TestDecodeCorrupt(t *testing.T) {
	files := map[string]uint8{
		"of13-flow-stats.bin": Version13, "of14-flow-stats.bin": Version14,
		"of15-flow-stats.bin": Version15, "of10-flow-stats.bin": Version10,
		"of13-table-stats.bin": Version13, "of10-table-stats.bin": Version10,
	}
	for file, v := range files {
		t.Run(file, func(t *testing.T) {
			msg := loadCapture(t, file)[0]
			errs := 0
			for i := range msg {
				if i > 600 && i%7 != 0 { // the large table replies repeat one entry shape
					continue
				}
				for _, b := range []byte{0x00, 0xff, msg[i] ^ 0x04} {
					bad := append([]byte(nil), msg...)
					bad[i] = b
					_, err1 := decodeFlowStats(codecs[v], bad)
					_, err2 := decodeTableStats(codecs[v], bad)
					if err1 != nil && err2 != nil {
						errs++
					}
				}
				// Truncations, with the header length kept consistent.
				cut := append([]byte(nil), msg[:i]...)
				if len(cut) >= 4 {
					binary.BigEndian.PutUint16(cut[2:], uint16(len(cut)))
				}
				decodeFlowStats(codecs[v], cut)
				decodeTableStats(codecs[v], cut)
			}
			if errs == 0 {
				t.Error("no corruption was detected at all")
			}
		})
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"header only", []byte{4, 19, 0, 8, 0, 0, 0, 1}},
		{"length lies", []byte{4, 19, 0, 200, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"zero entry length", []byte{4, 19, 0, 20, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"wrong stats type", append([]byte{4, 19, 0, 16, 0, 0, 0, 1, 0, 3, 0, 0}, 0, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeFlowStats(codecs[Version13], tc.msg); err == nil {
				t.Errorf("decodeFlowStats(%x) succeeded", tc.msg)
			}
		})
	}
}

// BenchmarkDecodeFlowStats decodes the 1200-rule reply Open vSwitch split
// in two parts; ns/op divided by 1200 is the client cost per rule.
func BenchmarkDecodeFlowStats(b *testing.B) {
	msgs := loadCapture(b, "of13-flow-stats-multipart.bin.gz")
	c := codecs[Version13]
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := decodeFlowStats(c, m); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeTableStats(b *testing.B) {
	msg := loadCapture(b, "of13-table-stats.bin")[0]
	c := codecs[Version13]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTableStats(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeVersions decodes the 27-rule flow capture and the
// 254-table statistics capture of each version.
func BenchmarkDecodeVersions(b *testing.B) {
	for _, v := range []uint8{Version10, Version13, Version14, Version15} {
		c := codecs[v]
		flows := loadCapture(b, fmt.Sprintf("of1%d-flow-stats.bin", v-1))[0]
		tables := loadCapture(b, fmt.Sprintf("of1%d-table-stats.bin", v-1))[0]
		b.Run(VersionName(v)+"/flows", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeFlowStats(c, flows); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(VersionName(v)+"/tables", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeTableStats(c, tables); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
