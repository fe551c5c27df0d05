package detect

import "github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"

// flowMemo is a megaflow's counters as last dumped.
type flowMemo struct {
	packets, bytes uint64
	seen           int64 // poll number last dumped
	inPort         string
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
type flowMemory struct {
	flows map[string]flowMemo
	// forgotten holds the in_ports whose megaflows were dropped by age and
	// that were not dumped since.
	forgotten map[string]bool
}

func newFlowMemory() flowMemory {
	return flowMemory{flows: map[string]flowMemo{}, forgotten: map[string]bool{}}
}

// delta returns what f counted since the previous poll. On the detector's
// first poll, and for a megaflow of a forgotten port, it is the baseline: 0.
// A megaflow created since the last dump of its port counted nothing
// before, so all of it is new.
func (m flowMemory) delta(f Flow, first bool) (packets, bytes uint64) {
	prev, known := m.flows[f.Key]
	switch {
	case known:
		return counter.Delta(prev.packets, f.Packets), counter.Delta(prev.bytes, f.Bytes)
	case first || m.forgotten[f.InPort]:
		return 0, 0
	default:
		return f.Packets, f.Bytes
	}
}

// remember records this poll's dump (flooded or not: a megaflow can be
// revalidated from single-output to flooded in place) and forgets what is
// gone or too old. poll is the current poll number.
func (m flowMemory) remember(in Input, poll, maxAge int64) {
	for _, f := range in.Flows {
		m.flows[f.Key] = flowMemo{packets: f.Packets, bytes: f.Bytes, seen: poll, inPort: f.InPort}
	}
	if in.Complete {
		for k, memo := range m.flows {
			if memo.seen != poll {
				delete(m.flows, k)
			}
		}
		clear(m.forgotten)
		return
	}
	for k, memo := range m.flows {
		switch {
		case memo.seen == poll:
		case in.Observed[memo.inPort]:
			delete(m.flows, k) // its port was dumped without it: gone
		case poll-memo.seen > maxAge:
			delete(m.flows, k)
			m.forgotten[memo.inPort] = true
		}
	}
	for p := range in.Observed {
		delete(m.forgotten, p) // the memory now holds all of p's megaflows
	}
}

// len returns how many megaflows are remembered.
func (m flowMemory) len() int { return len(m.flows) }
