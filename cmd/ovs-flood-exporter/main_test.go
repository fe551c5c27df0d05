package main

import (
	"runtime"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
)

// TestGOMAXPROCSFlag: --runtime.gomaxprocs sets how many threads run Go
// code (0 keeps the runtime's choice), and a negative value is refused
// before anything is read.
func TestGOMAXPROCSFlag(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // the flag's default, not the caller's
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	noOVS := []string{"--ovs.rundir", t.TempDir(), "--ovs.db", "unix:" + t.TempDir() + "/db.sock", "--linuxbridge.enabled=false",
		"--log.level=error", "check", "--check.interval=1ms", "--output=json"}
	tests := []struct {
		name  string
		flags []string
		want  int // GOMAXPROCS after the run; 0: unchanged
		exit  int
	}{
		{"default: one", nil, 1, report.ExitUnreadable},
		{"explicit", []string{"--runtime.gomaxprocs=2"}, 2, report.ExitUnreadable},
		{"zero keeps the runtime's choice", []string{"--runtime.gomaxprocs=0"}, 0, report.ExitUnreadable},
		{"negative is refused", []string{"--runtime.gomaxprocs=-1"}, 0, report.ExitUnreadable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(3) // a value no case sets
			if got := run(append(append([]string{}, tc.flags...), noOVS...)); got != tc.exit {
				t.Errorf("exit %d, want %d", got, tc.exit)
			}
			want := tc.want
			if want == 0 {
				want = 3
			}
			if got := runtime.GOMAXPROCS(0); got != want {
				t.Errorf("GOMAXPROCS %d, want %d", got, want)
			}
		})
	}
}
