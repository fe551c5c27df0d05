//go:build peers

// The peer comparison runs only from scripts/bench-peers.sh (go test -tags
// peers): it needs the peers' source trees and takes minutes, and a test that
// skips would fail CI, where every test must run.

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// A peer is an exporter measured side by side with this one against the
// same OVS (scripts/bench-peers.sh builds or finds the binaries and names
// them in OVS_FLOOD_PEER_<ENV>: a path, or "skip:<why>" / "fail:<why>").
type peer struct {
	name string
	env  string
	// args are the command line after the binary, for an OVS whose run
	// directory is run, listening on listen.
	args func(run, listen string) []string
	// prepare readies the host for the peer (greenpau's required OVSDB
	// columns and socket name); nil when nothing is needed.
	prepare func(ctx context.Context, e *Env) error
}

var peers = []peer{
	{name: "ovs-flood-exporter", env: "OURS", args: func(run, listen string) []string {
		return []string{"--ovs.rundir=" + run, "--web.listen-address=" + listen, "--log.level=warn"}
	}},
	{name: "vexxhost/ovs_exporter", env: "VEXXHOST", args: func(run, listen string) []string {
		return []string{"--ovsdb.endpoint=unix:" + run + "/db.sock", "--web.listen-address=" + listen, "--log.level=warn"}
	}},
	{name: "greenpau/ovs_exporter", env: "GREENPAU", prepare: prepareGreenpau, args: func(run, listen string) []string {
		return []string{"-web.listen-address=" + listen, "-log.level=warn",
			"-system.run.dir=" + run,
			"-database.vswitch.socket.remote=unix:" + run + "/db.sock",
			"-database.vswitch.file.data.path=" + run + "/conf.db",
			"-database.vswitch.file.log.path=" + run + "/ovsdb-server.log",
			"-database.vswitch.file.pid.path=" + run + "/ovsdb-server.pid",
			"-database.vswitch.file.system.id.path=" + run + "/system-id.conf",
			"-service.vswitchd.file.log.path=" + run + "/ovs-vswitchd.log",
			"-service.vswitchd.file.pid.path=" + run + "/ovs-vswitchd.pid",
			"-service.ovncontroller.file.log.path=" + run + "/ovn-controller.log",
			"-service.ovncontroller.file.pid.path=" + run + "/ovn-controller.pid",
		}
	}},
	{name: "node_exporter netdev", env: "NODE_EXPORTER", args: func(_, listen string) []string {
		return []string{"--collector.disable-defaults", "--collector.netdev", "--web.listen-address=" + listen}
	}},
}

// prepareGreenpau sets what greenpau/ovs_exporter refuses to start
// without: external_ids:system-id (equal to a system-id.conf file),
// rundir and hostname, the version and system columns that ovs-ctl sets
// on a packaged install, and the ovsdb-server.<pid>.ctl socket name.
func prepareGreenpau(ctx context.Context, e *Env) error {
	const id = "00000000-0000-4000-8000-0000000be7c4"
	if err := os.WriteFile(filepath.Join(e.RunDir, "system-id.conf"), []byte(id+"\n"), 0o644); err != nil {
		return err
	}
	host, _ := os.Hostname()
	ver, err := e.cmd(ctx, "", "ovs-vswitchd", "--version")
	if err != nil {
		return err
	}
	fields := strings.Fields(strings.SplitN(ver, "\n", 2)[0])
	ovsVersion := fields[len(fields)-1]
	if _, err := e.vsctl(ctx, "set", "Open_vSwitch", ".",
		"external_ids:system-id="+id, "external_ids:rundir="+e.RunDir, "external_ids:hostname="+host,
		"ovs_version="+ovsVersion, "db_version=8.3.1", "system_type=debian", "system_version=12"); err != nil {
		return err
	}
	pid, err := e.Pid("ovsdb-server")
	if err != nil {
		return err
	}
	link := filepath.Join(e.RunDir, fmt.Sprintf("ovsdb-server.%d.ctl", pid))
	_ = os.Remove(link)
	return os.Symlink(filepath.Join(e.RunDir, "ovsdb-server.ctl"), link)
}

// peerFigures are one peer's measurements over one window, per 15 s.
type peerFigures struct {
	status                        string
	cpu, vsMain, vsAll, db, injec float64 // ms per 15 s
	hwmMiB, scrapeMs              float64
	series                        int
	// used is what the OVS daemons spent over the peer's window; before
	// and after are the baseline windows (no exporter) either side of it.
	used, before, after cpuSample
}

// settle charges the peer with what the OVS daemons spent above the mean
// of the baselines either side of its window, so a drift of the shared
// machine's load over the run cancels out; per 15 s.
func (f *peerFigures) settle(window time.Duration) {
	if f.status != "ok" {
		return
	}
	scale := float64(scrapeEvery) / float64(window) / float64(time.Millisecond)
	over := func(used, a, b time.Duration) float64 { return (float64(used) - float64(a+b)/2) * scale }
	f.vsMain = over(f.used.vsMain, f.before.vsMain, f.after.vsMain)
	f.vsAll = over(f.used.vsAll, f.before.vsAll, f.after.vsAll)
	f.db = over(f.used.db, f.before.db, f.after.db)
	f.injec = float64(f.used.inj) * scale
}

const scrapeEvery = 15 * time.Second

// peersFloodPPS is the packet rate of each flood while peers are measured.
const peersFloodPPS = 15

// TestPeers runs each peer exporter in turn against one benchmark host at
// full scale while flood traffic flows, over equal windows with a scrape
// every 15 s, and prints per 15 s: the exporter's CPU, its peak RSS, what
// ovs-vswitchd and ovsdb-server spent above a baseline measured without
// any exporter just before, the scrape wall time and the series count.
// The traffic injector is a separate process whose CPU is listed apart.
// Run by scripts/bench-peers.sh; OVS_FLOOD_BENCH_PEERS=1 enables it.
func TestPeers(t *testing.T) {
	if os.Getenv("OVS_FLOOD_BENCH_PEERS") == "" {
		t.Skip("set OVS_FLOOD_BENCH_PEERS=1 (scripts/bench-peers.sh does) to run the peer exporters side by side")
	}
	if m := Missing(); len(m) > 0 {
		t.Fatalf("needs %s", strings.Join(m, ", "))
	}
	window := envDuration(t, "OVS_FLOOD_PEERS_WINDOW", 60*time.Second)
	warm := envDuration(t, "OVS_FLOOD_PEERS_WARMUP", 20*time.Second)
	rounds, _ := strconv.Atoi(os.Getenv("OVS_FLOOD_PEERS_ROUNDS"))
	rounds = max(rounds, 1)
	out := os.Getenv("OVS_FLOOD_PEERS_OUT")
	if out == "" {
		out = t.TempDir()
	}
	s, err := scaleFromEnv(FullScale)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := Setup(ctx, labPrefixed("bp1"), s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Teardown(); err != nil {
			t.Error(err)
		}
	}()
	for _, p := range peers {
		if p.prepare != nil {
			if err := p.prepare(ctx, e); err != nil {
				t.Fatalf("prepare %s: %v", p.name, err)
			}
		}
	}
	// OVS_FLOOD_PEERS_TRAFFIC=none measures a calm host instead.
	inj := &process{pid: -1}
	if os.Getenv("OVS_FLOOD_PEERS_TRAFFIC") != "none" {
		if inj, err = startInjector(e, out); err != nil {
			t.Fatal(err)
		}
		defer inj.stop()
	}
	t.Logf("host %s: %+v; window %v, warm-up %v, %d round(s), scrape every %v; logs in %s", e.Name, s, window, warm, rounds, scrapeEvery, out)
	var runs []*peerFigures // in the order measured, each after its baseline
	var names []string
	for r := range rounds {
		for _, p := range peers {
			if ctx.Err() != nil {
				t.Fatal("interrupted")
			}
			f := measurePeer(ctx, t, e, p, inj.pid, window, warm, out)
			t.Logf("round %d %-22s %s (baseline before: vswitchd main %.0f ms/15s)", r+1, p.name, f.status,
				float64(f.before.vsMain)*float64(scrapeEvery)/float64(window)/float64(time.Millisecond))
			runs, names = append(runs, &f), append(names, p.name)
		}
	}
	// A closing baseline, so the last window has one after it too.
	vs, _ := e.Pid("ovs-vswitchd")
	db, _ := e.Pid("ovsdb-server")
	c0 := daemonCPU(vs, db, inj.pid)
	if !sleepCtx(ctx, window) {
		t.Fatal("interrupted")
	}
	closing := daemonCPU(vs, db, inj.pid).sub(c0)
	all := map[string][]peerFigures{}
	for i, f := range runs {
		f.after = closing
		for _, next := range runs[i+1:] {
			if next.before != (cpuSample{}) {
				f.after = next.before
				break
			}
		}
		f.settle(window)
		all[names[i]] = append(all[names[i]], *f)
		t.Logf("window %d %-22s %s", i+1, names[i], f.line())
	}
	fmt.Printf("\npeers side by side: %d port(s), %d FDB entries, %d megaflows (%d flooded), %d OpenFlow rules; %d round(s) of %v windows, scrape every %v; medians over rounds\n",
		s.Ports, s.FDBEntries(), s.Megaflows, s.Flooded, s.Rules, rounds, window, scrapeEvery)
	fmt.Printf("%-22s %-9s %12s %9s %12s %12s %10s %10s %7s %12s\n", "exporter", "status", "CPU ms/15s",
		"RSS MiB", "vsw-main ms", "vsw-all ms", "ovsdb ms", "scrape ms", "series", "injector ms")
	for _, p := range peers {
		f := medianFigures(all[p.name])
		fmt.Printf("%-22s %s\n", p.name, f.line())
	}
	fmt.Println("(CPU figures per 15 s; OVS figures above the mean of the baselines, without any exporter, either side of each window)")
}

func (f peerFigures) line() string {
	if f.status != "ok" {
		return f.status
	}
	return fmt.Sprintf("%-9s %12.1f %9.1f %12.1f %12.1f %10.1f %10.1f %7d %12.1f",
		f.status, f.cpu, f.hwmMiB, f.vsMain, f.vsAll, f.db, f.scrapeMs, f.series, f.injec)
}

// labPrefixed puts OVS_FLOOD_LAB_PREFIX before a netns name.
func labPrefixed(name string) string { return os.Getenv("OVS_FLOOD_LAB_PREFIX") + name }

func envDuration(t *testing.T, k string, def time.Duration) time.Duration {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s: bad duration %q", k, v)
	}
	return d
}

// measurePeer measures one window of peer p: a baseline window without
// any exporter, then the peer started, warmed up and measured over an
// equal window with a scrape every 15 s.
func measurePeer(ctx context.Context, t *testing.T, e *Env, p peer, injector int, window, warm time.Duration, out string) peerFigures {
	bin := os.Getenv("OVS_FLOOD_PEER_" + p.env)
	switch {
	case bin == "":
		return peerFigures{status: "skipped: OVS_FLOOD_PEER_" + p.env + " not set"}
	case strings.HasPrefix(bin, "skip:"), strings.HasPrefix(bin, "fail:"):
		kind, why, _ := strings.Cut(bin, ":")
		return peerFigures{status: map[string]string{"skip": "skipped: ", "fail": "FAILED: "}[kind] + why}
	}
	vs, _ := e.Pid("ovs-vswitchd")
	db, _ := e.Pid("ovsdb-server")
	scale := float64(scrapeEvery) / float64(window) / float64(time.Millisecond)
	// Baseline: traffic, no exporter.
	b0 := daemonCPU(vs, db, injector)
	if !sleepCtx(ctx, window) {
		return peerFigures{status: "interrupted"}
	}
	base := daemonCPU(vs, db, injector).sub(b0)

	const listen = "127.0.0.1:19743"
	tag := strings.NewReplacer("/", "-", " ", "-").Replace(p.name)
	logPath := filepath.Join(out, tag+".log")
	proc, err := startPeer(e, bin, p.args(e.RunDir, listen), logPath, filepath.Join(out, tag+".pid"))
	if err != nil {
		return peerFigures{status: "FAILED to start: " + err.Error()}
	}
	defer proc.stop()
	client := nsClient(e.Name)
	url := "http://" + listen + "/metrics"
	var lastErr error
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !ready; {
		if !proc.alive() {
			return peerFigures{status: "FAILED: exited at start; see " + logPath + ": " + tail(logPath)}
		}
		if _, lastErr = get(client, url); lastErr == nil {
			ready = true
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ready {
		return peerFigures{status: fmt.Sprintf("FAILED: no /metrics after 30 s (%v); see %s", lastErr, logPath)}
	}
	if !sleepCtx(ctx, warm) {
		return peerFigures{status: "interrupted"}
	}
	c0, d0 := procCPU(proc.pid), daemonCPU(vs, db, injector)
	t0 := time.Now()
	var walls []time.Duration
	var text string
	for i := 0; time.Duration(i)*scrapeEvery < window; i++ {
		if !sleepCtx(ctx, time.Until(t0.Add(time.Duration(i)*scrapeEvery))) {
			return peerFigures{status: "interrupted"}
		}
		s := time.Now()
		body, err := get(client, url)
		if err != nil {
			return peerFigures{status: fmt.Sprintf("FAILED: scrape: %v; see %s", err, logPath)}
		}
		walls = append(walls, time.Since(s))
		text = body
	}
	if !sleepCtx(ctx, time.Until(t0.Add(window))) {
		return peerFigures{status: "interrupted"}
	}
	c1, d1 := procCPU(proc.pid), daemonCPU(vs, db, injector)
	hwm, _ := procStatus(proc.pid, "VmHWM")
	return peerFigures{
		status: "ok",
		cpu:    float64(c1-c0) * scale,
		used:   d1.sub(d0), before: base,
		hwmMiB: float64(hwm) / 1024, scrapeMs: ms(quantile(walls, 0.5)),
		series: countSeries(text),
	}
}

// cpuSample is the CPU the OVS daemons and the injector have used so far.
type cpuSample struct{ vsMain, vsAll, db, inj time.Duration }

func daemonCPU(vs, db, inj int) cpuSample {
	return cpuSample{threadCPU(vs, vs), processCPU(vs), processCPU(db), procCPU(inj)}
}

func (a cpuSample) sub(b cpuSample) cpuSample {
	return cpuSample{a.vsMain - b.vsMain, a.vsAll - b.vsAll, a.db - b.db, a.inj - b.inj}
}

// procCPU is a process's user+system time from /proc/<pid>/stat (clock
// ticks, 100 per second here), which unlike summed per-thread schedstat
// also keeps the time of threads that have exited.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	// Fields 14 and 15 of stat (utime, stime) are 11 and 12 after ") ".
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// countSeries counts the samples of a text exposition.
func countSeries(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

func medianFigures(fs []peerFigures) peerFigures {
	var ok []peerFigures
	for _, f := range fs {
		if f.status == "ok" {
			ok = append(ok, f)
		}
	}
	if len(ok) == 0 {
		if len(fs) == 0 {
			return peerFigures{status: "not run"}
		}
		return fs[0]
	}
	med := func(get func(peerFigures) float64) float64 {
		v := make([]float64, len(ok))
		for i, f := range ok {
			v[i] = get(f)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return peerFigures{status: "ok",
		cpu:    med(func(f peerFigures) float64 { return f.cpu }),
		vsMain: med(func(f peerFigures) float64 { return f.vsMain }),
		vsAll:  med(func(f peerFigures) float64 { return f.vsAll }),
		db:     med(func(f peerFigures) float64 { return f.db }),
		injec:  med(func(f peerFigures) float64 { return f.injec }),
		hwmMiB: med(func(f peerFigures) float64 { return f.hwmMiB }),
		scrapeMs: med(func(f peerFigures) float64 {
			return f.scrapeMs
		}),
		series: int(med(func(f peerFigures) float64 { return float64(f.series) })),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// tail returns the last line of a log file, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// process is a daemon this test started; its pid is also written to a
// file so scripts/bench-peers.sh can stop it if the test is killed.
type process struct {
	cmd     *exec.Cmd
	pid     int
	pidFile string
	done    chan struct{}
}

// startPeer starts bin in the host's namespace (ip netns exec execs it
// in place, so the pid is the exporter's own).
func startPeer(e *Env, bin string, args []string, logPath, pidFile string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", e.Name, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	return startProcess(cmd, pidFile)
}

func startProcess(cmd *exec.Cmd, pidFile string) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, pidFile: pidFile, done: make(chan struct{})}
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(p.pid)+"\n"), 0o644)
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = os.Remove(p.pidFile)
}

// startInjector starts this test binary again as the traffic injector
// (TestPeersInjector), so its CPU is measured apart from everything else.
func startInjector(e *Env, out string) (*process, error) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestPeersInjector$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OVS_FLOOD_BENCH_INJECT="+e.Name)
	logf, err := os.Create(filepath.Join(out, "injector.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	return startProcess(cmd, filepath.Join(out, "injector.pid"))
}

// TestPeersInjector is the traffic of TestPeers, run as its own process:
// peersFloodPPS packets a second down every flooded megaflow of the host
// named by OVS_FLOOD_BENCH_INJECT, with netdev-dummy/receive and nothing
// else, so it adds no polling of its own to ovs-vswitchd. The rate is
// just above the detector's --flood.min-pps: the dummy datapath forwards
// on vswitchd's main thread, and more traffic would only add noise to
// the baseline the exporters are measured against.
func TestPeersInjector(t *testing.T) {
	name := os.Getenv("OVS_FLOOD_BENCH_INJECT")
	if name == "" {
		t.Skip("the traffic injector of TestPeers")
	}
	s, err := scaleFromEnv(FullScale)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(benchBase(), name)
	e := &Env{Scale: s, Name: name, Base: base, RunDir: filepath.Join(base, "run")}
	e.plan()
	e.uc = unixctl.New(e.RunDir, unixctl.Options{Timeout: 10 * time.Second})
	defer e.uc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := e.receive(ctx, e.floods, peersFloodPPS); err != nil && !errors.Is(err, context.Canceled) {
				t.Log(err)
			}
		}
	}
}
