package openflow

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// describeCaptures decodes every capture with every decoder that applies
// and renders all that came out, one value per line, so that a change in
// any decoded field of any rule shows up as a diff of decoded.golden.
func describeCaptures(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, v := range []uint8{Version10, Version13, Version14, Version15} {
		c := codecs[v]
		files := []string{fmt.Sprintf("of1%d-table-stats.bin", v-1), fmt.Sprintf("of1%d-flow-stats.bin", v-1)}
		if v == Version13 {
			files = append(files, "of13-flow-stats-multipart.bin.gz", "of13-error.bin")
		}
		for _, file := range files {
			for i, msg := range loadCapture(t, file) {
				fmt.Fprintf(&b, "== %s %s message %d\n", VersionName(v), file, i)
				describeMessage(&b, c, msg)
			}
		}
	}
	for _, file := range []string{"hello-default.bin", "hello-of11-of12.bin", "hello-of14.bin"} {
		fmt.Fprintf(&b, "== %s\nversions %#x\n", file, helloVersions(loadCapture(t, file)[0]))
	}
	return b.String()
}

func describeMessage(b *strings.Builder, c *codec, msg []byte) {
	if msg[1] == typeError {
		var oe *Error
		if err := decodeError(c, msg); errors.As(err, &oe) {
			fmt.Fprintf(b, "openflow error type=%d code=%d name=%s\n", oe.Type, oe.Code, oe.Name)
		} else {
			fmt.Fprintf(b, "error %v\n", err)
		}
		return
	}
	if ts, err := decodeTableStats(c, msg); err == nil {
		for _, s := range ts {
			fmt.Fprintf(b, "table=%d active=%d lookups=%d matched=%d\n", s.TableID, s.ActiveCount, s.LookupCount, s.MatchedCount)
		}
		return
	}
	fs, err := decodeFlowStats(c, msg)
	if err != nil {
		fmt.Fprintf(b, "error %v\n", err)
	}
	for _, f := range fs {
		fmt.Fprintf(b, "table=%d priority=%d cookie=%#x packets=%d bytes=%d duration=%d normal=%v match=%q\n",
			f.TableID, f.Priority, f.Cookie, f.PacketCount, f.ByteCount, f.DurationSec, f.Normal, f.Match)
	}
}

// describeRequests renders every request this package sends, in hex.
func describeRequests(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	filters := []FlowFilter{{}, {OutPort: PortNormal}, {OneTable: true, TableID: 94}, {OneTable: true, TableID: 0, OutPort: 5}}
	for _, v := range []uint8{Version10, Version13, Version14, Version15} {
		c := codecs[v]
		fmt.Fprintf(&b, "%s hello %x\n", VersionName(v), c.helloMsg())
		fmt.Fprintf(&b, "%s echo-request %x\n", VersionName(v), c.echoRequestMsg(7, []byte("ping")))
		fmt.Fprintf(&b, "%s echo-reply %x\n", VersionName(v), c.echoReplyMsg(8, []byte("pong")))
		fmt.Fprintf(&b, "%s table-stats-request %x\n", VersionName(v), c.tableStatsRequestMsg(9))
		for i, f := range filters {
			fmt.Fprintf(&b, "%s flow-stats-request %+v %x\n", VersionName(v), f, c.flowStatsRequestMsg(uint32(10+i), f))
		}
	}
	return b.String()
}

// TestGolden compares what the decoders make of every capture, and the
// requests the encoders build, with the golden files. Both files were
// first written by the goloxi-based codec this package used before, an
// independent implementation; refresh them (go test -run Golden -update)
// only for a change meant to alter decoded values.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		got  string
	}{
		{"decoded.golden", describeCaptures(t)},
		{"requests.golden", describeRequests(t)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(captureDir, tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(tc.got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, []byte(tc.got)) {
				gl, wl := strings.Split(tc.got, "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("%s differs first at line %d:\n got  %s\n want %s", tc.file, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%s: %d lines, want %d", tc.file, len(gl), len(wl))
			}
		})
	}
}
