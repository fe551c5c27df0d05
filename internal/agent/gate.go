package agent

import (
	"math"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// GateConfig tunes when the agent dumps megaflows (docs/cost-model.md).
type GateConfig struct {
	// Always dumps on every poll, as the agent did before the gate (for
	// hosts whose per-port datapath counters cannot be trusted).
	Always bool
	// SweepInterval is the longest the agent goes without dumping a
	// datapath, whatever the counters say: the safety net for a flood the
	// counters hide.
	SweepInterval time.Duration
	// Budget is the longest one dump may be expected to hold
	// ovs-vswitchd's main thread; the agent picks the kind of dump (full,
	// filtered by port, none) so that its estimate stays within it.
	Budget time.Duration
}

// DefaultGateConfig returns the gate's defaults.
func DefaultGateConfig() GateConfig {
	return GateConfig{SweepInterval: time.Minute, Budget: 40 * time.Millisecond}
}

func (g GateConfig) withDefaults() GateConfig {
	def := DefaultGateConfig()
	orDefault(&g.SweepInterval, def.SweepInterval)
	orDefault(&g.Budget, def.Budget)
	return g
}

const (
	// What one megaflow adds to a dump's hold of vswitchd's main thread:
	// what the benchmarks measured on the userspace datapath at 5k to 100k
	// megaflows on a loaded machine (full dump without -m 4.5 µs median,
	// 8.4 µs worst; filtered 1–2 µs median, 2.7 µs worst, per megaflow
	// walked), so the worst case stays under 50 ms. The agent
	// cannot measure the hold itself (a dump's wall time also carries the
	// transfer, its own parsing and the host's load), so these are fixed;
	// lower --dpctl.dump-budget where dumps are dearer.
	fullCostPerFlow     = 7500 * time.Nanosecond
	filteredCostPerFlow = 2500 * time.Nanosecond
	// maxFilteredPerPoll caps the filtered dumps of one datapath per poll.
	maxFilteredPerPoll = 8
)

// dumpMode is what the gate lets a poll read from one datapath.
type dumpMode int

const (
	dumpSkip     dumpMode = iota // nothing: the counters say no flood may exist
	dumpFull                     // every megaflow
	dumpFiltered                 // the megaflows entering through a few ports
	dumpNone                     // nothing: no dump fits the budget at this flow count
)

// Why the gate dumps (dumpPlan.reason).
const (
	reasonFirst       = "first"       // the first poll sets the baselines
	reasonFollowing   = "following"   // a flood or flood candidate is followed
	reasonReplication = "replication" // more copies than the last dump explained
	reasonMoves       = "moves"       // MACs moved between ports: maybe a loop
	reasonSweep       = "sweep"       // the safety sweep is due
	reasonAlways      = "always"      // GateConfig.Always
)

// dumpPlan is the gate's decision for one datapath in one poll.
type dumpPlan struct {
	mode   dumpMode
	ports  []string // dumpFiltered: the in_ports to dump
	reason string   // "" when skipped
	// rate is the datapath's replication rate this poll: packets sent out
	// of its ports minus packets received, per second.
	rate float64
	// bounded is true when a dump of this datapath would not be a full
	// one (too many megaflows for --dpctl.max-flows or the budget),
	// whether or not this poll dumps.
	bounded bool
	// blind is true when not even one filtered dump fits the budget: the
	// agent reads no megaflow of this datapath, so it detects no new flood
	// there (whether or not this poll would have dumped).
	blind bool
}

// dumpGate decides, per datapath and poll, whether the agent dumps
// megaflows, from the per-port datapath counters read on every poll (a
// flood shows up as more packets out than in). It dumps when replication
// rises above what the last dump explained, while a flood or a flood
// candidate is followed (so the gate adds no detection or clearing
// latency), and at least every SweepInterval. It picks the kind of dump
// so that no single request is expected to hold ovs-vswitchd's main
// thread longer than the budget.
type dumpGate struct {
	dps map[string]*gateState
}

// gateState is what the gate remembers of one datapath.
type gateState struct {
	at, prevAt time.Time // this poll's counters, and the previous poll's
	// ports holds each port's counters read at `at` and what it received
	// in the last poll; updated in place, one lookup per port per poll.
	ports map[string]*portCount
	polls uint64 // replication calls so far, to find the ports gone
	// explained is the replication rate (pps) behind which the last dump
	// found no flood: broadcast, multicast, other legitimate copies.
	explained float64
	skipped   int    // polls since the last dump
	moved     uint64 // the datapath's bridges' FDB moves so far
	// candidates are the in_ports of flood-shaped megaflows that grew at
	// the detector's rate in the last dump; candidatePolls counts the
	// consecutive dumps that had some while no flood became active.
	candidates     []string
	candidatePolls int
	shaped         map[string]shapedMemo // flood-shaped megaflows by key
	turn           int                   // rotates filtered dumps through the ports
}

// portCount is a port's counters as last read.
type portCount struct {
	rx, out  uint64 // received packets, and packets sent (Outputs)
	received uint64 // packets received in the last poll
	poll     uint64 // gateState.polls when last read
}

// received returns the packets port received in the last poll.
func (st *gateState) received(port string) uint64 {
	if pc := st.ports[port]; pc != nil {
		return pc.received
	}
	return 0
}

type shapedMemo struct {
	packets uint64
	at      time.Time
	inPort  string
}

func newDumpGate() *dumpGate { return &dumpGate{dps: map[string]*gateState{}} }

func (g *dumpGate) state(dp string) *gateState {
	st := g.dps[dp]
	if st == nil {
		st = &gateState{shaped: map[string]shapedMemo{}}
		g.dps[dp] = st
	}
	return st
}

// gateInput is what the gate needs of one poll for one datapath.
type gateInput struct {
	dp       string
	now      time.Time
	flows    int                         // megaflows in the datapath
	counters map[string]ovs.PortCounters // dpctl/show -s
	ports    []string                    // the datapath's ports on watched bridges
	flooding []string                    // in_ports of active floods
	maxFlows int                         // --dpctl.max-flows: no full dump above
	maxPorts int                         // --dpctl.bounded-ports: filtered dumps per poll, at most
	minRate  float64                     // the detector's --flood.min-pps
	moved    uint64                      // FDB moves so far on the datapath's bridges (fdb/stats-show)
	// sweepPolls is the safety sweep's period in polls: a datapath is
	// dumped at least every sweepPolls polls.
	sweepPolls int
}

// plan decides what this poll dumps from in.dp, and keeps the counters
// as the next poll's baseline.
func (g *dumpGate) plan(cfg GateConfig, in gateInput) dumpPlan {
	st := g.state(in.dp)
	first := st.at.IsZero()
	p := dumpPlan{rate: st.replication(in.counters, in.now)}
	moved := counter.Delta(st.moved, in.moved)
	st.moved = in.moved
	switch {
	case cfg.Always:
		p.reason = reasonAlways
	case first:
		p.reason = reasonFirst
	case len(st.candidates) > 0 || anyIn(in.flooding, in.ports):
		p.reason = reasonFollowing
	case moved > 0:
		// The loop checks weigh the broadcasts of every poll while MACs
		// move; a storm's copies would otherwise soon count as explained.
		p.reason = reasonMoves
	case p.rate-st.explained >= in.minRate:
		p.reason = reasonReplication
	case st.skipped+1 >= in.sweepPolls:
		p.reason = reasonSweep
	}
	if p.rate < st.explained {
		// Less replication than explained: lower the bar, so that less
		// broadcast (or more drops) cannot hide a later flood.
		st.explained = max(p.rate, 0)
	}
	budget := float64(cfg.Budget)
	full := in.flows <= in.maxFlows && float64(in.flows)*float64(fullCostPerFlow) <= budget
	p.bounded = !full
	one := float64(in.flows) * float64(filteredCostPerFlow)
	p.blind = !full && (one > budget || len(in.ports) == 0)
	if p.reason == "" {
		st.skipped++
		return p
	}
	st.skipped = 0
	if full {
		p.mode = dumpFull
		return p
	}
	if p.blind {
		p.mode = dumpNone
		return p
	}
	n := min(in.maxPorts, maxFilteredPerPoll)
	if one > 0 {
		n = min(n, int(math.Floor(budget/one)))
	}
	n = max(n, 1)
	p.mode, p.ports = dumpFiltered, st.suspects(in, n)
	return p
}

// observe takes the megaflows a dump planned by plan returned, to follow
// flood candidates and to learn what replication is explained.
func (g *dumpGate) observe(dp string, p dumpPlan, flows []detect.Flow, minRate float64, now time.Time, flooding []string) {
	if p.mode != dumpFull && p.mode != dumpFiltered {
		return
	}
	st := g.state(dp)
	var cands []string
	seen := map[string]bool{}
	for i := range flows {
		f := &flows[i] // not copied: thousands per poll
		if !floodShaped(f) {
			continue
		}
		m, known := st.shaped[f.Key]
		st.shaped[f.Key] = shapedMemo{packets: f.Packets, at: now, inPort: f.InPort}
		grew := f.Packets
		if known {
			grew = counter.Delta(m.packets, f.Packets)
		}
		since := m.at
		if !known {
			since = st.prevAt // created since the previous poll
		}
		elapsed := now.Sub(since).Seconds()
		if grew > 0 && (elapsed <= 0 || float64(grew)/elapsed >= minRate) && !seen[f.InPort] {
			seen[f.InPort] = true
			cands = append(cands, f.InPort)
		}
	}
	// Forget the flood-shaped megaflows the dump did not list: all of
	// them after a full dump, those of the dumped ports after a filtered
	// one. The memory holds only what the last dumps saw.
	for k, m := range st.shaped {
		if m.at != now && (p.mode == dumpFull || slices.Contains(p.ports, m.inPort)) {
			delete(st.shaped, k)
		}
	}
	st.settle(p, cands, flooding)
}

// settle updates what the gate follows after a dump. Candidates that
// stay flood-shaped for longer than a flood takes to be confirmed and
// cleared without any becoming active are legitimate multi-output
// traffic (mirrors, learned multicast): their replication is explained.
func (st *gateState) settle(p dumpPlan, cands, flooding []string) {
	sort.Strings(cands)
	active := len(flooding) > 0
	switch {
	case len(cands) == 0:
		// The replication seen now has no flood behind it (for a
		// filtered dump: none behind the busiest senders it read).
		st.candidates, st.candidatePolls = nil, 0
		st.explained = max(p.rate, 0)
	case active:
		st.candidates, st.candidatePolls = cands, 0
	default:
		st.candidatePolls++
		st.candidates = cands
		if st.candidatePolls > candidateGiveUp {
			st.candidates, st.candidatePolls = nil, 0
			st.explained = max(p.rate, st.explained)
		}
	}
}

// candidateGiveUp is how many consecutive dumps the gate follows
// candidates that never become an active flood: more than the default
// detector needs to confirm (3) and clear (2) one.
const candidateGiveUp = 6

// floodShaped says whether a megaflow looks like an unknown-unicast flood:
// one unicast destination MAC delivered to two or more places. Only the
// detector (with the FDB) decides whether it is one.
func floodShaped(f *detect.Flow) bool {
	return len(f.Dst) == 6 && f.Dst[0]&1 == 0 && len(f.Outputs) >= 2
}

// replication returns the packets sent out of the datapath's ports minus
// the packets received, per second since the last poll, and keeps the
// counters for the next one. A new port, or one whose counters went back
// (re-created), counts from zero.
func (st *gateState) replication(counters map[string]ovs.PortCounters, now time.Time) float64 {
	known := st.ports != nil
	if !known {
		st.ports = make(map[string]*portCount, len(counters))
	}
	st.polls++
	var in, sent float64
	for name, c := range counters {
		pc := st.ports[name]
		if pc == nil {
			pc = &portCount{} // new: counts from zero
			st.ports[name] = pc
		}
		rx, out := c.RxPackets, c.Outputs()
		pc.received = 0
		if known {
			pc.received = counter.Delta(pc.rx, rx)
			in += float64(pc.received)
			sent += float64(counter.Delta(pc.out, out))
		}
		pc.rx, pc.out, pc.poll = rx, out, st.polls
	}
	// Every port read is in st.ports now: when it holds no more, none is
	// gone.
	for name, pc := range st.ports {
		if len(st.ports) == len(counters) {
			break
		}
		if pc.poll != st.polls {
			delete(st.ports, name) // gone: counts from zero if it comes back
		}
	}
	elapsed := now.Sub(st.at).Seconds()
	st.prevAt, st.at = st.at, now
	if !known || elapsed <= 0 {
		return 0
	}
	return (sent - in) / elapsed
}

// suspects picks up to n ports to dump filtered, in turn from a short
// list: the entry ports of active floods and followed candidates, then
// the ports that received the most packets in the last poll (a flooding
// VM is a sender), up to 4n of those. When the list is shorter than n,
// the other ports fill in, in turn, so that repeated sweeps cover every
// port.
func (st *gateState) suspects(in gateInput, n int) []string {
	onDP := make(map[string]bool, len(in.ports))
	for _, p := range in.ports {
		onDP[p] = true
	}
	var list []string
	seen := map[string]bool{}
	push := func(p string) {
		if onDP[p] && !seen[p] {
			seen[p] = true
			list = append(list, p)
		}
	}
	for _, p := range append(slices.Clone(in.flooding), st.candidates...) {
		push(p)
	}
	busy := slices.Clone(in.ports)
	sort.SliceStable(busy, func(i, j int) bool { return st.received(busy[i]) > st.received(busy[j]) })
	followed := len(list)
	for _, p := range busy {
		if st.received(p) == 0 || len(list) >= followed+4*n {
			break
		}
		push(p)
	}
	var out []string
	for i := 0; i < min(n, len(list)); i++ {
		out = append(out, list[(st.turn+i)%len(list)])
	}
	sorted := slices.Clone(in.ports)
	sort.Strings(sorted)
	for i := 0; len(out) < n && i < len(sorted); i++ {
		if p := sorted[(st.turn+i)%len(sorted)]; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	st.turn += n
	return out
}

// followedPorts returns the in_ports the next poll's dump gate follows:
// those of the active floods and those whose flooded counters grew in
// this poll (whatever kind of flood the detector counted there, one with
// no copies to show in the port counters included), with each in_port's
// flooded packets for the next call.
func followedPorts(res detect.Result, before map[string]uint64) ([]string, map[string]uint64) {
	now := make(map[string]uint64, len(res.Flooded))
	for k, c := range res.Flooded {
		now[k.InPort] += c.Packets
	}
	out := floodingPorts(res.Active)
	for p, n := range now {
		if n > before[p] && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, now
}

// hasLeakReceivers says whether the poll found ports of this chassis
// whose OVN addresses include "unknown": OVN delivers frames for MACs no
// port owns to them alone, a leak with a single receiver.
func hasLeakReceivers(p *Poll) bool {
	if p.ovn == nil {
		return false
	}
	for _, pb := range p.ovn.ports {
		if pb.Unknown {
			return true
		}
	}
	return false
}

// anyIn says whether some element of a is in b.
func anyIn(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// gated asks the gate what to dump from dp this poll and returns its plan
// with the dpctl/dump-flows filters to send ("" for a full dump), each
// with the ports whose flows it covers.
func (s *unixctlSource) gated(p *Poll, dp ovs.Datapath, stats ovs.DatapathStats) (dumpPlan, map[string][]string) {
	cfg := p.cfg.Gate
	if stats.Counters == nil || p.leakReceivers {
		// No per-port counters to gate on; or ports that take frames for
		// MACs nobody owns, whose leaks make no copies to count.
		cfg.Always = true
	}
	in := gateInput{dp: dp.Name, now: p.Time, flows: stats.Flows, counters: stats.Counters,
		ports: s.portsOf(dp), flooding: p.flooding, maxFlows: p.cfg.MaxFlows,
		maxPorts: p.cfg.BoundedPorts, minRate: p.cfg.Detect.MinPacketRate, moved: bridgeMoves(p, dp),
		sweepPolls: sweepPolls(cfg.SweepInterval, p.cfg.Interval, p.cfg.Detect.FlowMemoryPolls)}
	plan := s.gate.plan(cfg, in)
	switch plan.mode {
	case dumpFull:
		return plan, map[string][]string{"": in.ports}
	case dumpFiltered:
		filters := make(map[string][]string, len(plan.ports))
		for _, port := range plan.ports {
			filters["in_port="+port] = []string{port}
		}
		return plan, filters
	}
	return plan, nil
}

// bridgeMoves sums the FDB moves so far of dp's watched bridges.
func bridgeMoves(p *Poll, dp ovs.Datapath) uint64 {
	var n uint64
	if p.unixctl == nil {
		return 0
	}
	for _, br := range dp.Bridges {
		if st := p.unixctl.fdbStats[br.Name]; st != nil {
			n += st.Moved
		}
	}
	return n
}

// sweepPolls is the safety sweep's period in polls: SweepInterval, but
// never longer than the detector remembers a megaflow it was not shown
// (FlowMemoryPolls), so a gated agent never makes the detector forget
// flows it would then take as baselines, which would delay the detection
// of a flood by a poll.
func sweepPolls(sweep, interval time.Duration, memory int) int {
	n := int((sweep + interval - 1) / interval)
	if memory > 0 {
		n = min(n, memory)
	}
	return max(n, 1)
}

// logBounded logs once when a datapath becomes too large for a full dump
// within the budget, and once when it is small enough again.
func (s *unixctlSource) logBounded(p *Poll, dp ovs.Datapath, stats ovs.DatapathStats, plan dumpPlan) {
	over := plan.bounded
	switch {
	case over && !s.overLimit[dp.Name]:
		how := "dumping only a few ports' flows per poll"
		if float64(stats.Flows)*float64(filteredCostPerFlow) > float64(p.cfg.Gate.Budget) {
			how = "not dumping megaflows at all (even a filtered dump walks every megaflow)"
		}
		p.log.Warn("datapath has too many megaflows for a full dump within the budget: "+how,
			zap.String("datapath", dp.Name), zap.Int("flows", stats.Flows), zap.Int("max_flows", p.cfg.MaxFlows),
			zap.Duration("budget", p.cfg.Gate.Budget))
	case !over && s.overLimit[dp.Name]:
		p.log.Info("datapath small enough for full megaflow dumps again", zap.String("datapath", dp.Name), zap.Int("flows", stats.Flows))
	}
	s.overLimit[dp.Name] = over
}
