package ovsdb

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
)

// TestFrameConnReleasesBigMessages checks that a connection hands big and
// small messages over whole, and keeps no buffer of a big one after it
// was read (a topology reply must not stay in memory until the next).
func TestFrameConnReleasesBigMessages(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	fc := newFrameConn(client)
	defer fc.Close()
	big := `{"id":"1","result":"` + strings.Repeat("x", 4*keepBuffer) + `","error":null}`
	small := `{"id":"2","result":[],"error":null}`
	go func() {
		_, _ = io.WriteString(server, big)
		_, _ = io.WriteString(server, small)
	}()
	dec := json.NewDecoder(fc) // as the JSON-RPC client reads it
	for i, want := range []string{big, small} {
		var got json.RawMessage
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(want))
		}
		if i == 0 && fc.raw != nil {
			t.Errorf("the big message's copy (%d bytes) is kept after it was read", cap(fc.raw))
		}
	}
	if fc.raw == nil {
		t.Error("a small message's buffer was dropped; it is reused")
	}
}
