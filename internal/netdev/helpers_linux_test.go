package netdev

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// needRoot skips tests that create namespaces and devices under -short or
// unless running as root with iproute2, or fails them when
// OVS_FLOOD_LAB=require.
func needRoot(tb testing.TB) {
	tb.Helper()
	labtest.SkipShort(tb)
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip (iproute2)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, ", ")
	if os.Getenv("OVS_FLOOD_LAB") == "require" {
		tb.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
	}
	tb.Skip(msg)
}

// run runs a setup command and fails the test if it fails.
func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// addNetns creates the named namespace (deleting a leftover of an
// interrupted run first) and deletes it when the test ends, which also
// destroys every virtual device created in it.
func addNetns(tb testing.TB, name string) {
	tb.Helper()
	_ = exec.Command("ip", "netns", "del", name).Run()
	run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	// No IPv6 autoconfiguration chatter (DAD, router solicitations) on the
	// devices we count packets on.
	run(tb, "ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
}

// ipBatch runs "ip -n ns -batch -" with the given commands.
func ipBatch(tb testing.TB, ns string, lines []string) {
	tb.Helper()
	c := exec.Command("ip", "-n", ns, "-batch", "-")
	c.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := c.CombinedOutput(); err != nil {
		tb.Fatalf("ip -n %s -batch: %v\n%s", ns, err, out)
	}
}

// inNetns runs f on a locked OS thread switched into the named namespace
// (see AtNetns: the caller's thread is never switched).
func inNetns(name string, f func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer h.Close()
	return AtNetns(h, f)
}

// devicesIn returns the devices of the one namespace ns ("" for the
// reader's own) keyed by plain name, whatever Options.WalkNetns says: the
// tests read a lab's namespaces one at a time through the reader's cache.
func (r *NetlinkReader) devicesIn(ctx context.Context, ns string) (map[string]Device, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		n   *nsReader
		err error
	)
	if ns == "" {
		n, err = r.ownReader()
	} else {
		n, err = r.nsReader(ns)
	}
	if err != nil {
		return nil, err
	}
	devs := make(map[string]Device, len(n.links))
	if err := n.read(ctx, time.Now(), r.opts.TopologyMaxAge, func(d Device) { devs[d.Name] = d }); err != nil {
		r.drop(ns, n)
		return nil, err
	}
	return devs, nil
}
