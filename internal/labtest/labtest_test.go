package labtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// skipProbeEnv makes TestSkipProbe run; only the child processes of
// TestSkipUnderShort set it.
const skipProbeEnv = "LABTEST_SKIP_PROBE"

// TestSkipProbe is what TestSkipUnderShort runs in a child test binary: a
// lab test's first line. On its own it does nothing (and does not skip,
// which CI would count as a skipped lab test).
func TestSkipProbe(t *testing.T) {
	if os.Getenv(skipProbeEnv) == "" {
		return
	}
	Skip(t)
	t.Log("probe ran")
}

// TestSkipUnderShort runs this test binary again with and without -short
// and OVS_FLOOD_LAB=require: -short skips a lab test, unless the lab is
// required, which turns the skip into a failure.
func TestSkipUnderShort(t *testing.T) {
	tests := []struct {
		name      string
		short     bool
		require   bool
		wantFail  bool
		wantInOut string
	}{
		{"short", true, false, false, "--- SKIP: TestSkipProbe"},
		{"short required", true, true, true, "OVS_FLOOD_LAB=require forbids skipping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-test.run=^TestSkipProbe$", "-test.v", "-test.count=1"}
			if tt.short {
				args = append(args, "-test.short")
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), skipProbeEnv+"=1", "OVS_FLOOD_LAB=")
			if tt.require {
				cmd.Env = append(cmd.Env, "OVS_FLOOD_LAB=require")
			}
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.wantFail {
				t.Errorf("child failed = %v (%v), want %v\n%s", failed, err, tt.wantFail, out)
			}
			if !strings.Contains(string(out), tt.wantInOut) {
				t.Errorf("child output lacks %q:\n%s", tt.wantInOut, out)
			}
			if strings.Contains(string(out), "probe ran") {
				t.Errorf("the lab test ran under -short:\n%s", out)
			}
		})
	}
}
