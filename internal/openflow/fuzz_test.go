package openflow

import (
	"os"
	"path/filepath"
	"testing"
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
	if _, err := os.Stat(captureDir); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, c := range codecs {
			flows, err := decodeFlowStats(c, msg)
			if err == nil && len(msg) < c.statsHeader {
				t.Fatalf("%d-byte message decoded to %d flows", len(msg), len(flows))
			}
			decodeTableStats(c, msg)
			if len(msg) >= 8 {
				decodeError(c, msg)
			}
		}
		if len(msg) >= 8 {
			helloVersions(msg)
		}
	})
}
