package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// unixctlSource reads ovs-vswitchd over its unixctl socket: datapaths and
// their ports (dpif/show), FDB statistics per bridge, datapath and
// per-port counters, and megaflows. Megaflows are dumped only when the
// counters say a flood may exist, and never in a request expected to
// hold vswitchd longer than the budget (see dumpGate).
type unixctlSource struct {
	v        ovs.Vswitchd
	ids      flowIDs
	deadline time.Duration
	version  string
	gate     *dumpGate
	// flows is the backing array of the last poll's megaflows, reused by
	// the next poll: nothing keeps a poll's flows past it.
	flows []detect.Flow
	// ownFlows: this poll's flows are appended to flows (no source put
	// flows in the poll before this one), whose first written slots hold
	// the last poll's megaflows (see appendFlows).
	ownFlows bool
	// wroteFlows and wroteOuts are how many slots of flows and outs the
	// last poll wrote.
	wroteFlows, wroteOuts int
	// newIDs is appendFlows' scratch for the identities of new megaflows.
	newIDs []byte
	// outs is the same for the flows' outputs.
	outs []detect.Output
	// observed is the same for the ports whose flows a poll read, made a
	// set only when a dump was partial (the detector needs it only then).
	observed  []string
	overLimit map[string]bool // datapaths not dumped whole last poll, to log the switch once
	truncated map[string]bool // datapaths whose last dump was over the parse cap
	// topo is the last poll's ports and bridges, reused (never modified)
	// while DpifShow returns the same bridges: ports change rarely, and
	// rebuilding the maps of every port is most of what a read allocates.
	topo dpifTopology
	// dpPorts lists each datapath's ports, kept with topo.
	dpPorts map[string][]string
}

// dpifTopologies counts the dpif topologies built, to name each.
var dpifTopologies atomic.Uint64

// dpifTopology is what a poll's unixctl view derives from dpif/show: the
// maps and bridges of unixctlView, and the parse and config they were
// built from.
type dpifTopology struct {
	from    []ovs.Datapath
	cfg     *Config
	ports   map[string]*ovs.DPPort
	portBr  map[string]string
	bridges []string
	id      uint64 // this topology's unixctlView.topoID
}

// NewUnixctl returns the "unixctl" source reading ovs-vswitchd through v;
// deadline bounds a whole read (its requests are bounded by the client).
func NewUnixctl(v ovs.Vswitchd, deadline time.Duration) Source {
	return &unixctlSource{v: v, ids: newFlowIDs(), deadline: deadline, gate: newDumpGate(), overLimit: map[string]bool{}, truncated: map[string]bool{}}
}

func (s *unixctlSource) Name() string           { return state.SourceUnixctl }
func (s *unixctlSource) Timeout() time.Duration { return s.deadline }

// unixctlView is one poll's reading of ovs-vswitchd.
type unixctlView struct {
	// ports maps port name to its OpenFlow port number and type.
	ports    map[string]*ovs.DPPort
	portBr   map[string]string
	bridges  []string
	fdbStats map[string]*state.FDB
	// topoID names the ports, portBr and bridges above: the same while
	// they are the same maps, never 0.
	topoID uint64
}

func (s *unixctlSource) Read(ctx context.Context, p *Poll) error {
	dps, err := s.v.DpifShow(ctx)
	if err != nil {
		s.version = "" // re-read after vswitchd comes back (maybe upgraded)
		return err
	}
	if s.version == "" {
		if ver, err := s.v.Version(ctx); err == nil {
			s.version = ver
		}
	}
	p.ovsVersion, p.vswitchd = s.version, s.v
	if !s.topo.builtFrom(dps, p.cfg) {
		s.topo = newDpifTopology(dps, p.cfg)
		s.topo.id = dpifTopologies.Add(1)
		s.dpPorts = map[string][]string{}
	}
	v := &unixctlView{ports: s.topo.ports, portBr: s.topo.portBr, bridges: s.topo.bridges, fdbStats: map[string]*state.FDB{},
		topoID: s.topo.id}
	p.unixctl = v
	errs := s.readFDBStats(ctx, p, v)
	return errors.Join(append(errs, s.readDatapaths(ctx, p, dps)...)...)
}

// newDpifTopology indexes the ports of the bridges of dps that cfg wants.
func newDpifTopology(dps []ovs.Datapath, cfg *Config) dpifTopology {
	// Sized up front: growing two maps of every port costs more than
	// filling them.
	n := countPorts(dps)
	// The ports point into dps, which is kept anyway (see builtFrom): a
	// third of the memory of copies.
	t := dpifTopology{from: dps, cfg: cfg, ports: make(map[string]*ovs.DPPort, n), portBr: make(map[string]string, n)}
	for _, dp := range dps {
		for _, br := range dp.Bridges {
			if !cfg.wanted(br.Name) {
				continue
			}
			t.bridges = append(t.bridges, br.Name)
			for i := range br.Ports {
				port := &br.Ports[i]
				t.ports[port.Name], t.portBr[port.Name] = port, br.Name
			}
		}
	}
	sort.Strings(t.bridges)
	return t
}

// builtFrom says whether t was built for cfg from the very bridges of dps
// (DpifShow hands out the same ones while the ports stay).
func (t *dpifTopology) builtFrom(dps []ovs.Datapath, cfg *Config) bool {
	if t.cfg != cfg || len(dps) != len(t.from) {
		return false
	}
	for i := range dps {
		a, b := dps[i].Bridges, t.from[i].Bridges
		if dps[i].Name != t.from[i].Name || len(a) != len(b) || (len(a) > 0 && &a[0] != &b[0]) {
			return false
		}
	}
	return true
}

func (s *unixctlSource) readFDBStats(ctx context.Context, p *Poll, v *unixctlView) []error {
	var errs []error
	for _, br := range v.bridges {
		st, err := s.v.FDBStats(ctx, br)
		if err != nil {
			var se *unixctl.ServerError
			if !errors.As(err, &se) { // a bridge vanishing mid-poll is not a source failure
				errs = append(errs, fmt.Errorf("fdb/stats-show %s: %w", br, err))
			}
			continue
		}
		k := "fdb/" + br + "/"
		v.fdbStats[br] = &state.FDB{
			Entries: st.Entries, Max: st.MaxEntries, Static: st.StaticEntries,
			Learned: p.counter(k+"learned", st.Learned), Expired: p.counter(k+"expired", st.Expired),
			Evicted: p.counter(k+"evicted", st.Evicted), Moved: p.counter(k+"moved", st.Moved),
		}
	}
	return errs
}

// readDatapaths reads every datapath's counters and megaflows. The poll's
// dump is marked complete only when every datapath was dumped whole:
// otherwise the detector keeps its memory of the flows it did not see, so
// a failed read never makes the next poll count a flow's lifetime again.
func (s *unixctlSource) readDatapaths(ctx context.Context, p *Poll, dps []ovs.Datapath) []error {
	var errs []error
	complete := true
	s.observed = s.observed[:0] // every port, after whole dumps
	s.ownFlows = p.flows == nil
	if s.ownFlows {
		p.flows = s.flows[:0]
	}
	s.outs = s.outs[:0]
	defer s.keep(p)
	for _, dp := range dps {
		d, whole, err := s.readDatapath(ctx, p, dp)
		if err != nil {
			errs = append(errs, err)
			complete = false
			continue
		}
		complete = complete && whole
		p.datapaths = append(p.datapaths, d)
	}
	p.dumped = complete
	if !complete {
		p.observed = make(map[string]bool, len(s.observed))
		for _, name := range s.observed {
			p.observed[name] = true
		}
	}
	return errs
}

// keep records the arrays of this poll's flows and outputs for the next
// poll, and drops what their slots past them still hold of older dumps.
func (s *unixctlSource) keep(p *Poll) {
	if s.ownFlows {
		s.flows = p.flows
		clear(s.flows[len(s.flows):max(len(s.flows), min(s.wroteFlows, cap(s.flows)))])
		s.wroteFlows = len(s.flows)
	}
	clear(s.outs[len(s.outs):max(len(s.outs), min(s.wroteOuts, cap(s.outs)))])
	s.wroteOuts = len(s.outs)
}

// readDatapath reads the datapath's counters, then dumps the megaflows
// the gate lets it (none, all, or those of a few ports) into p.flows.
// Ports are marked observed only once their flows are in.
func (s *unixctlSource) readDatapath(ctx context.Context, p *Poll, dp ovs.Datapath) (state.Datapath, bool, error) {
	stats, err := s.v.DatapathShow(ctx, dp.Name)
	if err != nil {
		return state.Datapath{}, false, fmt.Errorf("dpctl/show %s: %w", dp.Name, err)
	}
	d := state.Datapath{Name: dp.Name, Flows: stats.Flows,
		Hit: p.counter("dp/hit/"+dp.Name, stats.Hit), Missed: p.counter("dp/missed/"+dp.Name, stats.Missed)}
	plan, ports := s.gated(p, dp, stats)
	d.Bounded, d.Blind = plan.bounded, plan.blind
	s.logBounded(p, dp, stats, plan)
	start := len(p.flows)
	for _, filter := range sortedKeys(ports) {
		// Everything kept is copied out of the dump inside the visit:
		// its strings point into the client's read buffer.
		opts := ovs.FlowParseOptions{Known: s.knownKeys(p.flows, dp.Name)}
		err := s.v.VisitFlows(ctx, dp.Name, filter, opts, func(mf *ovs.Megaflows) error {
			d.Dumped += len(mf.Flows)
			p.flows = s.appendFlows(p.flows, dp.Name, mf.Flows, p.names)
			for _, name := range ports[filter] {
				if mf.Dropped[name] == 0 {
					s.observed = append(s.observed, name)
				}
			}
			s.noteDropped(p, &d, mf)
			return nil
		})
		if err != nil {
			clear(p.flows[start:])
			p.flows = p.flows[:start]
			return d, false, fmt.Errorf("dpctl/dump-flows %s: %w", dp.Name, err)
		}
	}
	s.gate.observe(dp.Name, plan, p.flows[start:], p.cfg.Detect.MinPacketRate, p.Time, p.flooding)
	return d, plan.mode == dumpFull && d.Dropped == 0, nil
}

// countPorts returns how many ports the datapaths' bridges have.
func countPorts(dps []ovs.Datapath) int {
	n := 0
	for _, dp := range dps {
		for _, br := range dp.Bridges {
			n += len(br.Ports)
		}
	}
	return n
}

// portsOf returns the ports of dp, listed once per topology (the list is
// only read).
func (s *unixctlSource) portsOf(dp ovs.Datapath) []string {
	if ports, ok := s.dpPorts[dp.Name]; ok {
		return ports
	}
	ports := allPorts(dp)
	if s.dpPorts != nil {
		s.dpPorts[dp.Name] = ports
	}
	return ports
}

func allPorts(dp ovs.Datapath) []string {
	out := make([]string, 0, countPorts([]ovs.Datapath{dp}))
	for _, br := range dp.Bridges {
		for _, port := range br.Ports {
			out = append(out, port.Name)
		}
	}
	return out
}

// appendFlows converts a dump's megaflows and appends them to dst. Every
// string it keeps is copied out of the reply (names through the interner,
// keys as compact identities), the new keys are carved from one
// allocation, and the outputs from an array the source reuses from poll
// to poll: a dump is thousands of megaflows per poll.
//
// A megaflow mostly comes back at the same place of the next poll's dump,
// so the slots past dst (when dst is the source's own array) and past the
// outputs still hold the last poll's flow and outputs there: a key or name
// equal to the one in that slot is taken from it, not looked up or
// allocated again.
func (s *unixctlSource) appendFlows(dst []detect.Flow, dp string, ms []ovs.Megaflow, names interner) []detect.Flow {
	nOut := 0
	for i := range ms {
		nOut += len(ms[i].Outputs)
	}
	prev := s.lastFlows(dst)
	prevOuts := s.outs[len(s.outs):max(len(s.outs), min(s.wroteOuts, cap(s.outs)))]
	// Appended to, never overwritten, within a poll: the flows of earlier
	// dumps keep theirs.
	outs := slices.Grow(s.outs, nOut)
	defer func() { s.outs = outs }()
	dst = slices.Grow(dst, len(ms))
	base := len(dst)
	newIDs := s.newIDs[:0]
	var id [flowIDLen]byte
	dpHash := s.ids.datapath(dp)
	var none detect.Flow
	for i := range ms {
		m := &ms[i]
		was := &none
		if i < len(prev) {
			was = &prev[i]
		}
		f := detect.Flow{InPort: same(was.InPort, m.InPort, names), Src: m.EthSrc, Dst: m.EthDst,
			Packets: m.Packets, Bytes: m.Bytes, VLAN: m.VLAN}
		if m.Known {
			f.Key = was.Key // knownKeys found it there
		} else if key := s.ids.append(id[:0], dpHash, m); was.Key == string(key) {
			f.Key = was.Key
		} else {
			newIDs = append(newIDs, key...) // keyed below, from one allocation
		}
		if m.EthDstMasked {
			f.Dst = nil // a masked destination is not one unicast MAC
		}
		if t := m.Tunnel; t != nil {
			f.TunnelSrc, f.TunnelDst, f.TunnelID = same(was.TunnelSrc, t.Src, names), same(was.TunnelDst, t.Dst, names), t.ID
		}
		first := len(outs)
		for _, o := range m.Outputs {
			var old detect.Output
			if k := len(outs) - len(s.outs); k < len(prevOuts) {
				old = prevOuts[k]
			}
			outs = append(outs, detect.Output{Port: same(old.Port, o.Port, names), VLAN: o.VLAN,
				Tunnel: same(old.Tunnel, o.TunnelDst, names), TunnelID: o.TunnelID,
				TunnelDev: same(old.TunnelDev, o.TunnelPort, names)})
		}
		f.Outputs = outs[first:len(outs):len(outs)]
		dst = append(dst, f)
	}
	s.keyNew(dst[base:], newIDs)
	return dst
}

// lastFlows returns the slots past dst that still hold the last poll's
// flows, when dst is the source's own array.
func (s *unixctlSource) lastFlows(dst []detect.Flow) []detect.Flow {
	if !s.ownFlows {
		return nil
	}
	return dst[len(dst):max(len(dst), min(s.wroteFlows, cap(dst)))]
}

// knownKeys returns the ovs.FlowParseOptions.Known of a dump that
// appendFlows will append to dst: a megaflow whose identity is that of
// the last poll's flow in the slot it will take has its key's fields
// from that flow, and appendFlows its identity, so neither its key nor
// its identity is read twice. nil when there is no last poll to take
// them from. Tunnel flows are always read: their in_port was rewritten
// in place by the tunnel resolution.
func (s *unixctlSource) knownKeys(dst []detect.Flow, dp string) func(int, *ovs.Megaflow) bool {
	prev := s.lastFlows(dst)
	if len(prev) == 0 {
		return nil
	}
	dpHash := s.ids.datapath(dp)
	var id [flowIDLen]byte
	return func(i int, m *ovs.Megaflow) bool {
		if i >= len(prev) {
			return false
		}
		was := &prev[i]
		if was.TunnelSrc != "" || was.TunnelDst != "" || was.TunnelID != 0 || was.Key != string(s.ids.append(id[:0], dpHash, m)) {
			return false
		}
		// A masked destination was kept as nil, which reads alike.
		m.InPort, m.EthSrc, m.EthDst, m.VLAN = was.InPort, was.Src, was.Dst, was.VLAN
		return true
	}
}

// keyNew gives the flows that have no key yet theirs, in order, from ids
// (their identities end to end): one string for all of them.
func (s *unixctlSource) keyNew(flows []detect.Flow, ids []byte) {
	if len(ids) == 0 {
		return
	}
	keys := string(ids)
	for i := range flows {
		if flows[i].Key == "" {
			flows[i].Key, keys = keys[:flowIDLen], keys[flowIDLen:]
		}
	}
	// A scratch the size of a whole dump is kept only while dumps churn.
	if cap(ids) <= maxKeptIDs {
		s.newIDs = ids[:0]
	} else {
		s.newIDs = nil
	}
}

// maxKeptIDs bounds the identities' scratch kept between dumps.
const maxKeptIDs = 256 * flowIDLen

// same returns was when it equals s (a copy of s kept from the last poll),
// else s interned.
func same(was, s string, names interner) string {
	if was == s {
		return was
	}
	return names.get(s)
}

// flowIDLen is the length of a megaflow's identity (detect.Flow.Key).
const flowIDLen = 16

// flowIDs names megaflows across polls by a 128-bit keyed hash of their
// datapath and UFID (or match, in a dump without UFIDs), instead of the
// match text itself: a key is a few hundred bytes that the detector's
// and the loop checks' maps would hash several times per poll, and copy
// out of the reply. The seeds are random per process, so no input can be
// crafted to collide; by chance, two of even a million megaflows share an
// identity with odds below 1 in 10^26.
type flowIDs struct{ seeds [2]maphash.Seed }

func newFlowIDs() flowIDs {
	return flowIDs{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// append appends the identity of m to b; dp is the datapath's own hash
// (ids.datapath), which tells apart the same match on two datapaths.
func (ids flowIDs) append(b []byte, dp [2]uint64, m *ovs.Megaflow) []byte {
	key := m.UFID
	if key == "" {
		key = m.Key
	}
	for i, seed := range ids.seeds {
		b = binary.LittleEndian.AppendUint64(b, maphash.String(seed, key)^dp[i])
	}
	return b
}

// datapath returns the hashes that datapath dp mixes into its flows'
// identities.
func (ids flowIDs) datapath(dp string) [2]uint64 {
	var h [2]uint64
	for i, seed := range ids.seeds {
		h[i] = maphash.String(seed, "datapath "+dp)
	}
	return h
}

// noteDropped records the megaflows a dump held beyond the parse cap and
// logs, once per change, the ports they entered by: a VM that floods while
// also creating many megaflows is named, never silently hidden.
func (s *unixctlSource) noteDropped(p *Poll, d *state.Datapath, mf *ovs.Megaflows) {
	n := 0
	for _, c := range mf.Dropped {
		n += c
	}
	d.Dropped += n
	if mf.Truncated != s.truncated[d.Name] && mf.Truncated {
		p.log.Warn("megaflow dump over the parse cap: flows of these ports were dropped this poll",
			zap.String("datapath", d.Name), zap.Int("dropped", n), zap.Any("by_in_port", mf.Dropped))
	}
	s.truncated[d.Name] = mf.Truncated
}
