package ovs

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestParsePortCounters(t *testing.T) {
	tests := []struct {
		name    string
		capture string
		want    map[string]PortCounters // a subset of the ports
		ports   int
	}{
		{
			name: "lab flood (netdev datapath, veths and taps)", capture: "dpctl-show-s.txt", ports: 13,
			want: map[string]PortCounters{
				"tapvm1":         {Number: 2, RxPackets: 3270, TxPackets: 22},
				"br-int":         {Number: 1, TxDropped: 3270}, // the flood copy to the down LOCAL port
				"phys0":          {Number: 11, RxPackets: 9, TxPackets: 6540},
				"vxlan_sys_4789": {Number: 9},
			},
		},
		{
			name: "dummy datapath prints ? for what it does not count", capture: "dpctl-show-s.dummy.txt", ports: 5,
			want: map[string]PortCounters{
				"ovs-netdev":     {Number: 0},
				"tapbe0001b8-01": {Number: 1, RxPackets: 9165, TxPackets: 80},
				"tapbe0001a8-01": {Number: 4, RxPackets: 16, TxPackets: 9224},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePortCounters(capture(t, tt.capture))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.ports {
				t.Errorf("%d ports, want %d: %+v", len(got), tt.ports, got)
			}
			for name, w := range tt.want {
				if got[name] != w {
					t.Errorf("%s: %+v, want %+v", name, got[name], w)
				}
			}
		})
	}
}

func TestParsePortCountersErrors(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"without -s", capture(t, "dpctl-show.txt"), "was -s given"},
		{"two datapaths", "a@b:\n  flows: 0\nc@d:\n  flows: 0\n", "want one datapath"},
		{"garbage counter", "a@b:\n  port 1: p\n    RX packets:x errors:0\n    TX packets:0\n", "bad counter"},
		{"bad port number", "a@b:\n  port x: p\n", "bad port line"},
		{"not dpctl/show", "hello\n", "no datapath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePortCounters(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// replyCaller answers every call with one reply and records the request.
type replyCaller struct {
	reply string
	got   []string
}

func (c *replyCaller) Call(_ context.Context, method string, params ...string) (string, error) {
	c.got = append([]string{method}, params...)
	return c.reply, nil
}

func TestReadPortCounters(t *testing.T) {
	c := &replyCaller{reply: capture(t, "dpctl-show-s.txt")}
	st, pc, err := ReadPortCounters(context.Background(), c, "netdev@ovs-netdev")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.got, " ") != "dpctl/show -s netdev@ovs-netdev" {
		t.Errorf("sent %q", c.got)
	}
	if st.Flows != 2 || pc["tapvm2"].Outputs() != 3270 {
		t.Errorf("stats %+v, tapvm2 %+v", st, pc["tapvm2"])
	}
	if _, _, err := ReadPortCounters(context.Background(), c, "system@ovs-system"); err == nil {
		t.Error("a reply about another datapath was accepted")
	}
}

func FuzzParsePortCounters(f *testing.F) {
	addCaptures(f, "dpctl-show")
	f.Fuzz(func(t *testing.T, text string) {
		pc, err := ParsePortCounters(text)
		if err != nil {
			return
		}
		for name, c := range pc {
			if !strings.Contains(text, "port "+strconv.FormatUint(uint64(c.Number), 10)+": "+name) {
				t.Fatalf("port %s %+v not in text", name, c)
			}
			if c.RxPackets > 0 && !strings.Contains(text, "RX packets:"+strconv.FormatUint(c.RxPackets, 10)) {
				t.Fatalf("port %s: RX %d not in text", name, c.RxPackets)
			}
		}
	})
}

// FuzzDatapathStatsCounters checks that the counters datapathStats reads
// in its single pass are those ParsePortCounters reads in its own, nil
// when it fails, that the names are copied, and that it reads what
// ParseDpctlShow reads but the list of ports.
func FuzzDatapathStatsCounters(f *testing.F) {
	addCaptures(f, "dpctl-show", "netdev@x:\n  port 1: a\n    RX packets:1 dropped:0\n  port 2: b\n    TX packets:2 dropped:1\n")
	f.Fuzz(func(t *testing.T, text string) {
		dps, err := ParseDpctlShow(text)
		if err != nil || len(dps) == 0 {
			return
		}
		st, err := datapathStats(text, dps[0].Name, &stringArena{}, 0)
		if err != nil {
			t.Fatalf("datapathStats(%q): %v", dps[0].Name, err)
		}
		// What ParseDpctlShow reads, but the ports' list.
		if d := dps[0]; d.Name != st.Name || d.Hit != st.Hit || d.Missed != st.Missed || d.Lost != st.Lost ||
			d.Flows != st.Flows || d.Skipped != st.Skipped || st.Ports != nil {
			t.Fatalf("datapathStats %+v, ParseDpctlShow %+v", st, d)
		}
		// The last reply's port count, whatever it was, changes nothing.
		for _, hint := range []int{1, len(st.Counters), len(st.Counters) + 3} {
			if got, err := datapathStats(text, dps[0].Name, &stringArena{}, hint); err != nil || !reflect.DeepEqual(got, st) {
				t.Fatalf("datapathStats with %d ports expected: %+v, %v; want %+v", hint, got, err, st)
			}
		}
		want, werr := ParsePortCounters(text)
		if len(dps) > 1 || werr != nil {
			want = nil
		}
		if !reflect.DeepEqual(st.Counters, want) || (st.Counters == nil) != (want == nil) {
			t.Fatalf("counters %+v, ParsePortCounters %+v (%v)", st.Counters, want, werr)
		}
		within := func(s string) bool {
			p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(text)))
			return s != "" && p >= start && p < start+uintptr(len(text))
		}
		for name := range st.Counters {
			if within(name) {
				t.Fatalf("counter name %q is a view of the reply", name)
			}
		}
	})
}

// counterFieldsByCut is counterFields written plainly, with FieldsFunc
// and Cut: the reference FuzzCounterFields holds the fast one to.
func counterFieldsByCut(t string) (lineCounters, error) {
	var c lineCounters
	f := strings.FieldsFunc(t, func(r rune) bool { return r == ' ' || r == '\t' })
	for i, kv := range f {
		if i == 0 {
			continue
		}
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return lineCounters{}, fmt.Errorf("bad counter %q in %q", kv, t)
		}
		if v == "?" {
			continue
		}
		n, ok := parseDec(v)
		if !ok {
			return lineCounters{}, fmt.Errorf("bad counter %q in %q", kv, t)
		}
		switch k {
		case "packets":
			c.packets = n
		case "dropped":
			c.dropped = n
		}
	}
	return c, nil
}

// FuzzCounterFields checks that counterFields reads every line, and
// rejects every line, exactly as the plain reference does.
func FuzzCounterFields(f *testing.F) {
	for _, s := range []string{
		"RX packets:3270 errors:0 dropped:0 overruns:0 frame:0",
		"TX packets:22 errors:? dropped:7 aborted:0 carrier:0",
		"TX\tpackets:1  dropped:2:3 x:?",
		"RX packets:x errors:0",
		"RX packets",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got, err := counterFields(line)
		want, werr := counterFieldsByCut(line)
		if got != want || (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("counterFields(%q) = %+v, %v; reference %+v, %v", line, got, err, want, werr)
		}
	})
}
