package agent

import (
	"compress/gzip"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// readCapture returns a captured reply, gunzipped when its name ends in .gz.
func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dumpStep is one poll's dump in TestAppendFlowsReusesLastPollExactly: the
// lines of a capture, reordered or cut by edit.
type dumpStep struct {
	name    string
	capture string
	dp      string
	edit    func(lines []string) []string
	// resolve, when not nil, rewrites the flows after the poll as the
	// tunnel resolution does (in place).
	resolve func(p *Poll)
	// known is how many flows must be known from the last poll
	// (ovs.Megaflow.Known): "all", "none" or "" (not checked).
	known string
}

// TestAppendFlowsReusesLastPollExactly converts dumps that keep, move,
// drop and change megaflows, with one source that takes keys and names
// from the last poll's slots, and compares every poll with a fresh source
// (same identity seeds) converting the same dump. The reply's bytes are
// overwritten after each poll, as the client reuses its read buffer: a
// flow that kept a string pointing into a reply would change.
func TestAppendFlowsReusesLastPollExactly(t *testing.T) {
	const (
		bench   = "../ovs/testdata/ovs-3.1/bench-5k.dpctl-dump-flows.txt.gz"
		vxlan   = "../ovs/testdata/ovs-3.1/dpctl-dump-flows-m.vxlan.txt"
		overlay = "../ovs/testdata/ovs-3.1/overlay-flood-hv2.dpctl-dump-flows-m.txt"
	)
	keep := func(l []string) []string { return l }
	// otherActions gives each flow the actions of the next one: the same
	// keys in the same slots, with other outputs.
	otherActions := func(l []string) []string {
		out := make([]string, len(l))
		for i, line := range l {
			next := l[(i+1)%len(l)]
			out[i] = line[:strings.Index(line, "actions:")] + next[strings.Index(next, "actions:"):]
		}
		return out
	}
	// rename rewrites what tunnelResolver.resolve may: the in_port of a
	// flow that came through a tunnel, the port of a tunnel copy (here of
	// every output).
	rename := func(p *Poll) {
		for i := range p.flows {
			if p.flows[i].TunnelSrc != "" {
				p.flows[i].InPort = "resolved-" + p.flows[i].InPort
			}
			for j := range p.flows[i].Outputs {
				p.flows[i].Outputs[j].Port = "resolved"
			}
		}
	}
	// resolve is the tunnel resolution of hypervisor 2 of the overlay lab.
	resolve := func(p *Poll) {
		p.ovsdb, p.log = meshTopology(2), zap.NewNop()
		var r tunnelResolver
		r.resolve(p)
		resolved := 0
		for _, f := range p.flows {
			if f.TunnelSrc != "" && f.InPort == "vx1" {
				resolved++
			}
		}
		if resolved == 0 {
			t.Fatal("the resolution gave no flow the tunnel port vx1 as in_port")
		}
	}
	steps := []dumpStep{
		{"first", bench, "netdev@ovs-netdev", keep, nil, "none"},
		{"same", bench, "netdev@ovs-netdev", keep, nil, "all"},
		{"same keys, other actions", bench, "netdev@ovs-netdev", otherActions, nil, "all"},
		{"reversed", bench, "netdev@ovs-netdev", func(l []string) []string { slices.Reverse(l); return l }, nil, ""},
		{"one gone at the front", bench, "netdev@ovs-netdev", func(l []string) []string { return l[2:] }, nil, ""},
		{"half", bench, "netdev@ovs-netdev", func(l []string) []string { return l[:len(l)/2] }, nil, ""},
		{"all back", bench, "netdev@ovs-netdev", keep, rename, ""},
		{"other datapath", bench, "system@ovs-system", keep, nil, "none"},
		{"tunnels", vxlan, "netdev@ovs-netdev", keep, rename, ""},
		{"tunnels again", vxlan, "netdev@ovs-netdev", keep, nil, ""},
		{"tunnels over the bench's slots", bench, "netdev@ovs-netdev", func(l []string) []string {
			return append(readLines(t, vxlan), l...)
		}, nil, ""},
		{"empty", bench, "netdev@ovs-netdev", func([]string) []string { return nil }, nil, "none"},
		{"after empty", vxlan, "netdev@ovs-netdev", keep, nil, "none"},
		{"overlay", overlay, "netdev@ovs-netdev", keep, resolve, ""},
		{"overlay again", overlay, "netdev@ovs-netdev", keep, resolve, ""},
	}
	s := &unixctlSource{ids: newFlowIDs()}
	names := interner{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			reply := []byte(strings.Join(st.edit(readLines(t, st.capture)), "\n") + "\n")
			text := unsafe.String(unsafe.SliceData(reply), len(reply))
			plain, err := ovs.ParseDumpFlows(text)
			if err != nil {
				t.Fatal(err)
			}
			fresh := &unixctlSource{ids: s.ids}
			want := fresh.appendFlows(nil, st.dp, cloneMegaflows(plain.Flows), interner{})

			// Parsed as a poll does: keys the last poll held are not read.
			p := &Poll{}
			s.ownFlows, p.flows, s.outs = true, s.flows[:0], s.outs[:0]
			mf, err := ovs.ParseDumpFlowsWith(text, ovs.FlowParseOptions{Known: s.knownKeys(p.flows, st.dp)})
			if err != nil {
				t.Fatal(err)
			}
			known := 0
			for _, m := range mf.Flows {
				if m.Known {
					known++
				}
			}
			if st.known == "all" && known != len(mf.Flows) || st.known == "none" && known != 0 {
				t.Errorf("%d of %d flows known from the last poll, want %s", known, len(mf.Flows), st.known)
			}
			p.flows = s.appendFlows(p.flows, st.dp, mf.Flows, names)
			s.keep(p)
			for i := range reply {
				reply[i] = '#'
			}
			if len(p.flows) != len(want) {
				t.Fatalf("%d flows, fresh source %d", len(p.flows), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(p.flows[i], want[i]) {
					t.Fatalf("flow %d:\n%+v\nfresh source:\n%+v", i, p.flows[i], want[i])
				}
			}
			if st.resolve != nil {
				st.resolve(p)
			}
		})
	}
}

// readLines returns the megaflow lines of a captured dump.
func readLines(t testing.TB, name string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(string(readCapture(t, name)), "\n") {
		if strings.Contains(l, "actions:") {
			out = append(out, l)
		}
	}
	return out
}

// cloneMegaflows copies every string of ms out of the reply.
func cloneMegaflows(ms []ovs.Megaflow) []ovs.Megaflow {
	out := make([]ovs.Megaflow, len(ms))
	for i, m := range ms {
		m.UFID, m.Key, m.InPort = strings.Clone(m.UFID), strings.Clone(m.Key), strings.Clone(m.InPort)
		if m.Tunnel != nil {
			t := *m.Tunnel
			t.Src, t.Dst = strings.Clone(t.Src), strings.Clone(t.Dst)
			m.Tunnel = &t
		}
		m.Outputs = slices.Clone(m.Outputs)
		for j := range m.Outputs {
			o := &m.Outputs[j]
			o.Port, o.TunnelDst, o.TunnelPort = strings.Clone(o.Port), strings.Clone(o.TunnelDst), strings.Clone(o.TunnelPort)
		}
		out[i] = m
	}
	return out
}

// BenchmarkAppendFlows converts the captured 5k-megaflow dump of the
// benchmark host, poll after poll, as the unixctl source does.
func BenchmarkAppendFlows(b *testing.B) {
	text := string(readCapture(b, "../ovs/testdata/ovs-3.1/bench-5k.dpctl-dump-flows.txt.gz"))
	mf, err := ovs.ParseDumpFlows(text)
	if err != nil {
		b.Fatal(err)
	}
	s := &unixctlSource{ids: newFlowIDs()}
	names := interner{}
	var flows []detect.Flow
	b.ReportAllocs()
	for b.Loop() {
		p := &Poll{}
		s.ownFlows, p.flows, s.outs = true, s.flows[:0], s.outs[:0]
		p.flows = s.appendFlows(p.flows, "netdev@ovs-netdev", mf.Flows, names)
		s.keep(p)
		flows = p.flows
	}
	if len(flows) != len(mf.Flows) {
		b.Fatalf("%d flows of %d", len(flows), len(mf.Flows))
	}
}
