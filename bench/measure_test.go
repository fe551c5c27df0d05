package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/web"
)

// selfCPU is this process's user+system CPU time (all threads, the
// garbage collector's included).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPU is the CPU time of this process's waited-for children.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is the time thread tid of pid has run, from the scheduler's
// nanosecond accounting (/proc/<pid>/task/<tid>/schedstat), which unlike
// /proc/<pid>/stat is not rounded to clock ticks.
func threadCPU(pid, tid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	ns, _ := strconv.ParseInt(f, 10, 64)
	return time.Duration(ns)
}

// processCPU is the summed schedstat run time of every thread of pid.
// Threads that exited are not counted, so use it over windows in which the
// process keeps its threads (OVS daemons do).
func processCPU(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			sum += threadCPU(pid, tid)
		}
	}
	return sum
}

// meter accumulates, over measured sections, the CPU of this process and
// of the OVS daemons serving it, and the wall time.
type meter struct {
	vswitchd, ovsdb int
	n               int
	self, wall      time.Duration
	// vsMain is ovs-vswitchd's main thread, which serves unixctl and
	// OpenFlow requests (and runs the dummy datapath); vsAll is every
	// thread, revalidators included.
	vsMain, vsAll, db time.Duration
}

func newMeter(tb testing.TB, e *Env) *meter {
	tb.Helper()
	vs, err := e.Pid("ovs-vswitchd")
	if err != nil {
		tb.Fatal(err)
	}
	db, err := e.Pid("ovsdb-server")
	if err != nil {
		tb.Fatal(err)
	}
	return &meter{vswitchd: vs, ovsdb: db}
}

// measure runs f and adds its costs. The daemons are read outside the
// window this process's own CPU is read in, so reading /proc is not
// charged to f.
func (m *meter) measure(f func()) {
	vm0, va0, d0 := threadCPU(m.vswitchd, m.vswitchd), processCPU(m.vswitchd), processCPU(m.ovsdb)
	c0 := selfCPU()
	t0 := time.Now()
	f()
	wall := time.Since(t0)
	c1 := selfCPU()
	vm1, va1, d1 := threadCPU(m.vswitchd, m.vswitchd), processCPU(m.vswitchd), processCPU(m.ovsdb)
	m.n++
	m.self += c1 - c0
	m.wall += wall
	m.vsMain += vm1 - vm0
	m.vsAll += va1 - va0
	m.db += d1 - d0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// per returns the mean of d over the measured sections, in ms.
func (m *meter) per(d time.Duration) float64 {
	if m.n == 0 {
		return 0
	}
	return ms(d) / float64(m.n)
}

// report reports the means per unit ("poll", "scrape", "round").
func (m *meter) report(b *testing.B, unit string) {
	b.ReportMetric(m.per(m.self), "cpu-ms/"+unit)
	b.ReportMetric(m.per(m.wall), "wall-ms/"+unit)
	b.ReportMetric(m.per(m.vsMain), "vswitchd-main-ms/"+unit)
	b.ReportMetric(m.per(m.vsAll), "vswitchd-all-ms/"+unit)
	b.ReportMetric(m.per(m.db), "ovsdb-ms/"+unit)
}

// countingVswitchd counts the unixctl requests the agent makes, by method,
// and keeps the longest time one request held ovs-vswitchd's main thread
// (its schedstat run time around the call, so only requests made while
// no traffic is injected are charged fairly).
type countingVswitchd struct {
	ovs.Vswitchd
	vswitchd int // pid; 0: no timing
	mu       sync.Mutex
	calls    map[string]int
	hold     map[string]time.Duration
}

// track counts a request of method m; call the function it returns when
// the request is done.
func (c *countingVswitchd) track(m string) func() {
	var t0 time.Duration
	if c.vswitchd > 0 {
		t0 = threadCPU(c.vswitchd, c.vswitchd)
	}
	return func() {
		var held time.Duration
		if c.vswitchd > 0 {
			held = threadCPU(c.vswitchd, c.vswitchd) - t0
		}
		c.mu.Lock()
		c.calls[m]++
		if c.hold == nil {
			c.hold = map[string]time.Duration{}
		}
		c.hold[m] = max(c.hold[m], held)
		c.mu.Unlock()
	}
}

// take returns the counts since the last take and resets them.
func (c *countingVswitchd) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

// longest returns the request that held vswitchd's main thread longest
// since the last call, and resets.
func (c *countingVswitchd) longest() (string, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var name string
	var d time.Duration
	for m, h := range c.hold {
		if h > d || (h == d && m < name) {
			name, d = m, h
		}
	}
	c.hold = map[string]time.Duration{}
	return name, d
}

func (c *countingVswitchd) Version(ctx context.Context) (string, error) {
	defer c.track("version")()
	return c.Vswitchd.Version(ctx)
}
func (c *countingVswitchd) DatapathShow(ctx context.Context, dp string) (ovs.DatapathStats, error) {
	defer c.track("dpctl/show")()
	return c.Vswitchd.DatapathShow(ctx, dp)
}
func (c *countingVswitchd) DpifShow(ctx context.Context) ([]ovs.Datapath, error) {
	defer c.track("dpif/show")()
	return c.Vswitchd.DpifShow(ctx)
}
func (c *countingVswitchd) FDBShow(ctx context.Context, br string) (ovs.FDBTable, error) {
	defer c.track("fdb/show")()
	return c.Vswitchd.FDBShow(ctx, br)
}
func (c *countingVswitchd) FDBStats(ctx context.Context, br string) (ovs.FDBStats, error) {
	defer c.track("fdb/stats-show")()
	return c.Vswitchd.FDBStats(ctx, br)
}
func (c *countingVswitchd) DumpFlows(ctx context.Context, dp string) (ovs.Megaflows, error) {
	defer c.track("dpctl/dump-flows")()
	return c.Vswitchd.DumpFlows(ctx, dp)
}
func (c *countingVswitchd) VisitFlows(ctx context.Context, dp, filter string, opts ovs.FlowParseOptions, fn func(*ovs.Megaflows) error) error {
	m := "dpctl/dump-flows"
	if filter != "" {
		m = "dpctl/dump-flows filter="
	}
	defer c.track(m)()
	return c.Vswitchd.VisitFlows(ctx, dp, filter, opts, fn)
}
func (c *countingVswitchd) Trace(ctx context.Context, br, flow string) (ovs.Trace, error) {
	defer c.track("ofproto/trace")()
	return c.Vswitchd.Trace(ctx, br, flow)
}

// rig is an agent with the real sources against a benchmark host.
type rig struct {
	agent    *agent.Agent
	store    *state.Store
	openflow *openflow.Pool
	calls    *countingVswitchd
	close    func()
}

// newRig opens the real sources (the netlink one from inside the host's
// namespace, where the taps are, as an agent on that host would) and
// builds an agent over them, its unixctl source counting requests.
func newRig(tb testing.TB, e *Env, cfg agent.Config) *rig {
	tb.Helper()
	var src []agent.Source
	var closeSrc func()
	err := labtest.InNetns(e.Name, func() error {
		src, closeSrc = agent.OpenSources(agent.SourceOptions{RunDir: e.RunDir, Timeout: 10 * time.Second, Deadline: time.Minute})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	uc := unixctl.New(e.RunDir, unixctl.Options{Timeout: 10 * time.Second})
	of := openflow.NewPool(e.RunDir, openflow.Options{Timeout: 10 * time.Second})
	vs, _ := e.Pid("ovs-vswitchd")
	calls := &countingVswitchd{Vswitchd: ovs.NewVswitchd(uc), vswitchd: vs, calls: map[string]int{}}
	for i, s := range src {
		if s.Name() == state.SourceUnixctl {
			src[i] = agent.NewUnixctl(calls, time.Minute)
		}
	}
	store := &state.Store{}
	return &rig{agent: agent.New(cfg, src, zap.NewNop(), store), store: store, openflow: of, calls: calls,
		close: func() { closeSrc(); _ = uc.Close(); _ = of.Close() }}
}

// warm injects flood traffic and polls, n times, and returns the last
// snapshot.
func (r *rig) warm(tb testing.TB, e *Env, n int) *state.Snapshot {
	tb.Helper()
	ctx := context.Background()
	var snap *state.Snapshot
	for range n {
		if err := e.Flood(ctx, floodBurst); err != nil {
			tb.Fatal(err)
		}
		snap = r.agent.Poll(ctx)
	}
	return snap
}

// settle polls (with flood traffic) until a poll issues no ofproto/trace:
// each flood is traced once when it first enters the reported top
// --flood.max-reported, and with many floods of equal rate the top set
// takes a while to have seen them all.
func (r *rig) settle(tb testing.TB, e *Env) *state.Snapshot {
	tb.Helper()
	snap := r.warm(tb, e, warmPolls)
	quiet := 0
	for i := 0; i < 200 && quiet < 5; i++ {
		r.calls.take()
		snap = r.warm(tb, e, 1)
		if r.calls.take()["ofproto/trace"] == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return snap
}

// sourcesUp fails tb unless every source was read in snap.
func sourcesUp(tb testing.TB, snap *state.Snapshot) {
	tb.Helper()
	for _, name := range state.Sources {
		if st := snap.Sources[name]; !st.Up {
			tb.Fatalf("source %s down: %s", name, st.Err)
		}
	}
}

// handler is the agent's HTTP handler (web.Handler) over store, with the
// live metrics web.Serve gathers at every scrape.
func handler(store *state.Store) http.Handler {
	return web.Handler(store, web.LiveRegistry(), web.Options{
		Logger: zap.NewNop(), SlogLogger: slog.New(slog.DiscardHandler), MetricsPath: "/metrics", MaxRequests: 10})
}

// acceptPrometheus is the Accept header of Prometheus 3's default scrape
// protocols: it negotiates OpenMetrics.
const acceptPrometheus = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// scrape GETs /metrics from h with no Accept header (the text format);
// gzip asks for a compressed body, as Prometheus does.
func scrape(tb testing.TB, h http.Handler, gzip bool) *httptest.ResponseRecorder {
	return scrapeAs(tb, h, "", gzip)
}

// scrapeAs is scrape with an Accept header.
func scrapeAs(tb testing.TB, h http.Handler, accept string, gzip bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
	}
	return rec
}

// series returns the sample lines of metric name in a text exposition.
func series(text, name string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return out
}

// nsClient is an HTTP client whose connections are made from inside
// network namespace ns (where the exporter under test listens).
func nsClient(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := labtest.InNetns(ns, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 30 * time.Second}
}

// get fetches url and returns its (decoded) body.
func get(c *http.Client, url string) (string, error) { return getAs(c, url, "") }

// getAs is get with an Accept header (none when accept is empty); the
// client asks for gzip and inflates the body, as Prometheus does.
func getAs(c *http.Client, url, accept string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// saveURL writes the body of url to path.
func saveURL(c *http.Client, url, path string) error {
	c2 := *c
	c2.Timeout = 10 * time.Minute // profiles take their time
	body, err := get(&c2, url)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

// moduleRoot is the repository root (for go build).
func moduleRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}
