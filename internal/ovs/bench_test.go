package ovs

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthDump builds a dpctl/dump-flows -m reply of n flows from the
// captured lines, flooded of them flooding (multi-output), each with its
// own UFID, source MAC and counters.
func synthDump(tb testing.TB, n, flooded int) string {
	var flood, single []string
	for _, name := range []string{"dpctl-dump-flows-m.seed000-flood.txt", "dpctl-dump-flows-m.tunnel-ct.txt", "dpctl-dump-flows-m.seed000-fixed.txt"} {
		for _, l := range strings.Split(capture(tb, name), "\n") {
			if !strings.HasPrefix(l, "ufid:") {
				continue
			}
			if strings.Contains(l, "pop_vlan,tapvm2") {
				flood = append(flood, l)
			} else {
				single = append(single, l)
			}
		}
	}
	var b strings.Builder
	b.WriteString("flow-dump from the main thread:\n")
	for i := range n {
		var l string
		if i%(n/flooded) == 0 {
			l = flood[i%len(flood)]
		} else {
			l = single[i%len(single)]
		}
		// New UFID, source MAC and counters per flow.
		_, rest, _ := strings.Cut(l, ", ")
		rest = strings.Replace(rest, "src=02:00:00:00:00:0", fmt.Sprintf("src=02:%02x:%02x:00:00:0", i>>8&0xff, i&0xff), 1)
		key, stats, _ := strings.Cut(rest, ", packets:")
		_, stats, _ = strings.Cut(stats, ", used:")
		fmt.Fprintf(&b, "ufid:%08x-7a92-4d8c-a35f-3cdf3b61fb10, %s, packets:%d, bytes:%d, used:%s\n", i, key, i*7, i*7*1200, stats)
	}
	return b.String()
}

func TestSynthDump(t *testing.T) {
	text := synthDump(t, 5000, 50)
	m, err := ParseDumpFlows(text)
	if err != nil || m.Skipped != 0 || len(m.Flows) != 5000 {
		t.Fatalf("%d flows, %d skipped, %v", len(m.Flows), m.Skipped, err)
	}
	multi := 0
	for i, f := range m.Flows {
		if len(f.Outputs) > 1 {
			multi++
		}
		if f.Packets != uint64(i*7) || f.UFID != fmt.Sprintf("%08x-7a92-4d8c-a35f-3cdf3b61fb10", i) {
			t.Fatalf("flow %d: %+v", i, f)
		}
	}
	if multi != 50 {
		t.Errorf("%d multi-output flows, want 50", multi)
	}
}

// BenchmarkParseDumpFlows parses a 5,000-flow -m dump, 50 of them
// flooding; the agent does this every poll.
func BenchmarkParseDumpFlows(b *testing.B) {
	text := synthDump(b, 5000, 50)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseDumpFlows(text)
		if err != nil || len(m.Flows) != 5000 {
			b.Fatal(len(m.Flows), err)
		}
	}
}

func BenchmarkParseFDBShow(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(fdbHeader + "\n")
	for i := range 2000 {
		fmt.Fprintf(&sb, "%5d  %4d  02:00:00:00:%02x:%02x  %3d\n", i%500+1, 10+i%20, i>>8, i&0xff, i%300)
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		t, err := ParseFDBShow(text)
		if err != nil || len(t.Entries) != 2000 {
			b.Fatal(len(t.Entries), err)
		}
	}
}

// benchDump is the reply to "dpctl/dump-flows --names netdev@ovs-netdev"
// captured on the benchmark host (bench/): 500 ports, 5,000 megaflows,
// 4,950 of them unicast between learned MACs (one output each) and 50
// flooded to the other ports of their VLAN and LOCAL.
func benchDump(tb testing.TB) string {
	tb.Helper()
	f, err := os.Open(filepath.Join(capDir, "bench-5k.dpctl-dump-flows.txt.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestBenchDump(t *testing.T) {
	m, err := ParseDumpFlows(benchDump(t))
	if err != nil || m.Skipped != 0 || len(m.Flows) != 5000 {
		t.Fatalf("%d flows, %d skipped, %v", len(m.Flows), m.Skipped, err)
	}
	flooded := 0
	for _, f := range m.Flows {
		if f.IsUnicastDst() && len(f.Outputs) > 1 {
			flooded++
		}
	}
	if flooded != 50 {
		t.Errorf("%d flooded megaflows, want 50", flooded)
	}
}

// BenchmarkParseDumpFlowsBench5k parses the benchmark host's 5,000-flow
// dump, as the agent does every poll while floods run.
func BenchmarkParseDumpFlowsBench5k(b *testing.B) { benchParseBench5k(b, false) }

// BenchmarkParseDumpFlowsBench5kReleased is BenchmarkParseDumpFlowsBench5k
// the way a poll runs it (VisitFlows): each dump is released once read,
// so the next one reuses its arrays.
func BenchmarkParseDumpFlowsBench5kReleased(b *testing.B) { benchParseBench5k(b, true) }

func benchParseBench5k(b *testing.B, release bool) {
	text := benchDump(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseDumpFlows(text)
		if err != nil || len(m.Flows) != 5000 {
			b.Fatal(len(m.Flows), err)
		}
		if release {
			m.Release()
		}
	}
}

// staticCaller answers every call with one text.
type staticCaller string

func (c staticCaller) Call(context.Context, string, ...string) (string, error) { return string(c), nil }

// BenchmarkDatapathShow reads the counters of the benchmark host's 500
// ports (dpctl/show -s), as every poll does.
func BenchmarkDatapathShow(b *testing.B) {
	// The capture's header, then 500 ports printed like its second one.
	lines := strings.Split(capture(b, "dpctl-show-s.dummy.txt"), "\n")
	var sb strings.Builder
	sb.WriteString(strings.Join(lines[:8], "\n") + "\n")
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&sb, "  port %d: tapbe%06x-01 (dummy)\n", i, i)
		for _, l := range lines[9:13] {
			sb.WriteString(l + "\n")
		}
	}
	v := NewVswitchd(staticCaller(sb.String()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := v.DatapathShow(ctx, "netdev@ovs-netdev")
		if err != nil || len(d.Counters) != 501 {
			b.Fatal(len(d.Counters), err)
		}
	}
}
