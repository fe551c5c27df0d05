// Package bench measures the agent against a real Open vSwitch at the
// target scale (500 ports, 4,000 FDB entries, 5,000 megaflows of which 50
// flood, 20,000 OpenFlow rules): CPU and wall time per poll, per scrape,
// the bare unixctl floor, OVS's own CPU serving the agent, and memory.
//
// OVS runs with the dummy datapath (ovs-vswitchd --enable-dummy=override,
// as in OVS's own test suite) in a private network namespace, so thousands
// of MACs and megaflows are made with netdev-dummy/receive instead of real
// traffic. The benchmarks are heavy: they run only as root with
// OVS_FLOOD_BENCH=1 (scripts/bench.sh sets it up). TestBenchSetupSmall
// builds a 10-port host with the same code on every lab test run, so the
// harness cannot rot unnoticed. See README.md.
package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/gctune"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/web"
)

// Netns names of the benchmark hosts ("bn" is this harness's prefix),
// after OVS_FLOOD_LAB_PREFIX so two checkouts can benchmark at once.
var (
	benchNetns = labtest.Prefix() + "bn1"
	smallNetns = labtest.Prefix() + "bn0"
)

var shared struct {
	once sync.Once
	env  *Env
	err  error
	took time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil && os.Getenv("OVS_FLOOD_BENCH_KEEP") == "" {
		if err := shared.env.Teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "bench teardown:", err)
		}
	}
	os.Exit(code)
}

// benchEnv returns the full-scale host, set up once per test binary and
// shared by the benchmarks; it skips unless OVS_FLOOD_BENCH is set.
func benchEnv(b *testing.B) *Env {
	b.Helper()
	if os.Getenv("OVS_FLOOD_BENCH") == "" {
		b.Skip("set OVS_FLOOD_BENCH=1 and run as root to benchmark against a 500-port OVS (scripts/bench.sh does)")
	}
	if m := Missing(); len(m) > 0 {
		b.Skipf("benchmarks need %s (apt-get install openvswitch-switch iproute2; run as root)", strings.Join(m, ", "))
	}
	shared.once.Do(func() {
		s, err := scaleFromEnv(FullScale)
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		shared.env, shared.err = Setup(ctx, benchNetns, s)
		shared.took = time.Since(start)
		if shared.err == nil {
			fmt.Fprintf(os.Stderr, "bench: host %s up in %v: %+v (OVS_RUNDIR=%s)\n", benchNetns, shared.took.Round(time.Millisecond), s, shared.env.RunDir)
		}
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.env
}

// scaleFromEnv applies OVS_FLOOD_BENCH_SCALE ("ports=100,vlans=10,...")
// to s, for quick runs and experiments.
func scaleFromEnv(s Scale) (Scale, error) {
	spec := os.Getenv("OVS_FLOOD_BENCH_SCALE")
	if spec == "" {
		return s, nil
	}
	fields := map[string]*int{"ports": &s.Ports, "vlans": &s.VLANs, "macs": &s.MACsPerPort,
		"megaflows": &s.Megaflows, "flooded": &s.Flooded, "rules": &s.Rules}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p, ok := fields[k]
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return s, fmt.Errorf("OVS_FLOOD_BENCH_SCALE: bad %q (keys: ports, vlans, macs, megaflows, flooded, rules)", kv)
		}
		*p = n
	}
	return s, s.check()
}

// warmPolls brings an agent to steady state: the first poll reads the
// topology and takes counter baselines, the next SustainPolls make the
// floods active and trace them once each.
const warmPolls = 6

// TestBenchSetupSmall builds a 10-port host with the benchmark's own setup
// code and checks that an agent polling it sees what the setup made: the
// FDB, the megaflows, the flood candidates confirmed as active floods with
// their victims and rule, and the bounded strategy.
func TestBenchSetupSmall(t *testing.T) {
	if m := Missing(); len(m) > 0 {
		msg := fmt.Sprintf("needs %s (apt-get install openvswitch-switch iproute2; run as root)", strings.Join(m, ", "))
		if labtest.Required() {
			t.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := SmallScale
	e, err := Setup(ctx, smallNetns, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Teardown(); err != nil {
			t.Error(err)
		}
	})
	if n, err := e.FlowCount(ctx); err != nil || n != s.Megaflows {
		t.Fatalf("datapath has %d megaflows (%v), want %d", n, err, s.Megaflows)
	}
	if e.Datapath != "netdev@ovs-netdev" {
		t.Errorf("datapath %q, want netdev@ovs-netdev (the dummy override keeps the type's name)", e.Datapath)
	}

	r := newRig(t, e, agent.DefaultConfig())
	defer r.close()
	r.warm(t, e, warmPolls-1)
	r.calls.take()
	snap := r.warm(t, e, 1)
	sourcesUp(t, snap)

	calls := r.calls.take()
	// fdb/show is not among them: the MAC table read in an earlier poll
	// still holds, since the FDB statistics did not move.
	want := map[string]int{"dpif/show": 1, "fdb/stats-show": 1, "dpctl/show": 1, "dpctl/dump-flows": 1}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("steady poll issued %v, want %v", calls, want)
	}
	if len(snap.Datapaths) != 1 || snap.Datapaths[0].Flows != s.Megaflows || snap.Datapaths[0].Dumped != s.Megaflows || snap.Datapaths[0].Bounded {
		t.Errorf("datapaths %+v, want one with %d flows, all dumped", snap.Datapaths, s.Megaflows)
	}
	if len(snap.Bridges) != 1 || snap.Bridges[0].FDB == nil || snap.Bridges[0].FDB.Entries != uint64(s.FDBEntries()) {
		t.Errorf("bridges %+v, want br-int with %d FDB entries", snap.Bridges, s.FDBEntries())
	}
	withCounters := 0
	for _, p := range snap.Ports {
		if p.Counters != nil {
			withCounters++
		}
	}
	if len(snap.Ports) != s.Ports+1 || withCounters != s.Ports {
		t.Errorf("%d ports, %d with device counters; want %d (and br-int), each with its tap's counters", len(snap.Ports), withCounters, s.Ports)
	}

	// Every planned flood is active, from its port, with the other ports
	// of its VLAN as victims and table 94's NORMAL rule as the cause.
	entry := e.FloodPorts()
	per := s.Ports / s.VLANs
	if len(snap.Detect.Active) != s.Flooded {
		t.Fatalf("%d active floods, want %d: %+v", len(snap.Detect.Active), s.Flooded, snap.Detect.Active)
	}
	for _, f := range snap.Detect.Active {
		if entry[f.DstMAC] != f.InPort {
			t.Errorf("flood to %s from %s, want from %q", f.DstMAC, f.InPort, entry[f.DstMAC])
		}
		if len(f.Victims) != per-1 {
			t.Errorf("flood to %s: victims %v, want the %d other ports of VLAN %d", f.DstMAC, f.Victims, per-1, f.VLAN)
		}
		if rule, ok := snap.Rules[f.FloodKey]; !ok || rule.Table != 94 || fmt.Sprintf("%#x", rule.Cookie) != normalCookie {
			t.Errorf("flood to %s: rule %+v, want table 94 cookie %s", f.DstMAC, rule, normalCookie)
		}
	}
	t.Logf("steady poll: %v; %d ports, %d megaflows, %d FDB entries, %d active floods",
		calls, len(snap.Ports), snap.Datapaths[0].Dumped, snap.Bridges[0].FDB.Entries, len(snap.Detect.Active))
	text := scrape(t, handler(r.store), false).Body.String()
	if got := series(text, "ovs_flood_active"); len(got) != s.Flooded {
		t.Errorf("scrape has %d ovs_flood_active series, want %d", len(got), s.Flooded)
	}

	// Bounded: with fewer allowed megaflows than installed, the poll
	// dumps only the busiest ports' flows and says so.
	cfg := agent.DefaultConfig()
	cfg.MaxFlows = s.Megaflows / 2
	cfg.BoundedPorts = 3
	b := newRig(t, e, cfg)
	defer b.close()
	b.warm(t, e, 2)
	b.calls.take()
	snap = b.warm(t, e, 1)
	sourcesUp(t, snap)
	if calls := b.calls.take(); calls["dpctl/dump-flows filter="] < cfg.BoundedPorts || calls["dpctl/dump-flows"] != 0 {
		t.Errorf("bounded poll issued %v, want %d or more filtered dumps and no full dump", calls, cfg.BoundedPorts)
	}
	if d := snap.Datapaths[0]; !d.Bounded || d.Dumped == 0 || d.Dumped >= s.Megaflows {
		t.Errorf("bounded datapath %+v, want Bounded with some but not all flows dumped", d)
	}
	t.Logf("bounded poll: %+v", snap.Datapaths[0])
	text = scrape(t, handler(b.store), false).Body.String()
	if got := series(text, "ovs_flood_exporter_megaflow_dump_bounded"); len(got) != 1 || !strings.HasSuffix(got[0], " 1") {
		t.Errorf("bounded gauge %q, want 1", got)
	}
}

// BenchmarkPoll measures one agent poll with the real sources: CPU
// (getrusage, all threads) and wall time per poll, and what it costs
// ovs-vswitchd and ovsdb-server, on average and as the longest single
// request (vswitchd-max-request-ms). Before each poll (outside the
// measurement) packets are sent down each flooded megaflow, so every
// poll has floods to follow and also reads fdb/show, the worst case.
//
//   - calm: a host with no flood (no traffic at all): the dump gate
//     reads only the cheap signals, and dumps megaflows on its safety
//     sweep (every 6th poll at the default 5 s interval and 30 s sweep).
//   - steady: the poll at the default settings between NORMAL rule
//     dumps, with the floods running.
//   - normal-rules-dump: the OpenFlow NORMAL rule dump that a poll adds
//     every --openflow.normal-interval (30 s; stretched so that it costs
//     vswitchd at most 1%); a poll with it costs steady + this.
//   - bounded: --dpctl.max-flows below the megaflow count, so the poll
//     issues filtered dumps for the busiest ports instead of one full dump.
func BenchmarkPoll(b *testing.B) {
	e := benchEnv(b)
	b.Run("calm", func(b *testing.B) {
		cfg := agent.DefaultConfig()
		cfg.NormalRulesInterval = 24 * time.Hour
		benchCalmPoll(b, e, cfg)
	})
	b.Run("steady", func(b *testing.B) {
		cfg := agent.DefaultConfig()
		cfg.NormalRulesInterval = 24 * time.Hour // only the first (warm-up) poll dumps
		benchPoll(b, e, cfg)
	})
	b.Run("normal-rules-dump", func(b *testing.B) {
		r := newRig(b, e, agent.DefaultConfig())
		defer r.close()
		ctx := context.Background()
		m := newMeter(b, e)
		var rules int
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			m.measure(func() {
				fs, err := r.openflow.NormalRules(ctx, Bridge)
				if err != nil {
					b.Fatal(err)
				}
				rules = len(fs)
			})
		}
		b.StopTimer()
		if rules != 1 {
			b.Fatalf("%d NORMAL rules, want 1 (table 94)", rules)
		}
		m.report(b, "dump")
	})
	b.Run("bounded", func(b *testing.B) {
		cfg := agent.DefaultConfig()
		cfg.NormalRulesInterval = 24 * time.Hour
		cfg.MaxFlows = e.Scale.Megaflows / 5
		benchPoll(b, e, cfg)
	})
}

func benchPoll(b *testing.B, e *Env, cfg agent.Config) {
	r := newRig(b, e, cfg)
	defer r.close()
	ctx := context.Background()
	snap := r.settle(b, e)
	sourcesUp(b, snap)
	// Bounded: over --dpctl.max-flows, or a full dump would not fit the
	// gate's budget; above ~16k megaflows not even a filtered one does,
	// and the agent reads none.
	bounded := snap.Datapaths[0].Bounded
	if e.Scale.Megaflows > cfg.MaxFlows && !bounded {
		b.Fatalf("datapath %+v not bounded over --dpctl.max-flows=%d", snap.Datapaths[0], cfg.MaxFlows)
	}
	if !bounded && len(snap.Detect.Active) == 0 {
		b.Fatal("no active flood after warm-up: the floods the setup made are not seen")
	}
	r.calls.take()
	r.calls.longest()
	m := newMeter(b, e)
	srcDur := map[string]time.Duration{}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := e.Flood(ctx, floodBurst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m.measure(func() { snap = r.agent.Poll(ctx) })
		for name, st := range snap.Sources {
			srcDur[name] += st.Duration
		}
	}
	b.StopTimer()
	sourcesUp(b, snap)
	d := snap.Datapaths[0]
	if d.Flows != e.Scale.Megaflows {
		b.Fatalf("datapath %+v: want %d flows, bounded=%v", d, e.Scale.Megaflows, bounded)
	}
	m.report(b, "poll")
	for name, dur := range srcDur {
		b.ReportMetric(m.per(dur), name+"-ms/poll")
	}
	reportLongest(b, r)
	calls := r.calls.take()
	total := 0
	for _, n := range calls {
		total += n
	}
	b.ReportMetric(float64(total)/float64(m.n), "unixctl-calls/poll")
	b.ReportMetric(float64(d.Dumped), "megaflows-read/poll")
	b.ReportMetric(float64(len(snap.Detect.Active)), "active-floods")
	// What the exporter says about the strategy.
	gauge := gaugeValue(scrape(b, handler(r.store), false).Body.String(), "ovs_flood_exporter_megaflow_dump_bounded")
	b.ReportMetric(gauge, "dump-bounded-gauge")
	if want := map[bool]float64{false: 0, true: 1}[bounded]; gauge != want {
		b.Errorf("ovs_flood_exporter_megaflow_dump_bounded = %v, want %v", gauge, want)
	}
	// The detector asks about the floods' destinations every poll; the
	// MAC table is read again only when the bridge's FDB statistics
	// moved, and at least every 12 polls.
	b.ReportMetric(float64(calls["fdb/show"])/float64(m.n), "fdb-show/poll")
	if calls["fdb/show"] > m.n {
		b.Errorf("fdb/show read %d times in %d polls, want at most once a poll", calls["fdb/show"], m.n)
	}
	b.Logf("unixctl requests over %d polls: %v; snapshot: %d ports, %d megaflows read, %d active floods",
		m.n, calls, len(snap.Ports), d.Dumped, len(snap.Detect.Active))
}

// benchCalmPoll measures polls of a host with no flood and no traffic:
// what the gated agent costs ovs-vswitchd on average, safety sweeps
// included (it polls whole sweep periods), and the longest single
// request.
func benchCalmPoll(b *testing.B, e *Env, cfg agent.Config) {
	r := newRig(b, e, cfg)
	defer r.close()
	ctx := context.Background()
	// The first poll reads everything (baselines); then, with no traffic,
	// no megaflow grows and nothing replicates.
	sourcesUp(b, r.agent.Poll(ctx))
	r.calls.take()
	r.calls.longest()
	// Whole sweep periods, whatever b.N, so the average includes the
	// sweeps in their share.
	period := int((cfg.Gate.SweepInterval + cfg.Interval - 1) / cfg.Interval)
	period = max(1, min(period, cfg.Detect.FlowMemoryPolls))
	polls := (b.N + period - 1) / period * period
	m := newMeter(b, e)
	var snap *state.Snapshot
	b.ReportAllocs()
	b.ResetTimer()
	for range polls {
		m.measure(func() { snap = r.agent.Poll(ctx) })
	}
	b.StopTimer()
	sourcesUp(b, snap)
	if len(snap.Detect.Active) != 0 {
		b.Errorf("%d active floods on a host with no traffic", len(snap.Detect.Active))
	}
	m.report(b, "poll")
	reportLongest(b, r)
	calls := r.calls.take()
	dumps := calls["dpctl/dump-flows"] + calls["dpctl/dump-flows filter="]
	b.ReportMetric(float64(dumps)/float64(m.n), "dumps/poll")
	b.Logf("unixctl requests over %d calm polls: %v", m.n, calls)
}

// reportLongest reports the request that held vswitchd's main thread
// longest over the measured polls.
func reportLongest(b *testing.B, r *rig) {
	name, d := r.calls.longest()
	b.ReportMetric(ms(d), "vswitchd-max-request-ms")
	b.Logf("longest request: %s, %.1f ms of vswitchd's main thread", name, ms(d))
}

// BenchmarkBareUnixctl is the floor: the unixctl requests a steady poll
// with floods running makes (dpif/show, fdb/stats-show, dpctl/show -s,
// dpctl/dump-flows --names, fdb/show), sent over one kept connection with
// no parsing at all.
// exec is the same five commands as ovs-appctl processes, for scale.
func BenchmarkBareUnixctl(b *testing.B) {
	e := benchEnv(b)
	cmds := [][]string{
		{"dpif/show"}, {"fdb/stats-show", Bridge}, {"dpctl/show", "-s", e.Datapath},
		{"dpctl/dump-flows", "--names", e.Datapath}, {"fdb/show", Bridge},
	}
	b.Run("kept-connection", func(b *testing.B) {
		uc := unixctl.New(e.RunDir, unixctl.Options{Timeout: 10 * time.Second})
		defer uc.Close()
		ctx := context.Background()
		var bytes int
		call := func() {
			bytes = 0
			for _, c := range cmds {
				out, err := uc.Call(ctx, c[0], c[1:]...)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(out)
			}
		}
		call()
		m := newMeter(b, e)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			if err := e.Flood(ctx, floodBurst); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			m.measure(call)
		}
		b.StopTimer()
		m.report(b, "round")
		b.ReportMetric(float64(bytes), "reply-bytes/round")
	})
	// Each command alone, dpctl/dump-flows -m for comparison (what the
	// agent sent before the gate: UFIDs and wildcarded fields, lines 2.4
	// times longer), and one filtered dump, as the bounded strategy sends
	// one per port (vswitchd still walks every megaflow). BenchmarkSignals
	// has them all at 5k to 100k megaflows.
	single := append(append([][]string{}, cmds...),
		[]string{"dpctl/dump-flows", "-m", e.Datapath},
		[]string{"dpctl/dump-flows", "--names", e.Datapath, "filter=in_port=" + e.Ports[0].Name})
	for _, c := range single {
		name := signalName(c)
		b.Run(name, func(b *testing.B) {
			uc := unixctl.New(e.RunDir, unixctl.Options{Timeout: 10 * time.Second})
			defer uc.Close()
			ctx := context.Background()
			var bytes int
			m := newMeter(b, e)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m.measure(func() {
					out, err := uc.Call(ctx, c[0], c[1:]...)
					if err != nil {
						b.Fatal(err)
					}
					bytes = len(out)
				})
			}
			b.StopTimer()
			m.report(b, "call")
			b.ReportMetric(float64(bytes), "reply-bytes")
		})
	}
	b.Run("exec-ovs-appctl", func(b *testing.B) {
		ctx := context.Background()
		m := newMeter(b, e)
		var children time.Duration
		b.ResetTimer()
		for range b.N {
			c0 := childrenCPU()
			m.measure(func() {
				for _, c := range cmds {
					if _, err := e.cmd(ctx, "", "ovs-appctl", c...); err != nil {
						b.Fatal(err)
					}
				}
			})
			children += childrenCPU() - c0
		}
		b.StopTimer()
		m.report(b, "round")
		b.ReportMetric(m.per(children), "children-cpu-ms/round")
	})
}

// BenchmarkScrape measures one /metrics scrape through the agent's own
// HTTP handler (web.Handler) against the snapshot of a steady poll with
// active floods: text, text with gzip, and OpenMetrics with gzip (what
// Prometheus negotiates).
//
//   - cold: the first scrape after a new poll (flood traffic, then a poll
//     and the binary's GC pacer outside the measurement), so the OVS
//     metrics are built and rendered again, keeping only the families
//     that did not change (one Prometheus scraping every 15 s while the
//     agent polls every 5 s: every scrape is cold).
//   - cached: the same snapshot again (several Prometheus servers, or
//     scrapes more frequent than polls): only the live process metrics
//     are gathered.
func BenchmarkScrape(b *testing.B) {
	e := benchEnv(b)
	r := newRig(b, e, agent.DefaultConfig())
	defer r.close()
	sourcesUp(b, r.settle(b, e))
	h := handler(r.store)
	text := scrape(b, h, false).Body.String()
	if n := len(series(text, "ovs_port_info")); n != e.Scale.Ports+1 {
		b.Errorf("%d ovs_port_info series, want %d", n, e.Scale.Ports+1)
	}
	if n := len(series(text, "ovs_flood_active")); n == 0 {
		b.Error("no ovs_flood_active series")
	}
	samples := 0
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			samples++
		}
	}
	if f := os.Getenv("OVS_FLOOD_BENCH_SAVE_SCRAPE"); f != "" {
		_ = os.WriteFile(f, []byte(text), 0o644)
	}
	kinds := []struct {
		name, accept string
		gzip         bool
	}{{"text", "", false}, {"gzip", "", true}, {"openmetrics", acceptPrometheus, true}}
	// The binary runs its GC pacer between a poll and the scrapes that
	// follow (gctune.Pacer): a collection the poll's garbage calls for
	// lands there, not in the scrape. The cold runs do the same, so that
	// they measure the scrape and not the poll's leftovers.
	pacer := gctune.NewPacer()
	for _, cold := range []bool{true, false} {
		for _, k := range kinds {
			b.Run(map[bool]string{true: "cold", false: "cached"}[cold]+"/"+k.name, func(b *testing.B) {
				scrapeAs(b, h, k.accept, k.gzip) // the cached runs start rendered
				m := newMeter(b, e)
				var size int
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if cold {
						b.StopTimer()
						r.warm(b, e, 1)
						pacer.AfterPoll()
						b.StartTimer()
					}
					m.measure(func() { size = scrapeAs(b, h, k.accept, k.gzip).Body.Len() })
				}
				b.StopTimer()
				b.ReportMetric(m.per(m.self), "cpu-ms/scrape")
				b.ReportMetric(m.per(m.wall), "wall-ms/scrape")
				b.ReportMetric(float64(size), "bytes/scrape")
				b.ReportMetric(float64(samples), "samples/scrape")
			})
		}
	}
}

// BenchmarkScrapeParts splits the work of a scrape of a new snapshot when
// nothing can be kept from the last one: gather (building the OVS metric
// families from the snapshot), encode (writing them as text), gzip
// (compressing that text) and live (gathering and encoding the process
// metrics, done at every scrape).
func BenchmarkScrapeParts(b *testing.B) {
	e := benchEnv(b)
	r := newRig(b, e, agent.DefaultConfig())
	defer r.close()
	sourcesUp(b, r.settle(b, e))
	c := collector.New(r.store)
	part := func(name string, f func(), report func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			m := newMeter(b, e)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m.measure(f)
			}
			b.StopTimer()
			b.ReportMetric(m.per(m.self), "cpu-ms/scrape")
			if report != nil {
				report(b)
			}
		})
	}
	part("gather", func() {
		s := *r.store.Load() // a new snapshot to the collector
		r.store.Publish(&s)
		if _, err := c.Gather(); err != nil {
			b.Fatal(err)
		}
	}, nil)
	mfs, err := c.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var text bytes.Buffer
	part("encode", func() {
		text.Reset()
		enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}, func(b *testing.B) { b.ReportMetric(float64(text.Len()), "bytes/scrape") })
	var zipped bytes.Buffer
	part("gzip", func() {
		zipped.Reset()
		zw, _ := gzip.NewWriterLevel(&zipped, gzip.BestSpeed)
		_, _ = zw.Write(text.Bytes())
		_ = zw.Close()
	}, func(b *testing.B) { b.ReportMetric(float64(zipped.Len()), "bytes/scrape") })
	live := web.LiveRegistry()
	part("live", func() {
		mfs, err := live.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}, nil)
}

// BenchmarkFootprint reports this test process's memory after 100 polls
// and 30 scrapes with a fresh agent. The process also holds the harness
// (the injected packets, the other benchmarks' garbage, the testing
// package): BenchmarkBinary's VmHWM of the real binary is the honest RSS.
func BenchmarkFootprint(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	r := newRig(b, e, agent.DefaultConfig())
	defer r.close()
	h := handler(r.store)
	// 100 polls and 30 scrapes whatever b.N: the figures are levels, not
	// per-op costs.
	for i := range 100 {
		if err := e.Flood(ctx, floodBurst); err != nil {
			b.Fatal(err)
		}
		r.agent.Poll(ctx)
		if i%3 == 0 && i/3 < 30 {
			scrape(b, h, true)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := procStatus(0, "VmRSS")
	hwm, _ := procStatus(0, "VmHWM")
	b.ReportMetric(float64(rss)/1024, "VmRSS-MiB")
	b.ReportMetric(float64(hwm)/1024, "VmHWM-MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MiB")
}

// binaryResults are BenchmarkBinary's measurements, made once per
// process and poll interval.
var binaryResults struct {
	mu   sync.Mutex
	done map[time.Duration]map[string]float64
}

// BenchmarkBinary runs the real ovs-flood-exporter binary in the host's
// namespace while flood traffic keeps 50 floods going: phase A polls only
// for a window (OVS_FLOOD_BENCH_WINDOW, 60 s), phase B the same with 30
// scrapes spread over it. It reports the binary's CPU per poll (phase A),
// the CPU the scrapes added (phase B minus A), its peak RSS (VmHWM), and
// what ovs-vswitchd (its main thread) and ovsdb-server spent per poll
// above their baseline without the agent.
// It runs at --poll.interval=1s and at the default 5s
// (OVS_FLOOD_BENCH_INTERVALS); each measurement is made once, whatever b.N.
func BenchmarkBinary(b *testing.B) {
	e := benchEnv(b)
	spec := os.Getenv("OVS_FLOOD_BENCH_INTERVALS")
	if spec == "" {
		spec = "1s,5s"
	}
	for _, f := range strings.Split(spec, ",") {
		interval, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || interval <= 0 {
			b.Fatalf("OVS_FLOOD_BENCH_INTERVALS: bad interval %q", f)
		}
		b.Run("poll-"+interval.String(), func(b *testing.B) {
			binaryResults.mu.Lock()
			defer binaryResults.mu.Unlock()
			if binaryResults.done == nil {
				binaryResults.done = map[time.Duration]map[string]float64{}
			}
			res, ok := binaryResults.done[interval]
			if !ok {
				res, err = measureBinary(b, e, interval)
				if err != nil {
					b.Fatal(err)
				}
				binaryResults.done[interval] = res
			}
			keys := make([]string, 0, len(res))
			for k := range res {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				b.ReportMetric(res[k], k)
			}
		})
	}
}

func measureBinary(b *testing.B, e *Env, interval time.Duration) (map[string]float64, error) {
	window := 60 * time.Second
	if w := os.Getenv("OVS_FLOOD_BENCH_WINDOW"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			return nil, fmt.Errorf("OVS_FLOOD_BENCH_WINDOW: %w", err)
		}
		window = d
	}
	const (
		scrapes = 30
		listen  = "127.0.0.1:19742"
		// Flood traffic: floodBurst packets per flood every floodEvery,
		// above --flood.min-pps (10) per flood.
		floodEvery = 500 * time.Millisecond
	)
	// With OVS_FLOOD_BENCH_PROFILE=dir the binary serves pprof and its
	// CPU (phase A) and heap profiles are saved there, next to it.
	profDir := os.Getenv("OVS_FLOOD_BENCH_PROFILE")
	bin := os.Getenv("OVS_FLOOD_BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(e.Base, "ovs-flood-exporter")
		if profDir != "" {
			if err := os.MkdirAll(profDir, 0o755); err != nil {
				return nil, err
			}
			bin = filepath.Join(profDir, "ovs-flood-exporter")
		}
		// As the Dockerfile builds it: static and stripped.
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/ovs-flood-exporter")
		build.Dir = moduleRoot()
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %w: %s", err, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// Keep the floods flowing from a goroutine (this process's CPU, not
	// the binary's).
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(floodEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Packets only: waiting for the datapath to count them
				// would poll vswitchd on top of the agent.
				_ = e.receive(ctx, e.floods, floodBurst)
			}
		}
	}()

	vs, err := e.Pid("ovs-vswitchd")
	if err != nil {
		return nil, err
	}
	db, err := e.Pid("ovsdb-server")
	if err != nil {
		return nil, err
	}
	// Baseline of the daemons with the flood traffic but no agent. Only
	// ovs-vswitchd's main thread is counted: it serves unixctl and
	// OpenFlow (and runs the dummy datapath, so the injected packets are
	// in the baseline); the revalidator threads walk the megaflows on
	// their own schedule whether the agent polls or not, and their noise
	// would swamp a 5 s poll's share.
	baseWin := window / 2
	vs0, db0 := threadCPU(vs, vs), processCPU(db)
	time.Sleep(baseWin)
	vsIdle := float64(threadCPU(vs, vs)-vs0) / float64(baseWin)
	dbIdle := float64(processCPU(db)-db0) / float64(baseWin)

	logPath := filepath.Join(e.Base, "exporter.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"netns", "exec", e.Name, bin,
		"--ovs.rundir=" + e.RunDir, "--poll.interval=" + interval.String(),
		"--web.listen-address=" + listen, "--log.level=warn"}
	if profDir != "" {
		args = append(args, "--web.enable-pprof")
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// OVS_FLOOD_BENCH_BIN_ENV adds environment for the binary alone,
	// e.g. "GOMEMLIMIT=32MiB GOGC=50".
	cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("OVS_FLOOD_BENCH_BIN_ENV"))...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid // ip netns exec execs the binary in place
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	client := nsClient(e.Name)
	base := "http://" + listen
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := get(client, base+"/-/ready"); err == nil {
			ready = true
			break
		}
	}
	if !ready {
		return nil, fmt.Errorf("exporter not ready after 30 s; see %s", logPath)
	}
	// Warm-up: the topology read, the first NORMAL rule dump, floods
	// becoming active and being traced.
	time.Sleep(10 * interval)

	// Phase A: polls only (and, if asked, a CPU profile of them).
	profErr := make(chan error, 1)
	if profDir != "" {
		go func() {
			secs := int((window - 2*time.Second) / time.Second)
			profErr <- saveURL(client, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, max(secs, 1)), filepath.Join(profDir, "exporter-poll-"+interval.String()+".cpu.prof"))
		}()
	} else {
		profErr <- nil
	}
	cA, vsA, dbA := processCPU(pid), threadCPU(vs, vs), processCPU(db)
	tA := time.Now()
	time.Sleep(window)
	elA := time.Since(tA)
	if err := <-profErr; err != nil {
		return nil, err
	}
	cB, vsB, dbB := processCPU(pid), threadCPU(vs, vs), processCPU(db)

	// Phase B: the same with 30 scrapes spread over the window.
	tB := time.Now()
	var scrapeWall time.Duration
	var text string
	for i := range scrapes {
		time.Sleep(time.Until(tB.Add(time.Duration(i) * window / scrapes)))
		s := time.Now()
		text, err = get(client, base+"/metrics")
		if err != nil {
			return nil, err
		}
		scrapeWall += time.Since(s)
	}
	time.Sleep(time.Until(tB.Add(window)))
	elB := time.Since(tB)
	cC := processCPU(pid)
	cold, coldMax, err := coldScrapes(client, base, pid, interval, text)
	if err != nil {
		return nil, err
	}
	hwm, err := procStatus(pid, "VmHWM")
	if err != nil {
		return nil, err
	}
	rss, _ := procStatus(pid, "VmRSS")
	anon, _ := procStatus(pid, "RssAnon")
	file, _ := procStatus(pid, "RssFile")
	if profDir != "" {
		if err := saveURL(client, base+"/debug/pprof/heap?gc=1", filepath.Join(profDir, "exporter-poll-"+interval.String()+".heap.prof")); err != nil {
			return nil, err
		}
		b.Logf("profiles of the binary in %s (go tool pprof %s %s/exporter-poll-%v.cpu.prof)", profDir, bin, profDir, interval)
	}

	for _, l := range series(text, "ovs_flood_exporter_source_up") {
		if !strings.HasSuffix(l, " 1") {
			return nil, fmt.Errorf("binary reports a source down: %s (see %s)", l, logPath)
		}
	}
	active := len(series(text, "ovs_flood_active"))
	if active == 0 {
		return nil, fmt.Errorf("binary reports no active flood at the end of the window (see %s)", logPath)
	}
	pollsA := float64(elA) / float64(interval)
	pollCPU := float64(cB-cA) / pollsA
	// What the scrapes added over phase A's rate.
	scrapeCPU := (float64(cC-cB) - float64(cB-cA)*float64(elB)/float64(elA)) / scrapes
	vsUsed := float64(vsB-vsA) - vsIdle*float64(elA)
	dbUsed := float64(dbB-dbA) - dbIdle*float64(elA)
	b.Logf("binary: %v/%v windows, %.0f polls; CPU %v polling, %v polling+%d scrapes; vswitchd main thread %v (baseline %.1f%%), ovsdb %v (idle %.2f%%); %d active floods; VmHWM %d kB",
		elA.Round(time.Millisecond), elB.Round(time.Millisecond), pollsA, (cB - cA).Round(time.Millisecond), (cC - cB).Round(time.Millisecond), scrapes,
		(vsB - vsA).Round(time.Millisecond), vsIdle*100, (dbB - dbA).Round(time.Millisecond), dbIdle*100, active, hwm)
	return map[string]float64{
		"bin-cpu-ms/poll":            pollCPU / float64(time.Millisecond),
		"bin-cpu-ms/scrape":          ms(cold),
		"bin-cpu-ms/scrape-max":      ms(coldMax),
		"bin-cpu-ms/scrape-window":   scrapeCPU / float64(time.Millisecond),
		"bin-cpu-pct":                100 * float64(cB-cA) / float64(elA),
		"bin-VmHWM-MiB":              float64(hwm) / 1024,
		"bin-VmRSS-MiB":              float64(rss) / 1024,
		"bin-RssAnon-MiB":            float64(anon) / 1024,
		"bin-RssFile-MiB":            float64(file) / 1024,
		"bin-scrape-wall-ms":         ms(scrapeWall) / scrapes,
		"bin-vswitchd-main-ms/poll":  vsUsed / float64(time.Millisecond) / pollsA,
		"bin-ovsdb-ms/poll":          dbUsed / float64(time.Millisecond) / pollsA,
		"bin-scrape-bytes":           float64(len(text)),
		"bin-active-floods":          float64(active),
		"bin-vswitchd-main-base-pct": vsIdle * 100,
		"bin-polls":                  pollsA,
		"bin-megaflow_dump_bounded":  gaugeValue(text, "ovs_flood_exporter_megaflow_dump_bounded"),
	}, nil
}

// gaugeValue returns the value of the first sample of name (-1 if none).
func gaugeValue(text, name string) float64 {
	s := series(text, name)
	if len(s) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(s[0][strings.LastIndexByte(s[0], ' ')+1:], 64)
	if err != nil {
		return -1
	}
	return v
}

// coldScrapes measures the binary's CPU for scrapes that each come first
// after a new poll, as Prometheus makes them (OpenMetrics, gzip): each
// starts a fixed delay after a poll began (the poll is over by then) and
// its CPU is read from just before the request to shortly after the
// response, so neither the polls nor the window's noise are counted. It
// returns the mean and the largest. text is a recent scrape, for the time
// of the last poll.
func coldScrapes(c *http.Client, base string, pid int, interval time.Duration, text string) (mean, most time.Duration, err error) {
	const (
		n     = 10
		after = 300 * time.Millisecond // past the poll (~50 ms of wall time)
		tail  = 50 * time.Millisecond  // what the response leaves to do (GC)
	)
	if interval < 2*after {
		return 0, 0, nil
	}
	var sum time.Duration
	for range n {
		last := gaugeValue(text, "ovs_flood_exporter_last_poll_timestamp_seconds")
		if last <= 0 {
			return 0, 0, fmt.Errorf("no ovs_flood_exporter_last_poll_timestamp_seconds in the scrape")
		}
		at := time.Unix(0, int64(last*1e9)).Add(after)
		for !at.After(time.Now().Add(10 * time.Millisecond)) {
			at = at.Add(interval)
		}
		time.Sleep(time.Until(at))
		c0 := processCPU(pid)
		if text, err = getAs(c, base+"/metrics", prometheusAccept); err != nil {
			return 0, 0, err
		}
		time.Sleep(tail)
		d := processCPU(pid) - c0
		sum += d
		most = max(most, d)
	}
	return sum / n, most, nil
}

// prometheusAccept is the Accept header of a Prometheus 2.x scrape.
const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
