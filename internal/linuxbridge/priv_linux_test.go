package linuxbridge

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestObserverWithoutPrivilege runs NewObserver in a child process as an
// unprivileged user: the error must say what is missing and which
// drop-in grants it, and wrap ErrObserverUnsupported.
func TestObserverWithoutPrivilege(t *testing.T) {
	if os.Getenv("LB_UNPRIVILEGED_CHILD") == "1" {
		_, err := NewObserver("", 0)
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
	cmd := exec.Command(exe, "-test.run=^TestObserverWithoutPrivilege$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LB_UNPRIVILEGED_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	msg := string(out)
	t.Logf("unprivileged: %s", strings.TrimSpace(msg))
	for _, want := range []string{"CAP_BPF", "CAP_NET_ADMIN", "drop-in"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %s", strings.TrimSpace(msg), want)
		}
	}
	if strings.Contains(msg, "not ErrObserverUnsupported") || strings.HasPrefix(msg, "no error") {
		t.Errorf("child said %q", msg)
	}
}
