package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// perCall collects, call by call, what ovs-vswitchd's main thread spent
// serving one request, so a benchmark can report the median and the
// worst single hold (the figure that matters for a stall) rather than a
// mean that one slow call can hide in.
type perCall struct {
	vswitchd int
	main     []time.Duration
	wall     []time.Duration
	bytes    int
}

// call times one request: the main thread's schedstat run time around it.
func (p *perCall) call(f func() int) {
	m0 := threadCPU(p.vswitchd, p.vswitchd)
	t0 := time.Now()
	n := f()
	wall := time.Since(t0)
	m1 := threadCPU(p.vswitchd, p.vswitchd)
	p.main = append(p.main, m1-m0)
	p.wall = append(p.wall, wall)
	p.bytes = n
}

// quantile returns the q-quantile (0..1) of ds by nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

func (p *perCall) report(b *testing.B) {
	b.ReportMetric(ms(quantile(p.main, 0.5)), "main-ms-median")
	b.ReportMetric(ms(quantile(p.main, 1)), "main-ms-max")
	b.ReportMetric(ms(quantile(p.wall, 0.5)), "wall-ms-median")
	b.ReportMetric(float64(p.bytes), "reply-bytes")
}

// BenchmarkSignals measures what each request the agent could use to
// decide whether to dump megaflows costs ovs-vswitchd's main thread, per
// call (median and worst), at the host's scale (set the megaflow count
// with OVS_FLOOD_BENCH_SCALE=megaflows=N; 5k, 20k, 50k and 100k are the
// points of the cost model): the cheap signals (per-port datapath
// counters from dpctl/show -s, dpif/show, upcall/show, one megaflow by
// UFID, the NORMAL rules' counters over OpenFlow narrowed two ways) and
// the megaflow dumps (plain, --names, -m, filtered by input port).
//
// No traffic is injected while it measures: the dummy datapath runs on
// the main thread, and its packets would be charged to the requests.
func BenchmarkSignals(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	vs, err := e.Pid("ovs-vswitchd")
	if err != nil {
		b.Fatal(err)
	}
	uc := unixctl.New(e.RunDir, unixctl.Options{Timeout: 60 * time.Second})
	defer uc.Close()
	if n, err := e.FlowCount(ctx); err != nil || n != e.Scale.Megaflows {
		b.Fatalf("datapath has %d megaflows (%v), want %d", n, err, e.Scale.Megaflows)
	}
	ufid, err := oneUFID(ctx, uc, e)
	if err != nil {
		b.Fatal(err)
	}
	dp, port := e.Datapath, e.Ports[0].Name
	unix := [][]string{
		{"dpctl/show", dp},
		{"dpctl/show", "-s", dp},
		{"dpif/show"},
		{"upcall/show"},
		{"fdb/stats-show", Bridge},
		{"dpctl/get-flow", dp, "ufid:" + ufid},
		{"dpctl/dump-flows", dp},
		{"dpctl/dump-flows", "--names", dp},
		{"dpctl/dump-flows", "-m", dp},
		{"dpctl/dump-flows", dp, "filter=in_port(" + port + ")"},
		{"dpctl/dump-flows", "-m", dp, "filter=in_port(" + port + ")"},
	}
	for _, c := range unix {
		b.Run(signalName(c), func(b *testing.B) {
			p := &perCall{vswitchd: vs}
			for range b.N {
				p.call(func() int {
					out, err := uc.Call(ctx, c[0], c[1:]...)
					if err != nil {
						b.Fatal(err)
					}
					return len(out)
				})
			}
			p.report(b)
			if c[0] == "dpctl/dump-flows" && !strings.Contains(strings.Join(c, " "), "filter=") {
				b.ReportMetric(float64(p.bytes)/float64(e.Scale.Megaflows), "bytes/megaflow")
			}
		})
	}
	pool := openflow.NewPool(e.RunDir, openflow.Options{Timeout: 60 * time.Second})
	defer pool.Close()
	of := []struct {
		name   string
		filter openflow.FlowFilter
	}{
		// What the agent sends today: every table, the switch keeps the
		// rules that output to NORMAL.
		{"openflow-normal-all-tables", openflow.FlowFilter{OutPort: openflow.PortNormal}},
		// Once the NORMAL rules are known: their table only.
		{"openflow-normal-one-table", openflow.FlowFilter{OneTable: true, TableID: 94, OutPort: openflow.PortNormal}},
		{"openflow-table-stats", openflow.FlowFilter{}},
	}
	for _, o := range of {
		b.Run(o.name, func(b *testing.B) {
			p := &perCall{vswitchd: vs}
			for range b.N {
				p.call(func() int {
					if o.name == "openflow-table-stats" {
						ts, err := pool.TableStats(ctx, Bridge)
						if err != nil {
							b.Fatal(err)
						}
						return len(ts)
					}
					fs, err := pool.FlowStats(ctx, Bridge, o.filter)
					if err != nil {
						b.Fatal(err)
					}
					if len(fs) == 0 {
						b.Fatal("no NORMAL rule in the reply")
					}
					return len(fs)
				})
			}
			p.report(b)
		})
	}
}

// signalName turns a command line into a benchmark name.
func signalName(c []string) string {
	parts := []string{strings.ReplaceAll(c[0], "/", "-")}
	for _, a := range c[1:] {
		switch {
		case strings.HasPrefix(a, "-"):
			parts = append(parts, a)
		case strings.HasPrefix(a, "filter="):
			parts = append(parts, "filter")
		case strings.HasPrefix(a, "ufid:"):
			parts = append(parts, "ufid")
		}
	}
	return strings.Join(parts, "_")
}

// oneUFID returns the UFID of a flooded megaflow (from one -m dump made
// before measuring).
func oneUFID(ctx context.Context, uc *unixctl.Client, e *Env) (string, error) {
	dsts := e.FloodDsts()
	if len(dsts) == 0 {
		return "", fmt.Errorf("the host has no flooded megaflow")
	}
	out, err := uc.Call(ctx, "dpctl/dump-flows", "-m", e.Datapath, "filter=in_port("+e.FloodPorts()[dsts[0]]+")")
	if err != nil {
		return "", err
	}
	mf, err := ovs.ParseDumpFlows(out)
	if err != nil {
		return "", err
	}
	for _, f := range mf.Flows {
		if f.UFID != "" {
			return f.UFID, nil
		}
	}
	if os.Getenv("OVS_FLOOD_BENCH_DEBUG") != "" {
		fmt.Fprintln(os.Stderr, out)
	}
	return "", fmt.Errorf("no UFID in a -m dump of %d megaflows", len(mf.Flows))
}
