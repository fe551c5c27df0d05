package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/ovstest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func TestAccumulator(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newAccumulator(10 * time.Minute)
	steps := []struct {
		cur, total, delta uint64
	}{
		{100, 100, 0}, // first sight: the upstream value, nothing new yet
		{150, 150, 50},
		{30, 180, 30}, // upstream reset: all 30 are new
		{30, 180, 0},
	}
	for i, s := range steps {
		total, delta := c.add("k", s.cur, t0.Add(time.Duration(i)*time.Second))
		if total != s.total || delta != s.delta {
			t.Errorf("step %d: add(%d) = %d, %d; want %d, %d", i, s.cur, total, delta, s.total, s.delta)
		}
	}
	c.add("other", 5, t0.Add(9*time.Minute))
	c.sweep(t0.Add(10*time.Minute + 3*time.Second)) // "k" last seen at t0+3s: just within
	if _, ok := c.keys["k"]; !ok {
		t.Fatal("key forgotten before the retirement delay")
	}
	c.sweep(t0.Add(10*time.Minute + 3*time.Second + time.Millisecond))
	if _, ok := c.keys["k"]; ok {
		t.Error("key of a gone port kept past the retirement delay")
	}
	if _, ok := c.keys["other"]; !ok {
		t.Error("a key seen recently was forgotten")
	}
}

func TestAccumulatorGroup(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newAccumulator(10 * time.Minute)
	k := groupKey{kind: "dev", bridge: "br-int", name: "tap1"}
	steps := []struct {
		cur, total, delta uint64
	}{
		{100, 100, 0}, // first sight: the upstream value, nothing new yet
		{150, 150, 50},
		{30, 180, 30}, // upstream reset: all 30 are new
		{30, 180, 0},
	}
	for i, s := range steps {
		g := c.group(k, t0.Add(time.Duration(i)*time.Second))
		total, delta := g.add(2, s.cur)
		if total != s.total || delta != s.delta {
			t.Errorf("step %d: add(%d) = %d, %d; want %d, %d", i, s.cur, total, delta, s.total, s.delta)
		}
		if other, _ := g.add(0, 7); other != 7 {
			t.Errorf("step %d: a steady sibling counter reads %d, want 7", i, other)
		}
	}
	if c.groups[groupKey{kind: "lb", bridge: "br-int", name: "tap1"}] != nil {
		t.Error("keys of another kind share the group")
	}
	c.sweep(t0.Add(10*time.Minute + 3*time.Second))
	if c.groups[k] == nil {
		t.Fatal("group forgotten before the retirement delay")
	}
	c.sweep(t0.Add(10*time.Minute + 3*time.Second + time.Millisecond))
	if c.groups[k] != nil {
		t.Error("group of a gone port kept past the retirement delay")
	}
}

// traceVswitchd counts traces and fails until told otherwise.
func traceFake(t *testing.T) (*ovstest.Fake, string) {
	t.Helper()
	v := ovstest.NewFake()
	const key = "ofproto/trace br-int in_port=tapvm1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64"
	v.SetErr(key, errors.New("vswitchd restarting"))
	return v, key
}

func traces(v *ovstest.Fake) int {
	n := 0
	for _, c := range v.Calls {
		if len(c) > 13 && c[:13] == "ofproto/trace" {
			n++
		}
	}
	return n
}

// A failed ofproto/trace is retried, later each time, instead of being
// remembered as "no rule".
func TestFailedTraceIsRetriedWithBackoff(t *testing.T) {
	v, key := traceFake(t)
	flood := detect.Flood{FloodKey: detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"},
		SrcMAC: "02:00:00:00:00:01"}
	active := []detect.Flood{flood}
	c := newTraceCache(time.Second)
	t0 := time.Unix(1000, 0)
	ctx := context.Background()
	at := func(d time.Duration) { c.trace(ctx, v, nil, active, t0.Add(d), zap.NewNop()) }

	at(0) // fails: retry after 1 s
	at(500 * time.Millisecond)
	if n := traces(v); n != 1 {
		t.Fatalf("%d traces before the first retry is due, want 1", n)
	}
	at(time.Second) // fails again: retry after 2 s more
	at(2500 * time.Millisecond)
	if n := traces(v); n != 2 {
		t.Fatalf("%d traces, want 2 (the wait doubles)", n)
	}
	if len(c.rules(active)) != 0 {
		t.Fatal("a failed trace produced a rule")
	}
	delete(v.Errs, key)
	if err := v.LoadFile(key, captures+"ofproto-trace.flood.txt"); err != nil {
		t.Fatal(err)
	}
	at(3 * time.Second)
	r, ok := c.rules(active)[flood.FloodKey]
	if !ok || r.Table != 94 || r.Cookie != 0xe4fc1a92d440c578 {
		t.Fatalf("rule after the trace worked = %+v, %v", r, ok)
	}
	at(time.Hour)
	if n := traces(v); n != 3 {
		t.Errorf("%d traces, want 3: an answered flood is traced once", n)
	}
	c.keep(active, t0.Add(time.Hour))
	c.keep(nil, t0.Add(time.Hour+traceRetention))
	if len(c.entries) != 0 {
		t.Errorf("entries of floods ended %v ago kept: %d", traceRetention, len(c.entries))
	}
}

// A flood that leaves the reported set and comes back within
// traceRetention keeps its trace; after, it is traced again; and no more
// than maxTraceEntries are kept, the ones reported longest ago going first.
func TestTraceKeptWhileFloodComesBack(t *testing.T) {
	v, key := traceFake(t)
	delete(v.Errs, key)
	if err := v.LoadFile(key, captures+"ofproto-trace.flood.txt"); err != nil {
		t.Fatal(err)
	}
	flood := detect.Flood{FloodKey: detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"},
		SrcMAC: "02:00:00:00:00:01"}
	active := []detect.Flood{flood}
	c := newTraceCache(time.Second)
	t0 := time.Unix(1000, 0)
	poll := func(d time.Duration, reported []detect.Flood) {
		c.trace(context.Background(), v, nil, reported, t0.Add(d), zap.NewNop())
		c.keep(reported, t0.Add(d))
	}
	poll(0, active)
	poll(time.Second, nil) // out of the reported set
	poll(traceRetention, active)
	if n := traces(v); n != 1 {
		t.Fatalf("%d traces, want 1: the flood came back within %v", n, traceRetention)
	}
	if r, ok := c.rules(active)[flood.FloodKey]; !ok || r.Table != 94 {
		t.Fatalf("rule of the returning flood = %+v, %v", r, ok)
	}
	poll(traceRetention+time.Second, nil)
	poll(2*traceRetention+time.Second, nil)
	poll(2*traceRetention+2*time.Second, active)
	if n := traces(v); n != 2 {
		t.Fatalf("%d traces, want 2: the flood came back after %v", n, traceRetention)
	}

	c = newTraceCache(time.Second)
	for i := range maxTraceEntries + 5 {
		k := detect.FloodKey{Bridge: "br-int", InPort: fmt.Sprintf("tap%d", i)}
		c.entries[k] = &traceEntry{done: true, reported: t0.Add(time.Duration(i) * 100 * time.Millisecond)}
	}
	c.keep(nil, t0.Add(time.Duration(maxTraceEntries+5)*100*time.Millisecond))
	if len(c.entries) != maxTraceEntries {
		t.Fatalf("%d entries kept, want %d", len(c.entries), maxTraceEntries)
	}
	for i := range 5 {
		if _, ok := c.entries[detect.FloodKey{Bridge: "br-int", InPort: fmt.Sprintf("tap%d", i)}]; ok {
			t.Errorf("tap%d, reported longest ago, kept over the cap", i)
		}
	}
}

// A trace that works but shows no NORMAL flood is an answer: it is not
// retried.
func TestTraceWithoutNormalIsAnswer(t *testing.T) {
	v, key := traceFake(t)
	delete(v.Errs, key)
	v.SetReply(key, "Flow: in_port=1\n\nbridge(\"br-int\")\n-------------\n 0. priority 0\n    drop\n\nFinal flow: unchanged\nMegaflow: recirc_id=0,in_port=1\nDatapath actions: drop\n")
	flood := detect.Flood{FloodKey: detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"},
		SrcMAC: "02:00:00:00:00:01"}
	c := newTraceCache(time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		c.trace(context.Background(), v, nil, []detect.Flood{flood}, t0.Add(time.Duration(i)*time.Hour), zap.NewNop())
	}
	if n := traces(v); n != 1 {
		t.Errorf("%d traces, want 1", n)
	}
	if len(c.rules([]detect.Flood{flood})) != 0 {
		t.Error("a trace without NORMAL named a rule")
	}
}

func floodedResult(counters map[detect.CounterKey]detect.Counter, leaked map[detect.PortKey]uint64) *detect.Result {
	r := &detect.Result{Flooded: map[detect.CounterKey]detect.Counter{}, Leaked: map[detect.PortKey]uint64{}}
	for k, v := range counters {
		r.Flooded[k] = v
	}
	for k, v := range leaked {
		r.Leaked[k] = v
	}
	return r
}

// A trunk port flooding on many VLANs makes at most MaxVLANsPerPort
// series of its own; the rest add up, monotonically, under vlan="other".
func TestSeriesVLANCap(t *testing.T) {
	const maxVLANs = 4
	k := newSeriesKeeper(10*time.Minute, maxVLANs)
	ports := []state.Port{{Bridge: "br-int", Name: "trunk"}}
	counters := map[detect.CounterKey]detect.Counter{}
	t0 := time.Unix(1000, 0)
	other := detect.CounterKey{Bridge: "br-int", InPort: "trunk", VLAN: state.VLANOther}
	var lastOther uint64
	for poll := 1; poll <= 3; poll++ {
		// Each poll floods 1,000 bytes more on every VLAN seen so far and
		// on 10 new ones.
		for vlan := 1; vlan <= 10*poll; vlan++ {
			ck := detect.CounterKey{Bridge: "br-int", InPort: "trunk", VLAN: vlan}
			c := counters[ck]
			c.Bytes += 1000
			c.Packets++
			counters[ck] = c
		}
		res := floodedResult(counters, nil)
		k.apply(t0.Add(time.Duration(poll)*time.Second), res, ports)
		if len(res.Flooded) != maxVLANs+1 {
			t.Fatalf("poll %d: %d series, want %d own VLANs and other", poll, len(res.Flooded), maxVLANs)
		}
		for vlan := 1; vlan <= maxVLANs; vlan++ {
			ck := detect.CounterKey{Bridge: "br-int", InPort: "trunk", VLAN: vlan}
			if res.Flooded[ck] != counters[ck] {
				t.Errorf("poll %d vlan %d: %+v, want %+v", poll, vlan, res.Flooded[ck], counters[ck])
			}
		}
		var want uint64
		for ck, c := range counters {
			if ck.VLAN > maxVLANs {
				want += c.Bytes
			}
		}
		got := res.Flooded[other].Bytes
		if got != want || got < lastOther {
			t.Errorf("poll %d: other = %d bytes, want %d (and not below %d)", poll, got, want, lastOther)
		}
		lastOther = got
	}
}

// The series of a port that is gone are dropped after the retirement
// delay, and stay dropped while the detector still remembers them.
func TestSeriesOfGonePortsRetire(t *testing.T) {
	k := newSeriesKeeper(10*time.Minute, 16)
	gone := detect.CounterKey{Bridge: "br-int", InPort: "tapgone", VLAN: 10}
	kept := detect.CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}
	counters := map[detect.CounterKey]detect.Counter{gone: {Packets: 1, Bytes: 100}, kept: {Packets: 2, Bytes: 200}}
	leaked := map[detect.PortKey]uint64{{Bridge: "br-int", Port: "tapgone"}: 100, {Bridge: "br-int", Port: "tapvm1"}: 50}
	both := []state.Port{{Bridge: "br-int", Name: "tapgone"}, {Bridge: "br-int", Name: "tapvm1"}}
	one := both[1:]
	t0 := time.Unix(1000, 0)
	cases := []struct {
		at       time.Duration
		ports    []state.Port
		wantGone bool
	}{
		{0, both, true},
		{time.Minute, one, true},                   // gone for a while: still exported
		{10 * time.Minute, one, true},              // 10 min since last seen: still exported
		{10*time.Minute + time.Second, one, false}, // retired
		{12 * time.Minute, one, false},             // stays retired though the detector still counts it
		{13 * time.Minute, both, true},             // back: exported again
	}
	for _, c := range cases {
		res := floodedResult(counters, leaked)
		k.apply(t0.Add(c.at), res, c.ports)
		_, hasGone := res.Flooded[gone]
		_, hasLeak := res.Leaked[detect.PortKey{Bridge: "br-int", Port: "tapgone"}]
		if hasGone != c.wantGone || hasLeak != c.wantGone {
			t.Errorf("at %v: flood series %v, leak series %v; want %v", c.at, hasGone, hasLeak, c.wantGone)
		}
		if _, ok := res.Flooded[kept]; !ok {
			t.Errorf("at %v: series of a present port dropped", c.at)
		}
	}
}

// Polls over many short-lived ports keep the agent's memory bounded.
func TestSeriesMemoryBounded(t *testing.T) {
	k := newSeriesKeeper(time.Minute, 16)
	t0 := time.Unix(1000, 0)
	for i := range 100 {
		name := fmt.Sprintf("tap%d", i)
		ck := detect.CounterKey{Bridge: "br-int", InPort: name, VLAN: 1}
		res := floodedResult(map[detect.CounterKey]detect.Counter{ck: {Packets: 1}}, nil)
		k.apply(t0.Add(time.Duration(i)*time.Minute), res, []state.Port{{Bridge: "br-int", Name: name}})
	}
	if len(k.seen) > 3 || len(k.vlans) > 3 || len(k.retired) > 3 {
		t.Errorf("memory of gone ports: seen %d, vlans %d, retired %d", len(k.seen), len(k.vlans), len(k.retired))
	}
}

// TestGroupAtMatchesGroup polls two accumulators through the same
// counters, one looking groups up by key, the other through a memo of
// the last poll's order: ports move, vanish past the retirement delay,
// come back and reset, and both must count alike.
func TestGroupAtMatchesGroup(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type reading struct {
		port string
		rx   uint64
	}
	polls := []struct {
		at       time.Duration
		readings []reading
	}{
		{0, []reading{{"a", 10}, {"b", 20}, {"c", 30}}},
		{time.Second, []reading{{"a", 15}, {"b", 25}, {"c", 35}}},
		{2 * time.Second, []reading{{"b", 30}, {"a", 16}}}, // moved, c gone
		{3 * time.Second, []reading{{"b", 31}, {"a", 17}, {"c", 5}}},
		{3*time.Second + 10*time.Minute + time.Millisecond, []reading{{"a", 18}}}, // b, c forgotten
		{4*time.Second + 10*time.Minute, []reading{{"a", 19}, {"b", 1}, {"c", 2}}},
		{5*time.Second + 10*time.Minute, []reading{{"a", 20}, {"b", 4}, {"c", 1}}}, // c reset
	}
	plain, memoed := newAccumulator(10*time.Minute), newAccumulator(10*time.Minute)
	var memo groupMemo
	for n, poll := range polls {
		now := t0.Add(poll.at)
		for i, r := range poll.readings {
			k := groupKey{kind: "dev", bridge: "br-int", name: r.port}
			wantTotal, wantGrew := plain.group(k, now).add(0, r.rx)
			gotTotal, gotGrew := memoed.groupAt(&memo, i, k, now).add(0, r.rx)
			if gotTotal != wantTotal || gotGrew != wantGrew {
				t.Errorf("poll %d, %s: %d, %d through the memo; %d, %d by key", n, r.port, gotTotal, gotGrew, wantTotal, wantGrew)
			}
		}
		plain.sweep(now)
		memoed.sweep(now)
		if len(plain.groups) != len(memoed.groups) {
			t.Errorf("poll %d: %d groups kept through the memo, %d by key", n, len(memoed.groups), len(plain.groups))
		}
	}
}

// BenchmarkDeviceGroups looks up the device counters of 500 ports, as a
// poll's join does, by key and through the memo of the last poll's order.
func BenchmarkDeviceGroups(b *testing.B) {
	keys := make([]groupKey, 500)
	for i := range keys {
		keys[i] = groupKey{kind: "dev", bridge: "br-int", name: fmt.Sprintf("tap%08x-%02d", i*7919, i%50)}
	}
	now := time.Unix(1000, 0)
	b.Run("by key", func(b *testing.B) {
		c := newAccumulator(10 * time.Minute)
		for b.Loop() {
			for _, k := range keys {
				c.group(k, now).add(0, 1)
			}
		}
	})
	b.Run("memo", func(b *testing.B) {
		c := newAccumulator(10 * time.Minute)
		var memo groupMemo
		for b.Loop() {
			for i, k := range keys {
				c.groupAt(&memo, i, k, now).add(0, 1)
			}
		}
	})
}
