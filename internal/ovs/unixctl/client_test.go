package unixctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// request is what the fake server decodes from the client.
type request struct {
	Method string          `json:"method"`
	Params []string        `json:"params"`
	ID     json.RawMessage `json:"id"`
}

// fakeServer is a unixctl server on a temporary socket, answering each
// request with handle.
type fakeServer struct {
	t      *testing.T
	rundir string
	pid    int
	ln     net.Listener
	handle func(conn net.Conn, req request)
	dials  atomic.Int32
	reqs   chan request
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

// shortDir returns a temporary directory with a short path: unix socket
// paths are limited to 108 bytes and t.TempDir() paths can be longer.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "uc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startFake(t *testing.T, rundir string, pid int, handle func(net.Conn, request)) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, rundir: rundir, pid: pid, handle: handle, reqs: make(chan request, 100)}
	sock := filepath.Join(rundir, fmt.Sprintf("ovs-vswitchd.%d.ctl", pid))
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	if err := os.WriteFile(filepath.Join(rundir, "ovs-vswitchd.pid"), fmt.Appendf(nil, "%d\n", pid), 0o644); err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.dials.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				dec := json.NewDecoder(conn)
				for {
					var req request
					if err := dec.Decode(&req); err != nil {
						return
					}
					select {
					case s.reqs <- req:
					default:
					}
					s.handle(conn, req)
				}
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener and every connection, as a dying daemon does.
func (s *fakeServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// replyWith returns a handler answering every request with result.
func replyWith(result string) func(net.Conn, request) {
	return func(conn net.Conn, req request) {
		b, _ := json.Marshal(map[string]any{"id": req.ID, "result": result, "error": nil})
		conn.Write(b)
	}
}

func TestCall(t *testing.T) {
	const fdb = " port  VLAN  MAC                Age\n    1    10  02:00:00:00:00:01    1\n"
	tricky := "quotes \" and } { ] [ braces, backslash \\ \\\" and unicode é ✓ \u2028 \x01 end\n"
	tests := []struct {
		name    string
		opts    Options
		handle  func(net.Conn, request)
		ctx     func() (context.Context, context.CancelFunc)
		want    string
		wantIs  []error
		wantMsg string
		server  *ServerError
	}{
		{
			name:   "normal reply",
			handle: replyWith(fdb),
			want:   fdb,
		},
		{
			name: "error reply",
			handle: func(conn net.Conn, req request) {
				fmt.Fprintf(conn, `{"id":%s,"result":null,"error":"no such bridge\n"}`, req.ID)
			},
			server:  &ServerError{Method: "fdb/show", Params: []string{"br-int"}, Message: "no such bridge\n"},
			wantMsg: "unixctl fdb/show br-int: daemon replied with an error: no such bridge",
		},
		{
			name: "reply split across writes",
			handle: func(conn net.Conn, req request) {
				b, _ := json.Marshal(map[string]any{"error": nil, "result": tricky, "id": req.ID})
				b = append([]byte(" \n"), b...)
				for i := range b {
					conn.Write(b[i : i+1])
					if i%7 == 0 {
						time.Sleep(100 * time.Microsecond)
					}
				}
			},
			want: tricky,
		},
		{
			name:    "oversized reply",
			opts:    Options{MaxReplyBytes: 4096},
			handle:  replyWith(strings.Repeat("x", 1<<20)),
			wantIs:  []error{ErrReplyTooLarge},
			wantMsg: "over 4096 bytes (raise --ovs.max-reply-bytes)",
		},
		{
			name: "wrong id",
			handle: func(conn net.Conn, req request) {
				fmt.Fprintf(conn, `{"id":12345,"result":"x","error":null}`)
			},
			wantIs:  []error{ErrProtocol},
			wantMsg: "reply id 12345 does not match request id 1",
		},
		{
			name: "server closing mid-reply",
			handle: func(conn net.Conn, req request) {
				fmt.Fprintf(conn, `{"id":%s,"result":"half a rep`, req.ID)
				conn.Close()
			},
			wantIs: []error{io.ErrUnexpectedEOF},
		},
		{
			name: "not json",
			handle: func(conn net.Conn, req request) {
				fmt.Fprintf(conn, "HTTP/1.0 400 Bad Request\r\n\r\n")
			},
			wantIs: []error{ErrProtocol},
		},
		{
			name: "duplicate key",
			handle: func(conn net.Conn, req request) {
				fmt.Fprintf(conn, `{"id":%s,"result":"x","error":null,"result":"y"}`, req.ID)
			},
			wantIs:  []error{ErrProtocol},
			wantMsg: `duplicate key "result"`,
		},
		{
			name:    "no reply before timeout",
			opts:    Options{Timeout: 100 * time.Millisecond},
			handle:  func(net.Conn, request) {},
			wantIs:  []error{os.ErrDeadlineExceeded},
			wantMsg: "no reply within 100ms",
		},
		{
			name:   "context cancelled",
			handle: func(net.Conn, request) {},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantIs: []error{context.Canceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortDir(t)
			srv := startFake(t, dir, 4242, tt.handle)
			c := New(dir, tt.opts)
			defer c.Close()
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			start := time.Now()
			got, err := c.Call(ctx, "fdb/show", "br-int")
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("call took %v", elapsed)
			}
			req := <-srv.reqs
			if req.Method != "fdb/show" || len(req.Params) != 1 || req.Params[0] != "br-int" || string(req.ID) != "1" {
				t.Errorf("server got request %+v", req)
			}
			if tt.want != "" || (len(tt.wantIs) == 0 && tt.server == nil) {
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				if got != tt.want {
					t.Fatalf("Call = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Call = %q, nil error; want error", got)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %v", err, target)
				}
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if tt.server != nil {
				var se *ServerError
				if !errors.As(err, &se) {
					t.Fatalf("error %T %v is not a *ServerError", err, err)
				}
				if se.Method != tt.server.Method || se.Message != tt.server.Message || strings.Join(se.Params, " ") != strings.Join(tt.server.Params, " ") {
					t.Errorf("ServerError = %+v, want %+v", se, tt.server)
				}
				if errors.Is(err, ErrNotRunning) || errors.Is(err, ErrProtocol) {
					t.Errorf("server error %v must not look like a transport error", err)
				}
			}
		})
	}
}

// The client reads and writes its connection with raw system calls
// (package rawio): a plain net.Conn would wake the runtime's monitor
// thread after every wait for ovs-vswitchd.
func TestClientConnIsRaw(t *testing.T) {
	dir := shortDir(t)
	startFake(t, dir, 7, func(conn net.Conn, req request) {
		fmt.Fprintf(conn, `{"id":%s,"result":"ok","error":null}`, req.ID)
	})
	c := New(dir, Options{})
	defer c.Close()
	if _, err := c.Call(context.Background(), "version"); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && !rawio.IsRaw(c.conn) {
		t.Fatalf("the client's connection is a %T, not a raw one", c.conn)
	}
}

// After a server error the connection is kept; after a transport error
// the next call dials again.
func TestConnectionReuse(t *testing.T) {
	dir := shortDir(t)
	var n atomic.Int32
	srv := startFake(t, dir, 7, func(conn net.Conn, req request) {
		switch n.Add(1) {
		case 2:
			fmt.Fprintf(conn, `{"id":%s,"result":null,"error":"nope"}`, req.ID)
		case 4:
			fmt.Fprintf(conn, `{"id":999,"result":"x","error":null}`)
		default:
			fmt.Fprintf(conn, `{"id":%s,"result":"ok","error":null}`, req.ID)
		}
	})
	c := New(dir, Options{})
	defer c.Close()
	ctx := context.Background()
	wantErr := []bool{false, true, false, true, false}
	wantDials := []int32{1, 1, 1, 1, 2}
	for i := range wantErr {
		_, err := c.Call(ctx, "version")
		if (err != nil) != wantErr[i] {
			t.Fatalf("call %d: err = %v, want error %v", i+1, err, wantErr[i])
		}
		if got := srv.dials.Load(); got != wantDials[i] {
			t.Fatalf("after call %d: %d dials, want %d", i+1, got, wantDials[i])
		}
	}
}

func TestNotRunning(t *testing.T) {
	t.Run("pid file missing", func(t *testing.T) {
		dir := shortDir(t)
		c := New(dir, Options{})
		_, err := c.Call(context.Background(), "version")
		if !errors.Is(err, ErrNotRunning) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotRunning and ErrNotExist", err)
		}
		want := "ovs-vswitchd is not running or --ovs.rundir is wrong: open " + filepath.Join(dir, "ovs-vswitchd.pid")
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
		if _, err := c.SocketPath(); !errors.Is(err, ErrNotRunning) {
			t.Errorf("SocketPath err = %v", err)
		}
	})
	t.Run("stale pid", func(t *testing.T) {
		dir := shortDir(t)
		os.WriteFile(filepath.Join(dir, "ovs-vswitchd.pid"), []byte("99999\n"), 0o644)
		c := New(dir, Options{})
		_, err := c.Call(context.Background(), "version")
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("err = %v, want ErrNotRunning", err)
		}
		if !strings.Contains(err.Error(), "stale pid file") || !strings.Contains(err.Error(), "pid 99999") {
			t.Errorf("err = %q does not explain the stale pid", err)
		}
		sock, err := c.SocketPath()
		if err != nil || sock != filepath.Join(dir, "ovs-vswitchd.99999.ctl") {
			t.Errorf("SocketPath = %q, %v", sock, err)
		}
	})
	t.Run("socket refuses", func(t *testing.T) {
		dir := shortDir(t)
		srv := startFake(t, dir, 5, replyWith("x"))
		srv.stop() // leaves the socket file behind with nobody listening
		os.WriteFile(filepath.Join(dir, "ovs-vswitchd.pid"), []byte("5\n"), 0o644)
		c := New(dir, Options{})
		_, err := c.Call(context.Background(), "version")
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("err = %v, want ErrNotRunning", err)
		}
	})
	t.Run("garbage pid file", func(t *testing.T) {
		dir := shortDir(t)
		os.WriteFile(filepath.Join(dir, "ovs-vswitchd.pid"), []byte("\n"), 0o644)
		_, err := New(dir, Options{}).Call(context.Background(), "version")
		if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "not a pid") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("other target", func(t *testing.T) {
		dir := shortDir(t)
		os.WriteFile(filepath.Join(dir, "ovsdb-server.pid"), []byte("12\n"), 0o644)
		sock, err := New(dir, Options{Target: "ovsdb-server"}).SocketPath()
		if err != nil || sock != filepath.Join(dir, "ovsdb-server.12.ctl") {
			t.Fatalf("SocketPath = %q, %v", sock, err)
		}
	})
}

// Permission errors cannot be provoked as root (the tests run as root for
// the lab), so the classification is checked directly.
func TestPermissionError(t *testing.T) {
	c := New("/var/run/openvswitch", Options{})
	dialErr := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	err := c.classifyDialError(42, "/var/run/openvswitch/ovs-vswitchd.42.ctl", dialErr)
	if !errors.Is(err, ErrPermission) || !errors.Is(err, syscall.EACCES) {
		t.Fatalf("err = %v, want ErrPermission wrapping EACCES", err)
	}
	want := "permission denied on /var/run/openvswitch/ovs-vswitchd.42.ctl: the OVS sockets are root-only, run the agent as root (or in a group that can read /var/run/openvswitch)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want prefix %q", err, want)
	}
	if os.Geteuid() != 0 {
		// As a normal user a root-only pid file gives the same advice.
		dir := shortDir(t)
		p := filepath.Join(dir, "ovs-vswitchd.pid")
		os.WriteFile(p, []byte("1\n"), 0o000)
		if _, err := New(dir, Options{}).SocketPath(); !errors.Is(err, ErrPermission) {
			t.Errorf("unreadable pid file: err = %v, want ErrPermission", err)
		}
	}
}

// A daemon restart under a kept connection: the next call re-reads the pid
// file and reaches the new daemon without failing.
func TestRestart(t *testing.T) {
	dir := shortDir(t)
	old := startFake(t, dir, 100, replyWith("old"))
	c := New(dir, Options{})
	defer c.Close()
	ctx := context.Background()
	if got, err := c.Call(ctx, "version"); err != nil || got != "old" {
		t.Fatalf("Call = %q, %v", got, err)
	}
	old.stop()
	os.Remove(filepath.Join(dir, "ovs-vswitchd.100.ctl"))
	os.Remove(filepath.Join(dir, "ovs-vswitchd.pid"))

	// While the daemon is down calls fail with ErrNotRunning.
	if _, err := c.Call(ctx, "version"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("daemon down: err = %v, want ErrNotRunning", err)
	}
	startFake(t, dir, 200, replyWith("new"))
	if got, err := c.Call(ctx, "version"); err != nil || got != "new" {
		t.Fatalf("after restart: Call = %q, %v", got, err)
	}
	if sock, _ := c.SocketPath(); !strings.HasSuffix(sock, "ovs-vswitchd.200.ctl") {
		t.Errorf("SocketPath = %q", sock)
	}

	// A new pid file alone does not make the client re-dial: the kept
	// connection stays in use while it works.
	startFake(t, dir, 300, replyWith("newer"))
	if got, err := c.Call(ctx, "version"); err != nil || got != "new" {
		t.Fatalf("kept connection: Call = %q, %v", got, err)
	}
}

func TestRestartBetweenCalls(t *testing.T) {
	dir := shortDir(t)
	first := startFake(t, dir, 100, replyWith("first"))
	c := New(dir, Options{})
	defer c.Close()
	ctx := context.Background()
	if got, err := c.Call(ctx, "version"); err != nil || got != "first" {
		t.Fatalf("Call = %q, %v", got, err)
	}
	first.stop() // closes our kept connection; pid file still says 100
	startFake(t, dir, 101, replyWith("second"))
	if got, err := c.Call(ctx, "version"); err != nil || got != "second" {
		t.Fatalf("after restart: Call = %q, %v (want transparent reconnect)", got, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	dir := shortDir(t)
	startFake(t, dir, 9, func(conn net.Conn, req request) {
		b, _ := json.Marshal(map[string]any{"id": req.ID, "result": strings.Join(req.Params, ","), "error": nil})
		conn.Write(b)
	})
	c := New(dir, Options{})
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("g%d,%d", g, i)
				got, err := c.Call(context.Background(), "echo", fmt.Sprintf("g%d", g), fmt.Sprint(i))
				if err != nil || got != want {
					errs <- fmt.Errorf("Call = %q, %v; want %q", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClose(t *testing.T) {
	dir := shortDir(t)
	startFake(t, dir, 9, replyWith("x"))
	c := New(dir, Options{})
	if _, err := c.Call(context.Background(), "version"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(context.Background(), "version"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after Close: err = %v, want net.ErrClosed", err)
	}
}

func TestNoParams(t *testing.T) {
	dir := shortDir(t)
	srv := startFake(t, dir, 9, replyWith("x"))
	if _, err := New(dir, Options{}).Call(context.Background(), "version"); err != nil {
		t.Fatal(err)
	}
	if req := <-srv.reqs; req.Params == nil {
		t.Errorf(`request sent "params":null; OVS requires an array`)
	}
}

// TestQueuedCallHonoursDeadline: a call waiting for the connection behind
// one the daemon is slow to answer gives up at its own deadline.
func TestQueuedCallHonoursDeadline(t *testing.T) {
	dir := shortDir(t)
	release := make(chan struct{})
	startFake(t, dir, 4242, func(conn net.Conn, req request) {
		if req.Method == "slow" {
			<-release
		}
		b, _ := json.Marshal(map[string]any{"id": req.ID, "result": req.Method, "error": nil})
		conn.Write(b)
	})
	c := New(dir, Options{Timeout: time.Minute})
	defer c.Close()
	slow := make(chan error, 1)
	go func() { _, err := c.Call(context.Background(), "slow"); slow <- err }()
	// Wait until the slow call holds the connection.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.Call(ctx, "probe")
		cancel()
		if err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "fast"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued call: %v, want its deadline", err)
	}
	select {
	case err := <-slow:
		t.Fatalf("the slow call ended (%v) before the queued one gave up", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("slow call: %v", err)
	}
}

// CallFunc hands fn the same text Call returns (escapes decoded), on a
// kept connection, and passes errors through: the server's, fn's own.
func TestCallFunc(t *testing.T) {
	dir := shortDir(t)
	text := "ufid:1, in_port(tapvm1), actions:tapvm2\n\"quoted\" \\ é\nline 3\n"
	srv := startFake(t, dir, 8, func(conn net.Conn, req request) {
		if req.Method == "bad" {
			fmt.Fprintf(conn, `{"id":%s,"result":null,"error":"no such command"}`, req.ID)
			return
		}
		replyWith(text)(conn, req)
	})
	c := New(dir, Options{})
	defer c.Close()
	ctx := context.Background()
	for i := range 3 {
		var got string
		if err := c.CallFunc(ctx, func(b []byte) error { got = string(b); return nil }, "dpctl/dump-flows"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got != text {
			t.Fatalf("call %d: text %q, want %q", i, got, text)
		}
	}
	if got, err := c.Call(ctx, "version"); err != nil || got != text {
		t.Fatalf("Call after CallFunc = %q, %v", got, err)
	}
	if d := srv.dials.Load(); d != 1 {
		t.Errorf("%d dials, want 1 kept connection", d)
	}
	var se *ServerError
	if err := c.CallFunc(ctx, func([]byte) error { t.Error("fn called for an error reply"); return nil }, "bad"); !errors.As(err, &se) {
		t.Errorf("error reply: err = %v, want a *ServerError", err)
	}
	mine := errors.New("parse failed")
	if err := c.CallFunc(ctx, func([]byte) error { return mine }, "dpctl/dump-flows"); err != mine {
		t.Errorf("fn's error came back as %v", err)
	}
}
