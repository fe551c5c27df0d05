package web

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The process metrics are client_golang's, names and HELP, but for the
// network namespace's octets; the values are this process's.
func TestProcessCollector(t *testing.T) {
	ours, theirs := prometheus.NewPedanticRegistry(), prometheus.NewRegistry()
	ours.MustRegister(newProcessCollector())
	theirs.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	got, err := ours.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want, err := theirs.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	helps := map[string]string{}
	for _, mf := range got {
		helps[mf.GetName()] = mf.GetHelp()
		m := mf.Metric[0]
		values[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	for _, mf := range want {
		name := mf.GetName()
		if strings.HasPrefix(name, "process_network_") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if helps[name] != mf.GetHelp() {
				t.Errorf("HELP %q, client_golang's %q", helps[name], mf.GetHelp())
			}
			theirs := mf.Metric[0].GetGauge().GetValue() + mf.Metric[0].GetCounter().GetValue()
			got, ok := values[name]
			switch {
			case !ok:
				t.Error("missing")
			case name == "process_cpu_seconds_total" && (got <= 0 || got < theirs-0.02):
				t.Errorf("%g s, client_golang read %g s before", got, theirs)
			case name == "process_resident_memory_bytes" || name == "process_virtual_memory_bytes" || name == "process_open_fds":
				if got <= 0 || got > 2*theirs || got < theirs/2 {
					t.Errorf("%g, client_golang %g", got, theirs)
				}
			case name == "process_start_time_seconds":
				if got != theirs || time.Since(time.Unix(int64(got), 0)) > time.Hour {
					t.Errorf("%g, client_golang %g", got, theirs)
				}
			case name == "process_max_fds" || name == "process_virtual_memory_max_bytes":
				if got != theirs {
					t.Errorf("%g, client_golang %g", got, theirs)
				}
			}
		})
	}
	if problems, err := testutil.GatherAndLint(ours); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestReadStatm(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		size, rss     float64
		wantErr       bool
	}{
		{"proc(5) line", "310786 4563 2541 1254 0 36733 0\n", 310786, 4563, false},
		{"empty", "", 0, 0, true},
		{"not numbers", "a b c\n", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dir + "/" + strings.ReplaceAll(tc.name, " ", "_")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			size, rss, err := readStatm(p)
			if (err != nil) != tc.wantErr || size != tc.size || rss != tc.rss {
				t.Errorf("readStatm = %g, %g, %v; want %g, %g, error %v", size, rss, err, tc.size, tc.rss, tc.wantErr)
			}
		})
	}
}
