package ovs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// addCaptures seeds f with every capture whose name starts with prefix.
func addCaptures(f *testing.F, prefix string, extra ...string) {
	files, err := filepath.Glob(filepath.Join(capDir, prefix+"*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captures %s*: %v", prefix, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range extra {
		f.Add(s)
	}
}

func FuzzParseDumpFlows(f *testing.F) {
	addCaptures(f, "dpctl-dump-flows",
		"in_port(1),eth(dst=02:00:00:00:00:05), packets:1, bytes:2, used:never, actions:clone(push_vlan(vid=5,pcp=0),2),set(tunnel(dst=10.0.0.1)),3",
		"recirc_id(0x1),in_port(1),eth_type(0x8100),vlan(vid=4095,pcp=0), packets:0, bytes:0, used:1.5s, actions:check_pkt_len(size=9,gt(1),le(pop_vlan,2)),sample(sample=100.0%,actions(3))",
	)
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseDumpFlows(text)
		if err != nil {
			if len(m.Flows) != 0 {
				t.Fatalf("error %v with %d flows", err, len(m.Flows))
			}
			return
		}
		// A cap keeps a subset and accounts for every other flow.
		const max = 3
		capped, err := ParseDumpFlowsWith(text, FlowParseOptions{MaxFlows: max})
		dropped := 0
		for _, n := range capped.Dropped {
			dropped += n
		}
		if err != nil || len(capped.Flows) > max || len(capped.Flows)+dropped != len(m.Flows) ||
			capped.Truncated != (dropped > 0) || capped.Skipped != m.Skipped {
			t.Fatalf("capped at %d: %d flows, %d dropped (%v), truncated %v; uncapped %d flows: %v",
				max, len(capped.Flows), dropped, capped.Dropped, capped.Truncated, len(m.Flows), err)
		}
		// A parse that knows every key from m reads like m, and asks
		// about slots in order (a line that is no flow leaves its slot
		// to the next line; a flow that is not parsed in place is not
		// asked about).
		var calls []int
		known, err := ParseDumpFlowsWith(text, FlowParseOptions{Known: knownFrom(m.Flows, &calls)})
		if err != nil || !reflect.DeepEqual(withoutKnown(known.Flows), m.Flows) {
			t.Fatalf("through Known (%v):\n%+v\nplain:\n%+v", err, known.Flows, m.Flows)
		}
		for j, c := range calls {
			if c < 0 || c > len(m.Flows) || j > 0 && c < calls[j-1] {
				t.Fatalf("Known asked about slots %v for %d flows", calls, len(m.Flows))
			}
		}
		for _, fl := range m.Flows {
			if !strings.Contains(text, fl.Key+", packets:"+strconv.FormatUint(fl.Packets, 10)) ||
				!strings.Contains(text, ", bytes:"+strconv.FormatUint(fl.Bytes, 10)) ||
				!strings.Contains(text, "actions:"+fl.Actions) {
				t.Fatalf("flow %+v does not match the text", fl)
			}
			if fl.EthDst != nil && len(fl.EthDst) != 6 || fl.EthSrc != nil && len(fl.EthSrc) != 6 {
				t.Fatalf("bad MAC in %+v", fl)
			}
			if fl.Used < -1 || fl.VLAN < -1 || fl.VLAN > 4095 {
				t.Fatalf("bad Used/VLAN in %+v", fl)
			}
			if k := fl.Tunnel; k != nil && (!strings.Contains(fl.Key, "tunnel(") ||
				!strings.Contains(fl.Key, k.Src) || !strings.Contains(fl.Key, k.Dst)) {
				t.Fatalf("tunnel key %+v not in key %q", k, fl.Key)
			}
			for _, o := range fl.Outputs {
				if o.Port == "" || o.VLAN < -1 || o.VLAN > 4095 || (!o.Tunnel && (o.TunnelDst != "" || o.TunnelID != 0 || o.TunnelPort != "")) {
					t.Fatalf("bad output %+v in %+v", o, fl)
				}
				if o.Tunnel && (o.TunnelPort == "" || !strings.Contains(fl.Actions, o.TunnelPort)) {
					t.Fatalf("tunnel port %q of %+v not in actions %q", o.TunnelPort, o, fl.Actions)
				}
				if !strings.Contains(fl.Actions, o.Port) {
					t.Fatalf("output %q not in actions %q", o.Port, fl.Actions)
				}
			}
		}
	})
}

func FuzzParseFDBShow(f *testing.F) {
	addCaptures(f, "fdb-show")
	f.Fuzz(func(t *testing.T, text string) {
		tab, err := ParseFDBShow(text)
		if err != nil {
			return
		}
		lower := strings.ToLower(text)
		for _, e := range tab.Entries {
			if len(e.MAC) != 6 || e.VLAN > 4095 || e.Port == "" || e.Static != (e.Age == -1) || e.Age < -1 {
				t.Fatalf("bad entry %+v", e)
			}
			if !strings.Contains(lower, e.MAC.String()) {
				t.Fatalf("MAC %s not in text", e.MAC)
			}
		}
	})
}

func FuzzParseFDBStats(f *testing.F) {
	addCaptures(f, "fdb-stats-show")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseFDBStats(text)
		if err != nil {
			return
		}
		for _, n := range []uint64{s.Entries, s.MaxEntries, s.StaticEntries, s.Learned, s.Expired, s.Evicted, s.Moved} {
			if n != 0 && !strings.Contains(text, strconv.FormatUint(n, 10)) {
				t.Fatalf("value %d not in text", n)
			}
		}
		if s.Skipped < 0 || strings.Contains(s.Bridge, "\n") {
			t.Fatalf("bad stats %+v", s)
		}
	})
}

func FuzzParseDpifShow(f *testing.F) {
	addCaptures(f, "dpif-show")
	f.Fuzz(func(t *testing.T, text string) {
		dps, err := ParseDpifShow(text)
		if err != nil {
			return
		}
		for _, dp := range dps {
			if !strings.Contains(dp.Name, "@") {
				t.Fatalf("datapath name %q", dp.Name)
			}
			for _, br := range dp.Bridges {
				for _, p := range br.Ports {
					if p.Name == "" || strings.ContainsAny(p.Name, " \n") || !strings.Contains(text, p.Name+" ") {
						t.Fatalf("bad port %+v", p)
					}
				}
			}
		}
	})
}

func FuzzParseDpctlShow(f *testing.F) {
	addCaptures(f, "dpctl-show")
	f.Fuzz(func(t *testing.T, text string) {
		dps, err := ParseDpctlShow(text)
		if err != nil {
			return
		}
		for _, dp := range dps {
			if !strings.Contains(dp.Name, "@") || dp.Flows < 0 || dp.Skipped < 0 {
				t.Fatalf("bad datapath %+v", dp)
			}
			if dp.Flows > 0 && (!strings.Contains(text, "flows: ") || !strings.Contains(text, strconv.Itoa(dp.Flows))) {
				t.Fatalf("flows %d not in text", dp.Flows)
			}
			for _, p := range dp.Ports {
				if !strings.Contains(text, "port "+strconv.FormatUint(uint64(p.Number), 10)+": ") || p.Name == "" || !strings.Contains(text, p.Name) {
					t.Fatalf("port %+v not in text", p)
				}
			}
		}
	})
}

func FuzzParseDumpDPs(f *testing.F) {
	addCaptures(f, "dpctl-dump-dps", "system@ovs-system\nnetdev@ovs-netdev\n")
	f.Fuzz(func(t *testing.T, text string) {
		dps, err := ParseDumpDPs(text)
		if err != nil {
			return
		}
		for _, dp := range dps {
			if !strings.Contains(dp, "@") || strings.ContainsAny(dp, " \t\n") || !strings.Contains(text, dp) {
				t.Fatalf("bad datapath %q", dp)
			}
		}
	})
}

func FuzzParseTrace(f *testing.F) {
	addCaptures(f, "ofproto-trace")
	f.Fuzz(func(t *testing.T, text string) {
		tr, err := ParseTrace(text)
		if err != nil {
			return
		}
		check := func(tr *Trace) {
			if tr.Flooded != (tr.FloodStep != nil) {
				t.Fatalf("Flooded %v with FloodStep %v", tr.Flooded, tr.FloodStep)
			}
			if tr.FloodStep != nil && !slices.Contains(tr.FloodStep.Notes, floodNote) {
				t.Fatalf("FloodStep %+v has no flood note", tr.FloodStep)
			}
			for _, s := range tr.Steps {
				if s.Table < 0 || s.Table > 255 || s.Priority < -1 || s.Priority > 65535 || s.Depth < 0 {
					t.Fatalf("bad step %+v", s)
				}
				if s.Bridge != "" && !slices.Contains(tr.Bridges, s.Bridge) {
					t.Fatalf("step bridge %q not in %q", s.Bridge, tr.Bridges)
				}
			}
		}
		check(&tr)
		for i := range tr.Resumed {
			check(&tr.Resumed[i])
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	addCaptures(f, "version", "ovs-vswitchd (Open vSwitch) 2.17.9\nDPDK 21.11.6\n")
	f.Fuzz(func(t *testing.T, text string) {
		v, err := ParseVersion(text)
		if err != nil {
			return
		}
		if v == "" || strings.ContainsAny(v, " \t\n") || !strings.Contains(text, "(Open vSwitch) "+v) {
			t.Fatalf("version %q from %q", v, text)
		}
	})
}

// FuzzKeyHead checks that the shortcut for the common key layout reads
// what the general walk reads, whenever it takes a key.
func FuzzKeyHead(f *testing.F) {
	for _, k := range []string{
		"recirc_id(0),in_port(tap1),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:64),eth_type(0x0800),ipv4(frag=no)",
		"recirc_id(0x1),in_port(2),eth(dst=02:00:00:00:00:05/ff:ff:ff:ff:ff:00),eth_type(0x8100),vlan(vid=10,pcp=0)",
		"recirc_id(0),in_port(a(b)),eth(src=x)",
		"tunnel(tun_id=0x64,src=192.0.2.2,dst=192.0.2.1),recirc_id(0),in_port(vxlan_sys_4789),eth()",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		var p flowParser
		common, walked := Megaflow{Key: key, VLAN: -1}, Megaflow{Key: key, VLAN: -1}
		r1, ok := p.commonKeyHead(&common)
		if !ok {
			if !reflect.DeepEqual(common, Megaflow{Key: key, VLAN: -1}) {
				t.Fatalf("key %q refused but changed: %+v", key, common)
			}
			return
		}
		r2, ok2 := p.parseKeyHead(&walked)
		if !ok2 || r1 != r2 || !reflect.DeepEqual(common, walked) {
			t.Fatalf("key %q\ncommon %q %+v\nwalked %v %q %+v", key, r1, common, ok2, r2, walked)
		}
	})
}

// FuzzCutNum checks that cutNum reads the number parseDec reads.
func FuzzCutNum(f *testing.F) {
	for _, s := range []string{"0", "7, bytes:1", "01", "", "x", "18446744073709551615", "18446744073709551616", "9999999999999999999", "99999999999999999999,", "1234567890123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, rest, ok := cutNum("p:"+s, "p:")
		i := len(s) - len(rest)
		want, wantOK := parseDec(s[:i])
		if ok != wantOK || ok && n != want || i < 0 || strings.TrimLeft(s[:i], "0123456789") != "" ||
			(rest != "" && rest[0] >= '0' && rest[0] <= '9') {
			t.Fatalf("cutNum(%q) = %d, %q, %v; parseDec reads %d, %v", s, n, rest, ok, want, wantOK)
		}
	})
}

// FuzzCountPortLines holds countPortLines to what it replaces.
func FuzzCountPortLines(f *testing.F) {
	addCaptures(f, "dpctl-show", "\n  port \n  port 1\n\n  port", "  port 1\n", "")
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := countPortLines(text), strings.Count(text, "\n  port "); got != want {
			t.Fatalf("countPortLines = %d, strings.Count %d", got, want)
		}
	})
}
