package ovsdb

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

func portNames(b Bridge) []string {
	var names []string
	for _, p := range b.Ports {
		names = append(names, p.Name)
	}
	return names
}

func bridgeNames(t Topology) []string {
	var names []string
	for _, b := range t.Bridges {
		names = append(names, b.Name)
	}
	return names
}

// checkCapturedTopology checks the topology of the capture in
// testdata/ovs-3.1 (lab.sh plus br-ex with a bond and patch ports, br-tun
// with a VXLAN port, trunk ports and a port whose device does not exist).
func checkCapturedTopology(t *testing.T, topo Topology) {
	t.Helper()
	if topo.OVSVersion != "3.1.0" || topo.DBVersion != "8.3.1" || topo.CurCfg != 17 ||
		topo.Hostname != "hv1" || topo.SystemID != "5e2b7a4c-4c1e-4f0e-9d2a-1b3c4d5e6f70" {
		t.Errorf("Open_vSwitch fields = %+v", topo)
	}
	if got, want := bridgeNames(topo), []string{"br-ex", "br-int", "br-tun"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("bridges = %v, want %v", got, want)
	}
	brInt, _ := topo.Bridge("br-int")
	if brInt.UUID != "963ccff2-9ba2-49da-acae-95129d90ee97" || brInt.DatapathType != "netdev" || brInt.FailMode != "secure" ||
		!reflect.DeepEqual(brInt.Protocols, []string{"OpenFlow10", "OpenFlow13"}) ||
		brInt.MACTableSize != 50000 || brInt.MACAgingTime != 300 {
		t.Errorf("br-int = %+v", brInt)
	}
	wantPorts := []string{"br-int", "ghost", "int-br-ex", "tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "trunk0", "trunk1", "uplink"}
	if got := portNames(brInt); !reflect.DeepEqual(got, wantPorts) {
		t.Errorf("br-int ports = %v, want %v", got, wantPorts)
	}
	ports := []struct {
		name     string
		tag      int
		trunks   []int
		vlanMode string
		ofport   int
	}{
		{"tapvm1", 10, nil, "", 1},
		{"tapvm3", 10, nil, "", 3},
		{"tapvm4", 20, nil, "", 4},
		{"uplink", 10, nil, "", 6},
		{"br-int", -1, nil, "", 65534},
		{"trunk0", -1, []int{10, 20}, "trunk", 8},
		{"trunk1", 40, []int{30}, "native-untagged", 9},
		{"ghost", -1, nil, "", -1},
	}
	for _, w := range ports {
		p, ok := brInt.Port(w.name)
		if !ok {
			t.Errorf("no port %s", w.name)
			continue
		}
		if p.Tag != w.tag || !reflect.DeepEqual(p.Trunks, w.trunks) || p.VLANMode != w.vlanMode ||
			len(p.Interfaces) != 1 || p.Interfaces[0].Name != w.name || p.Interfaces[0].OFPort != w.ofport {
			t.Errorf("port %s = %+v, want tag %d trunks %v mode %q ofport %d", w.name, p, w.tag, w.trunks, w.vlanMode, w.ofport)
		}
	}
	tap, _ := brInt.Port("tapvm2")
	if in := tap.Interfaces[0]; in.IfaceID != "port-vm2" || in.AttachedMAC != "02:00:00:00:00:02" ||
		in.VMUUID != "00000000-0000-4000-8000-000000000002" || in.ExternalIDs["iface-status"] != "active" {
		t.Errorf("tapvm2 interface = %+v", in)
	}

	brEx, _ := topo.Bridge("br-ex")
	if !reflect.DeepEqual(brEx.Protocols, []string{"OpenFlow13"}) || brEx.FailMode != "" || brEx.MACTableSize != 0 || brEx.MACAgingTime != 0 {
		t.Errorf("br-ex = %+v", brEx)
	}
	if got, want := portNames(brEx), []string{"bond0", "br-ex", "phy-br-ex"}; !reflect.DeepEqual(got, want) {
		t.Errorf("br-ex ports = %v, want %v", got, want)
	}
	bond, _ := brEx.Port("bond0")
	if len(bond.Interfaces) != 2 || bond.Interfaces[0].Name != "ba" || bond.Interfaces[1].Name != "ca" {
		t.Errorf("bond0 interfaces = %+v, want ba, ca", bond.Interfaces)
	}
	patch, _ := brEx.Port("phy-br-ex")
	if in := patch.Interfaces[0]; in.Type != "patch" || in.Options["peer"] != "int-br-ex" {
		t.Errorf("phy-br-ex = %+v", in)
	}
	brTun, _ := topo.Bridge("br-tun")
	vx, _ := brTun.Port("vxlan-0a000002")
	if len(vx.Interfaces) != 1 || vx.Interfaces[0].Options["remote_ip"] != "10.0.0.2" {
		t.Errorf("vxlan port = %+v", vx)
	}
}

func TestDecodeTopology(t *testing.T) {
	ops, err := planTopology(nil)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := decodeTopology(ops, capturedResult(t, ops))
	if err != nil {
		t.Fatal(err)
	}
	checkCapturedTopology(t, topo)
}

func TestDecodeTopologyErrors(t *testing.T) {
	ops, err := planTopology(nil)
	if err != nil {
		t.Fatal(err)
	}
	var full []map[string]json.RawMessage
	if err := json.Unmarshal(capturedResult(t, ops), &full); err != nil {
		t.Fatal(err)
	}
	// result renders the captured result with op i's element replaced.
	result := func(i int, elem string) []byte {
		parts := make([]string, len(full))
		for j, f := range full {
			b, _ := json.Marshal(f)
			parts[j] = string(b)
		}
		parts[i] = elem
		return []byte("[" + strings.Join(parts, ",") + "]")
	}
	tests := []struct {
		name    string
		result  []byte
		wantErr string
	}{
		{
			// ovsdb-server stops at the first failing op: its error, then null.
			name:    "failed op",
			result:  []byte(`[{"rows":[]},{"error":"syntax error","details":"Table Port has no column named \"x\"."},null,null]`),
			wantErr: `select on Port refused: syntax error: Table Port has no column named "x".`,
		},
		{
			name:    "op not run",
			result:  result(3, "null"),
			wantErr: "select on Open_vSwitch was not run",
		},
		{
			name:    "too few results",
			result:  []byte(`[{"rows":[]}]`),
			wantErr: "1 entries for 4 selects",
		},
		{
			name:    "no Open_vSwitch row",
			result:  result(3, `{"rows":[]}`),
			wantErr: "returned 0 Open_vSwitch rows",
		},
		{
			name:    "dangling interface reference",
			result:  result(2, `{"rows":[]}`),
			wantErr: "which the same transaction did not return",
		},
		{
			name:    "row without uuid",
			result:  result(0, `{"rows":[{"name":"br-x","ports":["set",[]]}]}`),
			wantErr: "Bridge row without _uuid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeTopology(ops, tt.result)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestUnknownColumnReported decodes what ovsdb-server 3.1 answered to a
// select naming an unknown column (captured): the op's error, reported.
func TestUnknownColumnReported(t *testing.T) {
	ops := []ovsdbrpc.Select{{Table: "Bridge", Columns: []string{"nonesuch"}}, {Table: "Port", Columns: []string{"name"}}}
	err := ovsdbrpc.DecodeResult(readCapturedResult(t, "unknown-column"), ops, func(int, ovsdbrpc.Row) error { return nil })
	var oe *ovsdbrpc.OpError
	if !errors.As(err, &oe) || oe.Table != "Bridge" || oe.Err == "" {
		t.Fatalf("error = %v, want the Bridge select refused", err)
	}
	t.Log(err)
}

// TestNewConnectsLazily: New works with the server down; the first call
// after it comes up connects.
func TestNewConnectsLazily(t *testing.T) {
	s := newFakeServer(t)
	s.stop()
	c, err := New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CurCfg(ctxT(t)); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("CurCfg with the server down: %v", err)
	}
	s.listen()
	if cfg, err := c.CurCfg(ctxT(t)); err != nil || cfg != 17 {
		t.Fatalf("CurCfg = %d, %v; want 17", cfg, err)
	}
	if _, err := New("ptcp:6640"); err == nil {
		t.Error("New accepted a listening address")
	}
}

func dialFake(t *testing.T, s *fakeServer) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientTopology(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	topo, err := c.Topology(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	checkCapturedTopology(t, topo)
	if topo.SchemaVersion != "8.3.1" {
		t.Errorf("SchemaVersion = %q", topo.SchemaVersion)
	}
	cfg, err := c.CurCfg(ctxT(t))
	if err != nil || cfg != 17 {
		t.Errorf("CurCfg = %d, %v; want 17", cfg, err)
	}

	// One transaction for Topology, naming exactly the columns read.
	_, ops := transactOps(t, s.recorded())
	var tables []string
	for _, op := range ops {
		tables = append(tables, op["table"].(string))
	}
	want := []string{"Database", "Bridge", "Port", "Interface", "Open_vSwitch", "Open_vSwitch"}
	if !reflect.DeepEqual(tables, want) {
		t.Errorf("selects on %v, want %v", tables, want)
	}
	if cols := ops[len(ops)-1]["columns"]; !reflect.DeepEqual(cols, []any{"cur_cfg"}) {
		t.Errorf("CurCfg selects %v, want only cur_cfg", cols)
	}
	if cols := ops[3]["columns"].([]any); len(cols) != 10 {
		t.Errorf("Interface select names %d columns (%v), want the 10 read", len(cols), cols)
	}
}

func TestClientSchemaDifferences(t *testing.T) {
	tests := []struct {
		name    string
		change  func(s *fakeServer)
		wantErr string
		check   func(t *testing.T, topo Topology)
	}{
		{
			name:    "required column missing",
			change:  func(s *fakeServer) { s.version = "9.0.0"; s.dropColumn("Interface", "ofport") },
			wantErr: "the Open_vSwitch schema (version 9.0.0) has no column Interface.ofport, which this exporter needs",
		},
		{
			name:    "required table missing",
			change:  func(s *fakeServer) { delete(s.columns, "Port"); delete(s.tables, "Port") },
			wantErr: "has no table Port",
		},
		{
			name:   "optional column missing",
			change: func(s *fakeServer) { s.version = "7.0.0"; s.dropColumn("Interface", "mac_in_use") },
			check: func(t *testing.T, topo Topology) {
				b, _ := topo.Bridge("br-int")
				p, _ := b.Port("tapvm1")
				if in := p.Interfaces[0]; in.MACInUse != "" || in.OFPort != 1 || in.LinkState != "up" {
					t.Errorf("tapvm1 = %+v, want no MAC, the rest read", in)
				}
			},
		},
		{
			name: "unknown column in a newer schema",
			change: func(s *fakeServer) {
				s.version = "9.9.9"
				s.addColumn("Interface", "quantum_state", []any{"map", []any{}})
			},
			check: func(t *testing.T, topo Topology) {
				if topo.SchemaVersion != "9.9.9" {
					t.Errorf("SchemaVersion = %q", topo.SchemaVersion)
				}
			},
		},
		{
			// Before OVS 2.9 there is no _Server database: no schema check,
			// the server itself rejects an unknown column, which shows as a
			// missing Open_vSwitch row.
			name: "no _Server database, column missing",
			change: func(s *fakeServer) {
				s.dbs = []string{"Open_vSwitch"}
				s.dropColumn("Port", "vlan_mode")
			},
			wantErr: "select on Port refused: syntax error: vlan_mode is not a valid column name",
		},
		{
			name:   "no _Server database",
			change: func(s *fakeServer) { s.dbs = []string{"Open_vSwitch"} },
			check: func(t *testing.T, topo Topology) {
				if topo.SchemaVersion != "" {
					t.Errorf("SchemaVersion = %q, want empty", topo.SchemaVersion)
				}
			},
		},
		{
			name:    "OVN database instead",
			change:  func(s *fakeServer) { s.dbs = []string{"OVN_Northbound", "_Server"} },
			wantErr: `serves ["OVN_Northbound" "_Server"] but not Open_vSwitch`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.set(func() { tt.change(s) })
			c, err := Dial(ctxT(t), s.addr)
			var topo Topology
			if err == nil {
				defer c.Close()
				topo, err = c.Topology(ctxT(t))
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, topo)
		})
	}
}

// TestClientReconnect restarts the fake server under a client: the next
// call must work, on a new connection, without an error.
func TestClientReconnect(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	if _, err := c.CurCfg(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.restart()
		if _, err := c.Topology(ctxT(t)); err != nil {
			t.Fatalf("after restart %d: %v", i, err)
		}
	}
	if d := s.dialCount(); d != 4 {
		t.Errorf("dialled %d times, want 4 (one per restart)", d)
	}

	// Down: a clear error, and back up: it works again.
	s.stop()
	_, err := c.CurCfg(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "--ovs.db") {
		t.Fatalf("CurCfg with the server down: %v, want an error naming --ovs.db", err)
	}
	s.listen()
	if _, err := c.CurCfg(ctxT(t)); err != nil {
		t.Fatalf("after the server came back: %v", err)
	}
}

// TestClientTimeout: a server that accepts but stops answering makes the
// call fail at the context's deadline, and the next call dials again.
func TestClientTimeout(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	s.set(func() { s.hangMethod = "transact" })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Topology(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a 200ms deadline", d)
	}
	s.set(func() { s.hangMethod = "" })
	if _, err := c.Topology(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if d := s.dialCount(); d != 2 {
		t.Errorf("dialled %d times, want 2", d)
	}
}

// TestClientNotOVSDB points the client at servers that are not OVSDB. It
// must fail quickly with a useful error and leave no goroutine behind
// (a reader that retried a failed read would spin forever on bytes that
// are not JSON).
func TestClientNotOVSDB(t *testing.T) {
	tests := []struct {
		name    string
		greet   string
		wantErr string
	}{
		{"http", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "invalid character 'H'"},
		{"json but not json-rpc", "[1,2,3]\n", "not a JSON-RPC object"},
		{"hangs up", "", "ovsdb-server closed it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.set(func() {
				s.onAccept = func(c net.Conn) bool {
					if tt.greet != "" {
						c.Write([]byte(tt.greet))
					} else {
						c.Close()
					}
					return false
				}
			})
			before := runtime.NumGoroutine()
			start := time.Now()
			_, err := Dial(ctxT(t), s.addr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Dial error = %v, want one containing %q", err, tt.wantErr)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Dial took %v", d)
			}
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines after Dial failed, %d before", n, before)
			}
		})
	}
}

func TestClientClosed(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Topology(ctxT(t)); err != ErrClosed {
		t.Fatalf("Topology after Close: %v, want ErrClosed", err)
	}
}

// TestClientDropsStrayMessages: messages that answer no request of ours (a
// notification, a reply with a null, missing or numeric id) are dropped
// and the real replies still get through.
func TestClientDropsStrayMessages(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() {
		s.prelude = []string{
			`{"id":null,"method":"update","params":[null,{}]}`,
			`{"result":"stray","error":null}`,
			`{"id":null,"result":null,"error":"bad request"}`,
			`{"id":7,"result":[],"error":null}`,
			`{}`,
		}
	})
	c := dialFake(t, s)
	for range 2 {
		if _, err := c.Topology(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	c.turn <- struct{}{}
	dropped := c.s.conn.Dropped()
	<-c.turn
	if dropped < 5 {
		t.Errorf("dropped %d stray messages, want at least 5", dropped)
	}
}

// TestClientRejectsDuplicateKeys: a message naming a member twice fails
// the call with an error that says so, as the unixctl client does.
func TestClientRejectsDuplicateKeys(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	s.set(func() { s.prelude = []string{`{"id":"x","result":[],"result":null,"error":null}`} })
	_, err := c.Topology(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), `duplicate key "result"`) {
		t.Fatalf("Topology error = %v, want one naming the duplicate key", err)
	}
}

// TestClientHonoursDeadline: against a server that accepts and never
// answers, every call fails at its context's deadline instead of hanging.
func TestClientHonoursDeadline(t *testing.T) {
	dir, err := os.MkdirTemp("", "ovsdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "db.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	c, err := New("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Dial", func(ctx context.Context) error {
			c, err := Dial(ctx, "unix:"+path)
			if err == nil {
				c.Close()
			}
			return err
		}},
		{"Topology", func(ctx context.Context) error { _, err := c.Topology(ctx); return err }},
		{"CurCfg", func(ctx context.Context) error { _, err := c.CurCfg(ctx); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.call(ctx) }()
			select {
			case err := <-done:
				if err == nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("error = %v, want the deadline", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("call still running 10s after its 200ms deadline")
			}
		})
	}
}

// TestClientQueuedCallHonoursDeadline: a call waiting for the connection
// behind a hung one gives up at its own deadline, not the hung call's.
func TestClientQueuedCallHonoursDeadline(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	s.set(func() { s.hangMethod = "transact" })
	hungCtx, cancelHung := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelHung()
	hung := make(chan error, 1)
	go func() { _, err := c.Topology(hungCtx); hung <- err }()
	// Wait until the hung call holds the connection.
	for len(s.recorded()) == 0 || !strings.Contains(string(s.recorded()[len(s.recorded())-1]), "transact") {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.CurCfg(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued call: %v, want its deadline", err)
	}
	select {
	case err := <-hung:
		t.Fatalf("the hung call ended (%v) before the queued one gave up", err)
	default:
	}
	cancelHung()
	if err := <-hung; err == nil {
		t.Error("hung call succeeded")
	}
}
