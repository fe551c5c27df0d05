package ovs

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// flowLine renders a -m flow line from in_port in to dst with the given
// actions.
func flowLine(i int, in, dst, actions string) string {
	return fmt.Sprintf("ufid:%08x-7a92-4d8c-a35f-3cdf3b61fb10, recirc_id(0),in_port(%s),eth(src=02:00:00:%02x:%02x:01,dst=%s),eth_type(0x0800), packets:1, bytes:60, used:0.001s, actions:%s\n",
		i, in, i>>8&0xff, i&0xff, dst, actions)
}

// TestDumpFlowsCap: past MaxFlows the parser counts what it drops by
// in_port, and a flooding flow (one unicast destination, several outputs)
// takes the place of a kept ordinary one, so a VM that floods and also
// creates many flows cannot hide its flood behind them.
func TestDumpFlowsCap(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		b.WriteString(flowLine(i, "tapnoisy", "02:00:00:00:00:02", "tapvm2"))
	}
	for i := range 30 {
		b.WriteString(flowLine(100+i, "tapflood", "02:00:00:00:00:64", "tapvm2,tapvm3,uplink"))
	}
	for i := range 10 {
		b.WriteString(flowLine(200+i, "tapbcast", "ff:ff:ff:ff:ff:ff", "tapvm2,tapvm3"))
	}
	text := b.String()

	all, err := ParseDumpFlows(text)
	if err != nil || len(all.Flows) != 140 || all.Truncated || all.Dropped != nil {
		t.Fatalf("uncapped: %d flows, truncated %v, dropped %v, %v", len(all.Flows), all.Truncated, all.Dropped, err)
	}

	m, err := ParseDumpFlowsWith(text, FlowParseOptions{MaxFlows: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Flows) != 50 || !m.Truncated {
		t.Fatalf("%d flows, truncated %v; want 50, true", len(m.Flows), m.Truncated)
	}
	kept := map[string]int{}
	for _, f := range m.Flows {
		kept[f.InPort]++
		if f.InPort == "tapflood" && len(f.Outputs) != 3 {
			t.Errorf("flooding flow with outputs %+v", f.Outputs)
		}
	}
	// 50 noisy flows kept, then each of the 30 flooding ones replaced one;
	// broadcast floods are not unknown-unicast floods and find no room.
	wantKept := map[string]int{"tapnoisy": 20, "tapflood": 30}
	wantDropped := map[string]int{"tapnoisy": 80, "tapbcast": 10}
	if fmt.Sprint(kept) != fmt.Sprint(wantKept) || fmt.Sprint(m.Dropped) != fmt.Sprint(wantDropped) {
		t.Errorf("kept %v, dropped %v; want %v, %v", kept, m.Dropped, wantKept, wantDropped)
	}
	// The kept flows are whole: MACs and outputs were not overwritten by
	// the dropped ones that shared the slabs.
	for _, f := range m.Flows {
		want := all.Flows[0]
		for _, a := range all.Flows {
			if a.UFID == f.UFID {
				want = a
			}
		}
		if f.UFID != want.UFID || f.EthSrc.String() != want.EthSrc.String() || fmt.Sprint(f.Outputs) != fmt.Sprint(want.Outputs) {
			t.Fatalf("kept flow %+v, parsed alone %+v", f, want)
		}
	}

	// Only flooding flows past the cap: they replace ordinary ones until
	// none is left, then they are dropped too.
	b.Reset()
	for i := range 10 {
		b.WriteString(flowLine(i, "tapnoisy", "02:00:00:00:00:02", "tapvm2"))
	}
	for i := range 20 {
		b.WriteString(flowLine(100+i, "tapflood", "02:00:00:00:00:64", "tapvm2,tapvm3"))
	}
	m, err = ParseDumpFlowsWith(b.String(), FlowParseOptions{MaxFlows: 15})
	if err != nil || len(m.Flows) != 15 {
		t.Fatalf("%d flows, %v", len(m.Flows), err)
	}
	if want := map[string]int{"tapnoisy": 10, "tapflood": 5}; fmt.Sprint(m.Dropped) != fmt.Sprint(want) {
		t.Errorf("dropped %v, want %v", m.Dropped, want)
	}
}

// TestDumpFlowsCapOrder: past the cap each flooding flow takes the slot
// of the most recently kept ordinary flow still there, whatever the mix
// and order of the lines (some not understood), as a stack of the kept
// ordinary flows' slots would pick.
func TestDumpFlowsCapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var b strings.Builder
		var lines []string // "flood", "plain", "bad" per flow line
		for i := range 1 + rng.IntN(60) {
			switch rng.IntN(5) {
			case 0, 1:
				b.WriteString(flowLine(i, "tapflood", "02:00:00:00:00:64", "tapvm2,tapvm3"))
				lines = append(lines, "flood")
			case 2:
				b.WriteString("not a flow\n")
				lines = append(lines, "bad")
			default:
				b.WriteString(flowLine(i, "tapnoisy", "02:00:00:00:00:02", "tapvm2"))
				lines = append(lines, "plain")
			}
		}
		maxFlows := 1 + rng.IntN(20)
		// The model: slots in order, and a stack of the ordinary ones.
		var want []string
		var stack []int
		dropped := 0
		for i, kind := range lines {
			ufid := fmt.Sprintf("%08x", i)
			switch {
			case kind == "bad":
			case len(want) < maxFlows:
				if kind == "plain" {
					stack = append(stack, len(want))
				}
				want = append(want, ufid)
			case kind == "flood" && len(stack) > 0:
				want[stack[len(stack)-1]] = ufid
				stack = stack[:len(stack)-1]
				dropped++
			default:
				dropped++
			}
		}
		m, err := ParseDumpFlowsWith(b.String(), FlowParseOptions{MaxFlows: maxFlows})
		if len(want) == 0 {
			continue // nothing understood: an error, tested elsewhere
		}
		var got []string
		for _, f := range m.Flows {
			got = append(got, f.UFID[:8])
		}
		n := 0
		for _, c := range m.Dropped {
			n += c
		}
		if err != nil || !slices.Equal(got, want) || n != dropped {
			t.Fatalf("round %d, cap %d, lines %v: kept %v, %d dropped, %v; want %v, %d dropped",
				round, maxFlows, lines, got, n, err, want, dropped)
		}
	}
}

// allocatedBytes returns how many bytes f allocates (the best of three
// runs, so a concurrent allocation elsewhere in the test binary does not
// count).
func allocatedBytes(f func()) uint64 {
	best := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		best = min(best, after.TotalAlloc-before.TotalAlloc)
	}
	return best
}

// TestParsersAllocateByContent: what a parser allocates follows the
// entries in its input, not its line count. 1 MiB of newlines used to
// make ParseDumpFlows allocate about 300 MiB.
func TestParsersAllocateByContent(t *testing.T) {
	const size = 1 << 20
	inputs := map[string]string{
		"newlines":       strings.Repeat("\n", size),
		"short lines":    strings.Repeat("x\n", size/2),
		"packets: words": strings.Repeat(" packets:\n", size/10),
	}
	parsers := map[string]func(string){
		"ParseDumpFlows": func(s string) { _, _ = ParseDumpFlows(s) },
		"ParseFDBShow":   func(s string) { _, _ = ParseFDBShow(s) },
		"ParseTrace":     func(s string) { _, _ = ParseTrace(s) },
	}
	for pname, parse := range parsers {
		for iname, in := range inputs {
			t.Run(pname+"/"+iname, func(t *testing.T) {
				got := allocatedBytes(func() { parse(in) })
				// A few times the input is what parsing real entries
				// costs; a 100× blow-up is what this guards against.
				if limit := uint64(10 * len(in)); got > limit {
					t.Errorf("%s of %d bytes allocated %d bytes (more than %d)", pname, len(in), got, limit)
				}
			})
		}
	}
}

// synthTrace builds an ofproto/trace reply of n sections (see ParseTrace)
// each through its own bridge: the shape that used to make parsing
// quadratic in the number of bridges.
func synthTrace(n int) string {
	var b strings.Builder
	b.WriteString("Flow: in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,dl_type=0x0000\n\n")
	for i := range n {
		fmt.Fprintf(&b, "bridge(\"br-%d\")\n", i)
		if i%64 == 0 {
			fmt.Fprintf(&b, " 0. priority 10\n    resubmit(,94)\n")
		}
		if i%4 == 3 {
			fmt.Fprintf(&b, "%s\nrecirc(0x%x) - resume conntrack\n%s\n", strings.Repeat("=", 79), i, strings.Repeat("=", 79))
		}
	}
	b.WriteString("\nFinal flow: unchanged\nMegaflow: recirc_id=0,eth,in_port=1\nDatapath actions: 1\n")
	return b.String()
}

// TestParseTraceLinear: sixteen times the input may cost about sixteen
// times the work (twice that with a bigger heap to collect), not 256
// times. Measured with testing.Benchmark (best of three) and a bound far
// from both.
func TestParseTraceLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark-based check")
	}
	small, big := synthTrace(2000), synthTrace(32000)
	if tr, err := ParseTrace(big); err != nil || len(tr.Bridges) != 32000 || len(tr.Resumed) != 8000 {
		t.Fatalf("ParseTrace: %d bridges, %d sections, %v", len(tr.Bridges), len(tr.Resumed), err)
	}
	cost := func(s string) int64 {
		best := int64(-1)
		for range 3 {
			r := testing.Benchmark(func(b *testing.B) {
				for b.Loop() {
					_, _ = ParseTrace(s)
				}
			})
			if ns := r.NsPerOp(); best < 0 || ns < best {
				best = ns
			}
		}
		return best
	}
	cs, cb := cost(small), cost(big)
	t.Logf("%d bytes: %v/op; %d bytes: %v/op", len(small), cs, len(big), cb)
	if cb > 64*cs {
		t.Errorf("16× the input cost %.1f× the time: not linear", float64(cb)/float64(cs))
	}
}
