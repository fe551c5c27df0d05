package ovsdbrpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// peer is the server end of a Conn under test: it reads the client's
// requests and writes what the test tells it to.
type peer struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func newPair(t *testing.T) (*Conn, *peer) {
	t.Helper()
	server, client := net.Pipe()
	c := newConn(client)
	t.Cleanup(func() {
		server.Close()
		c.Close()
	})
	return c, &peer{t: t, nc: server, rd: bufio.NewReader(server)}
}

// request reads one message from the client.
func (p *peer) request() map[string]json.RawMessage {
	p.t.Helper()
	dec := json.NewDecoder(p.rd)
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		p.t.Errorf("reading the client's message: %v", err)
	}
	// Keep what the decoder buffered for the next read.
	p.rd = bufio.NewReader(io.MultiReader(dec.Buffered(), p.rd))
	return m
}

func (p *peer) send(s string) {
	if _, err := io.WriteString(p.nc, s); err != nil {
		p.t.Errorf("writing %q: %v", s, err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestConnEchoAndStrays: the server's echo probes are answered with their
// params, before and during a call, and messages answering no request of
// ours are dropped while the real reply gets through.
func TestConnEchoAndStrays(t *testing.T) {
	c, p := newPair(t)
	// A probe while idle.
	go p.send(`{"id":"echo","method":"echo","params":["probe1"]}`)
	if m := p.request(); string(m["id"]) != `"echo"` || string(m["result"]) != `["probe1"]` || string(m["error"]) != "null" {
		t.Fatalf("echo reply while idle = %v", m)
	}
	done := make(chan error, 1)
	var dbs []string
	go func() {
		var err error
		dbs, err = c.ListDBs(ctxT(t))
		done <- err
	}()
	req := p.request()
	if string(req["method"]) != `"list_dbs"` || string(req["params"]) != `[]` {
		t.Fatalf("request = %v", req)
	}
	id := string(req["id"])
	go func() {
		p.send(`{"id":null,"method":"update","params":[null,{}]}` + "\n")
		p.send(`{"result":"stray","error":null}`)
		p.send(`{"id":7,"result":[],"error":null}  {"id":"999","result":[],"error":null}`)
		p.send(`{"id":"e2","method":"echo","params":[]}`)
	}()
	if m := p.request(); string(m["id"]) != `"e2"` {
		t.Fatalf("echo reply during a call = %v", m)
	}
	p.send(`{"id":` + id + `,"result":["Open_vSwitch","_Server"],"error":null}`)
	if err := <-done; err != nil || strings.Join(dbs, ",") != "Open_vSwitch,_Server" {
		t.Fatalf("ListDBs = %v, %v", dbs, err)
	}
	if n := c.Dropped(); n != 4 {
		t.Errorf("dropped %d messages, want 4", n)
	}
	if c.Err() != nil {
		t.Errorf("connection failed: %v", c.Err())
	}
}

// TestConnFailures: what ends a connection, and the error each gives.
func TestConnFailures(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(p *peer, id string)
		wantErr string
		broken  bool
	}{
		{"server error keeps the connection", func(p *peer, id string) {
			p.send(`{"id":` + id + `,"result":null,"error":"unknown database"}`)
		}, "list_dbs refused: unknown database", false},
		{"duplicate key", func(p *peer, id string) {
			p.send(`{"id":` + id + `,"result":[],"result":null,"error":null}`)
		}, `duplicate key "result"`, true},
		{"not JSON", func(p *peer, _ string) { p.send("HTTP/1.1 400 Bad Request\r\n\r\n") }, "invalid character 'H'", true},
		{"JSON but not JSON-RPC", func(p *peer, _ string) { p.send("[1,2,3]") }, "not a JSON-RPC object", true},
		{"invalid JSON inside an object", func(p *peer, _ string) { p.send(`{"id":tru}`) }, "invalid JSON", true},
		{"hangs up", func(p *peer, _ string) { p.nc.Close() }, "EOF", true},
		{"odd result", func(p *peer, id string) {
			p.send(`{"id":` + id + `,"result":{"a":1},"error":null}`)
		}, "cannot unmarshal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := newPair(t)
			go func() {
				req := p.request()
				tt.reply(p, string(req["id"]))
			}()
			_, err := c.ListDBs(ctxT(t))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if broken := c.Err() != nil; broken != tt.broken {
				t.Errorf("connection failed = %v (%v), want %v", broken, c.Err(), tt.broken)
			}
		})
	}
}

// TestConnTimeout: a call gives up at its deadline and the connection is
// not used again (a late reply would answer the next request).
func TestConnTimeout(t *testing.T) {
	c, p := newPair(t)
	go p.request() // read, never answer
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.ListDBs(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the deadline", err)
	}
	if c.Err() == nil {
		t.Fatal("connection still usable after a call timed out")
	}
	if _, err := c.ListDBs(ctxT(t)); err == nil {
		t.Fatal("a call on a failed connection worked")
	}
}

// TestConnMessageLimit: a server that sends more than the limit without
// finishing a message fails the connection instead of exhausting memory.
func TestConnMessageLimit(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	fr := frameReader{r: client, max: 1 << 16}
	go func() {
		_, _ = io.WriteString(server, `{"id":"1","result":"`+strings.Repeat("x", 1<<17))
	}()
	if _, err := fr.next(); err == nil || !strings.Contains(err.Error(), "over 65536 bytes") {
		t.Fatalf("error = %v, want the limit", err)
	}
}

// TestFrameReaderReleasesBigMessages: big and small messages come whole,
// the buffer grown for a big one is reused while big ones keep coming, and
// given back once messages stay small.
func TestFrameReaderReleasesBigMessages(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	fr := frameReader{r: client}
	big := `{"id":"1","result":"` + strings.Repeat("x", 4*keepBuffer) + `","error":null}`
	small := `{"id":"2","result":[],"error":null}`
	msgs := []string{big, small, big}
	for range shrinkAfter {
		msgs = append(msgs, small)
	}
	go func() {
		for _, m := range msgs {
			_, _ = io.WriteString(server, m+"\n")
		}
		server.Close()
	}()
	var bigCap int
	for i, want := range msgs {
		got, err := fr.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(want))
		}
		switch i {
		case 0:
			bigCap = cap(fr.buf)
		case 2:
			if cap(fr.buf) != bigCap {
				t.Errorf("the buffer was reallocated (%d → %d bytes) between big messages", bigCap, cap(fr.buf))
			}
		}
	}
	if _, err := fr.next(); err == nil { // runs release, then fails on the pipe
		t.Fatal("read past the end")
	}
	if cap(fr.buf) > keepBuffer {
		t.Errorf("after %d small messages the buffer still has %d bytes", shrinkAfter, cap(fr.buf))
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name     string
		msg      string
		id, meth string
		wantErr  string
	}{
		{"reply", `{"id":"1","result":[],"error":null}`, `"1"`, "", ""},
		{"echo request", `{"id":"echo","method":"echo","params":[]}`, `"echo"`, `"echo"`, ""},
		{"null id", `{"id":null,"result":[],"error":null}`, "null", "", ""},
		{"missing id", `{"result":[],"error":null}`, "", "", ""},
		{"duplicate id", `{"id":"1","id":"2","result":[]}`, "", "", `duplicate key "id"`},
		{"duplicate nested key is fine", `{"id":"1","result":[{"a":1,"a":2}]}`, `"1"`, "", ""},
		{"unknown members ignored", `{"id":"1","x":{"y":[1,2]},"result":[]}`, `"1"`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := parseEnvelope([]byte(tt.msg))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(e.id) != tt.id || string(e.method) != tt.meth {
				t.Fatalf("parseEnvelope = id %s method %s, %v", e.id, e.method, err)
			}
		})
	}
}

// FuzzMessages feeds a byte stream to what the reader does with it:
// framing, the envelope, and a transact result's rows. Nothing may panic.
func FuzzMessages(f *testing.F) {
	f.Add([]byte(`{"id":"1","result":[{"rows":[{"_uuid":["uuid","718bf26c-278c-4d5a-909b-eb8c0d29354c"],"name":"tapvm1","ofport":1,` +
		`"external_ids":["map",[["iface-id","port-vm1"]]],"trunks":["set",[10,20]]}]}],"error":null}`))
	f.Add([]byte(`{"id":"echo","method":"echo","params":[]} {"id":null,"method":"update","params":[null,{}]}`))
	f.Add([]byte(`{"id":"2","result":[{"details":"no_such_column is not a valid column name","error":"syntax error"},null],"error":null}`))
	f.Add([]byte(`[1,2,3]`))
	ops := []Select{{Table: "Interface", Columns: []string{"_uuid", "name", "ofport", "external_ids", "trunks"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{r: strings.NewReader(string(data)), max: 1 << 20}
		for range 4 {
			msg, err := fr.next()
			if err != nil {
				return
			}
			e, err := parseEnvelope(msg)
			if err != nil {
				return
			}
			_ = DecodeResult(e.result, ops, func(_ int, r Row) error {
				return r.Columns(func(col string, v Value) error {
					_, _ = v.String()
					_, _ = v.UUID()
					_, _, _ = v.OptInt()
					_, _ = v.Map()
					_, _ = v.Ints()
					_, err := v.UUIDs()
					return err
				})
			})
		}
	})
}

// TestDialIsRaw: a dialed connection is read and written with raw system
// calls (package rawio), so that the monitor updates the reader waits for
// do not wake the runtime's monitor thread.
func TestDialIsRaw(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw system calls are used on Linux only")
	}
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "db.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if s, err := l.Accept(); err == nil {
			defer s.Close()
			_, _ = io.Copy(io.Discard, s)
		}
	}()
	c, err := Dial(ctxT(t), "unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if !rawio.IsRaw(c.nc) {
		t.Errorf("the connection is a %T, not a raw one", c.nc)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
