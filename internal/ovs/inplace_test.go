package ovs

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// DatapathShow reads dpctl/show -s in place through a FuncCaller: what it
// returns equals what a plain Caller's copy of the reply parses to, and
// stays so once the buffer is overwritten (every string kept is copied
// out of it).
func TestDatapathShowInPlace(t *testing.T) {
	for _, file := range []string{"dpctl-show-s.txt", "dpctl-show-s.dummy.txt", "dpctl-show.txt"} {
		t.Run(file, func(t *testing.T) {
			text := capture(t, file)
			dps, err := ParseDpctlShow(text)
			if err != nil {
				t.Fatal(err)
			}
			dp := dps[0].Name
			r := replies{"dpctl/show -s " + dp: text}
			want, err := NewVswitchd(r).DatapathShow(context.Background(), dp)
			if err != nil {
				t.Fatal(err)
			}
			fr := &funcReplies{replies: r}
			v := NewVswitchd(fr)
			for i := range 2 { // the second read must not see the first's buffer
				got, err := v.DatapathShow(context.Background(), dp)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("read %d in place:\n%+v\nwant\n%+v", i, got, want)
				}
				for name := range got.Counters {
					if strings.Contains(name, "#") {
						t.Errorf("counter key %q is a view of the overwritten buffer", name)
					}
				}
			}
			if fr.calls != 2 {
				t.Errorf("CallFunc used %d times, want 2", fr.calls)
			}
		})
	}
}

// dpifVariant is the captured dpif/show with edits.
func dpifVariant(t *testing.T, edits ...string) string {
	t.Helper()
	text := capture(t, "dpif-show.txt")
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("capture has no %q", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	return text
}

// DpifShow reuses its last parse while only the datapaths' counters
// change, and parses again on any other change: every reply, read in place
// from a buffer overwritten after each read, returns what ParseDpifShow
// makes of it.
func TestDpifShowReuse(t *testing.T) {
	steps := []struct {
		name  string
		text  string
		reuse bool // the bridges of the previous step come back
	}{
		{"lab", dpifVariant(t), false},
		{"counters moved", dpifVariant(t, "hit:22404 missed:4", "hit:30000 missed:9"), true},
		{"counter dropped", dpifVariant(t, "hit:22404 missed:4", "hit:30001"), true},
		{"port renumbered", dpifVariant(t, "tapvm2 2/3", "tapvm2 2/9"), false},
		{"port renamed", dpifVariant(t, "tapvm2 2/3", "tapvmX 2/3"), false},
		{"port type changed", dpifVariant(t, "tapvm2 2/3: (system)", "tapvm2 2/3: (tap)"), false},
		{"port removed", dpifVariant(t, "    tapvm3 3/4: (system)\n", ""), false},
		{"counters moved again", dpifVariant(t, "    tapvm3 3/4: (system)\n", "", "hit:22404", "hit:40000"), true},
		{"datapath renamed", dpifVariant(t, "    tapvm3 3/4: (system)\n", "", "netdev@ovs-netdev:", "netdev@ovs-other:"), false},
		{"bridge renamed", dpifVariant(t, "    tapvm3 3/4: (system)\n", "", "  br-int:", "  br-new:"), false},
		{"garbage", "garbage\n", false},
		{"lab again", dpifVariant(t), false},
		{"lab, blank line added", dpifVariant(t) + "\n", false},
	}
	fr := &funcReplies{replies: replies{}}
	v := NewVswitchd(fr)
	var last []Datapath
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			fr.replies["dpif/show"] = s.text
			want, wantErr := ParseDpifShow(s.text)
			got, err := v.DpifShow(context.Background())
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, ParseDpifShow's %v", err, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DpifShow:\n%+v\nParseDpifShow:\n%+v", got, want)
			}
			shared := len(got) > 0 && len(last) > 0 && len(got[0].Bridges) > 0 && len(last[0].Bridges) > 0 &&
				&got[0].Bridges[0] == &last[0].Bridges[0]
			if shared != s.reuse {
				t.Errorf("bridges of the last reply reused: %v, want %v", shared, s.reuse)
			}
			if len(got) > 0 && len(last) > 0 && &got[0] == &last[0] {
				t.Error("the datapaths themselves are shared: a caller's counters would change under it")
			}
			last = got
		})
	}
}

// sameDpifTopologyByLine is sameDpifTopology as one walk over both
// replies' lines: the reference FuzzSameDpifTopology holds it to.
func sameDpifTopologyByLine(a, b string) bool {
	for a != "" && b != "" {
		var la, lb string
		la, a = cutLine(a)
		lb, b = cutLine(b)
		na, _, dpa := dpifDatapathLine(la)
		nb, _, dpb := dpifDatapathLine(lb)
		if dpa != dpb || (dpa && na != nb) || (!dpa && la != lb) {
			return false
		}
	}
	return a == "" && b == ""
}

func FuzzSameDpifTopology(f *testing.F) {
	lab := capture(f, "dpif-show.txt")
	for _, b := range []string{
		lab,
		strings.Replace(lab, "hit:22404 missed:4", "hit:30000 missed:9", 1),
		strings.Replace(lab, "tapvm2 2/3", "tapvm2 2/9", 1),
		strings.ReplaceAll(lab, "\n", "\r\n"),
		lab + "\n",
		strings.TrimSuffix(lab, "\n"),
		"",
	} {
		f.Add(lab, b)
	}
	f.Add("a@b: hit:1\n  x:\n", "a@b: hit:2\r\n  x:\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := sameDpifTopology(a, b), sameDpifTopologyByLine(a, b); got != want {
			t.Fatalf("sameDpifTopology(%q, %q) = %v, line by line %v", a, b, got, want)
		}
	})
}

// BenchmarkDpifShowReuse reads a dpif/show of 500 ports whose counters
// move on every read, as every poll does.
func BenchmarkDpifShowReuse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("netdev@ovs-netdev: hit:%d missed:4\n  br-int:\n    br-int 65534/0: (tap)\n")
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&sb, "    tapbe%06x-01 %d/%d: (dummy)\n", i, i, i)
	}
	format := sb.String()
	texts := [2]string{fmt.Sprintf(format, 1000), fmt.Sprintf(format, 2000)}
	fr := &funcReplies{replies: replies{}}
	v := NewVswitchd(fr)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		fr.replies["dpif/show"] = texts[i%2]
		i++
		dps, err := v.DpifShow(ctx)
		if err != nil || len(dps) != 1 || len(dps[0].Bridges[0].Ports) != 501 {
			b.Fatal(err)
		}
	}
}

// DatapathShow sizes a read's ports by the last read's: a reply with
// more or fewer ports than the last still reads as it does alone.
func TestDatapathShowPortsChange(t *testing.T) {
	full := capture(t, "dpctl-show-s.dummy.txt")
	_, firstPort, ok := strings.Cut(full, "\n  port ")
	if !ok {
		t.Fatal("capture has no port")
	}
	// The capture without its first port (and its counter lines).
	_, after, _ := strings.Cut(firstPort, "\n  port ")
	fewer := strings.Replace(full, "\n  port "+firstPort, "\n  port "+after, 1)
	dps, err := ParseDpctlShow(full)
	if err != nil {
		t.Fatal(err)
	}
	dp := dps[0].Name
	r := replies{}
	v := NewVswitchd(&funcReplies{replies: r})
	for i, text := range []string{full, fewer, full, full} {
		r["dpctl/show -s "+dp] = text
		want, err := NewVswitchd(replies{"dpctl/show -s " + dp: text}).DatapathShow(context.Background(), dp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.DatapathShow(context.Background(), dp)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("read %d: %+v, %v; alone %+v", i, got, err, want)
		}
		if i == 1 && len(got.Counters) != len(dps[0].Ports)-1 {
			t.Fatalf("read %d: %d ports' counters, want %d", i, len(got.Counters), len(dps[0].Ports)-1)
		}
	}
}
