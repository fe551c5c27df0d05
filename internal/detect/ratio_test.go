package detect

import (
	"net"
	"testing"
	"time"
)

// TestRatioHistoryIsDense checks that the leak-ratio window shares its key
// lists between polls while the port set holds, and that ratios read from
// the dense samples are those of the window's first and last polls.
func TestRatioHistoryIsDense(t *testing.T) {
	d := New(Config{Window: time.Minute})
	t0 := time.Unix(1_700_000_000, 0)
	ports := map[string]Port{
		"vm1": {Bridge: "br-int", Name: "vm1", Endpoint: true},
		"vm2": {Bridge: "br-int", Name: "vm2", Endpoint: true},
		"up":  {Bridge: "br-int", Name: "up"},
	}
	k1 := PortKey{Bridge: "br-int", Port: "vm1"}
	polls := []struct {
		leaked1  uint64
		received map[string]uint64
	}{
		{0, map[string]uint64{"vm1": 1000, "up": 5}},
		{100, map[string]uint64{"vm1": 1400, "up": 6}},
		{300, map[string]uint64{"vm1": 2000, "up": 7}},
		{300, map[string]uint64{"vm1": 2000, "vm2": 50, "up": 8}}, // vm2 appears
	}
	for i, p := range polls {
		if p.leaked1 > 0 {
			d.leaked[k1] = p.leaked1
		}
		d.record(Input{Time: t0.Add(time.Duration(i) * time.Second), Received: p.received})
	}
	h := d.history
	if len(h) != len(polls) {
		t.Fatalf("history holds %d samples, want %d", len(h), len(polls))
	}
	t.Run("keys shared while unchanged", func(t *testing.T) {
		if &h[1].receivedKeys[0] != &h[2].receivedKeys[0] {
			t.Error("polls 1 and 2 have the same ports but separate key lists")
		}
		if &h[2].receivedKeys[0] == &h[3].receivedKeys[0] {
			t.Error("poll 3 added vm2 but reuses poll 2's key list")
		}
	})
	t.Run("ratios from first and last", func(t *testing.T) {
		got := ratios(h, ports)
		// vm1: 300 leaked of 1000 received; vm2 never leaked; up is no endpoint.
		if len(got) != 1 || got[0].PortKey != k1 || got[0].Leaked != 300 || got[0].Received != 1000 || got[0].Ratio != 0.3 {
			t.Fatalf("ratios = %+v, want only vm1 at 300/1000", got)
		}
	})
	t.Run("lookups of absent keys", func(t *testing.T) {
		if _, ok := h[0].receivedOf("vm2"); ok {
			t.Error("poll 0 reports a counter for vm2, which appeared in poll 3")
		}
		if v, ok := h[0].leakedOf(k1); ok || v != 0 {
			t.Errorf("poll 0 leaked of vm1 = %d, %v; want none", v, ok)
		}
		if v, ok := h[3].receivedOf("vm2"); !ok || v != 50 {
			t.Errorf("poll 3 counter of vm2 = %d, %v; want 50", v, ok)
		}
	})
}

// No ratio is a nil slice, whatever the result was sized for; and a dump
// whose only candidate is no flood classifies to nil.
func TestNothingIsNil(t *testing.T) {
	now := time.Unix(1000, 0)
	h := []sample{{t: now}, {t: now.Add(time.Second)}}
	if r := ratios(h, map[string]Port{"tapvm1": {Bridge: "br-int", Name: "tapvm1", Endpoint: true}}); r != nil {
		t.Errorf("ratios without leaks = %#v, want nil", r)
	}
	dst, _ := net.ParseMAC("02:00:00:00:00:64")
	back := Flow{Key: "k", InPort: "tapvm1", Dst: dst, Outputs: []Output{{Port: "tapvm1"}, {Port: "tapvm1", VLAN: 10}}}
	if c := Classify([]Flow{back}, nil); c != nil {
		t.Errorf("Classify of a flow sent back where it came from = %#v, want nil", c)
	}
}
