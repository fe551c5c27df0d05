package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// fdbSource looks for L2 loops, broadcast storms, group-bit station MACs and
// MAC tables under pressure (internal/loop), from what the unixctl source
// read (FDB statistics, megaflows) and the OVSDB topology. It reads a MAC
// table (fdb/show) only while that bridge's MACs move at storm rate, a loop
// is active on it, or its table is over 80 % full or evicting: a calm host
// costs no request.
type fdbSource struct {
	deadline time.Duration
	tracker  *loop.Tracker
	counter  loop.Counter
	last     time.Time
	// Previous poll's FDB statistics per bridge (monotonic totals).
	moved, evicted map[string]uint64
	// Totals since start, by bridge and port.
	broadcast map[[2]string]*loop.PortCounts
	moves     map[[2]string]uint64
	skipped   uint64
	// deltas is what each megaflow of the last poll carried, reused
	// across polls: thousands of entries, and no pointer among them.
	deltas  []loop.Delta
	logged  map[string]string // bridge -> last read error logged
	noLocal map[string]bool   // bridges logged as having no LOCAL MAC
	// macsOf is the OVSDB topology that attached and local were read
	// from: they are reused, never modified, while the topology stays.
	macsOf   *ovsdb.Topology
	attached []loop.PortMAC
	local    map[string]net.HardwareAddr
}

// NewFDB returns the "fdb" source with the loop verdict's thresholds cfg;
// deadline bounds its MAC-table reads in one poll.
func NewFDB(cfg loop.Config, deadline time.Duration) Source {
	return &fdbSource{deadline: deadline, tracker: loop.NewTracker(cfg),
		moved: map[string]uint64{}, evicted: map[string]uint64{},
		broadcast: map[[2]string]*loop.PortCounts{}, moves: map[[2]string]uint64{}, logged: map[string]string{},
		noLocal: map[string]bool{}}
}

func (s *fdbSource) Name() string           { return state.SourceFDB }
func (s *fdbSource) Timeout() time.Duration { return s.deadline }

func (s *fdbSource) Read(ctx context.Context, p *Poll) error {
	u := p.unixctl
	if u == nil || p.vswitchd == nil {
		return nil // nothing to weigh: the unixctl source says why
	}
	ports := loop.PortsOf(u.portBr, u.ports)
	s.deltas = s.counter.AppendDeltas(s.deltas[:0], p.flows, p.dumped)
	// The checks read the poll's own megaflows: nothing of them is copied
	// or kept past the poll.
	flows := loop.Flows{Dump: p.flows, Deltas: s.deltas, Ports: ports}
	interval := p.Time.Sub(s.last)
	first := s.last.IsZero()
	s.last = p.Time
	attached, local := s.macs(p)
	stations := loop.FindStations(attached, flows)
	rep := &loop.Report{Stations: stations.List()}
	s.addBroadcast(loop.Broadcast(flows, stations))
	var errs []error
	present := map[string]bool{}
	for _, br := range u.bridges {
		present[br] = true
		st := u.fdbStats[br]
		if st == nil {
			continue
		}
		moved, evicted := st.Moved-s.moved[br], st.Evicted-s.evicted[br]
		s.moved[br], s.evicted[br] = st.Moved, st.Evicted
		if first {
			continue
		}
		in := loop.BridgeInput{Bridge: br, Interval: interval, Moved: moved, Flows: flows,
			Stations: stations, Attached: attached, LocalMAC: local[br], Ports: ports}
		pressure := st.Max > 0 && st.Entries*5 > st.Max*4 || evicted > 0
		if s.tracker.WantFDB(br, moved, interval, pressure) {
			t, err := s.readTable(ctx, p, br)
			if err != nil {
				errs = append(errs, err)
			} else if t != nil {
				in.FDB = t
				s.checkLocal(p, br, local[br])
				if pressure {
					rep.Tables = append(rep.Tables, table(br, st, *t, ports))
				}
			}
		}
		v := s.tracker.Observe(in, p.Time)
		for port, n := range v.PortMoves {
			s.moves[[2]string{br, port}] += n
		}
		if v.Active {
			rep.Loops = append(rep.Loops, loop.BridgeState{Bridge: br, State: v})
		}
	}
	s.tracker.Retain(present)
	s.report(rep, present, u.ports)
	p.l2 = rep
	return errors.Join(errs...)
}

// macs returns the ports' attached MACs and each bridge's own MAC (its
// internal port's mac_in_use) from the OVSDB topology.
func (s *fdbSource) macs(p *Poll) ([]loop.PortMAC, map[string]net.HardwareAddr) {
	if p.ovsdb == nil {
		return nil, map[string]net.HardwareAddr{}
	}
	if p.ovsdb != s.macsOf {
		s.macsOf = p.ovsdb
		s.attached, s.local = attachedMACs(p.ovsdb)
	}
	return s.attached, s.local
}

// attachedMACs reads the ports' attached MACs and each bridge's own
// (LOCAL) MAC from the OVSDB topology.
func attachedMACs(t *ovsdb.Topology) ([]loop.PortMAC, map[string]net.HardwareAddr) {
	local := map[string]net.HardwareAddr{}
	var attached []loop.PortMAC
	for _, b := range t.Bridges {
		for _, port := range b.Ports {
			for _, in := range port.Interfaces {
				if m := parseMAC(in.AttachedMAC); m != nil {
					attached = append(attached, loop.PortMAC{Bridge: b.Name, Port: port.Name, MAC: m})
				}
				if in.Type == "internal" && in.Name == b.Name {
					local[b.Name] = parseMAC(in.MACInUse)
				}
			}
		}
	}
	return attached, local
}

// readTable reads bridge's MAC table. A bridge deleted during the poll, or
// a reply that cannot be read, is skipped and counted, and logged once per
// cause; only a failing connection is the source's error.
func (s *fdbSource) readTable(ctx context.Context, p *Poll, br string) (*ovs.FDBTable, error) {
	t, err := p.vswitchd.FDBShow(ctx, br)
	if err == nil {
		delete(s.logged, br)
		return &t, nil
	}
	s.skipped++
	if ctx.Err() != nil {
		return nil, fmt.Errorf("fdb/show %s: %w", br, err)
	}
	if s.logged[br] != err.Error() {
		s.logged[br] = err.Error()
		p.log.Warn("MAC table not readable, skipped this poll", zap.String("bridge", br), zap.Error(err))
	}
	return nil, nil
}

// checkLocal logs once per bridge that its own MAC is unknown (no
// mac_in_use on its internal interface in OVSDB): the check for the
// bridge's own MAC learned on another port is then skipped.
func (s *fdbSource) checkLocal(p *Poll, br string, mac net.HardwareAddr) {
	if mac != nil || s.noLocal[br] {
		return
	}
	s.noLocal[br] = true
	p.log.Info("bridge has no LOCAL port MAC in OVSDB: its own MAC cannot be looked for on other ports",
		zap.String("bridge", br))
}

func table(br string, st *state.FDB, t ovs.FDBTable, ports loop.Ports) loop.Table {
	per := loop.PortEntries(t, br, ports)
	top, n := loop.Top(per)
	return loop.Table{Bridge: br, Entries: st.Entries, Max: st.Max, PerPort: per, Top: top, TopEntries: n}
}

func (s *fdbSource) addBroadcast(counts []loop.PortCounts) {
	for _, c := range counts {
		if c.Bridge == "" {
			continue
		}
		k := [2]string{c.Bridge, c.Port}
		t := s.broadcast[k]
		if t == nil {
			t = &loop.PortCounts{Bridge: c.Bridge, Port: c.Port}
			s.broadcast[k] = t
		}
		t.Packets += c.Packets
		t.Bytes += c.Bytes
	}
}

// report copies the totals of the ports still present into rep (and
// forgets those of deleted bridges and ports).
func (s *fdbSource) report(rep *loop.Report, present map[string]bool, ports map[string]*ovs.DPPort) {
	gone := func(k [2]string) bool {
		_, ok := ports[k[1]]
		return !present[k[0]] || !ok
	}
	if len(s.broadcast) > 0 {
		rep.Broadcast = make([]loop.PortCounts, 0, len(s.broadcast))
	}
	for k, c := range s.broadcast {
		if gone(k) {
			delete(s.broadcast, k)
			continue
		}
		rep.Broadcast = append(rep.Broadcast, *c)
	}
	if len(s.moves) > 0 {
		rep.PortMoves = make([]loop.PortTotal, 0, len(s.moves))
	}
	for k, n := range s.moves {
		if gone(k) {
			delete(s.moves, k)
			continue
		}
		rep.PortMoves = append(rep.PortMoves, loop.PortTotal{Bridge: k[0], Port: k[1], Value: n})
	}
	for br := range s.moved {
		if !present[br] {
			delete(s.moved, br)
			delete(s.evicted, br)
		}
	}
	if len(rep.Broadcast) == 0 {
		rep.Broadcast = nil // as when none was appended
	}
	if len(rep.PortMoves) == 0 {
		rep.PortMoves = nil
	}
	// By bridge, then port: names hold no NUL, so this is the order of
	// bridge+"\x00"+port without building those strings.
	slices.SortFunc(rep.Broadcast, func(x, y loop.PortCounts) int {
		return cmp.Or(strings.Compare(x.Bridge, y.Bridge), strings.Compare(x.Port, y.Port))
	})
	slices.SortFunc(rep.PortMoves, func(x, y loop.PortTotal) int {
		return cmp.Or(strings.Compare(x.Bridge, y.Bridge), strings.Compare(x.Port, y.Port))
	})
	rep.Skipped = s.skipped
}
