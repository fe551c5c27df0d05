package ovs

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sameDump fails t unless the cached parse got equals the fresh one want.
func sameDump(t testing.TB, what string, got, want Megaflows, gotErr, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: error %v through the cache, %v without", what, gotErr, wantErr)
	}
	if got.Skipped != want.Skipped || got.Truncated != want.Truncated || !reflect.DeepEqual(got.Dropped, want.Dropped) {
		t.Fatalf("%s: skipped %d, truncated %v, dropped %v through the cache; %d, %v, %v without", what,
			got.Skipped, got.Truncated, got.Dropped, want.Skipped, want.Truncated, want.Dropped)
	}
	if len(got.Flows) != len(want.Flows) {
		t.Fatalf("%s: %d flows through the cache, %d without", what, len(got.Flows), len(want.Flows))
	}
	for i := range got.Flows {
		if !reflect.DeepEqual(got.Flows[i], want.Flows[i]) {
			t.Fatalf("%s: flow %d through the cache\n%+v\nwithout\n%+v", what, i, got.Flows[i], want.Flows[i])
		}
	}
}

var countersRE = regexp.MustCompile(`packets:(\d+), bytes:(\d+), used:([0-9.]+s|never)`)

// regrown returns text with every flow's counters grown, as the next dump
// of a busy datapath prints them.
func regrown(text string, by uint64) string {
	return countersRE.ReplaceAllStringFunc(text, func(s string) string {
		m := countersRE.FindStringSubmatch(s)
		p, _ := strconv.ParseUint(m[1], 10, 64)
		b, _ := strconv.ParseUint(m[2], 10, 64)
		return fmt.Sprintf("packets:%d, bytes:%d, used:0.%03ds", p+by, b+60*by, by%1000)
	})
}

// TestFlowCacheMatchesFreshParse parses successive dumps of the benchmark
// host through one cache: the same megaflows with grown counters, then a
// dump that lost a third of them and gained others, then those in the
// reverse order. Every parse must equal
// a parse without the cache, and the cache must hold only the last dump's
// lines.
func TestFlowCacheMatchesFreshParse(t *testing.T) {
	bench := benchDump(t)
	lines := strings.Split(bench, "\n")
	var kept []string
	for i, l := range lines {
		if i%3 != 1 {
			kept = append(kept, l)
		}
	}
	others := capture(t, "dpctl-dump-flows-m.vxlan.txt") + capture(t, "dpctl-dump-flows.tunnel-ct.txt")
	reversed := slices.Clone(kept)
	slices.Reverse(reversed)
	dumps := []string{bench, regrown(bench, 7), regrown(bench, 7), strings.Join(kept, "\n") + "\n" + others,
		regrown(strings.Join(reversed, "\n"), 9)}
	c := NewFlowCache()
	for i, text := range dumps {
		got, gotErr := ParseDumpFlowsWith(text, FlowParseOptions{Cache: c})
		want, wantErr := ParseDumpFlows(text)
		sameDump(t, fmt.Sprintf("dump %d", i), got, want, gotErr, wantErr)
		if c.Len() != len(want.Flows) {
			t.Errorf("dump %d: cache holds %d lines, the dump %d", i, c.Len(), len(want.Flows))
		}
		got.Release()
	}
}

// TestFlowCacheVerifiesText checks that a line whose hash finds another
// line's parse is parsed afresh, never given the other line's.
func TestFlowCacheVerifiesText(t *testing.T) {
	a := "recirc_id(0),in_port(tapvm1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800), packets:1, bytes:60, used:0.001s, actions:tapvm2"
	b := "recirc_id(0),in_port(tapvm3),eth(src=02:00:00:00:00:03,dst=02:00:00:00:00:04),eth_type(0x0800), packets:1, bytes:60, used:0.001s, actions:tapvm4"
	c := NewFlowCache()
	if _, err := ParseDumpFlowsWith(a, FlowParseOptions{Cache: c}); err != nil {
		t.Fatal(err)
	}
	// Make b's text hash to a's entry, as a collision would.
	var fb Megaflow
	if !splitLine(b, &fb) {
		t.Fatal("b does not split")
	}
	for h, slot := range c.slots {
		if e := c.lookup(h, &fb); e >= 0 {
			t.Fatalf("b found a's entry %d: %+v", slot, c.entries[e].flow)
		}
	}
	got, err := ParseDumpFlowsWith(b, FlowParseOptions{Cache: c})
	if err != nil || len(got.Flows) != 1 || got.Flows[0].InPort != "tapvm3" {
		t.Fatalf("b through the cache: %+v, %v", got.Flows, err)
	}
}

// BenchmarkParseDumpFlowsBench5kCached parses the benchmark host's
// 5,000-flow dump as the agent does every poll, through the datapath's
// cache, with the counters grown since the previous dump.
func BenchmarkParseDumpFlowsBench5kCached(b *testing.B) {
	texts := [2]string{benchDump(b), regrown(benchDump(b), 3)}
	c := NewFlowCache()
	b.SetBytes(int64(len(texts[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m, err := ParseDumpFlowsWith(texts[i%2], FlowParseOptions{Cache: c})
		if err != nil || len(m.Flows) != 5000 {
			b.Fatal(len(m.Flows), err)
		}
		m.Release()
		i++
	}
}
