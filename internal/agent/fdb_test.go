package agent

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/ovstest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// The detector's MAC tables are read again exactly when they may have
// changed: when a learning counter, the entry or static count moves,
// after fdbRefreshPolls polls, or when no statistics were read; and a
// MAC learned between polls is seen in the poll that follows.
func TestLazyFDBReusesTableWhileStatisticsHold(t *testing.T) {
	const (
		vm1 = " port  VLAN  MAC                Age\n    1    10  02:00:00:00:00:01    1\n"
		ext = "    2    10  02:00:00:00:00:64    0\n"
	)
	extMAC, _ := net.ParseMAC("02:00:00:00:00:64")
	base := state.FDB{Entries: 1, Max: 8192, Learned: 1}
	learned := base
	learned.Entries, learned.Learned = 2, 2
	flushedAndRelearned := learned
	flushedAndRelearned.Static = 1
	steps := []struct {
		name      string
		stats     *state.FDB // nil: fdb/stats-show failed this poll
		table     string
		wantReads int
		wantExt   bool
	}{
		{"first poll reads", &base, vm1, 1, false},
		{"same statistics reuse", &base, vm1 + ext, 0, false},
		{"a MAC learned moves the counters", &learned, vm1 + ext, 1, true},
		{"unchanged again", &learned, vm1, 0, true},
		{"static count moved", &flushedAndRelearned, vm1, 1, false},
		{"no statistics read", nil, vm1 + ext, 1, true},
		{"no statistics before: read again", &flushedAndRelearned, vm1, 1, false},
	}
	f := ovstest.NewFake()
	cache := newFDBCache()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.SetReply("fdb/show br-int", s.table)
			f.Calls = nil
			stats := map[string]*state.FDB{}
			if s.stats != nil {
				stats["br-int"] = s.stats
			}
			l := newLazyFDB(context.Background(), f, stats, cache)
			for range 3 { // several questions in one poll: one read at most
				got, ok := l.Learned("br-int", 10, extMAC)
				if !ok || got != s.wantExt {
					t.Fatalf("Learned(ext) = %v, %v; want %v, true", got, ok, s.wantExt)
				}
			}
			if n := countCalls(f.Calls, "fdb/show"); n != s.wantReads {
				t.Errorf("fdb/show read %d times, want %d", n, s.wantReads)
			}
		})
	}
}

func TestLazyFDBRefreshesAfterSomePolls(t *testing.T) {
	f := ovstest.NewFake()
	f.SetReply("fdb/show br-int", " port  VLAN  MAC                Age\n    1    10  02:00:00:00:00:01    1\n")
	stats := map[string]*state.FDB{"br-int": {Entries: 1, Max: 8192, Learned: 1}}
	cache := newFDBCache()
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	reads := 0
	for range 2*fdbRefreshPolls + 1 {
		f.Calls = nil
		if l, ok := newLazyFDB(context.Background(), f, stats, cache).Learned("br-int", 10, mac); !ok || !l {
			t.Fatalf("Learned(vm1) = %v, %v", l, ok)
		}
		reads += countCalls(f.Calls, "fdb/show")
	}
	if reads != 3 {
		t.Errorf("%d reads over %d polls with unchanged statistics, want 3 (every %d polls)", reads, 2*fdbRefreshPolls+1, fdbRefreshPolls)
	}
}

func TestLazyFDBFailureIsNotCached(t *testing.T) {
	f := ovstest.NewFake() // no reply for fdb/show: it fails
	stats := map[string]*state.FDB{"br-int": {Entries: 1}}
	cache := newFDBCache()
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	if _, ok := newLazyFDB(context.Background(), f, stats, cache).Learned("br-int", 10, mac); ok {
		t.Fatal("Learned answered without a table")
	}
	f.SetReply("fdb/show br-int", " port  VLAN  MAC                Age\n    1    10  02:00:00:00:00:01    1\n")
	if l, ok := newLazyFDB(context.Background(), f, stats, cache).Learned("br-int", 10, mac); !ok || !l {
		t.Errorf("after a failed read, the next poll answered %v, %v; want true, true", l, ok)
	}
}

func countCalls(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// A bridge that is gone is not kept: its table would stay in memory for
// good, and one coming back under the same name must be read afresh.
func TestLazyFDBForgetsBridgesThatAreGone(t *testing.T) {
	f := ovstest.NewFake()
	f.SetReply("fdb/show br-int", " port  VLAN  MAC                Age\n    1    10  02:00:00:00:00:01    1\n")
	f.SetReply("fdb/show br-ex", " port  VLAN  MAC                Age\n")
	both := map[string]*state.FDB{"br-int": {Entries: 1}, "br-ex": {}}
	cache := newFDBCache()
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	l := newLazyFDB(context.Background(), f, both, cache)
	l.Learned("br-int", 10, mac)
	l.Learned("br-ex", 10, mac)
	newLazyFDB(context.Background(), f, map[string]*state.FDB{"br-int": {Entries: 1}}, cache)
	if _, ok := cache.tables["br-ex"]; ok || len(cache.tables) != 1 {
		t.Errorf("cached bridges after br-ex went away: %d, br-ex kept %v; want br-int only", len(cache.tables), ok)
	}
}
