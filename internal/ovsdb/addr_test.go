package ovsdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		addr, network, address string
		wantErr                string
	}{
		{addr: "unix:/var/run/openvswitch/db.sock", network: "unix", address: "/var/run/openvswitch/db.sock"},
		{addr: "/run/openvswitch/db.sock", network: "unix", address: "/run/openvswitch/db.sock"},
		{addr: "tcp:127.0.0.1:6640", network: "tcp", address: "127.0.0.1:6640"},
		{addr: "tcp:127.0.0.1", network: "tcp", address: "127.0.0.1:6640"},
		{addr: "tcp:[::1]:6641", network: "tcp", address: "[::1]:6641"},
		{addr: "tcp:[::1]", network: "tcp", address: "[::1]:6640"},
		{addr: "tcp:ovsdb.example:", network: "tcp", address: "ovsdb.example:6640"},
		{addr: "tcp:::1", wantErr: "IPv6 hosts in brackets"},
		{addr: "unix:", wantErr: "empty socket path"},
		{addr: "tcp:", wantErr: "empty host"},
		{addr: "ssl:127.0.0.1:6640", wantErr: "ssl: is not supported"},
		{addr: "punix:/var/run/openvswitch/db.sock", wantErr: "listening address; give the client form unix:"},
		{addr: "db.sock", wantErr: "want unix:/path/to/db.sock or tcp:host:port"},
		{addr: "http://localhost", wantErr: `unknown scheme "http"`},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			network, address, err := parseAddr(tt.addr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--ovs.db") {
					t.Fatalf("parseAddr(%q) error = %v, want one containing %q and --ovs.db", tt.addr, err, tt.wantErr)
				}
				return
			}
			if err != nil || network != tt.network || address != tt.address {
				t.Fatalf("parseAddr(%q) = %q, %q, %v; want %q, %q", tt.addr, network, address, err, tt.network, tt.address)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	dir, err := os.MkdirTemp("", "ovsdb")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A socket file nobody listens on, as ovsdb-server leaves behind when killed.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()

	// A TCP port nobody listens on.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := tl.Addr().String()
	tl.Close()

	tests := []struct {
		name, addr string
		is         error
		want       []string
	}{
		{"missing socket", "unix:" + filepath.Join(dir, "db.sock"), os.ErrNotExist,
			[]string{"does not exist", "is ovsdb-server running", "--ovs.db"}},
		{"stale socket", "unix:" + stale, syscall.ECONNREFUSED,
			[]string{"nothing listens on ovsdb socket", "--ovs.db"}},
		{"tcp refused", "tcp:" + closedPort, syscall.ECONNREFUSED,
			[]string{"connection refused", "--ovs.db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(ctxT(t), tt.addr)
			if err == nil {
				t.Fatal("Dial worked")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

// permChildEnv names the socket the re-executed test binary dials as an
// unprivileged user.
const permChildEnv = "OVSDB_TEST_PERMISSION_CHILD"

// TestDialPermissionDenied reproduces Debian's root-only socket
// (srwxr-x--- root:root): the test binary runs itself as nobody against
// such a socket and the error must tell the user to run as root.
func TestDialPermissionDenied(t *testing.T) {
	if addr := os.Getenv(permChildEnv); addr != "" {
		_, err := Dial(context.Background(), addr)
		fmt.Printf("DIAL-ERROR: %v\n", err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a root-only socket and switch to nobody")
	}
	dir, err := os.MkdirTemp("", "ovsdb-perm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "db.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0o750); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a private build directory: copy it where
	// nobody may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ovsdb.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestDialPermissionDenied$")
	cmd.Env = []string{permChildEnv + "=unix:" + sock}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, w := range []string{"DIAL-ERROR: permission denied", "root-only on Debian", "run the exporter as root", "--ovs.db"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("child output does not contain %q:\n%s", w, out)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
