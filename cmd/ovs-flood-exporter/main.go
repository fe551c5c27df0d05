// Command ovs-flood-exporter finds unknown-unicast flooding in Open vSwitch
// and exports it as Prometheus metrics; "ovs-flood-exporter check" prints a
// one-shot diagnosis of the host.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/gctune"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/logging"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/web"
)

const defaultListen = ":9742"

// defaultMemoryLimit is --runtime.memory-limit's default: at 500 ports,
// 5,000 megaflows and 20,000 OpenFlow rules about 9 MB of heap is live; at
// 24 MiB the peak RSS there drifted above 32 MiB as the agent kept more
// between polls to spend less CPU.
const defaultMemoryLimit = "23MiB"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("ovs-flood-exporter", "Finds unknown-unicast flooding in Open vSwitch (a VM's traffic copied to its neighbours because OVS never learned the destination MAC): who floods, to which MAC, which VMs receive the copies and through which OpenFlow rule. Serves Prometheus metrics; 'check' diagnoses the host once.\n\nThe agent polls OVS in the background every --poll.interval (detection needs a fixed cadence below the datapath's 10 s idle expiry); scrapes only read the latest poll.")
	app.Version(version.Print("ovs-flood-exporter"))
	app.HelpFlag.Short('h')

	cfg, srcOpt := agent.DefaultConfig(), agent.DefaultSourceOptions()
	var (
		logCfg = logging.Config{}
		db     string
	)
	addAgentFlags(app, &cfg, &srcOpt, &db)
	memLimit := app.Flag("runtime.memory-limit", "Floor of the Go runtime's soft memory limit (GC works harder near it; GOMEMLIMIT, if set, wins; 0: no limit). Each poll reads a few MB of OVS output that becomes garbage at once: without a limit the heap floats at twice what is live. The limit follows 1.5 times the live heap plus 4 MiB when that is more, so a big host never has its collector run back to back.").Default(defaultMemoryLimit).Bytes()
	maxProcs := app.Flag("runtime.gomaxprocs", "How many threads may run the agent's Go code at once (GOMAXPROCS; 0: one per CPU the process may use). One is enough for one host's OVS: a second only lets the garbage collector's idle workers spend CPU beside every poll.").Envar("GOMAXPROCS").Default("1").Int()
	app.Flag("netns.walk", "Also read device counters in the network namespaces under /run/netns (Neutron qrouter-/qdhcp-/snat- ports).").Default("false").BoolVar(&srcOpt.WalkNetns)
	addLinuxBridgeFlags(app, &srcOpt.LinuxBridge)
	logging.AddFlags(app, &logCfg)

	serve := app.Command("serve", "Serve metrics and the landing page (default).").Default()
	webFlags := kingpinflag.AddFlags(serve, defaultListen)
	metricsPath := serve.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	maxRequests := serve.Flag("web.max-requests", "Maximum concurrent scrapes (0: no limit).").Default("10").Int()
	pprof := serve.Flag("web.enable-pprof", "Serve Go profiling endpoints under /debug/pprof/.").Default("false").Bool()

	check := app.Command("check", "Diagnose the host once: print active floods, their victims and the rule that floods them. Exit status 0: nothing floods; 1: a flood is found; 2: OVS cannot be read.")
	output := check.Flag("output", "Output format: table or json.").Default("table").Enum("table", "json")
	checkInterval := check.Flag("check.interval", "Time between the check's polls (it polls --flood.sustain-polls+1 times).").Default("1s").Duration()

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ovs-flood-exporter: %v (see --help)\n", err)
		return report.ExitUnreadable
	}
	if *maxProcs < 0 {
		fmt.Fprintf(os.Stderr, "ovs-flood-exporter: --runtime.gomaxprocs must be 0 or more, not %d (see --help)\n", *maxProcs)
		return report.ExitUnreadable
	}
	if *maxProcs > 0 {
		runtime.GOMAXPROCS(*maxProcs)
	}
	srcOpt.DB = db
	if db == "" {
		srcOpt.DB = agent.DefaultDB(srcOpt.RunDir)
	}

	zl, sl, err := logging.New(logCfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ovs-flood-exporter: %v\n", err)
		return report.ExitUnreadable
	}
	defer func() { _ = zl.Sync() }()

	if cmd == check.FullCommand() {
		cfg.Interval = *checkInterval
	}
	srcOpt.Deadline = max(cfg.Interval, srcOpt.Timeout)
	src, closeSrc := agent.OpenSources(srcOpt)
	defer closeSrc()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOMEMLIMIT") == "" && *memLimit > 0 {
		go gctune.NewMemoryLimit(int64(*memLimit)).Keep(ctx, max(cfg.Interval, time.Second))
	}

	switch cmd {
	case check.FullCommand():
		checkLog := zl
		if logCfg.Level != "debug" {
			checkLog = zap.NewNop() // the report says it all; keep stdout/stderr readable
		}
		return runCheck(ctx, cfg, src, checkLog, *output)
	default:
		cfg.AfterPoll = gctune.NewPacer().AfterPoll
		return web.Serve(ctx, web.Options{
			Agent: cfg, Sources: src, Logger: zl, SlogLogger: sl, Flags: webFlags,
			MetricsPath: *metricsPath, MaxRequests: *maxRequests, Pprof: *pprof,
		})
	}
}

// addAgentFlags registers the poller's and the sources' flags; their
// defaults are DefaultConfig's and DefaultSourceOptions'.
func addAgentFlags(app *kingpin.Application, cfg *agent.Config, srcOpt *agent.SourceOptions, db *string) {
	det := &cfg.Detect
	app.Flag("ovs.rundir", "Open vSwitch run directory: holds ovs-vswitchd.pid, ovs-vswitchd.<pid>.ctl, <bridge>.mgmt and db.sock.").Default(srcOpt.RunDir).StringVar(&srcOpt.RunDir)
	app.Flag("ovs.db", "OVSDB address, unix:<path> or tcp:<host>:<port> (default unix:<ovs.rundir>/db.sock). Only read: select/monitor/get_schema/echo.").StringVar(db)
	app.Flag("ovs.bridge", "Bridge to watch (repeatable; default: every bridge).").StringsVar(&cfg.Bridges)
	app.Flag("ovs.timeout", "Deadline for each request to OVS (unixctl, OVSDB, OpenFlow); each source's whole read in a poll is bounded by --poll.interval.").Default(srcOpt.Timeout.String()).DurationVar(&srcOpt.Timeout)
	app.Flag("ovs.max-reply-bytes", "Largest unixctl reply the agent reads (a megaflow dump is the largest); a larger one fails that read and is named in the log.").Default(strconv.Itoa(srcOpt.MaxReplyBytes)).IntVar(&srcOpt.MaxReplyBytes)
	app.Flag("poll.interval", "How often to read OVS and run the detector. Keep it below the datapath's 10 s megaflow idle expiry.").Default(cfg.Interval.String()).DurationVar(&cfg.Interval)
	app.Flag("dpctl.max-flows", "Datapath megaflow count above which the agent stops dumping every megaflow (a dump of ~100k flows stalls ovs-vswitchd for ~1 s) and dumps only the busiest ports' flows.").Default(strconv.Itoa(cfg.MaxFlows)).IntVar(&cfg.MaxFlows)
	app.Flag("dpctl.bounded-ports", "How many ports the bounded strategy dumps per poll, in turn (active floods' ports first, then the busiest senders). Each filtered dump still makes ovs-vswitchd walk every megaflow.").Default(strconv.Itoa(cfg.BoundedPorts)).IntVar(&cfg.BoundedPorts)
	app.Flag("dpctl.dump-always", "Dump megaflows on every poll instead of only when the per-port datapath counters show more packets out than in (copies), a flood is being followed, or the safety sweep is due.").Default(strconv.FormatBool(cfg.Gate.Always)).BoolVar(&cfg.Gate.Always)
	app.Flag("dpctl.sweep-interval", "Longest time between two megaflow dumps of a datapath whatever its counters say (the safety net of the gated dump).").Default(cfg.Gate.SweepInterval.String()).DurationVar(&cfg.Gate.SweepInterval)
	app.Flag("dpctl.dump-budget", "Longest one megaflow dump may be expected to hold ovs-vswitchd's main thread; above it the agent dumps a few ports' flows, and when even that would take longer, none (estimated from the agent's own dumps).").Default(cfg.Gate.Budget.String()).DurationVar(&cfg.Gate.Budget)
	app.Flag("openflow.normal-interval", "Minimum time between reads of the NORMAL rules' counters (an OpenFlow flow-stats request filtered on out_port=NORMAL; stretched so that it costs ovs-vswitchd at most 1% of its time).").Default(cfg.NormalRulesInterval.String()).DurationVar(&cfg.NormalRulesInterval)
	app.Flag("ovsdb.refresh", "Longest time to keep OVSDB topology without re-reading it (it is re-read at once when OVS's configuration changes).").Default(cfg.TopologyRefresh.String()).DurationVar(&cfg.TopologyRefresh)
	app.Flag("flood.max-reported", "At most this many active floods per bridge are exported (worst first).").Default(strconv.Itoa(det.MaxReported)).IntVar(&det.MaxReported)
	app.Flag("flood.sustain-polls", "Consecutive flooded polls before a flood is reported active.").Default(strconv.Itoa(det.SustainPolls)).IntVar(&det.SustainPolls)
	app.Flag("flood.clear-polls", "Consecutive quiet polls that end an active flood.").Default(strconv.Itoa(det.ClearPolls)).IntVar(&det.ClearPolls)
	app.Flag("flood.min-pps", "Flooded packets per second below which a poll does not count towards a sustained flood.").Default(strconv.FormatFloat(det.MinPacketRate, 'g', -1, 64)).Float64Var(&det.MinPacketRate)
	app.Flag("flood.window", "Window for the leak ratio of each VM.").Default(det.Window.String()).DurationVar(&det.Window)
	app.Flag("flood.trace", "Run ofproto/trace once per new flood to name the OpenFlow rule that floods it (a failed trace is retried later).").Default(strconv.FormatBool(cfg.Trace)).BoolVar(&cfg.Trace)
}

// addLinuxBridgeFlags registers the linuxbridge source's flags.
func addLinuxBridgeFlags(app *kingpin.Application, o *agent.LinuxBridgeOptions) {
	app.Flag("linuxbridge.enabled", "Watch Linux bridges (libvirt, Neutron linuxbridge) for floods with an eBPF counter on their ports (needs CAP_BPF and CAP_NET_ADMIN: the linuxbridge systemd drop-in). auto: bridges with 3 or more ports that OVS does not own, nothing loaded while there are none; true: every bridge OVS does not own; false: off.").Default(o.Enabled).EnumVar(&o.Enabled, agent.LinuxBridgeAuto, agent.LinuxBridgeOn, agent.LinuxBridgeOff)
	app.Flag("linuxbridge.bridge", "Linux bridge to watch (repeatable; default: chosen by --linuxbridge.enabled).").StringsVar(&o.Bridges)
	app.Flag("linuxbridge.libvirt-dir", "Directory of libvirt's runtime domain XML, read to name the VMs behind bridge ports.").Default(linuxbridge.DefaultLibvirtDir).StringVar(&o.LibvirtDir)
}
