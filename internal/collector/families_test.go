package collector

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector/collectortest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func gather(t *testing.T, s *state.Snapshot) []*dto.MetricFamily {
	t.Helper()
	store := &state.Store{}
	if s != nil {
		store.Publish(s)
	}
	mfs, err := New(store).Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func labelValue(m *dto.Metric, name string) (string, bool) {
	for _, p := range m.Label {
		if p.GetName() == name {
			return p.GetValue(), true
		}
	}
	return "", false
}

// Series that carry nothing are not served: no family without series,
// no OpenFlow table without rules, no leak ratio of 0 received over 0.
func TestNoEmptySeries(t *testing.T) {
	cases := []struct {
		name string
		snap *state.Snapshot
	}{
		{"before the first poll", nil},
		{"lab", labSnapshot()},
		{"loop", loopSnapshot()},
		{"500 ports", collectortest.Host(500, 3)},
		{"nothing read", &state.Snapshot{Sources: map[string]state.SourceStatus{}}},
		{"every table empty, idle VMs", edit(func(s *state.Snapshot) {
			for i := range s.Bridges[0].Tables {
				s.Bridges[0].Tables[i].Rules = 0
			}
			for i := range s.Detect.Ratios {
				s.Detect.Ratios[i].Leaked, s.Detect.Ratios[i].Received, s.Detect.Ratios[i].Ratio = 0, 0, 0
			}
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rules := map[string]uint32{}
			ratios := map[string]detect.Ratio{}
			if s := tc.snap; s != nil {
				for _, b := range s.Bridges {
					for _, tb := range b.Tables {
						rules[b.Name+"/"+strconv.Itoa(int(tb.ID))] = tb.Rules
					}
				}
				for _, r := range s.Detect.Ratios {
					ratios[r.Bridge+"/"+r.Port] = r
				}
			}
			for _, mf := range gather(t, tc.snap) {
				name := mf.GetName()
				if len(mf.Metric) == 0 {
					t.Errorf("%s: family without series", name)
				}
				for _, m := range mf.Metric {
					br, _ := labelValue(m, "bridge")
					if strings.HasPrefix(name, "ovs_openflow_table_") {
						tb, _ := labelValue(m, "table")
						if rules[br+"/"+tb] == 0 {
							t.Errorf("%s of table %s, which has no rules", name, tb)
						}
					}
					if name == "ovs_flood_leak_ratio" {
						port, _ := labelValue(m, "port")
						if r := ratios[br+"/"+port]; r.Leaked == 0 && r.Received == 0 {
							t.Errorf("leak ratio of %s, which received nothing in the window", port)
						}
					}
				}
			}
		})
	}
}

// Concurrent gathers of one snapshot share one build; a new snapshot is
// built anew.
func TestFamiliesBuiltOncePerSnapshot(t *testing.T) {
	store := &state.Store{}
	store.Publish(collectortest.Host(50, 1))
	c := New(store)
	got := make([][]*dto.MetricFamily, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			mfs, err := c.Gather()
			if err != nil {
				t.Error(err)
			}
			got[i] = mfs
		})
	}
	wg.Wait()
	for _, mfs := range got[1:] {
		if &mfs[0] != &got[0][0] {
			t.Fatal("one snapshot built twice")
		}
	}
	store.Publish(collectortest.Host(50, 2))
	if mfs, _ := c.Gather(); &mfs[0] == &got[0][0] {
		t.Fatal("a new snapshot served the last one's families")
	}
}

// Bad snapshots and programming errors are reported, never served twice,
// never a crash.
func TestBuildErrors(t *testing.T) {
	dupPort := labSnapshot()
	dupPort.Ports = append(dupPort.Ports, dupPort.Ports[0])
	store := &state.Store{}
	store.Publish(dupPort)
	mfs, err := New(store).Gather()
	if err == nil || !strings.Contains(err.Error(), `ovs_port_info{attached_mac="02:00:00:00:00:01"`) {
		t.Errorf("a port listed twice: error %v, want one naming the series", err)
	}
	for _, mf := range mfs {
		seen := map[string]bool{}
		for _, m := range mf.Metric {
			k := seriesString(mf.GetName(), m)
			if seen[k] {
				t.Errorf("served twice: %s", k)
			}
			seen[k] = true
		}
	}

	b := newBuilder(sizes{})
	sp := gauge("test_gauge", "A test.", "a", "b")
	f := b.family(sp)
	f.addValues(1, "only one value")
	f.addValues(2, "x", "y")
	b.family(sp).addValues(3, "x", "z")
	mfs, err = b.finish()
	if err == nil || !strings.Contains(err.Error(), "1 label values for 2 labels") || !strings.Contains(err.Error(), "built twice") {
		t.Errorf("error %v, want the wrong label count and the family built twice", err)
	}
	if len(mfs) != 1 || len(mfs[0].Metric) != 1 {
		t.Errorf("got %v, want the one good series", mfs)
	}
}

// In OpenMetrics a counter's family name drops _total: no other family may
// have that name, and every counter must have the suffix.
func TestOpenMetricsNames(t *testing.T) {
	names := map[string]dto.MetricType{}
	for _, d := range New(&state.Store{}).domains {
		for _, sp := range d.specs() {
			names[sp.name] = sp.typ
		}
	}
	for name, typ := range names {
		if typ != dto.MetricType_COUNTER {
			continue
		}
		if !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s without _total", name)
		}
		if _, clash := names[strings.TrimSuffix(name, "_total")]; clash {
			t.Errorf("%s and %s are one family in OpenMetrics", name, strings.TrimSuffix(name, "_total"))
		}
	}
}

func TestSmallLabels(t *testing.T) {
	for i := -2; i <= 70000; i++ {
		if got, want := vlanLabel(i), label.VLAN(i); got != want {
			t.Fatalf("vlanLabel(%d) = %q, label.VLAN %q", i, got, want)
		}
		if got, want := itoa(i), strconv.Itoa(i); got != want {
			t.Fatalf("itoa(%d) = %q, want %q", i, got, want)
		}
	}
}
