package openflow

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// captureDir holds raw OpenFlow messages captured from the lab's Open
// vSwitch 3.1 by TestLabCapture: each file is one or more whole messages
// back to back, exactly as read from br-int.mgmt (".gz" files compressed).
const captureDir = "testdata/ovs-3.1"

// loadCapture returns the messages of a capture file.
func loadCapture(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	var msgs [][]byte
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		m, err := readMsg(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}
