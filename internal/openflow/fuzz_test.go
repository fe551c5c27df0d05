package openflow

import (
	"fmt"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeReply feeds arbitrary messages to every reply decoder of every
// version, seeded with the real Open vSwitch captures: decoding must
// return a result or an error, never panic or hang.
//
//	go test ./internal/openflow/ -run XXX -fuzz FuzzDecodeReply -fuzztime 60s
func FuzzDecodeReply(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(captureDir, "*.bin*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, file := range files {
		for _, m := range loadCapture(f, filepath.Base(file)) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, c := range codecs {
			flows, err := decodeFlowStats(c, msg)
			if err == nil && len(msg) < c.statsHeader {
				t.Fatalf("%d-byte message decoded to %d flows", len(msg), len(flows))
			}
			for _, fl := range flows {
				if !utf8.ValidString(fl.Match) {
					t.Fatalf("match %q is not text", fl.Match)
				}
			}
			tables, err := decodeTableStats(c, msg)
			if err == nil && len(tables)*c.tableEntry != len(msg)-c.statsHeader {
				t.Fatalf("%d tables from a %d-byte message", len(tables), len(msg))
			}
			if len(msg) >= 8 {
				decodeError(c, msg)
			}
		}
		helloVersions(msg)
	})
}

// FuzzRenderMatch renders arbitrary OXM lists and OpenFlow 1.0 matches,
// seeded with the matches of every captured rule.
//
//	go test ./internal/openflow/ -run XXX -fuzz FuzzRenderMatch -fuzztime 60s
func FuzzRenderMatch(f *testing.F) {
	for _, v := range []uint8{Version10, Version13, Version14, Version15} {
		c := codecs[v]
		for _, m := range loadCapture(f, fmt.Sprintf("of1%d-flow-stats.bin", v-1)) {
			for _, raw := range flowEntries(f, c, m) {
				switch v {
				case Version10:
					f.Add(v, raw[4:44])
				case Version15:
					f.Add(v, raw[28:24+be.Uint16(raw[26:])])
				default:
					f.Add(v, raw[52:48+be.Uint16(raw[50:])])
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, v uint8, b []byte) {
		out := appendOXMs([]byte("x"), v, b)
		if string(out[:1]) != "x" || !utf8.Valid(out) {
			t.Fatalf("rendered %q", out)
		}
		if len(b) >= 40 {
			appendMatch10(nil, b[:40])
		}
	})
}
