package ovs

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Caller sends one unixctl command and returns the reply text;
// *unixctl.Client implements it.
type Caller interface {
	Call(ctx context.Context, method string, params ...string) (string, error)
}

// FuncCaller is a Caller that can also hand a reply to a function without
// copying it out of its read buffer (the text is valid until fn returns);
// *unixctl.Client implements it. VisitFlows uses it when it is there: a
// flow dump is a megabyte every poll.
type FuncCaller interface {
	Caller
	CallFunc(ctx context.Context, fn func(text []byte) error, method string, params ...string) error
}

// Vswitchd is what the agent reads from ovs-vswitchd over unixctl (the
// "unixctl" source). Each method sends one command and parses the reply.
type Vswitchd interface {
	// Version returns the Open vSwitch version ("3.1.0").
	Version(ctx context.Context) (string, error)
	// DatapathShow returns the counters and flow count of one datapath
	// with each port's packet counters (dpctl/show -s <dp>: about 2.5 ms
	// of vswitchd's main thread for 500 ports). It lists no Ports:
	// DpifShow does, with their bridges.
	DatapathShow(ctx context.Context, dp string) (DatapathStats, error)
	// DpifShow returns every datapath with its bridges and their ports,
	// mapping OpenFlow to datapath port numbers (dpif/show). While the
	// ports do not change, consecutive calls return the same Bridges
	// (only the datapaths' counters are new): treat them as read-only.
	DpifShow(ctx context.Context) ([]Datapath, error)
	// FDBShow returns a bridge's MAC learning table (fdb/show).
	FDBShow(ctx context.Context, bridge string) (FDBTable, error)
	// FDBStats returns a bridge's MAC learning statistics
	// (fdb/stats-show).
	FDBStats(ctx context.Context, bridge string) (FDBStats, error)
	// DumpFlows returns the megaflows of one datapath
	// (dpctl/dump-flows --names <dp>: without -m, which doubles what
	// vswitchd spends formatting and adds only the UFID and wildcarded
	// fields, so megaflows are keyed by their match). The datapath is always named: a bare
	// dump logs "failed to enumerate system datapaths" in
	// ovs-vswitchd.log on every call on hosts without the kernel module.
	// Check DatapathShow's Flows first: a dump of 100k flows stalls
	// vswitchd for most of a second.
	DumpFlows(ctx context.Context, dp string) (Megaflows, error)
	// VisitFlows is DumpFlows handing the megaflows to fn instead of
	// returning them, what a poll does: the flows and every string in
	// them are valid only until fn returns (they may be views of the
	// client's read buffer, which is then never copied), and fn's error is
	// returned. A non-empty filter, in ovs-ofctl match syntax
	// ("in_port=tapvm1"), restricts the dump to the flows it matches:
	// vswitchd still walks every flow but formats and sends only the
	// matches, which is what makes a filtered dump cheap on a datapath
	// with many flows. opts are the parse's (see ParseDumpFlowsWith).
	VisitFlows(ctx context.Context, dp, filter string, opts FlowParseOptions, fn func(*Megaflows) error) error
	// Trace traces flow (ovs-ofctl flow syntax) through bridge
	// (ofproto/trace).
	Trace(ctx context.Context, bridge, flow string) (Trace, error)
}

// NewVswitchd returns the Vswitchd that reads ovs-vswitchd through c,
// normally a *unixctl.Client.
func NewVswitchd(c Caller) Vswitchd {
	return vswitchd{c: c, dpif: &dpifReuse{}, dpPorts: &atomic.Int64{}}
}

type vswitchd struct {
	c    Caller
	dpif *dpifReuse // the last dpif/show parse, reused while ports stay
	// dpPorts is the port count of the last dpctl/show -s read, to size
	// the next one's ports without counting them in the reply first.
	dpPorts *atomic.Int64
}

func (v vswitchd) Version(ctx context.Context) (string, error) {
	out, err := v.c.Call(ctx, "version")
	if err != nil {
		return "", err
	}
	return ParseVersion(out)
}

func (v vswitchd) DatapathShow(ctx context.Context, dp string) (DatapathStats, error) {
	// Read in place: the reply is 100 kB at 500 ports, every poll, and
	// only the numbers and the counters' names are kept, the names
	// copied together.
	var st DatapathStats
	err := v.callView(ctx, func(text string) error {
		var names stringArena
		var err error
		st, err = datapathStats(text, dp, &names, int(v.dpPorts.Load()))
		if err == nil {
			v.dpPorts.Store(int64(len(st.Counters)))
		}
		return err
	}, "dpctl/show", "-s", dp)
	return st, err
}

// callView sends method and hands fn the reply's text. Through a
// FuncCaller the text is a view of the client's read buffer, valid only
// while fn runs, so fn copies whatever it keeps; otherwise it is the
// reply itself.
func (v vswitchd) callView(ctx context.Context, fn func(text string) error, method string, params ...string) error {
	if fc, ok := v.c.(FuncCaller); ok {
		return fc.CallFunc(ctx, func(b []byte) error {
			// A view, never written while fn runs: the client is held.
			return fn(unsafe.String(unsafe.SliceData(b), len(b)))
		}, method, params...)
	}
	out, err := v.c.Call(ctx, method, params...)
	if err != nil {
		return err
	}
	return fn(out)
}

// datapathStats parses the reply to dpctl/show -s dp without listing its
// ports, copying each string it keeps (the counters' port names) out of
// text (which may be a view of a buffer that is reused) into names.
// ports, when above 0, is how many ports the reply likely has (the last
// one's): only what the counters' map is sized for.
func datapathStats(text, dp string, names *stringArena, ports int) (DatapathStats, error) {
	// The counters are read in the same pass (portCounters reads them in
	// a second one).
	counters := counterReader{names: names, hint: ports}
	dps, err := parseDpctlShow(text, &counters)
	if err != nil {
		return DatapathStats{}, err
	}
	for _, d := range dps {
		if d.Name == dp {
			if len(dps) == 1 {
				// Without counters (an older reply shape) the caller
				// cannot gate its dumps and reads every megaflow.
				d.Counters, _ = counters.result()
			}
			d.Name = dp
			return d, nil
		}
	}
	about := make([]string, len(dps))
	for i, d := range dps {
		about[i] = d.Name
	}
	return DatapathStats{}, fmt.Errorf("dpctl/show %s: reply is about %s", dp, strings.Join(about, ", "))
}

// stringArena copies strings into a few large allocations instead of one
// each: a reply's hundreds of port names cost a handful of allocations.
// Its zero value is ready to use.
type stringArena struct{ b strings.Builder }

// keep returns a copy of s. The copies share the arena's buffers, which
// are only ever appended to: a copy never changes.
func (a *stringArena) keep(s string) string {
	if s == "" {
		return ""
	}
	if a.b.Cap()-a.b.Len() < len(s) {
		a.b = strings.Builder{} // a fresh buffer; the copies keep the old one
		a.b.Grow(max(4096, len(s)))
	}
	start := a.b.Len()
	a.b.WriteString(s)
	return a.b.String()[start:]
}

func (v vswitchd) DpifShow(ctx context.Context) ([]Datapath, error) {
	var dps []Datapath
	err := v.callView(ctx, func(text string) error {
		var err error
		dps, err = v.dpif.parse(text) // copies what it keeps
		return err
	}, "dpif/show")
	return dps, err
}

func (v vswitchd) FDBShow(ctx context.Context, bridge string) (FDBTable, error) {
	out, err := v.c.Call(ctx, "fdb/show", bridge)
	if err != nil {
		return FDBTable{}, err
	}
	return ParseFDBShow(out)
}

func (v vswitchd) FDBStats(ctx context.Context, bridge string) (FDBStats, error) {
	out, err := v.c.Call(ctx, "fdb/stats-show", bridge)
	if err != nil {
		return FDBStats{}, err
	}
	return ParseFDBStats(out)
}

func (v vswitchd) DumpFlows(ctx context.Context, dp string) (Megaflows, error) {
	out, err := v.c.Call(ctx, "dpctl/dump-flows", "--names", dp)
	if err != nil {
		return Megaflows{}, err
	}
	return ParseDumpFlows(out)
}

func (v vswitchd) VisitFlows(ctx context.Context, dp, filter string, opts FlowParseOptions, fn func(*Megaflows) error) error {
	params := []string{"--names", dp}
	if filter != "" {
		params = append(params, "filter="+filter)
	}
	visit := func(text string) error {
		m, err := ParseDumpFlowsWith(text, opts)
		if err != nil {
			return err
		}
		defer m.Release()
		return fn(&m)
	}
	// Everything fn keeps it copies out during the visit.
	return v.callView(ctx, visit, "dpctl/dump-flows", params...)
}

func (v vswitchd) Trace(ctx context.Context, bridge, flow string) (Trace, error) {
	out, err := v.c.Call(ctx, "ofproto/trace", bridge, flow)
	if err != nil {
		return Trace{}, err
	}
	return ParseTrace(out)
}
