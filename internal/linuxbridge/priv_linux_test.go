package linuxbridge

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestObserverWithoutPrivilege runs NewObserver in a child process as an
// unprivileged user: the error must say what is missing and which
// drop-in grants it, and wrap ErrObserverUnsupported.
func TestObserverWithoutPrivilege(t *testing.T) {
	if os.Getenv("LB_UNPRIVILEGED_CHILD") == "1" {
		o, err := NewObserver("", 0)
		if err == nil && os.Getenv("LB_ATTACH") == "1" {
			// Loopback: counting only, detached when the child exits.
			err = o.Sync(map[int]bool{1: true})
			if err == nil {
				_, err = o.Counts()
			}
		}
		if err == nil {
			os.Stdout.WriteString("no error\n")
			os.Exit(0)
		}
		if !errors.Is(err, ErrObserverUnsupported) {
			os.Stdout.WriteString("not ErrObserverUnsupported: ")
		}
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to start an unprivileged child")
	}
	// The test binary's own directory is root's; run a world-readable copy.
	dir, err := os.MkdirTemp("", "lbpriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "linuxbridge.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(env string, caps ...uintptr) string {
		cmd := exec.Command(exe, "-test.run=^TestObserverWithoutPrivilege$")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LB_UNPRIVILEGED_CHILD=1", env)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: caps}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	msg := run("LB_ATTACH=0")
	t.Logf("unprivileged: %s", msg)
	for _, want := range []string{"CAP_BPF", "CAP_NET_ADMIN", DropIn} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "not ErrObserverUnsupported") || strings.HasPrefix(msg, "no error") {
		t.Errorf("child said %q", msg)
	}
	// What the drop-in grants is enough to load, attach and read.
	if msg := run("LB_ATTACH=1", unix.CAP_BPF, unix.CAP_NET_ADMIN); msg != "no error" {
		t.Errorf("with CAP_BPF and CAP_NET_ADMIN: %s", msg)
	}
}
