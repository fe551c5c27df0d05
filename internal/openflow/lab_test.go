package openflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// ofctlFlow is one line of ovs-ofctl dump-flows.
type ofctlFlow struct {
	table, priority  int
	cookie           uint64
	packets, bytes   uint64
	actions, matches string
}

var ofctlLine = regexp.MustCompile(`cookie=(0x[0-9a-f]+), duration=[0-9.]+s, table=(\d+), n_packets=(\d+), n_bytes=(\d+), (?:\S+, )*(\S*?)\s*actions=(\S+)`)

// ofctlDump runs "ovs-ofctl -O OpenFlow13 dump-flows br-int" in the lab.
func ofctlDump(t *testing.T, l *labtest.Lab) []ofctlFlow {
	t.Helper()
	out, err := l.Ofctl("dump-flows", "br-int")
	if err != nil {
		t.Fatal(out, err)
	}
	return parseOfctl(out)
}

// parseOfctl parses ovs-ofctl dump-flows lines like
//
//	cookie=0xe4fc1a92d440c578, duration=2.1s, table=94, n_packets=854, n_bytes=1065792, priority=1 actions=NORMAL
func parseOfctl(out string) []ofctlFlow {
	var flows []ofctlFlow
	for _, line := range strings.Split(out, "\n") {
		m := ofctlLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := ofctlFlow{priority: 32768, actions: m[6]}
		f.cookie, _ = strconv.ParseUint(m[1], 0, 64)
		f.table, _ = strconv.Atoi(m[2])
		f.packets, _ = strconv.ParseUint(m[3], 10, 64)
		f.bytes, _ = strconv.ParseUint(m[4], 10, 64)
		f.matches = m[5]
		for _, kv := range strings.Split(m[5], ",") {
			if p, ok := strings.CutPrefix(kv, "priority="); ok {
				f.priority, _ = strconv.Atoi(p)
			}
		}
		flows = append(flows, f)
	}
	return flows
}

// ofctlNormal is an independent oracle for Flow.Normal: whether
// ovs-ofctl's action text has NORMAL at top level or directly inside
// write_actions(...), splitting on commas outside parentheses.
func ofctlNormal(actions string) bool {
	depth, start := 0, 0
	var tokens []string
	for i, r := range actions + "," {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				tokens = append(tokens, actions[start:i])
				start = i + 1
			}
		}
	}
	for _, tok := range tokens {
		if tok == "NORMAL" || tok == "output:NORMAL" {
			return true
		}
		if in, ok := strings.CutPrefix(tok, "write_actions("); ok && ofctlNormal(strings.TrimSuffix(in, ")")) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sortFlows(fs []Flow) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].TableID != fs[j].TableID {
			return fs[i].TableID < fs[j].TableID
		}
		return fs[i].Priority < fs[j].Priority
	})
}

// vswitchdCPU returns the CPU time ovs-vswitchd has used (utime+stime from
// /proc/PID/stat, in clock ticks of 10 ms).
func vswitchdCPU(t *testing.T, l *labtest.Lab) time.Duration {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(l.RunDir, "ovs-vswitchd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func TestLabOpenFlow(t *testing.T) {
	l := labtest.Up(t, "of1")
	ctx := context.Background()
	sock := filepath.Join(l.RunDir, "br-int.mgmt")
	l.MustRun("flood", "2", "5M")

	c, err := Dial(ctx, sock, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Version() != Version13 {
		t.Fatalf("negotiated %s, want OpenFlow13 (the bridge allows 1.0-1.5)", VersionName(c.Version()))
	}

	t.Run("TableStats", func(t *testing.T) {
		ts, err := c.TableStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) < 254 {
			t.Fatalf("%d tables, want 254 or 255", len(ts))
		}
		byID := map[uint8]TableStats{}
		for _, s := range ts {
			byID[s.TableID] = s
		}
		if byID[0].LookupCount == 0 || byID[0].ActiveCount != 2 {
			t.Errorf("table 0 = %+v, want lookups > 0 and 2 rules", byID[0])
		}
		if byID[94].ActiveCount != 1 || byID[94].LookupCount == 0 {
			t.Errorf("table 94 = %+v, want 1 rule with lookups", byID[94])
		}
		if byID[81].ActiveCount != 6 {
			t.Errorf("table 81 = %+v, want 6 rules", byID[81])
		}
		t.Logf("table 0 %+v, 81 %+v, 94 %+v", byID[0], byID[81], byID[94])
	})

	var normal []Flow
	t.Run("NormalRules", func(t *testing.T) {
		normal, err = c.NormalRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sortFlows(normal)
		if len(normal) != 2 || normal[0].TableID != 81 || normal[0].Priority != 1 ||
			normal[1].TableID != 94 || normal[1].Priority != 1 || normal[1].Cookie != 0xe4fc1a92d440c578 {
			t.Fatalf("NORMAL rules %+v, want table 81 priority 1 and table 94 priority 1 cookie 0xe4fc1a92d440c578", normal)
		}
		if normal[1].PacketCount == 0 {
			t.Errorf("table 94 NORMAL rule counted no packets after the flood")
		}
		for _, o := range ofctlDump(t, l) {
			for _, f := range normal {
				if int(f.TableID) == o.table && int(f.Priority) == o.priority {
					if f.PacketCount != o.packets || f.ByteCount != o.bytes || f.Cookie != o.cookie || o.actions != "NORMAL" {
						t.Errorf("table %d priority %d: got %d packets %d bytes cookie %#x, ovs-ofctl says %+v",
							o.table, o.priority, f.PacketCount, f.ByteCount, f.Cookie, o)
					}
				}
			}
		}
		t.Logf("NORMAL rules: %+v", normal)
	})

	t.Run("FlowStatsMatchesOfctl", func(t *testing.T) {
		flows, err := c.FlowStats(ctx, FlowFilter{})
		if err != nil {
			t.Fatal(err)
		}
		want := ofctlDump(t, l)
		if len(flows) != len(want) || len(flows) != 9 {
			t.Fatalf("%d flows, ovs-ofctl lists %d, want 9", len(flows), len(want))
		}
		for _, o := range want {
			found := false
			for _, f := range flows {
				if int(f.TableID) == o.table && int(f.Priority) == o.priority && f.Cookie == o.cookie &&
					f.PacketCount == o.packets && f.ByteCount == o.bytes && f.Normal == (o.actions == "NORMAL") {
					found = true
				}
			}
			if !found {
				t.Errorf("no flow like ovs-ofctl's %+v in %+v", o, flows)
			}
		}
		one, err := c.FlowStats(ctx, FlowFilter{OneTable: true, TableID: 94})
		if err != nil || len(one) == 0 {
			t.Fatalf("table 94: %+v, %v", one, err)
		}
		for _, f := range one {
			if f.TableID != 94 {
				t.Errorf("table 94 request returned %+v", f)
			}
		}
	})

	t.Run("Versions", func(t *testing.T) {
		for _, v := range []uint8{Version10, Version14, Version15} {
			vc, err := Dial(ctx, sock, Options{Versions: []uint8{v}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := vc.NormalRules(ctx)
			vc.Close()
			if err != nil {
				t.Fatalf("%s: %v", VersionName(v), err)
			}
			sortFlows(got)
			for i := range got {
				got[i].DurationSec = normal[i].DurationSec
			}
			if fmt.Sprint(got) != fmt.Sprint(normal) {
				t.Errorf("%s NORMAL rules %+v, OpenFlow13 gave %+v", VersionName(v), got, normal)
			}
		}
	})

	t.Run("Protocols", func(t *testing.T) {
		defer l.Vsctl("clear", "bridge", "br-int", "protocols")
		if out, err := l.Vsctl("set", "bridge", "br-int", "protocols=OpenFlow14"); err != nil {
			t.Fatal(out, err)
		}
		c14, err := Dial(ctx, sock, Options{})
		if err != nil {
			t.Fatalf("protocols=OpenFlow14: %v", err)
		}
		got, err := c14.NormalRules(ctx)
		c14.Close()
		if c14.Version() != Version14 || err != nil || len(got) != 2 {
			t.Fatalf("protocols=OpenFlow14: negotiated %s, %d NORMAL rules, %v", VersionName(c14.Version()), len(got), err)
		}
		if out, err := l.Vsctl("set", "bridge", "br-int", "protocols=OpenFlow11,OpenFlow12"); err != nil {
			t.Fatal(out, err)
		}
		_, err = Dial(ctx, sock, Options{})
		if err == nil || !strings.Contains(err.Error(), "protocols column") || !strings.Contains(err.Error(), "OpenFlow11,OpenFlow12") {
			t.Fatalf("protocols=OpenFlow11,OpenFlow12: got %v, want an error naming the protocols column and the allowed versions", err)
		}
		t.Logf("no common version: %v", err)
	})

	t.Run("PoolRestart", func(t *testing.T) {
		p := NewPool(l.RunDir, Options{Timeout: 2 * time.Second})
		defer p.Close()
		if _, err := p.TableStats(ctx, "br-int"); err != nil {
			t.Fatal(err)
		}
		before := p.slot("br-int").conn
		l.MustRun("restart")
		start := time.Now()
		var errs []string
		waitFor(t, func() error {
			ts, err := p.TableStats(ctx, "br-int")
			if err != nil {
				errs = append(errs, err.Error())
				return err
			}
			if len(ts) < 254 {
				return fmt.Errorf("%d tables after restart", len(ts))
			}
			return nil
		})
		if p.slot("br-int").conn == before {
			t.Error("pool kept the connection from before the restart")
		}
		if _, err := p.NormalRules(ctx, "br-int"); err != nil {
			t.Error(err)
		}
		t.Logf("recovered %v after restart; errors on the way: %q", time.Since(start).Round(time.Millisecond), errs)
		if _, err := p.TableStats(ctx, "br-nope"); err == nil || !strings.Contains(err.Error(), "--ovs.rundir") {
			t.Errorf("missing bridge: %v", err)
		}
	})

	t.Run("Large", func(t *testing.T) {
		l.MustRun("flows") // the restart above dropped the lab's rules
		// A Neutron-sized rule set: 20,000 rules in table 110.
		var b strings.Builder
		for i := 0; i < 20000; i++ {
			fmt.Fprintf(&b, "table=110,priority=%d,ip,in_port=%d,nw_dst=10.%d.%d.%d,actions=load:0x%x->NXM_NX_REG5[],resubmit(,94)\n",
				10+i%50, 1+i%5, i>>16, (i>>8)&0xff, i&0xff, i)
		}
		file := filepath.Join(l.Base, "large.flows")
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := l.Ofctl("add-flows", "br-int", file); err != nil {
			t.Fatal(out, err)
		}
		p := NewPool(l.RunDir, Options{})
		defer p.Close()
		ts, err := p.TableStats(ctx, "br-int")
		if err != nil {
			t.Fatal(err)
		}
		if ts[110].TableID != 110 || ts[110].ActiveCount != 20000 {
			t.Fatalf("table 110 %+v, want 20000 rules", ts[110])
		}

		measure := func(name string, n int, f func() (int, error)) (perCall time.Duration, cpu time.Duration, count int) {
			c0, t0 := vswitchdCPU(t, l), time.Now()
			for i := 0; i < n; i++ {
				if count, err = f(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			perCall = time.Since(t0) / time.Duration(n)
			cpu = (vswitchdCPU(t, l) - c0) / time.Duration(n)
			t.Logf("%-12s %8.2f ms/call wall, %6.1f ms/call of ovs-vswitchd CPU, %d results (n=%d)",
				name, float64(perCall)/1e6, float64(cpu)/1e6, count, n)
			return perCall, cpu, count
		}
		_, _, n := measure("FlowStats", 10, func() (int, error) {
			fs, err := p.FlowStats(ctx, "br-int", FlowFilter{})
			return len(fs), err
		})
		if n != 20009 {
			t.Errorf("FlowStats returned %d rules, want 20,000 + the lab's 9", n)
		}
		_, _, n = measure("NormalRules", 20, func() (int, error) {
			fs, err := p.NormalRules(ctx, "br-int")
			return len(fs), err
		})
		if n != 2 {
			t.Errorf("NormalRules found %d rules among 20,009, want 2", n)
		}
		if _, _, n = measure("TableStats", 200, func() (int, error) {
			ts, err := p.TableStats(ctx, "br-int")
			return len(ts), err
		}); n < 254 {
			t.Errorf("TableStats returned %d tables", n)
		}
		t0 := time.Now()
		if out, err := l.Ofctl("dump-flows", "br-int"); err != nil || strings.Count(out, "\n") < 20000 {
			t.Fatal(err)
		}
		t.Logf("for reference: ovs-ofctl dump-flows %.0f ms", float64(time.Since(t0))/1e6)
	})
}
