package loop

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
)

func TestPortEntriesAndPressure(t *testing.T) {
	p := ports(t, "loop-dpif-show.txt") // same br-int port numbers as the FDB labs
	cases := []struct {
		prefix   string
		pressure bool
		top      string
		min      int
	}{
		{"macflood", true, "tapvm1", 60},
		{"macflood-twin", false, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.prefix, func(t *testing.T) {
			s1 := fdbStats(t, tc.prefix+"-fdb-stats-show.br-int.1.txt")
			s2 := fdbStats(t, tc.prefix+"-fdb-stats-show.br-int.2.txt")
			if got := Pressure(&s1, s2); got != tc.pressure {
				t.Errorf("Pressure = %v, want %v (%d/%d, evicted %d -> %d)", got, tc.pressure, s2.Entries, s2.MaxEntries, s1.Evicted, s2.Evicted)
			}
			n := PortEntries(*fdbShow(t, tc.prefix+"-fdb-show.br-int.2.txt"), "br-int", p)
			sum := 0
			for _, c := range n {
				sum += c
			}
			if uint64(sum) != s2.Entries {
				t.Errorf("per-port entries add up to %d, stats-show says %d", sum, s2.Entries)
			}
			if !tc.pressure {
				return
			}
			if port, c := Top(n); port != tc.top || c < tc.min {
				t.Errorf("Top = %s with %d, want %s with >= %d (%v)", port, c, tc.top, tc.min, n)
			}
		})
	}
}

func TestPressureThresholds(t *testing.T) {
	cases := []struct {
		name              string
		entries, max, ev0 uint64
		ev1               uint64
		prev              bool
		want              bool
	}{
		{"80% is not over", 80, 100, 0, 0, true, false},
		{"81%", 81, 100, 0, 0, true, true},
		{"evicting", 10, 100, 5, 6, true, true},
		{"no previous read", 10, 100, 5, 6, false, false},
		{"unknown max", 10, 0, 0, 0, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s1 := fdbStats(t, "macflood-twin-fdb-stats-show.br-int.1.txt")
			s2 := s1
			s1.Evicted, s2.Evicted = tc.ev0, tc.ev1
			s2.Entries, s2.MaxEntries = tc.entries, tc.max
			prev := &s1
			if !tc.prev {
				prev = nil
			}
			if got := Pressure(prev, s2); got != tc.want {
				t.Errorf("Pressure = %v, want %v", got, tc.want)
			}
		})
	}
}

// counted returns the deltas the interval counts, by key; deltas must be
// cur's, one per megaflow, and count each key once.
func counted(t *testing.T, cur []detect.Flow, deltas []Delta) map[string]Delta {
	t.Helper()
	if len(deltas) != len(cur) {
		t.Fatalf("%d deltas for %d megaflows", len(deltas), len(cur))
	}
	got := map[string]Delta{}
	for i, d := range deltas {
		if !d.Counted {
			if d != (Delta{}) {
				t.Errorf("%s: not counted, but carried %+v", cur[i].Key, d)
			}
			continue
		}
		if _, ok := got[cur[i].Key]; ok {
			t.Errorf("%s counted twice in one dump", cur[i].Key)
		}
		got[cur[i].Key] = d
	}
	return got
}

func TestCounterDeltas(t *testing.T) {
	f := func(key string, p uint64) detect.Flow { return detect.Flow{Key: key, Packets: p, Bytes: p * 100} }
	var c Counter
	first := []detect.Flow{f("a", 10), f("b", 5)}
	if got := counted(t, first, c.Deltas(first, true)); len(got) != 0 {
		t.Fatalf("first dump: %+v, want nothing (no interval)", got)
	}
	cases := []struct {
		name     string
		cur      []detect.Flow
		complete bool
		want     map[string]uint64
	}{
		{"growth and a new flow", []detect.Flow{f("a", 15), f("b", 5), f("c", 3)}, true, map[string]uint64{"a": 5, "b": 0, "c": 3}},
		{"re-created flow counts from zero", []detect.Flow{f("a", 2), f("c", 4)}, true, map[string]uint64{"a": 2, "c": 1}},
		{"bounded dump of one port", []detect.Flow{f("c", 6)}, false, map[string]uint64{"c": 2}},
		{"a kept through the bounded dump", []detect.Flow{f("a", 3), f("c", 6)}, true, map[string]uint64{"a": 1, "c": 0}},
		{"no key, not counted", []detect.Flow{{Packets: 9}}, true, map[string]uint64{}},
		{"twice in one dump counts once", []detect.Flow{f("a", 9), f("a", 9)}, true, map[string]uint64{"a": 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]uint64{}
			for k, d := range counted(t, tc.cur, c.Deltas(tc.cur, tc.complete)) {
				got[k] = d.Packets
				if d.Bytes != d.Packets*100 {
					t.Errorf("%s: bytes %d for %d packets", k, d.Bytes, d.Packets)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("deltas = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCounterForgetsAfterPartialDumps(t *testing.T) {
	var c Counter
	c.Deltas([]detect.Flow{{Key: "old", Packets: 1}}, true)
	// A MAC flood: every partial dump shows new megaflows only.
	for i := 0; i < 3*MaxAge; i++ {
		c.Deltas([]detect.Flow{{Key: fmt.Sprint("new", i), Packets: 1}}, false)
		if c.Len() > MaxAge+1 {
			t.Fatalf("poll %d: %d megaflows remembered, want at most %d", i, c.Len(), MaxAge+1)
		}
	}
	got := c.Deltas([]detect.Flow{{Key: "old", Packets: 5}}, false)
	if len(got) != 1 || !got[0].Counted || got[0].Packets != 5 {
		t.Errorf("a megaflow forgotten after %d polls counts from zero: %+v", MaxAge, got)
	}
}

// TestCounterShrinksAfterBurst checks that a burst of megaflows (a MAC
// flood) is given back once it is gone, and that the megaflows that stay
// keep their counts across the move.
func TestCounterShrinksAfterBurst(t *testing.T) {
	var c Counter
	burst := []detect.Flow{{Key: "stays", Packets: 10, Bytes: 1000}}
	for i := 0; i < 5000; i++ {
		burst = append(burst, detect.Flow{Key: fmt.Sprint("burst", i), Packets: 1, Bytes: 100})
	}
	c.Deltas(burst, true)
	c.Deltas([]detect.Flow{{Key: "stays", Packets: 20, Bytes: 2000}}, true)
	if c.Len() != 1 || c.counts.Slots() > 16 {
		t.Errorf("%d megaflows remembered in %d slots, want 1 in a few", c.Len(), c.counts.Slots())
	}
	got := c.Deltas([]detect.Flow{{Key: "stays", Packets: 25, Bytes: 2500}}, true)
	if len(got) != 1 || !got[0].Counted || got[0].Packets != 5 || got[0].Bytes != 500 {
		t.Errorf("after the move: %+v, want 5 packets and 500 bytes", got)
	}
}

// TestCounterAnyOrder checks that the deltas do not depend on the order
// of a dump (the Counter guesses each megaflow from the order of the last
// one): the same megaflows in another order, one gone and one new.
func TestCounterAnyOrder(t *testing.T) {
	f := func(key string, p uint64) detect.Flow { return detect.Flow{Key: key, Packets: p, Bytes: p * 100} }
	var c Counter
	c.Deltas([]detect.Flow{f("a", 1), f("b", 2), f("c", 3), f("d", 4)}, true)
	steps := []struct {
		cur  []detect.Flow
		want map[string]uint64
	}{
		{[]detect.Flow{f("d", 14), f("c", 13), f("b", 12), f("a", 11)}, map[string]uint64{"a": 10, "b": 10, "c": 10, "d": 10}},
		{[]detect.Flow{f("b", 22), f("e", 5), f("d", 24), f("a", 21)}, map[string]uint64{"a": 10, "b": 10, "d": 10, "e": 5}},
		{[]detect.Flow{f("a", 31), f("c", 7), f("b", 32), f("d", 34), f("e", 15)}, map[string]uint64{"a": 10, "b": 10, "c": 7, "d": 10, "e": 10}},
	}
	for i, st := range steps {
		got := map[string]uint64{}
		for k, d := range counted(t, st.cur, c.Deltas(st.cur, true)) {
			got[k] = d.Packets
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("dump %d: deltas %v, want %v", i, got, st.want)
		}
	}
}

// TestCounterKeyForms checks both forms of key the Counter holds: the
// agent's 16-byte identities, taken as they are, and longer or shorter
// keys (UFIDs, matches), which it hashes; keys that differ in one byte
// are different megaflows in either form.
func TestCounterKeyForms(t *testing.T) {
	keys := []string{"0123456789abcdef", "0123456789abcdeg", "ufid:6c7b8c45-1a5e-4b2c-9e1f-0d6a8c2f4b11",
		"ufid:6c7b8c45-1a5e-4b2c-9e1f-0d6a8c2f4b12", "in_port(1)", "0123456789abcde"}
	dump := func(n uint64) []detect.Flow {
		var fl []detect.Flow
		for i, k := range keys {
			fl = append(fl, detect.Flow{Key: k, Packets: n * uint64(i+1), Bytes: n * uint64(i+1) * 100})
		}
		return fl
	}
	var c Counter
	c.Deltas(dump(1), true)
	cur := dump(3)
	got := counted(t, cur, c.Deltas(cur, true))
	for i, k := range keys {
		if want := 2 * uint64(i+1); got[k].Packets != want || got[k].Bytes != want*100 {
			t.Errorf("%s: %+v, want %d packets", k, got[k], want)
		}
	}
	if c.Len() != len(keys) {
		t.Errorf("%d megaflows remembered, want %d", c.Len(), len(keys))
	}
}
