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
	// resolve renames what the tunnel resolution would after the poll
	// (it rewrites the flows' ports in place).
	resolve bool
}

// TestAppendFlowsReusesLastPollExactly converts dumps that keep, move,
// drop and change megaflows, with one source that takes keys and names
// from the last poll's slots, and compares every poll with a fresh source
// (same identity seeds) converting the same dump. The reply's bytes are
// overwritten after each poll, as the client reuses its read buffer: a
// flow that kept a string pointing into a reply would change.
func TestAppendFlowsReusesLastPollExactly(t *testing.T) {
	const bench, vxlan = "../ovs/testdata/ovs-3.1/bench-5k.dpctl-dump-flows.txt.gz", "../ovs/testdata/ovs-3.1/dpctl-dump-flows-m.vxlan.txt"
	keep := func(l []string) []string { return l }
	steps := []dumpStep{
		{"first", bench, "netdev@ovs-netdev", keep, false},
		{"same", bench, "netdev@ovs-netdev", keep, false},
		{"reversed", bench, "netdev@ovs-netdev", func(l []string) []string { slices.Reverse(l); return l }, false},
		{"one gone at the front", bench, "netdev@ovs-netdev", func(l []string) []string { return l[2:] }, false},
		{"half", bench, "netdev@ovs-netdev", func(l []string) []string { return l[:len(l)/2] }, false},
		{"all back", bench, "netdev@ovs-netdev", keep, true},
		{"other datapath", bench, "system@ovs-system", keep, false},
		{"tunnels", vxlan, "netdev@ovs-netdev", keep, true},
		{"tunnels again", vxlan, "netdev@ovs-netdev", keep, false},
		{"tunnels over the bench's slots", bench, "netdev@ovs-netdev", func(l []string) []string {
			return append(readLines(t, vxlan), l...)
		}, false},
		{"empty", bench, "netdev@ovs-netdev", func([]string) []string { return nil }, false},
		{"after empty", vxlan, "netdev@ovs-netdev", keep, false},
	}
	s := &unixctlSource{ids: newFlowIDs()}
	names := interner{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			reply := []byte(strings.Join(st.edit(readLines(t, st.capture)), "\n") + "\n")
			mf, err := ovs.ParseDumpFlows(unsafe.String(unsafe.SliceData(reply), len(reply)))
			if err != nil {
				t.Fatal(err)
			}
			fresh := &unixctlSource{ids: s.ids}
			want := fresh.appendFlows(nil, st.dp, cloneMegaflows(mf.Flows), interner{})

			p := &Poll{}
			s.ownFlows, p.flows, s.outs = true, s.flows[:0], s.outs[:0]
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
			if st.resolve {
				for i := range p.flows {
					p.flows[i].InPort = "resolved-" + p.flows[i].InPort
					for j := range p.flows[i].Outputs {
						p.flows[i].Outputs[j].Port = "resolved"
					}
				}
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
