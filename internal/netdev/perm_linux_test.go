package netdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// denySetns makes setns(2) fail as it does without CAP_SYS_ADMIN and
// counts the attempts, until the test ends.
func denySetns(t *testing.T) *int {
	t.Helper()
	calls := 0
	orig := setns
	setns = func(netns.NsHandle) error { calls++; return unix.EPERM }
	t.Cleanup(func() { setns = orig })
	return &calls
}

// TestOwnNetnsWithoutSetns checks that the agent's own namespace is read
// without entering it: setns(2) needs CAP_SYS_ADMIN even for the namespace
// the thread is already in, and a container runs with no capabilities.
func TestOwnNetnsWithoutSetns(t *testing.T) {
	calls := denySetns(t)
	r, err := NewNetlinkReader(Options{})
	if err != nil {
		t.Fatalf("NewNetlinkReader in its own namespace: %v", err)
	}
	defer r.Close()
	for i := range 2 {
		devs, err := r.Devices(context.Background())
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if _, ok := devs["lo"]; !ok {
			t.Fatalf("poll %d: no lo in %v", i, keys(devs))
		}
		// A failed read drops the sockets; the reopen must not enter
		// the namespace either.
		r.drop("", r.self)
	}
	if *calls != 0 {
		t.Errorf("setns called %d times for the namespace the reader is in", *calls)
	}
}

// TestNetnsWalkDenied checks what --netns.walk does without CAP_SYS_ADMIN:
// the own namespace keeps being read, and the missing capability is
// reported once per walk (naming the flag and the capability, under the
// directory's name so that the agent logs it once), not once per namespace.
func TestNetnsWalkDenied(t *testing.T) {
	needRoot(t)
	const a, b = "nd-deny-a", "nd-deny-b"
	addNetns(t, a)
	addNetns(t, b)
	dir := t.TempDir()
	for _, n := range []string{a, b} {
		if err := os.Symlink("/run/netns/"+n, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	var reported []error
	r := newReader(t, Options{WalkNetns: true, NetnsDir: dir,
		OnNetnsError: func(ns string, err error) { reported = append(reported, fmt.Errorf("%s: %w", ns, err)) }})
	calls := denySetns(t)
	const polls = 3
	for i := range polls {
		devs, err := r.Devices(context.Background())
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if _, ok := devs["lo"]; !ok {
			t.Errorf("poll %d: own namespace not read: %v", i, keys(devs))
		}
		for k := range devs {
			if strings.Contains(k, "/") {
				t.Errorf("poll %d: %s read from a namespace it cannot enter", i, k)
			}
		}
	}
	if *calls == 0 {
		t.Fatal("the walk never tried to enter a namespace")
	}
	if len(reported) != polls {
		t.Fatalf("reported %d times in %d walks of 2 namespaces, want once per walk: %v", len(reported), polls, reported)
	}
	for _, rep := range reported {
		msg := rep.Error()
		if !strings.HasPrefix(msg, dir+": ") || !errors.Is(rep, ErrNetnsPermission) || !errors.Is(rep, unix.EPERM) ||
			!strings.Contains(msg, "--netns.walk") || !strings.Contains(msg, "CAP_SYS_ADMIN") {
			t.Errorf("report %q is not under the directory or does not name the flag and the capability", msg)
		}
	}

	// With the capability back, the walk reads the namespaces again and
	// reports nothing.
	setns = netns.Set
	reported = nil
	devs, err := r.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := devs[a+"/lo"]; !ok {
		t.Errorf("capability back, %s not read: %v", a, keys(devs))
	}
	if len(reported) != 0 {
		t.Errorf("capability back, still reported: %v", reported)
	}
}

// TestNetnsWalkMissingDir checks that --netns.walk without the namespace
// directory (a container started without -v /run/netns:...) says so on
// each walk, naming the mount, and keeps reading the own namespace.
func TestNetnsWalkMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netns")
	var reported []string
	r := newReader(t, Options{WalkNetns: true, NetnsDir: dir,
		OnNetnsError: func(ns string, err error) { reported = append(reported, ns+": "+err.Error()) }})
	for i := range 3 {
		devs, err := r.Devices(context.Background())
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if _, ok := devs["lo"]; !ok {
			t.Errorf("poll %d: own namespace not read", i)
		}
	}
	if len(reported) != 3 {
		t.Fatalf("reported %d times in 3 walks, want once each: %q", len(reported), reported)
	}
	if !strings.HasPrefix(reported[0], dir+": ") || !strings.Contains(reported[0], "--netns.walk") ||
		!strings.Contains(reported[0], "-v "+dir+":"+dir+":ro,rslave") {
		t.Errorf("report %q does not name the directory, the flag and the mount", reported[0])
	}
}

// TestNetnsWalkPlainFile checks that a name in the namespace directory
// that stays a plain file (a namespace created after a container started,
// with /run/netns mounted without rslave propagation) is reported from the
// second walk on, while one that is a plain file for a single walk ("ip
// netns add" midway) is not.
func TestNetnsWalkPlainFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "qrouter-1"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	var reported []string
	r := newReader(t, Options{WalkNetns: true, NetnsDir: dir,
		OnNetnsError: func(ns string, err error) { reported = append(reported, ns+": "+err.Error()) }})
	for i := range 4 {
		if _, err := r.Devices(context.Background()); err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(reported) != 0 {
			t.Fatalf("a plain file reported on the first walk: %q", reported)
		}
	}
	if len(reported) != 3 || !strings.HasPrefix(reported[0], "qrouter-1: ") || !strings.Contains(reported[0], "rslave") {
		t.Fatalf("reports %q, want one per walk after the first for qrouter-1, naming rslave", reported)
	}
}

// noCapsEnv marks the child process of TestNetnsNoCapabilities.
const noCapsEnv = "NETDEV_TEST_NO_CAPS"

// TestNetnsNoCapabilities runs the reader for real without any capability:
// the test binary re-executes itself as root with an empty bounding set
// (setpriv), as a container started with --cap-drop ALL runs. The own
// namespace must be read; the walk must report the missing CAP_SYS_ADMIN.
func TestNetnsNoCapabilities(t *testing.T) {
	if os.Getenv(noCapsEnv) != "" {
		noCapsChild(t)
		return
	}
	needRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is needed to drop capabilities: apt-get install util-linux")
	}
	const ns = "nd-nocap"
	addNetns(t, ns)
	dir := t.TempDir()
	if err := os.Symlink("/run/netns/"+ns, filepath.Join(dir, ns)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--",
		os.Args[0], "-test.run=^TestNetnsNoCapabilities$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), noCapsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child without capabilities: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNetnsNoCapabilities") {
		t.Fatalf("child did not run the check:\n%s", out)
	}
}

func noCapsChild(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "CapEff:\t0000000000000000") {
		t.Fatalf("the child still has capabilities:\n%s", status)
	}
	var reported []error
	r, err := NewNetlinkReader(Options{WalkNetns: true, NetnsDir: os.Getenv(noCapsEnv),
		OnNetnsError: func(_ string, err error) { reported = append(reported, err) }})
	if err != nil {
		t.Fatalf("no capabilities, own namespace: %v", err)
	}
	defer r.Close()
	for range 2 {
		devs, err := r.Devices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := devs["lo"]; !ok {
			t.Fatalf("own namespace not read: %v", keys(devs))
		}
	}
	if len(reported) != 2 || !errors.Is(reported[0], ErrNetnsPermission) {
		t.Fatalf("reports %v, want one ErrNetnsPermission per walk", reported)
	}
	t.Log(reported[0])
}
