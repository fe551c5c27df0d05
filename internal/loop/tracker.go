package loop

import (
	"time"
)

// State is a bridge's loop verdict after a poll.
type State struct {
	Evidence
	// Active is true once SustainPolls consecutive polls showed a loop,
	// until ClearPolls consecutive polls show none.
	Active bool
	// LoopPorts are the ports of the latest poll that showed the loop,
	// kept while Active.
	LoopPorts []string
	// Since is when the loop became active.
	Since time.Time
}

type bridgeState struct {
	fdb         fdbIndex
	loop, quiet int
	active      bool
	ports       []string
	since       time.Time
}

// Tracker keeps each bridge's loop verdict across polls, and the previous
// fdb/show read while reads are due. It holds at most one MAC table per
// bridge, and none for a calm bridge.
type Tracker struct {
	cfg     Config
	bridges map[string]*bridgeState
}

// NewTracker returns a Tracker with thresholds cfg (zero fields take
// DefaultConfig's).
func NewTracker(cfg Config) *Tracker {
	d := DefaultConfig
	if cfg.MinMovesPerSec <= 0 {
		cfg.MinMovesPerSec = d.MinMovesPerSec
	}
	if cfg.MinBroadcastPPS <= 0 {
		cfg.MinBroadcastPPS = d.MinBroadcastPPS
	}
	if cfg.MinPortPPS <= 0 {
		cfg.MinPortPPS = d.MinPortPPS
	}
	if cfg.SustainPolls <= 0 {
		cfg.SustainPolls = d.SustainPolls
	}
	if cfg.ClearPolls <= 0 {
		cfg.ClearPolls = d.ClearPolls
	}
	return &Tracker{cfg: cfg, bridges: map[string]*bridgeState{}}
}

// Config returns the thresholds in use.
func (t *Tracker) Config() Config { return t.cfg }

// WantFDB reports whether bridge's MAC table should be read this poll:
// its MACs move at storm rate (moved over interval), a loop is active on
// it, or its table is under pressure (see Pressure). A calm bridge is
// never read.
func (t *Tracker) WantFDB(bridge string, moved uint64, interval time.Duration, pressure bool) bool {
	if pressure {
		return true
	}
	if s := t.bridges[bridge]; s != nil && s.active {
		return true
	}
	return interval > 0 && float64(moved)/interval.Seconds() >= t.cfg.MinMovesPerSec
}

// Observe weighs one poll of one bridge and returns its verdict. When in.FDB
// is set, where it has each MAC is kept for the next poll's comparison; when
// it is not, that is dropped (reads are not consecutive any more).
func (t *Tracker) Observe(in BridgeInput, now time.Time) State {
	s := t.bridges[in.Bridge]
	if s == nil {
		s = &bridgeState{}
		t.bridges[in.Bridge] = s
	}
	var onto map[string]int
	if in.FDB != nil {
		onto = s.fdb.update(*in.FDB)
	} else {
		s.fdb = fdbIndex{} // reads stopped: the next read starts afresh
	}
	ev := Assess(in, onto, t.cfg)
	if len(ev.Ports) > 0 {
		s.loop++
		s.quiet = 0
		s.ports = ev.Ports
	} else {
		s.quiet++
		s.loop = 0
	}
	switch {
	case !s.active && s.loop >= t.cfg.SustainPolls:
		s.active, s.since = true, now
	case s.active && s.quiet >= t.cfg.ClearPolls:
		s.active, s.ports, s.since = false, nil, time.Time{}
	}
	st := State{Evidence: ev, Active: s.active, Since: s.since}
	if s.active {
		st.LoopPorts = s.ports
	}
	return st
}

// Retain forgets the bridges not in present (deleted since): their state
// must not outlive them.
func (t *Tracker) Retain(present map[string]bool) {
	for b := range t.bridges {
		if !present[b] {
			delete(t.bridges, b)
		}
	}
}
