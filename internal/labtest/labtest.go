// Package labtest starts the project's Open vSwitch lab (lab/lab.sh) for
// end-to-end tests: a private ovsdb-server and ovs-vswitchd in their own
// network namespace, with VMs and an external host as namespaces on veths.
//
// Lab tests skip under "go test -short" and when the machine cannot run the
// lab (not root, OVS not installed), except when OVS_FLOOD_LAB=require is
// set, as CI does: then a lab test that would skip fails instead, -short
// or not.
package labtest

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
)

// Lab is one running lab instance.
type Lab struct {
	// Name is the lab's network namespace (the "hypervisor").
	Name string
	// RunDir is the OVS run directory (sockets, pid files) of this lab.
	RunDir string
	// Base is the directory holding this lab's files (iperf logs, flows).
	Base   string
	script string
	env    []string
	t      testing.TB
}

// Script returns the path of lab/lab.sh in this repository.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "lab", "lab.sh")
}

// Prefix is prepended to every lab (network namespace) name: the value of
// OVS_FLOOD_LAB_PREFIX, empty by default.
func Prefix() string { return os.Getenv("OVS_FLOOD_LAB_PREFIX") }

// Required reports whether lab tests must run rather than skip.
func Required() bool { return os.Getenv("OVS_FLOOD_LAB") == "require" }

// SkipShort skips t under "go test -short", or fails it when Required: a
// test that starts a lab, namespaces or the agent binary is no unit test.
func SkipShort(t testing.TB) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if Required() {
		t.Fatal("lab test under -short: OVS_FLOOD_LAB=require forbids skipping (drop -short or OVS_FLOOD_LAB)")
	}
	t.Skip("lab test: skipped under -short")
}

// Skip skips (or, when Required, fails) t under -short or unless the lab
// can run here.
func Skip(t testing.TB) {
	t.Helper()
	SkipShort(t)
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, b := range []string{"ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ip", "iperf3", "ethtool"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("lab test needs %s (apt-get install openvswitch-switch iproute2 ethtool iperf3; run as root)", strings.Join(missing, ", "))
	if Required() {
		t.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
	}
	t.Skip(msg)
}

// Up starts a lab named name (keep names unique per test and short: they
// become netns names) and tears it down when the test ends. OVS_FLOOD_LAB_PREFIX,
// when set, is prepended to every lab name so that two checkouts can run
// their lab tests on one machine at once.
func Up(t testing.TB, name string) *Lab { return UpEnv(t, name) }

// UpEnv is Up with extra lab.sh environment ("LAB_HYBRID=3").
func UpEnv(t testing.TB, name string, env ...string) *Lab {
	t.Helper()
	Skip(t)
	base := os.Getenv("LAB_BASE")
	if base == "" {
		base = "/tmp/ovs-flood-lab"
	}
	name = Prefix() + name
	l := &Lab{Name: name, Base: filepath.Join(base, name), RunDir: filepath.Join(base, name, "run"), script: Script(), env: env, t: t}
	l.run("down") // leftovers from an interrupted run
	if _, err := l.Run("up"); err != nil {
		l.run("down")
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("LAB_KEEP") == "" {
			l.run("down")
		}
	})
	return l
}

// Run runs lab.sh CMD NAME ARGS... and returns its combined output.
func (l *Lab) Run(cmd string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", append([]string{l.script, cmd, l.Name}, args...)...)
	c.Env = append(append(os.Environ(), "LAB_BASE="+filepath.Dir(l.Base)), l.env...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if err != nil {
		return out.String(), fmt.Errorf("lab.sh %s %s: %w\n%s", cmd, l.Name, err, out.String())
	}
	return out.String(), nil
}

func (l *Lab) run(cmd string) { _, _ = l.Run(cmd) }

// MustRun is Run that fails the test on error.
func (l *Lab) MustRun(cmd string, args ...string) string {
	l.t.Helper()
	out, err := l.Run(cmd, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// Exec runs a command inside the lab's hypervisor namespace.
func (l *Lab) Exec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Name, name}, args...)...)
	c.Env = append(os.Environ(), "OVS_RUNDIR="+l.RunDir)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return string(out), nil
}

// Appctl runs ovs-appctl against the lab's vswitchd (for test setup and
// cross-checks only; the agent itself never forks).
func (l *Lab) Appctl(args ...string) (string, error) { return l.Exec("ovs-appctl", args...) }

// Vsctl runs ovs-vsctl against the lab's database.
func (l *Lab) Vsctl(args ...string) (string, error) {
	return l.Exec("ovs-vsctl", append([]string{"--db=unix:" + l.RunDir + "/db.sock"}, args...)...)
}

// Ofctl runs ovs-ofctl -O OpenFlow13 against the lab.
func (l *Lab) Ofctl(args ...string) (string, error) {
	return l.Exec("ovs-ofctl", append([]string{"-O", "OpenFlow13"}, args...)...)
}

// InNetns runs f with the calling goroutine's OS thread switched into the
// lab's hypervisor network namespace, where the lab's OVS ports live.
func (l *Lab) InNetns(f func() error) error { return InNetns(l.Name, f) }

// ExecIn runs a command inside network namespace ns (a lab VM, say
// "<lab>-vm4").
func ExecIn(ns, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v in %s: %w: %s", name, args, ns, err, out)
	}
	return string(out), nil
}
