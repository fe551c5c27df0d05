package linuxbridge

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// bridgeLab is one running lab/linuxbridge.sh instance.
type bridgeLab struct {
	name string
	base string
	t    testing.TB
}

func labScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "lab", "linuxbridge.sh")
}

// skipLab skips (or, with OVS_FLOOD_LAB=require, fails) unless the
// Linux-bridge lab can run here.
func skipLab(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test skipped with -short")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, b := range []string{"ip", "bridge", "iperf3", "python3"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("Linux-bridge lab needs %s (apt-get install iproute2 iperf3 python3; run as root)", strings.Join(missing, ", "))
	if labtest.Required() {
		t.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
	}
	t.Skip(msg)
}

// upLab starts lab/linuxbridge.sh under a prefixed name and tears it down
// when the test ends.
func upLab(t testing.TB, name string) *bridgeLab {
	t.Helper()
	skipLab(t)
	base := os.Getenv("LAB_BASE")
	if base == "" {
		base = "/tmp/ovs-flood-lab"
	}
	l := &bridgeLab{name: labtest.Prefix() + name, base: base, t: t}
	_, _ = l.run("down")
	if _, err := l.run("up"); err != nil {
		_, _ = l.run("down")
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("LAB_KEEP") == "" {
			_, _ = l.run("down")
		}
	})
	return l
}

func (l *bridgeLab) run(cmd string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", append([]string{labScript(), cmd, l.name}, args...)...)
	c.Env = append(os.Environ(), "LAB_BASE="+l.base)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("linuxbridge.sh %s %s %v: %w\n%s", cmd, l.name, args, err, out.String())
	}
	return out.String(), nil
}

func (l *bridgeLab) mustRun(cmd string, args ...string) string {
	l.t.Helper()
	out, err := l.run(cmd, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// sent parses the "sent_packets N sent_bytes N" line of a flood or east run.
func sent(t testing.TB, out string) (packets, bytes uint64) {
	t.Helper()
	i := strings.Index(out, "sent_packets")
	if i < 0 {
		t.Fatalf("no sent_packets line in %q", out)
	}
	if _, err := fmt.Sscanf(out[i:], "sent_packets %d sent_bytes %d", &packets, &bytes); err != nil {
		t.Fatalf("parse %q: %v", out[i:], err)
	}
	return packets, bytes
}

// inLab runs f on a thread inside the lab's hypervisor namespace.
func (l *bridgeLab) inLab(f func() error) {
	l.t.Helper()
	if err := labtest.InNetns(l.name, f); err != nil {
		l.t.Fatal(err)
	}
}
