package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// dumpCounter is a unixctl Caller that counts megaflow dumps.
type dumpCounter struct {
	c     *unixctl.Client
	mu    sync.Mutex
	dumps int
}

func (d *dumpCounter) Call(ctx context.Context, method string, params ...string) (string, error) {
	if method == "dpctl/dump-flows" {
		d.mu.Lock()
		d.dumps++
		d.mu.Unlock()
	}
	return d.c.Call(ctx, method, params...)
}

// take returns the dumps since the last take.
func (d *dumpCounter) take() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.dumps
	d.dumps = 0
	return n
}

// gatedLabAgent is labAgent with its unixctl source reading through a
// dumpCounter, and cfg's gate and detector settings.
func gatedLabAgent(t *testing.T, l *labtest.Lab, cfg Config) (*Agent, *dumpCounter) {
	t.Helper()
	a, _ := labAgent(t, l)
	uc := unixctl.New(l.RunDir, unixctl.Options{Timeout: 2 * time.Second})
	t.Cleanup(func() { _ = uc.Close() })
	counter := &dumpCounter{c: uc}
	for i, s := range a.sources {
		if s.Name() == state.SourceUnixctl {
			a.sources[i] = NewUnixctl(ovs.NewVswitchd(counter), 5*time.Second)
		}
	}
	cfg.Interval = time.Second
	a.cfg = cfg.withDefaults()
	a.det = detect.New(a.cfg.Detect)
	return a, counter
}

// With the dump gated on the per-port counters, the seed-000 flood is
// still reported within 2 polls of its first flooded packets and cleared
// within 3 polls of its last, at the default settings; an
// ungated agent polling at the same instants is the reference for when
// the flood's packets start and stop. Before the flood, the gated agent
// reads megaflows only on its safety sweep.
func TestLabGatedDumpDetectsAndClearsInTime(t *testing.T) {
	skipShort(t)
	l := labtest.Up(t, "gt1")
	cfg := DefaultConfig()
	gated, dumps := gatedLabAgent(t, l, cfg)
	ref := cfg
	ref.Gate.Always = true
	always, _ := gatedLabAgent(t, l, ref)

	ctx := context.Background()
	poll := func() (g, r *state.Snapshot) { return gated.Poll(ctx), always.Poll(ctx) }
	poll()
	dumps.take()
	// Longer than the detector remembers unseen megaflows (12 polls):
	// the safety sweep comes first, so the flood below is counted from
	// its first poll.
	for range 14 {
		time.Sleep(time.Second)
		poll()
	}
	if n := dumps.take(); n != 1 {
		t.Errorf("gated agent dumped megaflows %d times in 14 calm polls, want 1 (the sweep, every 12th poll at 1 s)", n)
	}

	done, _ := runTraffic(t, l, "flood", "6", "5M")
	key := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: extMAC}
	counter := detect.CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}
	// Per poll: the reference counted flooded packets at the detector's
	// rate, the reference reports the flood, the gated agent does.
	var flooded, refActive, active []bool
	var prev uint64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for running, extra := true, 0; running || extra < 6; {
		select {
		case <-done:
			running, done = false, nil
		case <-tick.C:
			if !running {
				extra++
			}
			g, r := poll()
			c := r.Detect.Flooded[counter].Packets
			flooded = append(flooded, r.Detect.PollSeconds > 0 && float64(c-prev)/r.Detect.PollSeconds >= cfg.Detect.MinPacketRate)
			prev = c
			_, on := findActive(g, key)
			_, refOn := findActive(r, key)
			active, refActive = append(active, on), append(refActive, refOn)
		}
	}
	first, last := -1, -1
	for i, f := range flooded {
		if f {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatalf("the reference agent never counted flooded packets (flooded %v)", flooded)
	}
	detected, cleared := firstAfter(active, true, -1), -1
	if detected >= 0 {
		cleared = firstAfter(active, false, max(detected, last))
	}
	t.Logf("per poll: flooded %v, active (ungated) %v, active (gated) %v", flooded, refActive, active)
	if ref := firstAfter(refActive, true, -1); ref >= 0 && detected > ref {
		t.Errorf("the gate delayed detection: reported at poll %d, the ungated agent at %d", detected, ref)
	}
	switch {
	case detected < 0:
		t.Fatal("the gated agent never reported the flood")
	case detected-first+1 > 2:
		t.Errorf("reported at poll %d, %d polls after the first flooded packets (poll %d), want within 2", detected, detected-first+1, first)
	}
	switch {
	case cleared < 0:
		t.Errorf("the flood was never cleared after its last flooded poll %d", last)
	case cleared-last > 3:
		t.Errorf("cleared at poll %d, %d polls after the last flooded poll %d, want within 3", cleared, cleared-last, last)
	}
}

// The benign twin: learned east-west traffic replicates nothing, so the
// gated agent dumps megaflows only on its first poll, and reports
// nothing.
func TestLabGatedDumpStaysQuietOnLearnedTraffic(t *testing.T) {
	skipShort(t)
	l := labtest.Up(t, "gt2")
	// The FDB learns vm2 and vm3 first: the first frames between two
	// VMs are flooded until the reply teaches the switch (a real, brief
	// flood the gate rightly dumps for).
	if _, err := l.Run("east", "1", "1M"); err != nil {
		t.Fatal(err)
	}
	a, dumps := gatedLabAgent(t, l, DefaultConfig())
	ctx := context.Background()
	a.Poll(ctx)
	if n := dumps.take(); n != 1 {
		t.Errorf("first poll: %d dumps, want 1 (the baseline)", n)
	}
	done, _ := runTraffic(t, l, "east", "5", "5M")
	snaps := pollWhile(t, a, done, 1)
	for _, s := range snaps {
		if len(s.Detect.Active) != 0 {
			t.Fatalf("learned traffic reported as %+v", s.Detect.Active)
		}
		for _, d := range s.Datapaths {
			if strings.HasPrefix(d.Name, "netdev@") && d.Dumped != 0 {
				t.Errorf("a calm poll read %d megaflows", d.Dumped)
			}
		}
	}
	if n := dumps.take(); n != 0 {
		t.Errorf("%d dumps over %d polls of learned traffic, want 0", n, len(snaps))
	}
}

// firstAfter returns the first index above after where v[i] == want, or -1.
func firstAfter(v []bool, want bool, after int) int {
	for i := after + 1; i < len(v); i++ {
		if v[i] == want {
			return i
		}
	}
	return -1
}

// skipShort skips a lab test under go test -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test: skipped with -short")
	}
}
