package ovs

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// knownFrom is a FlowParseOptions.Known that remembers flows: the flow in
// slot i is known when it has the UFID and key of from[i], and takes its
// key's fields from there. calls records the slots asked about.
func knownFrom(from []Megaflow, calls *[]int) func(int, *Megaflow) bool {
	return func(i int, f *Megaflow) bool {
		*calls = append(*calls, i)
		if i >= len(from) || from[i].UFID != f.UFID || from[i].Key != f.Key {
			return false
		}
		w := &from[i]
		f.InPort, f.RecircID, f.EthSrc, f.EthDst = w.InPort, w.RecircID, w.EthSrc, w.EthDst
		f.EthDstMasked, f.VLAN, f.Tunnel = w.EthDstMasked, w.VLAN, w.Tunnel
		return true
	}
}

// withoutKnown returns flows with Known cleared, for comparing a parse
// through Known with a plain one.
func withoutKnown(flows []Megaflow) []Megaflow {
	out := slices.Clone(flows)
	for i := range out {
		out[i].Known = false
	}
	return out
}

// TestParseDumpFlowsKnown parses captured dumps through a Known that
// remembers another parse, and checks that the flows are those of a plain
// parse, that Known is asked about every kept flow in order and only
// those, that a flow is marked Known only when it was, and that the MACs
// of a known flow are the parse's own.
func TestParseDumpFlowsKnown(t *testing.T) {
	dropFirstFlow := func(s string) string {
		i := strings.Index(s, "actions:")
		_, rest, _ := strings.Cut(s[i:], "\n")
		return s[:strings.LastIndexByte(s[:i], '\n')+1] + rest
	}
	for _, c := range []struct {
		name, capture string
		memory        func(string) string // the text of the remembered dump
		maxFlows      int
		wantKnown     func(i int) bool
	}{
		{"same dump", "dpctl-dump-flows.tunnel-ct.txt", nil, 0, func(int) bool { return true }},
		{"same dump with -m", "dpctl-dump-flows-m.tunnel-ct.txt", nil, 0, func(int) bool { return true }},
		{"overlay", "overlay-east-hv1.dpctl-dump-flows-m.txt", nil, 0, func(int) bool { return true }},
		{"tunnels", "dpctl-dump-flows-m.vxlan.txt", nil, 0, func(int) bool { return true }},
		{"masked destinations", "macflood-dpctl-dump-flows-m.2.head300.txt", nil, 0, func(int) bool { return true }},
		// Past the cap, a flood candidate replaces the last kept flow: it
		// is read, Known is not asked about it.
		{"capped", "dpctl-dump-flows.vxlan.txt", nil, 3, func(i int) bool { return i < 2 }},
		{"remembered dump shifted by a flow", "dpctl-dump-flows.vxlan.txt", dropFirstFlow, 0, func(int) bool { return false }},
		{"nothing remembered", "dpctl-dump-flows-m.vxlan.txt", func(string) string { return "" }, 0, func(int) bool { return false }},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := capture(t, c.capture)
			want, err := ParseDumpFlowsWith(text, FlowParseOptions{MaxFlows: c.maxFlows})
			if err != nil || len(want.Flows) < 3 {
				t.Fatalf("plain parse: %d flows, %v", len(want.Flows), err)
			}
			memText := text
			if c.memory != nil {
				memText = c.memory(text)
			}
			mem, err := ParseDumpFlows(memText)
			if err != nil {
				t.Fatal(err)
			}
			var calls []int
			got, err := ParseDumpFlowsWith(text, FlowParseOptions{MaxFlows: c.maxFlows, Known: knownFrom(mem.Flows, &calls)})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(withoutKnown(got.Flows), want.Flows) || got.Skipped != want.Skipped ||
				got.Truncated != want.Truncated || !reflect.DeepEqual(got.Dropped, want.Dropped) {
				t.Fatalf("through Known:\n%+v\nplain:\n%+v", got, want)
			}
			for i, f := range got.Flows {
				if f.Known != c.wantKnown(i) {
					t.Errorf("flow %d: Known %v, want %v", i, f.Known, c.wantKnown(i))
				}
				if !f.Known || i >= len(mem.Flows) {
					continue
				}
				for _, m := range [][2][]byte{{f.EthSrc, mem.Flows[i].EthSrc}, {f.EthDst, mem.Flows[i].EthDst}} {
					if len(m[0]) > 0 && &m[0][0] == &m[1][0] {
						t.Errorf("flow %d keeps a MAC of the remembered dump", i)
					}
				}
			}
			// Asked about each kept flow once, in order; never past the cap.
			if want := len(got.Flows); !slices.Equal(calls, seq(want)) {
				t.Errorf("Known asked about slots %v, want 0..%d", calls, want-1)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
