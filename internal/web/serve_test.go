package web

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
)

// notes records what Serve sends to the service manager.
type notes struct {
	mu   sync.Mutex
	sent []string
}

func (n *notes) notify(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, s)
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.sent...)
}

func serveOptions(addr, configFile string, n *notes, log *zap.Logger) Options {
	addrs := []string{addr}
	systemd := false
	return Options{
		Agent:   agent.DefaultConfig(),
		Logger:  log,
		Flags:   &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &configFile},
		Notify:  n.notify,
		Sources: nil, // no sources: the agent polls nothing, quickly
		// A watchdog as if WatchdogSec were set, so a wrong ping would show.
		WatchdogInterval: func() time.Duration { return 20 * time.Millisecond },
	}
}

// A listener that cannot be opened ends Serve at once with status 1 and a
// message naming the cause, and nothing is sent to systemd.
func TestServeFailsWhenTheListenerCannotOpen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	badTLS := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(badTLS, []byte("tls_server_config:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, addr, config, want string
	}{
		{"port taken", taken.Addr().String(), "", "address already in use"},
		{"bad TLS file", "127.0.0.1:0", badTLS, "web.config.file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			var n notes
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if code := Serve(ctx, serveOptions(tc.addr, tc.config, &n, zap.New(core))); code != 1 {
				t.Fatalf("exit status %d, want 1", code)
			}
			if ctx.Err() != nil {
				t.Fatal("Serve returned only when its context ended")
			}
			var found bool
			for _, e := range logs.All() {
				line := e.Message
				if err, ok := e.ContextMap()["error"].(string); ok {
					line += ": " + err
				}
				found = found || strings.Contains(line, tc.want)
			}
			if !found {
				t.Errorf("no log line mentions %q: %v", tc.want, logs.All())
			}
			time.Sleep(50 * time.Millisecond) // a stray goroutine would notify by now
			if sent := n.all(); len(sent) != 0 {
				t.Errorf("sent %q to systemd after failing", sent)
			}
		})
	}
}

// Serving works, says READY once polled, and ends with status 0 on
// shutdown.
func TestServeReadyThenShutdown(t *testing.T) {
	var n notes
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- Serve(ctx, serveOptions("127.0.0.1:0", "", &n, zap.NewNop())) }()
	deadline := time.Now().Add(30 * time.Second)
	for !contains(n.all(), "READY=1") || !contains(n.all(), "WATCHDOG=1") {
		if time.Now().After(deadline) {
			t.Fatalf("no READY and WATCHDOG within 30 s: %q", n.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status %d after shutdown, want 0", code)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestKeepAliveOnlyWhileProgressing(t *testing.T) {
	var n notes
	tick := make(chan time.Time)
	// The poll loop moves for three ticks, then is stuck.
	script := []bool{true, true, true, false, false}
	calls := 0
	progressing := func(time.Time) bool { calls++; return script[calls-1] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepAlive(ctx, tick, progressing, n.notify)
	}()
	for range script {
		tick <- time.Now()
	}
	cancel()
	<-done
	if sent := n.all(); len(sent) != 3 {
		t.Errorf("sent %q, want WATCHDOG=1 for the 3 ticks while progressing only", sent)
	}
}
