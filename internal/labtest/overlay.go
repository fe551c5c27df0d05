package labtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Multi is a running multi-host lab: lab/overlay.sh (three hypervisors
// joined by a VXLAN mesh) or lab/ovn.sh (ovn-northd and two OVN chassis).
// Each host is its own network namespace with its own OVS.
type Multi struct {
	// Name is the lab's name; host namespaces are Name-hv1.. or Name-ch1..
	Name string
	// Base is the directory holding the lab's files.
	Base   string
	script string
}

// OverlayScript returns the path of lab/overlay.sh.
func OverlayScript() string { return labScript("overlay.sh") }

// OVNScript returns the path of lab/ovn.sh.
func OVNScript() string { return labScript("ovn.sh") }

func labScript(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "lab", name)
}

// UpMulti starts the lab of script (OverlayScript or OVNScript) under
// name, prefixed like Up, and tears it down when the test ends. It skips
// under -short, and skips (or fails with OVS_FLOOD_LAB=require) when the
// machine cannot run it; needs lists binaries beyond OVS's (ovn-northd…).
func UpMulti(t testing.TB, script, name string, needs ...string) *Multi {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-host lab: skipped with -short")
	}
	Skip(t)
	for _, b := range append([]string{"perl"}, needs...) {
		if _, err := exec.LookPath(b); err != nil {
			msg := fmt.Sprintf("lab %s needs %s (apt-get install ovn-central ovn-host perl)", filepath.Base(script), b)
			if Required() {
				t.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
			}
			t.Skip(msg)
		}
	}
	base := os.Getenv("LAB_BASE")
	if base == "" {
		base = "/tmp/ovs-flood-lab"
	}
	m := &Multi{Name: Prefix() + name, Base: base, script: script}
	_, _ = m.Run("down")
	if out, err := m.Run("up"); err != nil {
		_, _ = m.Run("down")
		t.Fatalf("%s up: %v\n%s", filepath.Base(script), err, out)
	}
	t.Cleanup(func() {
		if os.Getenv("LAB_KEEP") == "" {
			_, _ = m.Run("down")
		}
	})
	return m
}

// Run runs the lab script's CMD for this lab with ARGS.
func (m *Multi) Run(cmd string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", append([]string{m.script, cmd, m.Name}, args...)...)
	c.Env = append(os.Environ(), "LAB_BASE="+m.Base)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s %s: %w\n%s", filepath.Base(m.script), cmd, m.Name, err, out)
	}
	return string(out), nil
}

// Start runs the lab script's CMD in the background (traffic for a few
// seconds, say) and returns a function that waits for it.
func (m *Multi) Start(cmd string, args ...string) (wait func() error) {
	c := exec.Command("bash", append([]string{m.script, cmd, m.Name}, args...)...)
	c.Env = append(os.Environ(), "LAB_BASE="+m.Base)
	if err := c.Start(); err != nil {
		return func() error { return err }
	}
	return c.Wait
}

// Host returns the namespace and OVS run directory of host N: hvN for
// overlay.sh, chN for ovn.sh.
func (m *Multi) Host(kind string, n int) (netns, rundir string) {
	h := fmt.Sprintf("%s%d", kind, n)
	return m.Name + "-" + h, filepath.Join(m.Base, m.Name, h, "run")
}

// Southbound returns the OVN Southbound address of an ovn.sh lab.
func (m *Multi) Southbound() string {
	return "unix:" + filepath.Join(m.Base, m.Name, "central", "sb.sock")
}

// ExecHost runs a command in host N's namespace with OVS_RUNDIR set.
func (m *Multi) ExecHost(kind string, n int, name string, args ...string) (string, error) {
	ns, run := m.Host(kind, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	c.Env = append(os.Environ(), "OVS_RUNDIR="+run)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v in %s: %w: %s", name, args, ns, err, out)
	}
	return string(out), nil
}
