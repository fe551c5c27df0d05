package ovsdb

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

var update = flag.Bool("update", false, "rewrite testdata/lab-topology.json from the lab (go test -run TestLab -update)")

// labTopologyFile is a Topology read from a fresh lab (lab.sh up), for
// ovsdbtest.Fake.
const labTopologyFile = "testdata/lab-topology.json"

func labAddr(l *labtest.Lab) string { return "unix:" + filepath.Join(l.RunDir, "db.sock") }

func vsctlGet(t testing.TB, l *labtest.Lab, args ...string) string {
	t.Helper()
	out, err := l.Vsctl(append([]string{"get"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(strings.TrimSpace(out), `"`)
}

func TestLab(t *testing.T) {
	l := labtest.Up(t, "db1")
	c, err := Dial(ctxT(t), labAddr(l))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("topology", func(t *testing.T) {
		topo, err := c.Topology(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := bridgeNames(topo); !reflect.DeepEqual(got, []string{"br-int"}) {
			t.Fatalf("bridges = %v", got)
		}
		if want := vsctlGet(t, l, "open_vswitch", ".", "cur_cfg"); strconv.FormatInt(topo.CurCfg, 10) != want {
			t.Errorf("CurCfg = %d, ovs-vsctl says %s", topo.CurCfg, want)
		}
		out, err := l.Exec("ovsdb-client", "get-schema-version", labAddr(l))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(out); topo.SchemaVersion != want {
			t.Errorf("SchemaVersion = %q, ovsdb-client says %q", topo.SchemaVersion, want)
		}
		br := topo.Bridges[0]
		if br.DatapathType != "netdev" || br.FailMode != "secure" || br.MACAgingTime != 300 || br.MACTableSize != 0 ||
			br.UUID != vsctlGet(t, l, "bridge", "br-int", "_uuid") {
			t.Errorf("br-int = %+v", br)
		}
		wantPorts := []string{"br-int", "tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"}
		if got := portNames(br); !reflect.DeepEqual(got, wantPorts) {
			t.Fatalf("ports = %v, want %v", got, wantPorts)
		}
		for _, p := range br.Ports {
			wantTag := -1
			switch {
			case p.Name == "uplink" || p.Name >= "tapvm1" && p.Name <= "tapvm3":
				wantTag = 10
			case p.Name == "tapvm4" || p.Name == "tapvm5":
				wantTag = 20
			}
			if p.Tag != wantTag || p.Trunks != nil || p.UUID != vsctlGet(t, l, "port", p.Name, "_uuid") {
				t.Errorf("port %s: tag %d trunks %v uuid %s, want tag %d", p.Name, p.Tag, p.Trunks, p.UUID, wantTag)
			}
			if len(p.Interfaces) != 1 || p.Interfaces[0].Name != p.Name {
				t.Errorf("port %s interfaces = %+v", p.Name, p.Interfaces)
				continue
			}
			in := p.Interfaces[0]
			if want := vsctlGet(t, l, "interface", in.Name, "ofport"); strconv.Itoa(in.OFPort) != want {
				t.Errorf("%s: ofport %d, ovs-vsctl says %s", in.Name, in.OFPort, want)
			}
			if want := vsctlGet(t, l, "interface", in.Name, "mac_in_use"); in.MACInUse != want {
				t.Errorf("%s: mac_in_use %s, ovs-vsctl says %s", in.Name, in.MACInUse, want)
			}
			if !strings.HasPrefix(in.Name, "tapvm") {
				if in.IfaceID != "" || in.ExternalIDs != nil {
					t.Errorf("%s: external_ids %v, want none", in.Name, in.ExternalIDs)
				}
				continue
			}
			i := strings.TrimPrefix(in.Name, "tapvm")
			if in.IfaceID != "port-vm"+i || in.AttachedMAC != "02:00:00:00:00:0"+i ||
				in.VMUUID != "00000000-0000-4000-8000-00000000000"+i || in.ExternalIDs["iface-status"] != "active" {
				t.Errorf("%s: external_ids %v (iface-id %q attached-mac %q vm-uuid %q)", in.Name, in.ExternalIDs, in.IfaceID, in.AttachedMAC, in.VMUUID)
			}
			if in.Type != "" || in.AdminState != "up" || in.LinkState != "up" || in.Error != "" {
				t.Errorf("%s = %+v", in.Name, in)
			}
		}
		checkLabTestdata(t, topo)
	})

	t.Run("cur_cfg", func(t *testing.T) {
		cfg0, err := c.CurCfg(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Vsctl("add-port", "br-int", "extra0", "--", "set", "interface", "extra0", "type=internal"); err != nil {
			t.Fatal(err)
		}
		defer l.Vsctl("--if-exists", "del-port", "extra0", "--", "--if-exists", "del-port", "extra1")
		cfg1, err := c.CurCfg(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if cfg1 <= cfg0 {
			t.Errorf("cur_cfg %d after add-port, %d before: want it bumped", cfg1, cfg0)
		}
		// ovs-vsctl --no-wait does not bump next_cfg, so cur_cfg stays: a
		// reader polling cur_cfg sees such changes only at its periodic
		// full read. This documents the limit of CurCfg.
		if _, err := l.Vsctl("--no-wait", "add-port", "br-int", "extra1", "--", "set", "interface", "extra1", "type=internal"); err != nil {
			t.Fatal(err)
		}
		cfg2, err := c.CurCfg(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if cfg2 != cfg1 {
			t.Errorf("cur_cfg %d after add-port --no-wait, %d before: OVS changed, update CurCfg's doc", cfg2, cfg1)
		}
		topo, err := c.Topology(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		br, _ := topo.Bridge("br-int")
		for _, name := range []string{"extra0", "extra1"} {
			if _, ok := br.Port(name); !ok {
				t.Errorf("no port %s in %v", name, portNames(br))
			}
		}
		t.Logf("cur_cfg: %d, %d after add-port, %d after add-port --no-wait", cfg0, cfg1, cfg2)
	})

	// Over TCP ovsdb-server probes idle clients every 5 s and drops those
	// that stay silent: the client answers the probes, so a client idle
	// for longer than two probe intervals keeps its connection.
	t.Run("tcp", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits 12 s for inactivity probes")
		}
		ctl := filepath.Join(l.RunDir, "ovsdb-server.ctl")
		if _, err := l.Appctl("-t", ctl, "ovsdb-server/add-remote", "ptcp:6640:127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		defer l.Appctl("-t", ctl, "ovsdb-server/remove-remote", "ptcp:6640:127.0.0.1")
		var tc *Client
		// The lab's loopback is in its netns: dial from there (a socket
		// stays in the namespace it was created in).
		err := l.InNetns(func() (err error) {
			tc, err = Dial(ctxT(t), "tcp:127.0.0.1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		if _, err := tc.Topology(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		sess := tc.s
		read := sess.conn.BytesRead()
		time.Sleep(12 * time.Second)
		if sess.conn.BytesRead() == read {
			t.Error("ovsdb-server sent nothing in 12 s: no inactivity probes to answer, the test proves nothing")
		}
		if err := sess.conn.Err(); err != nil {
			t.Errorf("the TCP connection failed while idle: %v", err)
		}
		if _, err := tc.CurCfg(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if tc.s != sess {
			t.Error("the TCP connection was replaced after 12 s idle: inactivity probes not answered")
		}
	})

	t.Run("restart", func(t *testing.T) {
		if _, err := c.Topology(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		l.MustRun("restart")
		// The contract is that the second call works; this client also
		// gets the first one right, since it notices the closed socket.
		_, err := c.Topology(ctxT(t))
		if err != nil {
			t.Logf("first call after restart: %v", err)
		}
		topo, err := c.Topology(ctxT(t))
		if err != nil {
			t.Fatalf("second call after restart: %v", err)
		}
		if br, ok := topo.Bridge("br-int"); !ok || len(br.Ports) < 7 {
			t.Errorf("topology after restart = %+v", topo)
		}
		// ovsdb-server gone for good: a clear error, not a hang.
		l.MustRun("stop")
		start := time.Now()
		_, err = c.CurCfg(ctxT(t))
		if err == nil || !strings.Contains(err.Error(), "--ovs.db") {
			t.Errorf("with OVS stopped: %v, want an error naming --ovs.db", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("failing took %v", d)
		}
		t.Logf("with OVS stopped: %v", err)
		l.MustRun("start")
		if _, err := c.CurCfg(ctxT(t)); err != nil {
			t.Errorf("after start: %v", err)
		}
	})
}

// normalizeLab blanks what differs between two runs of the lab.
func normalizeLab(t Topology) Topology {
	t = t.Clone()
	t.CurCfg, t.SchemaVersion = 0, ""
	for i := range t.Bridges {
		b := &t.Bridges[i]
		b.UUID = ""
		for j := range b.Ports {
			p := &b.Ports[j]
			p.UUID = ""
			for k := range p.Interfaces {
				p.Interfaces[k].UUID, p.Interfaces[k].MACInUse = "", ""
			}
		}
	}
	return t
}

// checkLabTestdata checks that testdata/lab-topology.json, which ovsdbtest.Fake
// users load, still matches a fresh lab; with -update it rewrites it.
func checkLabTestdata(t *testing.T, topo Topology) {
	if *update {
		b, err := json.MarshalIndent(topo, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(labTopologyFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(labTopologyFile)
	if err != nil {
		t.Fatal(err)
	}
	var stored Topology
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatalf("%s: %v", labTopologyFile, err)
	}
	if got, want := normalizeLab(topo), normalizeLab(stored); !reflect.DeepEqual(got, want) {
		t.Errorf("%s is stale (go test -run TestLab -update):\n lab  %+v\n file %+v", labTopologyFile, got, want)
	}
}

// ovsdbServerCPU returns the CPU time ovsdb-server has used, from /proc.
func ovsdbServerCPU(t testing.TB, l *labtest.Lab) time.Duration {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(l.RunDir, "ovsdb-server.pid"))
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%s/stat", strings.TrimSpace(string(pid))))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesized command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// benchCall runs call b.N times and reports the bytes ovsdb-server sent
// and the CPU it spent per call.
func benchCall(b *testing.B, l *labtest.Lab, c *Client, call func() error) {
	if err := call(); err != nil { // connect and warm up
		b.Fatal(err)
	}
	read0 := c.s.conn.BytesRead()
	cpu0 := ovsdbServerCPU(b, l)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(c.s.conn.BytesRead()-read0)/float64(b.N), "B-read/op")
	b.ReportMetric(float64((ovsdbServerCPU(b, l)-cpu0).Microseconds())/float64(b.N), "ovsdb-µs/op")
	b.ReportMetric(float64(sessionHeap(c)), "kept-B")
}

// sessionHeap returns the heap the client's connection keeps between
// calls: live heap after a GC with the connection open, less the same
// after it is closed. The next call dials again.
func sessionHeap(c *Client) int64 {
	var open, closed runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&open)
	c.turn <- struct{}{}
	_ = c.s.close()
	c.s = nil
	<-c.turn
	runtime.GC()
	runtime.ReadMemStats(&closed)
	return int64(open.HeapAlloc) - int64(closed.HeapAlloc)
}

// BenchmarkLab measures the reads against the lab's ovsdb-server, then
// again with 500 more VM-like ports on br-int.
func BenchmarkLab(b *testing.B) {
	l := labtest.Up(b, "db1")
	ctx := context.Background()
	c, err := Dial(ctx, labAddr(l))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	run := func(b *testing.B) {
		b.Run("Topology", func(b *testing.B) {
			benchCall(b, l, c, func() error { _, err := c.Topology(ctx); return err })
		})
		b.Run("CurCfg", func(b *testing.B) {
			benchCall(b, l, c, func() error { _, err := c.CurCfg(ctx); return err })
		})
		// The same rows with every column, as a select without columns
		// would fetch them: what naming columns saves.
		b.Run("AllColumns", func(b *testing.B) {
			var ops []ovsdbrpc.Select
			for _, t := range []string{"Bridge", "Port", "Interface", "Open_vSwitch"} {
				cols := []string{"_uuid"}
				for col := range c.s.schema.tables[t] {
					cols = append(cols, col)
				}
				ops = append(ops, ovsdbrpc.Select{Table: t, Columns: cols})
			}
			benchCall(b, l, c, func() error {
				return c.do(ctx, func(ctx context.Context, s *session) error {
					return s.selectRows(ctx, database, ops, func(int, ovsdbrpc.Row) error { return nil })
				})
			})
		})
	}
	b.Run("lab", run)

	const extra = 500
	args := []string{"--no-wait"}
	for i := range extra {
		name := fmt.Sprintf("tap%05d", i)
		args = append(args, "--", "add-port", "br-int", name, fmt.Sprintf("tag=%d", 100+i%50),
			"--", "set", "interface", name,
			"external_ids:iface-id=port-"+name, fmt.Sprintf("external_ids:attached-mac=fa:16:3e:00:%02x:%02x", i/256, i%256),
			fmt.Sprintf("external_ids:vm-uuid=00000000-0000-4000-8000-%012d", i), "external_ids:iface-status=active")
	}
	if _, err := l.Vsctl(args...); err != nil {
		b.Fatal(err)
	}
	topo, err := c.Topology(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if br, _ := topo.Bridge("br-int"); len(br.Ports) != 7+extra {
		b.Fatalf("br-int has %d ports, want %d", len(br.Ports), 7+extra)
	}
	b.Run(fmt.Sprintf("ports=%d", 7+extra), run)
}
