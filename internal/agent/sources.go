package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Vswitchd is what the agent asks ovs-vswitchd (over unixctl).
type Vswitchd = ovs.Vswitchd

// TopologyReader reads OVSDB.
type TopologyReader interface {
	Topology(ctx context.Context) (ovsdb.Topology, error)
	CurCfg(ctx context.Context) (int64, error)
}

// OpenFlowReader reads OpenFlow statistics per bridge.
type OpenFlowReader interface {
	TableStats(ctx context.Context, bridge string) ([]openflow.TableStats, error)
	NormalRules(ctx context.Context, bridge string) ([]openflow.Flow, error)
}

// Sources are the agent's readers; each is a small interface with a real
// implementation and a fake fed with captured output.
type Sources struct {
	Vswitchd Vswitchd
	OVSDB    TopologyReader
	OpenFlow OpenFlowReader
	Netdev   netdev.Reader
}

// Topology is the OVSDB view the agent keeps between reads.
type Topology = ovsdb.Topology

func (a *Agent) readTopology(ctx context.Context, now time.Time) error {
	cfg, err := a.src.OVSDB.CurCfg(ctx)
	if err != nil {
		return err
	}
	if a.topo != nil && cfg == a.topoCfg && now.Sub(a.topoAt) < a.cfg.TopologyRefresh {
		return nil
	}
	t, err := a.src.OVSDB.Topology(ctx)
	if err != nil {
		return err
	}
	a.topo, a.topoAt, a.topoCfg = &t, now, cfg
	return nil
}

// vswitchdView is one poll's reading of ovs-vswitchd.
type vswitchdView struct {
	ok        bool
	datapaths []state.Datapath
	// dpPorts maps port name to its bridge and OpenFlow port number.
	dpPorts  map[string]ovs.DPPort
	portBr   map[string]string
	bridges  []string
	fdb      map[string]*state.FDB
	flows    []detect.Flow
	complete bool
	// observed lists the ports whose megaflows were dumped this poll.
	observed map[string]bool
}

func (a *Agent) readVswitchd(ctx context.Context) (vswitchdView, error) {
	v := vswitchdView{dpPorts: map[string]ovs.DPPort{}, portBr: map[string]string{}, fdb: map[string]*state.FDB{}, complete: true, observed: map[string]bool{}}
	dps, err := a.src.Vswitchd.DpifShow(ctx)
	if err != nil {
		a.version = ""
		return v, err
	}
	v.ok = true
	if a.version == "" {
		if ver, err := a.src.Vswitchd.Version(ctx); err == nil {
			a.version = ver
		}
	}
	var errs []error
	for _, dp := range dps {
		for _, br := range dp.Bridges {
			if !a.wanted(br.Name) {
				continue
			}
			v.bridges = append(v.bridges, br.Name)
			for _, p := range br.Ports {
				v.dpPorts[p.Name] = p
				v.portBr[p.Name] = br.Name
			}
		}
	}
	sort.Strings(v.bridges)
	for _, br := range v.bridges {
		st, err := a.src.Vswitchd.FDBStats(ctx, br)
		if err != nil {
			var se *unixctl.ServerError
			if !errors.As(err, &se) { // a bridge vanishing mid-poll is not a source failure
				errs = append(errs, fmt.Errorf("fdb/stats-show %s: %w", br, err))
			}
			continue
		}
		v.fdb[br] = &state.FDB{
			Entries: st.Entries, Max: st.MaxEntries, Static: st.StaticEntries,
			Learned: a.acc.add("fdb/learned/"+br, st.Learned), Expired: a.acc.add("fdb/expired/"+br, st.Expired),
			Evicted: a.acc.add("fdb/evicted/"+br, st.Evicted), Moved: a.acc.add("fdb/moved/"+br, st.Moved),
		}
	}
	for _, dp := range dps {
		d, flows, complete, err := a.readDatapath(ctx, dp, v.observed)
		if err != nil {
			errs = append(errs, err)
			v.complete = false
			continue
		}
		v.complete = v.complete && complete
		v.datapaths = append(v.datapaths, d)
		v.flows = append(v.flows, flows...)
	}
	return v, errors.Join(errs...)
}

// readDatapath reads the flow count first and dumps megaflows only when
// that is cheap enough; above MaxFlows it dumps only the flows entering
// through the busiest ports (a filtered dump) so ovs-vswitchd never formats
// a huge dump for us.
func (a *Agent) readDatapath(ctx context.Context, dp ovs.Datapath, observed map[string]bool) (state.Datapath, []detect.Flow, bool, error) {
	stats, err := a.src.Vswitchd.DatapathShow(ctx, dp.Name)
	if err != nil {
		return state.Datapath{}, nil, false, fmt.Errorf("dpctl/show %s: %w", dp.Name, err)
	}
	d := state.Datapath{Name: dp.Name, Flows: stats.Flows,
		Hit: a.acc.add("dp/hit/"+dp.Name, stats.Hit), Missed: a.acc.add("dp/missed/"+dp.Name, stats.Missed)}
	var filters []string
	complete := true
	if stats.Flows > a.cfg.MaxFlows {
		d.Bounded, complete = true, false
		for _, p := range a.boundedPorts(dp) {
			filters = append(filters, "in_port="+p)
			observed[p] = true
		}
		if !a.lastBounded[dp.Name] {
			a.log.Warn("datapath has more megaflows than --dpctl.max-flows: dumping only the busiest ports' flows",
				zap.String("datapath", dp.Name), zap.Int("flows", stats.Flows), zap.Int("limit", a.cfg.MaxFlows),
				zap.Int("ports_per_poll", a.cfg.BoundedPorts))
		}
	} else {
		filters = []string{""}
		for _, br := range dp.Bridges {
			for _, p := range br.Ports {
				observed[p.Name] = true
			}
		}
	}
	a.lastBounded[dp.Name] = d.Bounded
	var flows []detect.Flow
	for _, f := range filters {
		mf, err := a.src.Vswitchd.DumpFlowsFiltered(ctx, dp.Name, f)
		if err != nil {
			return d, nil, false, fmt.Errorf("dpctl/dump-flows %s: %w", dp.Name, err)
		}
		d.Dumped += len(mf.Flows)
		for _, m := range mf.Flows {
			flows = append(flows, toDetectFlow(dp.Name, m, a.names))
		}
	}
	return d, flows, complete, nil
}

// boundedPorts picks the ports whose flows the bounded strategy dumps this
// poll. Every filtered dump still makes vswitchd walk all megaflows, so only
// BoundedPorts ports are dumped per poll, in turn: the ports of active
// floods first, then the ports that sent the most in the last poll (a
// flooding VM is a sender).
func (a *Agent) boundedPorts(dp ovs.Datapath) []string {
	type rate struct {
		name string
		rx   uint64
	}
	var rs []rate
	for _, br := range dp.Bridges {
		for _, p := range br.Ports {
			rs = append(rs, rate{p.Name, a.rxDelta[p.Name]})
		}
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].rx != rs[j].rx {
			return rs[i].rx > rs[j].rx
		}
		return rs[i].name < rs[j].name
	})
	seen := map[string]bool{}
	var cands []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	var active []string
	for k := range a.traces {
		active = append(active, k.InPort)
	}
	sort.Strings(active)
	for _, p := range active {
		add(p)
	}
	for _, r := range rs {
		if len(cands) >= len(active)+4*a.cfg.BoundedPorts {
			break
		}
		add(r.name)
	}
	n := min(a.cfg.BoundedPorts, len(cands))
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, cands[(a.boundedTurn*n+i)%len(cands)])
	}
	a.boundedTurn++
	return out
}

// toDetectFlow converts a parsed megaflow, copying every string it keeps
// out of the reply (names through the interner, the key by concatenation).
func toDetectFlow(dp string, m ovs.Megaflow, names interner) detect.Flow {
	key := m.UFID
	if key == "" {
		key = m.Key
	}
	f := detect.Flow{Key: dp + "/" + key, InPort: names.get(m.InPort), Src: m.EthSrc, Dst: m.EthDst,
		Packets: m.Packets, Bytes: m.Bytes, Outputs: make([]detect.Output, 0, len(m.Outputs))}
	if m.EthDstMasked {
		f.Dst = nil // a masked destination is not one unicast MAC
	}
	for _, o := range m.Outputs {
		f.Outputs = append(f.Outputs, detect.Output{Port: names.get(o.Port), VLAN: o.VLAN, Tunnel: names.get(o.TunnelDst)})
	}
	return f
}

type openflowView struct {
	tables map[string][]state.Table
	rules  map[string][]state.Rule
}

func (a *Agent) readOpenFlow(ctx context.Context, bridges []string, now time.Time) (openflowView, error) {
	v := openflowView{tables: map[string][]state.Table{}, rules: map[string][]state.Rule{}}
	var errs []error
	for _, br := range bridges {
		ts, err := a.src.OpenFlow.TableStats(ctx, br)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", br, err))
			continue
		}
		tables := make([]state.Table, 0, len(ts))
		for _, t := range ts {
			id := strconv.Itoa(int(t.TableID))
			tables = append(tables, state.Table{ID: t.TableID, Rules: t.ActiveCount,
				Lookups: a.acc.add("of/lookups/"+br+"/"+id, t.LookupCount),
				Matches: a.acc.add("of/matches/"+br+"/"+id, t.MatchedCount)})
		}
		v.tables[br] = tables

		nc := a.normal[br]
		if now.Before(nc.next) {
			v.rules[br] = a.keepNormal(br, nc.rules)
			continue
		}
		start := time.Now()
		flows, err := a.src.OpenFlow.NormalRules(ctx, br)
		took := time.Since(start)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: flow stats: %w", br, err))
			v.rules[br] = a.keepNormal(br, nc.rules)
			continue
		}
		rules := make([]state.Rule, 0, len(flows))
		for _, f := range flows {
			rules = append(rules, state.Rule{Table: f.TableID, Priority: f.Priority, Cookie: f.Cookie,
				Packets: f.PacketCount, Bytes: f.ByteCount, Match: f.Match})
		}
		sortRules(rules)
		// Keep vswitchd's share for full dumps at or below 1%.
		wait := a.cfg.NormalRulesInterval
		if w := 100 * took; w > wait {
			wait = w
		}
		a.normal[br] = normalCache{rules: rules, at: now, next: now.Add(wait)}
		v.rules[br] = a.keepNormal(br, rules)
	}
	return v, errors.Join(errs...)
}

// keepNormal passes NORMAL rule counters through the accumulator so a rule
// re-installed with fresh counters does not make the series go backwards.
func (a *Agent) keepNormal(br string, rules []state.Rule) []state.Rule {
	out := make([]state.Rule, len(rules))
	for i, r := range rules {
		k := fmt.Sprintf("normal/%s/%d/%d/%x/%s", br, r.Table, r.Priority, r.Cookie, r.Match)
		r.Packets = a.acc.add(k+"/p", r.Packets)
		r.Bytes = a.acc.add(k+"/b", r.Bytes)
		out[i] = r
	}
	return out
}

func sortRules(rules []state.Rule) {
	sort.Slice(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if a.Cookie != b.Cookie {
			return a.Cookie < b.Cookie
		}
		return a.Match < b.Match
	})
}

// bridgeNames lists the bridges to report: those vswitchd has, else (when
// unixctl is down) those OVSDB knows.
func (a *Agent) bridgeNames(v vswitchdView) []string {
	if v.ok {
		return v.bridges
	}
	var out []string
	if a.topo != nil {
		for _, b := range a.topo.Bridges {
			if a.wanted(b.Name) {
				out = append(out, b.Name)
			}
		}
	}
	return out
}

func (a *Agent) bridges(names []string, v vswitchdView, of openflowView) []state.Bridge {
	out := make([]state.Bridge, 0, len(names))
	for _, n := range names {
		b := state.Bridge{Name: n, FDB: v.fdb[n], Tables: of.tables[n], NormalRules: of.rules[n], NormalRulesAt: a.normal[n].at}
		if a.topo != nil {
			for _, tb := range a.topo.Bridges {
				if tb.Name == n {
					b.DatapathType, b.MACTableSize, b.MACAgingTime = tb.DatapathType, tb.MACTableSize, tb.MACAgingTime
				}
			}
		}
		out = append(out, b)
	}
	return out
}

// ports joins OVSDB identity, vswitchd's port list and device counters.
func (a *Agent) ports(v vswitchdView, devs map[string]netdev.Device) []state.Port {
	byName := map[string]state.Port{}
	if a.topo != nil {
		for _, b := range a.topo.Bridges {
			if !a.wanted(b.Name) {
				continue
			}
			for _, p := range b.Ports {
				sp := state.Port{Bridge: b.Name, Name: p.Name, OFPort: -1, VLAN: p.Tag}
				if len(p.Interfaces) > 0 {
					i := p.Interfaces[0]
					sp.OFPort, sp.Type = i.OFPort, i.Type
					sp.IfaceID, sp.AttachedMAC, sp.VMUUID = i.IfaceID, i.AttachedMAC, i.VMUUID
				}
				byName[p.Name] = sp
			}
		}
	}
	// Ports vswitchd has that OVSDB did not tell us about (OVSDB down).
	for name, p := range v.dpPorts {
		if _, ok := byName[name]; ok {
			continue
		}
		byName[a.names.get(name)] = state.Port{Bridge: a.names.get(v.portBr[name]), Name: a.names.get(name), OFPort: int(p.OFPort), VLAN: -1, Type: a.names.get(p.Type)}
	}
	if a.rxDelta == nil {
		a.rxDelta = map[string]uint64{}
	}
	names := sortedKeys(byName)
	var vmDev map[string]string
	if devs != nil {
		vmDev = netdev.ResolveVMDevices(devs, names) // indexes devs once, not once per port
	}
	out := make([]state.Port, 0, len(byName))
	for _, name := range names {
		p := byName[name]
		p.Device = name
		if devs != nil {
			p.Device = vmDev[name]
			if d, ok := netdev.Find(devs, p.Device); ok {
				c := d.Counters
				k := "dev/" + p.Bridge + "/" + name + "/"
				prevRx := a.acc.total[k+"rxb"]
				p.Counters = &state.Counters{
					RxBytes: a.acc.add(k+"rxb", c.RxBytes), RxPackets: a.acc.add(k+"rxp", c.RxPackets), RxDropped: a.acc.add(k+"rxd", c.RxDropped),
					TxBytes: a.acc.add(k+"txb", c.TxBytes), TxPackets: a.acc.add(k+"txp", c.TxPackets), TxDropped: a.acc.add(k+"txd", c.TxDropped),
				}
				a.rxDelta[name] = p.Counters.RxBytes - prevRx
			}
		}
		out = append(out, p)
	}
	return out
}

// traceRef finds the rule whose NORMAL action flooded in a trace.
func traceRef(tr ovs.Trace) state.RuleRef {
	ref := state.RuleRef{Table: -1}
	for _, s := range tr.Steps {
		ref.Path = append(ref.Path, fmt.Sprintf("%s table %d priority %d cookie %#x %s", s.Bridge, s.Table, s.Priority, s.Cookie, s.Match))
	}
	if tr.Flooded && tr.FloodStep != nil {
		ref.Table, ref.Priority, ref.Cookie, ref.Match = tr.FloodStep.Table, tr.FloodStep.Priority, tr.FloodStep.Cookie, tr.FloodStep.Match
	}
	return ref
}
