// Package agent is the poller: on a fixed cadence it reads every Source
// (ovs-vswitchd over unixctl, OVSDB, OpenFlow, netlink), runs the flood
// detector and publishes an immutable snapshot for the collectors, the
// landing page and the check command.
//
// Detection needs a fixed cadence below the datapath's 10 s idle expiry,
// independent of how often Prometheus scrapes, so the agent deliberately
// polls in the background instead of reading at scrape time.
//
// Files: source.go is the Source interface and the loop that times each
// source; unixctl.go, ovsdb.go, openflow.go and netlink.go are the sources;
// join.go joins what they read into bridges and ports; the agent's memory
// between polls is in topology.go, gate.go (whether a poll dumps megaflows,
// and which), accumulator.go (monotonic counters), interner.go, traces.go and
// series.go (retirement and the VLAN cap of flood series).
package agent

import (
	"context"
	"net"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Agent polls the sources and publishes snapshots.
type Agent struct {
	cfg      Config
	sources  []Source
	log      *zap.Logger
	store    *state.Store
	det      *detect.Detector
	status   statusLog
	counters *accumulator
	names    interner
	traces   *traceCache
	// fdbTables are the MAC tables read for the detector, reused while
	// a bridge's FDB statistics do not change.
	fdbTables *fdbCache
	series    *seriesKeeper
	tunnels   tunnelResolver
	hostname  string
	// sent and flooding are the hints the next poll's sources get.
	sent     map[string]uint64
	flooding []string
	// portSeen is listPorts' scratch.
	portSeen map[string]bool
	// portList is what ovsPorts copies a poll's ports from.
	portList portList
	// inPorts and inReceived are the maps of the detector's input,
	// refilled by each poll: the detector reads its input only while
	// Observe runs (as it does the flows, which the unixctl source
	// reuses), and nothing published points at them.
	inPorts    map[string]detect.Port
	inReceived map[string]uint64
	// sentSpare is the sent hint of the poll before last, refilled as
	// the next poll's: a hint is read only by the poll after it.
	sentSpare map[string]uint64
	// floodedByPort is each in_port's flooded packets so far, to tell
	// the dump gate which ports flooded in the last poll.
	floodedByPort map[string]uint64
	// leakReceivers: the last poll found ports that receive frames for
	// MACs nobody owns (OVN "unknown" addresses), so the gate dumps on
	// every poll.
	leakReceivers bool
	// macs caches parsed attached MACs across polls (bounded).
	macs map[string]net.HardwareAddr
	// devGroups remembers the ports' device counters (see groupMemo).
	devGroups groupMemo
	// portMACs is the attached MAC of each port of the last poll, by
	// its place among the poll's ports (see portMAC).
	portMACs []portMAC
	// lastProgress is when the poll loop last finished a step (UnixNano).
	lastProgress atomic.Int64
}

// New returns an Agent reading sources (in that order) and publishing to
// store. Zero fields of cfg take DefaultConfig's values.
func New(cfg Config, sources []Source, log *zap.Logger, store *state.Store) *Agent {
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	host, _ := os.Hostname()
	a := &Agent{
		cfg: cfg, sources: sources, log: log, store: store,
		det:        detect.New(cfg.Detect),
		status:     statusLog{log: log, last: map[string]string{}},
		counters:   newAccumulator(cfg.RetireAfter),
		names:      interner{},
		traces:     newTraceCache(cfg.Interval),
		fdbTables:  newFDBCache(),
		series:     newSeriesKeeper(cfg.RetireAfter, cfg.MaxVLANsPerPort),
		hostname:   host,
		sent:       map[string]uint64{},
		portSeen:   map[string]bool{},
		inPorts:    map[string]detect.Port{},
		inReceived: map[string]uint64{},
		sentSpare:  map[string]uint64{},
		macs:       map[string]net.HardwareAddr{},
	}
	a.progress()
	return a
}

// Run polls until ctx is done. ready, if not nil, is called after the
// first poll (for systemd's READY=1).
func (a *Agent) Run(ctx context.Context, ready func()) {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	a.pollOnce(ctx)
	if ready != nil && ctx.Err() == nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.pollOnce(ctx)
		}
	}
}

func (a *Agent) pollOnce(ctx context.Context) {
	a.Poll(ctx)
	if a.cfg.AfterPoll != nil {
		a.cfg.AfterPoll()
	}
}

// Progressing says whether the poll loop finished a step (a source read or
// a poll) recently enough: within the interval plus every source's
// deadline, plus the detection phase's. The systemd watchdog is fed only
// while it does, whatever --poll.interval is.
func (a *Agent) Progressing(now time.Time) bool {
	limit := 2 * a.cfg.Interval
	for _, s := range a.sources {
		limit += s.Timeout()
	}
	return now.Sub(time.Unix(0, a.lastProgress.Load())) <= limit
}

func (a *Agent) progress() { a.lastProgress.Store(time.Now().UnixNano()) }

// Poll reads every source once, runs the detector and publishes.
func (a *Agent) Poll(ctx context.Context) *state.Snapshot {
	now := time.Now()
	snap := &state.Snapshot{Time: now, Sources: map[string]state.SourceStatus{}, Hostname: a.hostname}
	p := &Poll{Time: now, cfg: &a.cfg, log: a.log, counters: a.counters, names: a.names,
		sent: a.sent, flooding: a.flooding, leakReceivers: a.leakReceivers}
	a.readSources(ctx, p, snap)
	a.joinOVS(p)
	a.tunnels.resolve(p)
	a.joinOverlay(p)

	// FDB lookups and traces share one deadline: they are vswitchd requests
	// made after the sources, on behalf of the detector.
	dctx, cancel := context.WithTimeout(ctx, a.cfg.Interval)
	defer cancel()
	res := a.det.Observe(a.detectInput(dctx, p))
	snap.Ports = p.ports
	a.logEvents(res.Events, snap)
	if a.cfg.Trace && p.vswitchd != nil {
		a.traces.trace(dctx, p.vswitchd, a.ovnLookup(p), res.Active, now, a.log)
	}
	a.traces.keep(res.Active, now)
	snap.Rules = a.traces.rules(res.Active)
	a.series.apply(now, &res, p.ports)
	snap.Detect = res
	snap.OVSVersion = p.ovsVersion
	snap.Datapaths = p.datapaths
	snap.Bridges = p.bridges
	snap.L2 = p.l2
	a.counters.sweep(now)
	a.sent, a.sentSpare = p.sentNow, a.sent
	a.flooding, a.floodedByPort = followedPorts(res, a.floodedByPort)
	a.leakReceivers = hasLeakReceivers(p)
	a.store.Publish(snap)
	a.progress()
	return snap
}

// detectInput turns the poll into the detector's input.
func (a *Agent) detectInput(ctx context.Context, p *Poll) detect.Input {
	clear(a.inPorts)
	clear(a.inReceived)
	in := detect.Input{Time: p.Time, Ports: a.inPorts, Received: a.inReceived, Flows: p.flows, Complete: p.dumped}
	for i := range p.ports {
		port := &p.ports[i]
		dp := detect.Port{Bridge: port.Bridge, Name: port.Name, VLAN: port.VLAN,
			Endpoint: isEndpoint(*port), MAC: a.portMAC(i, port.AttachedMAC), Tunnel: port.Tunnel != nil}
		if port.OVN != nil {
			dp = withMACs(dp, port.OVN.MACs)
		}
		in.Ports[port.Name] = dp
		if port.Counters != nil {
			in.Received[port.Name] = port.Counters.TxBytes
		}
	}
	if !p.dumped {
		in.Observed = p.observed
	}
	if p.vswitchd != nil {
		var stats map[string]*state.FDB
		if p.unixctl != nil {
			stats = p.unixctl.fdbStats
		}
		in.FDB = newLazyFDB(ctx, p.vswitchd, stats, a.fdbTables)
	}
	if p.l2 != nil && len(p.l2.Stations) > 0 {
		in.Stations = make(map[string]string, len(p.l2.Stations))
		for _, st := range p.l2.Stations {
			in.Stations[st.MAC.String()] = st.Port
		}
	}
	return in
}

// mac returns s parsed (nil when empty or invalid), from a cache kept
// across polls: attached MACs rarely change, and a poll would otherwise
// parse one per port.
func (a *Agent) mac(s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	if m, ok := a.macs[s]; ok {
		return m
	}
	if len(a.macs) >= maxCachedMACs {
		clear(a.macs)
	}
	m := parseMAC(s)
	a.macs[s] = m
	return m
}

// portMAC is a port's attached MAC as read and parsed.
type portMAC struct {
	attached string
	mac      net.HardwareAddr
}

// portMAC returns s parsed, s being the attached MAC of the i-th port of
// the poll. The ports come sorted and change rarely, so the i-th port of
// the last poll mostly had the same one: comparing with it is cheaper
// than looking the cache up.
func (a *Agent) portMAC(i int, s string) net.HardwareAddr {
	if i < len(a.portMACs) && a.portMACs[i].attached == s {
		return a.portMACs[i].mac
	}
	m := a.mac(s)
	switch {
	case i < len(a.portMACs):
		a.portMACs[i] = portMAC{attached: s, mac: m}
	case i == len(a.portMACs):
		a.portMACs = append(a.portMACs, portMAC{attached: s, mac: m})
	}
	return m
}

// maxCachedMACs bounds the MAC cache (a host with more ports parses some
// MACs again each poll).
const maxCachedMACs = 1 << 14

// floodingPorts lists the in_ports of the active floods, sorted.
func floodingPorts(active []detect.Flood) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range active {
		if !seen[f.InPort] {
			seen[f.InPort] = true
			out = append(out, f.InPort)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
