package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestResultsStayAsReturned checks that nothing a Result holds is changed
// by later polls (scrapes read published results while the detector runs
// on): the detector keeps and reuses its own storage from poll to poll,
// and it must never be what a Result refers to. Each result is printed
// when returned and again after all the polls.
func TestResultsStayAsReturned(t *testing.T) {
	type kept struct {
		r    Result
		text string
	}
	var all []kept
	observe := func(d *Detector, in Input) {
		r := d.Observe(in)
		all = append(all, kept{r, fmt.Sprintf("%+v", r)})
	}
	t.Run("benchmark host", func(t *testing.T) {
		h := newBenchHost()
		d := New(DefaultConfig())
		t0 := time.Unix(1_700_000_000, 0)
		for i := range 30 {
			h.next()
			flows := h.flows
			if i%5 == 4 {
				flows = flows[len(flows)/2:] // some floods stop, and end
			}
			observe(d, Input{Time: t0.Add(time.Duration(i) * time.Second), Ports: h.ports, Flows: flows,
				Complete: true, Received: h.received})
		}
	})
	t.Run("random polls", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 2026))
		cfg := DefaultConfig()
		cfg.MaxReported, cfg.SustainPolls, cfg.MinPacketRate, cfg.FlowMemoryPolls = 2, 1, 0, 2
		for range 100 {
			data := make([]byte, 256+rng.IntN(512))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			d := New(cfg)
			r := &byteReader{b: data}
			t0 := time.Unix(1_700_000_000, 0)
			for i := range 8 {
				observe(d, decodePoll(r, t0.Add(time.Duration(i)*5*time.Second)))
			}
		}
	})
	active := 0
	for i, k := range all {
		if now := fmt.Sprintf("%+v", k.r); now != k.text {
			t.Fatalf("result %d changed after it was returned:\nthen %s\nnow  %s", i, k.text, now)
		}
		active += len(k.r.Active)
	}
	if active == 0 {
		t.Fatal("no active flood in any result: the test proves nothing")
	}
}
