package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func fdbShowCalls(calls []string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "fdb/show ") {
			n++
		}
	}
	return n
}

// On a calm host the fdb source adds no request: the captured seed-000
// flood polled with and without it makes the same fdb/show calls (the
// detector's own, to confirm its candidate).
func TestFDBSourceAddsNoCallsOnACalmHost(t *testing.T) {
	calls := map[bool]int{}
	for _, withFDB := range []bool{false, true} {
		r := fakeReaders(t)
		src := r.sources()
		if !withFDB {
			src = src[:len(src)-1]
		}
		cfg := DefaultConfig()
		cfg.Interval = time.Second
		a := New(cfg, src, nil, &state.Store{})
		var s *state.Snapshot
		for i := uint64(1); i <= 4; i++ {
			r.unixctl.SetReply("dpctl/dump-flows -m netdev@ovs-netdev", floodDump(t, i*1000, i*1_000_000))
			s = a.Poll(context.Background())
			time.Sleep(10 * time.Millisecond)
		}
		if withFDB && (s.L2 == nil || !s.Sources[state.SourceFDB].Up || len(s.L2.Loops)+len(s.L2.Tables)+len(s.L2.Stations) != 0) {
			t.Errorf("calm host: fdb source %+v, report %+v", s.Sources[state.SourceFDB], s.L2)
		}
		calls[withFDB] = fdbShowCalls(r.unixctl.Calls)
	}
	if calls[true] != calls[false] {
		t.Errorf("fdb/show calls: %d with the fdb source, %d without", calls[true], calls[false])
	}
}

// A full table is read and its top port named; a bridge whose table
// cannot be read (deleted during the poll) is skipped, counted and logged
// once, and the source stays up.
func TestFDBSourceFullTableAndVanishingBridge(t *testing.T) {
	r := fakeReaders(t)
	if err := r.unixctl.LoadFile("fdb/stats-show br-int", captures+"macflood-fdb-stats-show.br-int.1.txt"); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	a := New(cfg, r.sources(), zap.New(core), &state.Store{})
	a.Poll(context.Background())
	time.Sleep(10 * time.Millisecond)
	s := a.Poll(context.Background())
	if s.L2 == nil || len(s.L2.Tables) != 1 || s.L2.Tables[0].Top != "tapvm1" || s.L2.Tables[0].Max != 64 {
		t.Fatalf("full table: %+v", s.L2)
	}
	r.unixctl.SetErr("fdb/show br-int", &unixctl.ServerError{Method: "fdb/show", Message: "no such bridge"})
	for i := 0; i < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		s = a.Poll(context.Background())
	}
	if st := s.Sources[state.SourceFDB]; !st.Up {
		t.Errorf("fdb source down for a vanished bridge: %s", st.Err)
	}
	if s.L2.Skipped == 0 || len(s.L2.Tables) != 0 {
		t.Errorf("skipped %d, tables %+v", s.L2.Skipped, s.L2.Tables)
	}
	if n := logs.FilterMessageSnippet("MAC table not readable").Len(); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
}
