// Command ovs-flood-exporter finds unknown-unicast flooding in Open vSwitch
// and exports it as Prometheus metrics; "ovs-flood-exporter check" prints a
// one-shot diagnosis of the host.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/logging"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/web"
)

const defaultListen = ":9742"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("ovs-flood-exporter", "Finds unknown-unicast flooding in Open vSwitch (a VM's traffic copied to its neighbours because OVS never learned the destination MAC): who floods, to which MAC, which VMs receive the copies and through which OpenFlow rule. Serves Prometheus metrics; 'check' diagnoses the host once.\n\nThe agent polls OVS in the background every --poll.interval (detection needs a fixed cadence below the datapath's 10 s idle expiry); scrapes only read the latest poll.")
	app.Version(version.Print("ovs-flood-exporter"))
	app.HelpFlag.Short('h')

	var (
		rundir = app.Flag("ovs.rundir", "Open vSwitch run directory: holds ovs-vswitchd.pid, ovs-vswitchd.<pid>.ctl, <bridge>.mgmt and db.sock.").Default("/var/run/openvswitch").String()
		db     = app.Flag("ovs.db", "OVSDB address, unix:<path> or tcp:<host>:<port> (default unix:<ovs.rundir>/db.sock). Only read: select/monitor/get_schema/echo.").String()
		brs    = app.Flag("ovs.bridge", "Bridge to watch (repeatable; default: every bridge).").Strings()
		tmo    = app.Flag("ovs.timeout", "Deadline for each request to OVS.").Default("2s").Duration()
		cfg    = agent.DefaultConfig()
		logCfg = logging.Config{}
	)
	app.Flag("poll.interval", "How often to read OVS and run the detector. Keep it below the datapath's 10 s megaflow idle expiry.").Default("5s").DurationVar(&cfg.Interval)
	app.Flag("dpctl.max-flows", "Datapath megaflow count above which the agent stops dumping every megaflow (a dump of ~100k flows stalls ovs-vswitchd for ~1 s) and dumps only the busiest ports' flows.").Default("20000").IntVar(&cfg.MaxFlows)
	app.Flag("dpctl.bounded-ports", "How many ports the bounded strategy dumps per poll, in turn (active floods' ports first, then the busiest senders). Each filtered dump still makes ovs-vswitchd walk every megaflow.").Default("1").IntVar(&cfg.BoundedPorts)
	app.Flag("openflow.normal-interval", "Minimum time between reads of the NORMAL rules' counters (an OpenFlow flow-stats request filtered on out_port=NORMAL; stretched so that it costs ovs-vswitchd at most 1% of its time).").Default("5s").DurationVar(&cfg.NormalRulesInterval)
	app.Flag("ovsdb.refresh", "Longest time to keep OVSDB topology without re-reading it (it is re-read at once when OVS's configuration changes).").Default("5m").DurationVar(&cfg.TopologyRefresh)
	app.Flag("flood.max-reported", "At most this many active floods per bridge are exported (worst first).").Default("10").IntVar(&cfg.Detect.MaxReported)
	app.Flag("flood.sustain-polls", "Consecutive flooded polls before a flood is reported active.").Default("3").IntVar(&cfg.Detect.SustainPolls)
	app.Flag("flood.clear-polls", "Consecutive quiet polls that end an active flood.").Default("2").IntVar(&cfg.Detect.ClearPolls)
	app.Flag("flood.min-pps", "Flooded packets per second below which a poll does not count towards a sustained flood.").Default("10").Float64Var(&cfg.Detect.MinPacketRate)
	app.Flag("flood.window", "Window for the leak ratio of each VM.").Default("1m").DurationVar(&cfg.Detect.Window)
	app.Flag("flood.trace", "Run ofproto/trace once per new flood to name the OpenFlow rule that floods it.").Default("true").BoolVar(&cfg.Trace)
	memLimit := app.Flag("runtime.memory-limit", "Soft limit for the Go runtime's memory (GC works harder near it; GOMEMLIMIT, if set, wins). Each poll reads a few MB of OVS output that becomes garbage at once: without a limit the heap floats well above what is live.").Default("32MiB").Bytes()
	netnsWalk := app.Flag("netns.walk", "Also read device counters in the network namespaces under /run/netns (Neutron qrouter-/qdhcp-/snat- ports).").Default("false").Bool()
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
	if *db == "" {
		*db = "unix:" + strings.TrimRight(*rundir, "/") + "/db.sock"
	}
	cfg.Bridges = *brs
	if os.Getenv("GOMEMLIMIT") == "" && *memLimit > 0 {
		debug.SetMemoryLimit(int64(*memLimit))
	}

	zl, sl, err := logging.New(logCfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ovs-flood-exporter: %v\n", err)
		return report.ExitUnreadable
	}
	defer func() { _ = zl.Sync() }()

	src, closeSrc := agent.OpenSources(agent.SourceOptions{RunDir: *rundir, DB: *db, Timeout: *tmo, WalkNetns: *netnsWalk,
		OnNetnsError: func(ns string, err error) { zl.Warn("netns walk", zap.String("netns", ns), zap.Error(err)) }})
	defer closeSrc()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case check.FullCommand():
		cfg.Interval = *checkInterval
		checkLog := zl
		if logCfg.Level != "debug" {
			checkLog = zap.NewNop() // the report says it all; keep stdout/stderr readable
		}
		return runCheck(ctx, cfg, src, checkLog, *output)
	default:
		return web.Serve(ctx, web.Options{
			Agent: cfg, Sources: src, Logger: zl, SlogLogger: sl, Flags: webFlags,
			MetricsPath: *metricsPath, MaxRequests: *maxRequests, Pprof: *pprof, StartTime: time.Now(),
		})
	}
}
