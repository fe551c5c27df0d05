package unixctl_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// labName is this package's lab (parallel packages use other names).
const labName = "ux1"

// TestLabCall talks to a real ovs-vswitchd, then restarts it under the
// kept connection.
func TestLabCall(t *testing.T) {
	l := labtest.Up(t, labName)
	c := unixctl.New(l.RunDir, unixctl.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	got, err := c.Call(ctx, "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	want, err := l.Appctl("version")
	if err != nil {
		t.Fatal(err)
	}
	// ovs-appctl prints the reply followed by a newline of its own when
	// the reply lacks one.
	if strings.TrimSpace(got) != strings.TrimSpace(want) || !strings.HasPrefix(got, "ovs-vswitchd (Open vSwitch) ") {
		t.Fatalf("version = %q, ovs-appctl says %q", got, want)
	}

	fdb, err := c.Call(ctx, "fdb/show", "br-int")
	if err != nil {
		t.Fatalf("fdb/show: %v", err)
	}
	if !strings.HasPrefix(fdb, " port  VLAN  MAC                Age\n") {
		t.Errorf("fdb/show = %q", fdb)
	}

	_, err = c.Call(ctx, "fdb/show", "br-nope")
	var se *unixctl.ServerError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "no such bridge") {
		t.Fatalf("fdb/show br-nope: err = %v, want *ServerError \"no such bridge\"", err)
	}
	if _, err := c.Call(ctx, "no/such-command"); !errors.As(err, &se) {
		t.Fatalf("unknown command: err = %v, want *ServerError", err)
	}

	before, err := c.SocketPath()
	if err != nil {
		t.Fatal(err)
	}
	l.MustRun("restart")
	after, err := c.SocketPath()
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Fatalf("restart kept socket %s; the test needs a new pid", after)
	}

	// The next call reconnects to the new daemon, after at most one
	// failing call (the client retries a connection closed while idle, so
	// normally none fails).
	failures := 0
	for {
		got, err = c.Call(ctx, "version")
		if err == nil {
			break
		}
		failures++
		t.Logf("call %d after restart: %v", failures, err)
		if failures > 1 {
			t.Fatalf("still failing after restart: %v", err)
		}
	}
	if !strings.HasPrefix(got, "ovs-vswitchd (Open vSwitch) ") {
		t.Errorf("version after restart = %q", got)
	}
	t.Logf("restart: %d failing calls, socket %s -> %s", failures, before, after)

	// The bridge comes back once vswitchd has read the database.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Call(ctx, "fdb/show", "br-int")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fdb/show br-int after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Daemon gone: ErrNotRunning, naming the pid file.
	l.MustRun("stop")
	_, err = c.Call(ctx, "version")
	if !errors.Is(err, unixctl.ErrNotRunning) {
		t.Fatalf("stopped daemon: err = %v, want ErrNotRunning", err)
	}
	t.Logf("stopped daemon: %v", err)
	l.MustRun("start")
	if _, err := c.Call(ctx, "version"); err != nil {
		t.Fatalf("after start: %v", err)
	}
}

// BenchmarkCallFDBShow measures one fdb/show round trip over the kept
// connection against the lab's vswitchd.
func BenchmarkCallFDBShow(b *testing.B) {
	l := labtest.Up(b, labName)
	c := unixctl.New(l.RunDir, unixctl.Options{})
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Call(ctx, "fdb/show", "br-int"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Call(ctx, "fdb/show", "br-int"); err != nil {
			b.Fatal(err)
		}
	}
}
