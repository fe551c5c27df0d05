package detect

import (
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/flowtab"
)

// flowMemo is a megaflow's counters as last dumped.
type flowMemo struct {
	inPort         string
	packets, bytes uint64
	seen           int64 // poll number last dumped
	// prevPackets and prevBytes are the counters before this poll's dump
	// (valid while seen is this poll and known is true): a megaflow listed
	// twice in one dump is counted against them both times.
	prevPackets, prevBytes uint64
	known                  bool // it was remembered before this poll's dump
	// learnedSpan and learnedMAC say in which span of polls (+1, 0 for
	// none) the megaflow last settled which source MAC of inPort in the
	// senders (see senderSweepPolls and learnFlow).
	learnedSpan uint32
	learnedMAC  uint64
}

// flowMemory remembers every dumped megaflow's counters so the next poll
// counts only what it added. It must stay bounded however many megaflows a
// VM makes the datapath create, and its counts must stay exact: a megaflow
// is never counted from zero twice.
//
// Three ways to forget, each safe for the counts:
//   - after a complete dump, megaflows it did not list are gone;
//   - after a port's (filtered) dump, that port's megaflows it did not list
//     are gone: if the UFID comes back, it is a new megaflow whose counters
//     restarted, and all of them are new;
//   - megaflows of a port that was not dumped for FlowMemoryPolls polls are
//     dropped by age, although they may still exist. The port is then marked
//     forgotten: until its next dump, a megaflow of it that the memory does
//     not hold is taken as a baseline (counted from its next dump on), since
//     it may be one whose counts were already charged.
//
// The memos are a flowtab.Table: a poll looks each megaflow up once (take)
// and walks the table, not a map, to forget (forget).
type flowMemory struct {
	memos flowtab.Table[flowMemo]
	// forgotten holds the in_ports whose megaflows were dropped by age and
	// that were not dumped since.
	forgotten map[string]bool
	// dups is true when the last dump taken listed a megaflow twice, and
	// taken is how many megaflows it listed (each once).
	dups  bool
	taken int
}

func newFlowMemory() flowMemory {
	return flowMemory{forgotten: map[string]bool{}}
}

// flowDelta is what a megaflow counted since the previous poll.
type flowDelta struct{ packets, bytes uint64 }

// take records this poll's dump (flooded or not: a megaflow can be
// revalidated from single-output to flooded in place), and each source
// MAC in s (learnFlow), and returns, per
// flow of in.Flows, what it counted since the previous poll (see counted),
// in out (reused). poll is the current poll number. A megaflow listed
// twice is counted against its counters before this poll both times.
func (m *flowMemory) take(out []flowDelta, in Input, poll int64, first bool, s senders) []flowDelta {
	out = out[:0]
	m.memos.Walk()
	m.dups, m.taken = false, 0
	for i := range in.Flows {
		f := &in.Flows[i]
		memo, ok := m.memos.Visit(f.Key)
		if memo.seen != poll {
			memo.prevPackets, memo.prevBytes, memo.known = memo.packets, memo.bytes, ok
			m.taken++
		} else {
			m.dups = true
		}
		out = append(out, m.counted(memo, f, first))
		s.learnFlow(f, in.Ports, poll, memo)
		memo.packets, memo.bytes, memo.seen, memo.inPort = f.Packets, f.Bytes, poll, f.InPort
	}
	s.sweep(poll)
	return out
}

// counted is what f counted since the previous poll, memo being its
// memory as take left it. On the detector's first poll, and for a
// megaflow of a forgotten port, it is the baseline: 0. A megaflow created
// since the last dump of its port counted nothing before, so all of it is
// new.
func (m *flowMemory) counted(memo *flowMemo, f *Flow, first bool) flowDelta {
	switch {
	case memo.known:
		return flowDelta{counter.Delta(memo.prevPackets, f.Packets), counter.Delta(memo.prevBytes, f.Bytes)}
	case first || m.forgotten[f.InPort]:
		return flowDelta{}
	default:
		return flowDelta{f.Packets, f.Bytes}
	}
}

// forget drops, after take, what is gone or too old. poll is the current
// poll number.
func (m *flowMemory) forget(in Input, poll, maxAge int64) {
	if in.Complete {
		// When the dump listed every megaflow held, none is gone: the walk
		// is skipped (and with it no shrinking is missed, since only a
		// walk that drops megaflows can leave the table to shrink).
		if m.taken < m.memos.Len() {
			m.memos.Retain(func(memo *flowMemo) bool { return memo.seen == poll })
		}
		clear(m.forgotten)
		return
	}
	m.memos.Retain(func(memo *flowMemo) bool {
		switch {
		case memo.seen == poll:
			return true
		case in.Observed[memo.inPort]:
			return false // its port was dumped without it: gone
		case poll-memo.seen > maxAge:
			m.forgotten[memo.inPort] = true
			return false
		}
		return true
	})
	for p := range in.Observed {
		delete(m.forgotten, p) // the memory now holds all of p's megaflows
	}
}

// len returns how many megaflows are remembered.
func (m *flowMemory) len() int { return m.memos.Len() }
