// Package agent is the poller: on a fixed cadence it reads every source
// (ovs-vswitchd over unixctl, OVSDB, OpenFlow, netlink), runs the flood
// detector and publishes an immutable snapshot for the collectors, the
// landing page and the check command.
//
// Detection needs a fixed cadence below the datapath's 10 s idle expiry,
// independent of how often Prometheus scrapes, so the agent deliberately
// polls in the background instead of reading at scrape time.
package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Config tunes the poller.
type Config struct {
	// Bridges limits the agent to these bridges; empty means all.
	Bridges []string
	// Interval between polls.
	Interval time.Duration
	// MaxFlows is the datapath flow count above which the agent stops
	// dumping all megaflows and dumps only the busiest ports' flows.
	MaxFlows int
	// BoundedPorts is how many ports the bounded strategy dumps per poll.
	BoundedPorts int
	// NormalRulesInterval is the minimum time between full OpenFlow rule
	// dumps (for NORMAL rule counters); the agent stretches it so that a
	// dump costs vswitchd at most 1% of its time.
	NormalRulesInterval time.Duration
	// TopologyRefresh is the longest the agent keeps OVSDB topology
	// without re-reading it (it re-reads at once when cur_cfg changes).
	TopologyRefresh time.Duration
	// Trace enables ofproto/trace of each new flood to find the NORMAL rule.
	Trace bool
	// Detect tunes the flood detector.
	Detect detect.Config
}

// DefaultConfig returns the defaults behind the flags.
func DefaultConfig() Config {
	return Config{
		Interval:            5 * time.Second,
		MaxFlows:            20000,
		BoundedPorts:        1,
		NormalRulesInterval: 5 * time.Second,
		TopologyRefresh:     5 * time.Minute,
		Trace:               true,
		Detect:              detect.DefaultConfig(),
	}
}

// Agent polls the sources and publishes snapshots.
type Agent struct {
	cfg   Config
	src   Sources
	log   *zap.Logger
	store *state.Store
	det   *detect.Detector

	topo       *Topology
	topoAt     time.Time
	topoCfg    int64
	version    string
	normal     map[string]normalCache
	traces     map[detect.FloodKey]state.RuleRef
	acc        *accumulator
	hostname   string
	lastStatus map[string]string
	// lastBounded remembers which datapaths were over the dump limit, to
	// log the switch to the bounded strategy once.
	lastBounded map[string]bool
	// rxDelta is each port's device receive bytes in the last poll (what
	// the VM sent), used to pick the busiest ports in bounded mode.
	rxDelta map[string]uint64
	names   interner
	// boundedTurn rotates the bounded strategy through the busiest ports.
	boundedTurn int
}

type normalCache struct {
	rules []state.Rule
	at    time.Time
	next  time.Time
}

// New returns an Agent publishing to store.
func New(cfg Config, src Sources, log *zap.Logger, store *state.Store) *Agent {
	def := DefaultConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = def.MaxFlows
	}
	if cfg.BoundedPorts <= 0 {
		cfg.BoundedPorts = def.BoundedPorts
	}
	if cfg.NormalRulesInterval <= 0 {
		cfg.NormalRulesInterval = def.NormalRulesInterval
	}
	if cfg.TopologyRefresh <= 0 {
		cfg.TopologyRefresh = def.TopologyRefresh
	}
	if log == nil {
		log = zap.NewNop()
	}
	host, _ := os.Hostname()
	return &Agent{
		cfg: cfg, src: src, log: log, store: store,
		det:         detect.New(cfg.Detect),
		normal:      map[string]normalCache{},
		traces:      map[detect.FloodKey]state.RuleRef{},
		acc:         newAccumulator(),
		hostname:    host,
		lastStatus:  map[string]string{},
		lastBounded: map[string]bool{},
		rxDelta:     map[string]uint64{},
		names:       interner{},
	}
}

// Run polls until ctx is done. ready, if not nil, is called after the
// first poll (for systemd's READY=1); each later poll calls alive (for the
// systemd watchdog).
func (a *Agent) Run(ctx context.Context, ready, alive func()) {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	a.Poll(ctx)
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Poll(ctx)
			if alive != nil {
				alive()
			}
		}
	}
}

// Poll reads every source once, runs the detector and publishes.
func (a *Agent) Poll(ctx context.Context) *state.Snapshot {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Interval)
	defer cancel()
	now := time.Now()
	snap := &state.Snapshot{Time: now, Sources: map[string]state.SourceStatus{}, Hostname: a.hostname}

	// OVSDB: topology, re-read on change.
	start := time.Now()
	err := a.readTopology(ctx, now)
	snap.Sources[state.SourceOVSDB] = a.status(state.SourceOVSDB, start, err)

	// unixctl: datapaths, FDB statistics, megaflows.
	start = time.Now()
	uc, err := a.readVswitchd(ctx)
	snap.Sources[state.SourceUnixctl] = a.status(state.SourceUnixctl, start, err)

	bridges := a.bridgeNames(uc)

	// OpenFlow: table statistics every poll, NORMAL rules at a slower cadence.
	start = time.Now()
	of, err := a.readOpenFlow(ctx, bridges, now)
	snap.Sources[state.SourceOpenFlow] = a.status(state.SourceOpenFlow, start, err)

	// netlink: device counters.
	start = time.Now()
	devs, err := a.src.Netdev.Devices(ctx)
	snap.Sources[state.SourceNetlink] = a.status(state.SourceNetlink, start, err)

	ports := a.ports(uc, devs)
	in := detect.Input{Time: now, Ports: map[string]detect.Port{}, Received: map[string]uint64{}, Complete: uc.complete}
	for _, p := range ports {
		in.Ports[p.Name] = detect.Port{Bridge: p.Bridge, Name: p.Name, VLAN: p.VLAN, Endpoint: isEndpoint(p), MAC: parseMAC(p.AttachedMAC)}
		if p.Counters != nil {
			in.Received[p.Name] = p.Counters.TxBytes
		}
	}
	in.Flows = uc.flows
	if !uc.complete && uc.ok {
		in.Observed = uc.observed
	}
	fdb := &lazyFDB{ctx: ctx, v: a.src.Vswitchd, tables: map[string]map[fdbEntryKey]bool{}}
	in.FDB = fdb
	res := a.det.Observe(in)

	snap.Ports = ports
	a.logEvents(res.Events, snap)
	a.traceFloods(ctx, res)

	snap.OVSVersion = a.version
	snap.Detect = res
	snap.Rules = make(map[detect.FloodKey]state.RuleRef, len(res.Active))
	for _, f := range res.Active {
		if r, ok := a.traces[f.FloodKey]; ok && r.Table >= 0 {
			snap.Rules[f.FloodKey] = r
		}
	}
	snap.Datapaths = uc.datapaths
	snap.Bridges = a.bridges(bridges, uc, of)
	a.acc.sweep()
	a.store.Publish(snap)
	return snap
}

// status turns a source's error into its status and logs changes once
// (not every poll) so a down source does not flood the log.
func (a *Agent) status(src string, start time.Time, err error) state.SourceStatus {
	st := state.SourceStatus{Up: err == nil, Duration: time.Since(start)}
	msg := ""
	if err != nil {
		msg = err.Error()
		st.Err = msg
	}
	if prev, seen := a.lastStatus[src]; !seen || prev != msg {
		switch {
		case err != nil:
			a.log.Error("source unreadable", zap.String("source", src), zap.Error(err))
		case seen:
			a.log.Info("source recovered", zap.String("source", src))
		}
		a.lastStatus[src] = msg
	}
	return st
}

func (a *Agent) wanted(bridge string) bool {
	if len(a.cfg.Bridges) == 0 {
		return true
	}
	for _, b := range a.cfg.Bridges {
		if b == bridge {
			return true
		}
	}
	return false
}

func (a *Agent) logEvents(events []detect.Event, snap *state.Snapshot) {
	for _, e := range events {
		f := e.Flood
		victims := make([]string, 0, len(f.Victims))
		for _, v := range f.Victims {
			victims = append(victims, v.Port)
		}
		fields := []zap.Field{
			zap.String("bridge", f.Bridge), zap.String("in_port", f.InPort),
			zap.Int("vlan", f.VLAN), zap.String("dst_mac", f.DstMAC),
			zap.Strings("victims", victims),
		}
		if p, ok := snap.PortByName(f.InPort); ok {
			fields = append(fields, zap.String("iface_id", p.IfaceID), zap.String("vm_uuid", p.VMUUID))
		}
		switch e.Kind {
		case detect.FloodStarted:
			a.log.Warn("unknown-unicast flood started", append(fields,
				zap.Float64("bytes_per_second", f.ByteRate), zap.Float64("packets_per_second", f.PacketRate))...)
		case detect.FloodEnded:
			a.log.Info("unknown-unicast flood ended", append(fields,
				zap.Duration("duration", e.Duration), zap.Uint64("bytes_flooded", f.Bytes), zap.Uint64("bytes_leaked", e.Leaked))...)
			delete(a.traces, f.FloodKey)
		}
	}
}

// traceFloods asks ofproto/trace which rule floods each newly active flood,
// once per flood (it costs vswitchd about as much as one upcall).
func (a *Agent) traceFloods(ctx context.Context, res detect.Result) {
	if !a.cfg.Trace {
		return
	}
	for _, f := range res.Active {
		if _, done := a.traces[f.FloodKey]; done {
			continue
		}
		ref, err := a.trace(ctx, f)
		if err != nil {
			a.log.Debug("trace failed", zap.String("in_port", f.InPort), zap.String("dst_mac", f.DstMAC), zap.Error(err))
			ref = state.RuleRef{Table: -1}
		}
		a.traces[f.FloodKey] = ref
	}
}

// TraceFlow is the ofproto/trace flow used for a flood.
func TraceFlow(f detect.Flood) string {
	flow := "in_port=" + f.InPort
	if f.SrcMAC != "" {
		flow += ",dl_src=" + f.SrcMAC
	}
	return flow + ",dl_dst=" + f.DstMAC
}

func (a *Agent) trace(ctx context.Context, f detect.Flood) (state.RuleRef, error) {
	flow := TraceFlow(f)
	tr, err := a.src.Vswitchd.Trace(ctx, f.Bridge, flow)
	if err != nil {
		return state.RuleRef{}, err
	}
	ref := traceRef(tr)
	ref.Bridge = f.Bridge
	ref.Flow = flow
	if ref.Table < 0 {
		return ref, errors.New("trace shows no NORMAL flood for " + flow)
	}
	return ref, nil
}

// isEndpoint says whether copies delivered to p are leaks: ports with a
// Neutron/Nova identity lead to a single VM (or router/DHCP namespace).
func isEndpoint(p state.Port) bool {
	return p.IfaceID != "" || p.AttachedMAC != "" || p.VMUUID != ""
}

func parseMAC(s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil {
		return nil
	}
	return m
}

// lazyFDB reads fdb/show for a bridge the first time the detector asks
// about it in a poll: bridges without flood candidates are never dumped.
type lazyFDB struct {
	ctx    context.Context
	v      Vswitchd
	tables map[string]map[fdbEntryKey]bool // bridge -> VLAN and MAC
	failed map[string]bool
}

// Learned implements detect.FDB.
func (l *lazyFDB) Learned(bridge string, vlan int, mac net.HardwareAddr) (bool, bool) {
	if l.failed[bridge] {
		return false, false
	}
	t, ok := l.tables[bridge]
	if !ok {
		table, err := l.v.FDBShow(l.ctx, bridge)
		if err != nil {
			if l.failed == nil {
				l.failed = map[string]bool{}
			}
			l.failed[bridge] = true
			return false, false
		}
		t = make(map[fdbEntryKey]bool, len(table.Entries))
		for _, e := range table.Entries {
			t[fdbKey(int(e.VLAN), e.MAC)] = true
		}
		l.tables[bridge] = t
	}
	return t[fdbKey(vlan, mac)], true
}

// fdbEntryKey is a learned MAC on a VLAN, comparable without formatting
// (fdb/show can list thousands of entries).
type fdbEntryKey struct {
	vlan int
	mac  [6]byte
}

func fdbKey(vlan int, mac net.HardwareAddr) fdbEntryKey {
	k := fdbEntryKey{vlan: vlan}
	copy(k.mac[:], mac)
	return k
}

// interner keeps one copy of each port name. Parsers return substrings of
// OVS's reply (a megaflow dump is megabytes); a name kept across polls in
// the detector's memory would otherwise pin a whole reply per poll.
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	if len(in) > 1<<16 { // names are bounded by ports; this is a safety valve
		clear(in)
	}
	c := strings.Clone(s)
	in[c] = c
	return c
}

// accumulator turns upstream counters that reset (OVS restarts, megaflows
// re-created, devices re-created) into counters that only reset when the
// agent restarts, as Prometheus expects.
type accumulator struct {
	prev, total map[string]uint64
	seen        map[string]bool
}

func newAccumulator() *accumulator {
	return &accumulator{prev: map[string]uint64{}, total: map[string]uint64{}, seen: map[string]bool{}}
}

// add records the upstream value cur for key and returns the monotonic total.
func (c *accumulator) add(key string, cur uint64) uint64 {
	c.seen[key] = true
	prev, ok := c.prev[key]
	c.prev[key] = cur
	switch {
	case !ok:
		c.total[key] = cur
	case cur >= prev:
		c.total[key] += cur - prev
	default: // upstream reset
		c.total[key] += cur
	}
	return c.total[key]
}

// sweep forgets keys not seen since the last sweep (deleted ports, bridges).
func (c *accumulator) sweep() {
	for k := range c.prev {
		if !c.seen[k] {
			delete(c.prev, k)
			delete(c.total, k)
		}
	}
	c.seen = map[string]bool{}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
