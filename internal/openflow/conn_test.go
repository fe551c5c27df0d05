package openflow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// fakeSwitch is an OpenFlow switch on a unix socket that replays captured
// Open vSwitch messages. It sends hello, answers echo requests, and hands
// every other request to respond.
type fakeSwitch struct {
	t     *testing.T
	path  string
	hello []byte
	// respond answers one request on connection conn (numbered from 1);
	// returning false closes the connection.
	respond func(conn int, w *fakeConn, req []byte) bool

	conns       atomic.Int32
	mu          sync.Mutex
	clientHello []byte
	echoReplies []uint32 // xids of echo replies from the client
}

// fakeConn writes to one client.
type fakeConn struct{ net.Conn }

// reply sends msgs with the request's xid.
func (w *fakeConn) reply(req []byte, msgs ...[]byte) {
	for _, m := range msgs {
		m = append([]byte(nil), m...)
		copy(m[4:8], req[4:8])
		w.Write(m)
	}
}

func newFakeSwitch(t *testing.T, hello []byte, respond func(conn int, w *fakeConn, req []byte) bool) *fakeSwitch {
	t.Helper()
	fs := &fakeSwitch{t: t, path: filepath.Join(t.TempDir(), "br-test.mgmt"), hello: hello, respond: respond}
	ln, err := net.Listen("unix", fs.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(fs.conns.Add(1))
			go fs.serve(n, nc)
		}
	}()
	return fs
}

func (fs *fakeSwitch) serve(n int, nc net.Conn) {
	defer nc.Close()
	w := &fakeConn{nc}
	w.Write(fs.hello)
	for {
		msg, err := readMsg(nc)
		if err != nil {
			return
		}
		switch msg[1] {
		case typeHello:
			fs.mu.Lock()
			fs.clientHello = msg
			fs.mu.Unlock()
		case typeEchoRequest:
			r := append([]byte(nil), msg...)
			r[1] = typeEchoReply
			w.Write(r)
		case typeEchoReply:
			fs.mu.Lock()
			fs.echoReplies = append(fs.echoReplies, binary.BigEndian.Uint32(msg[4:]))
			fs.mu.Unlock()
		default:
			if !fs.respond(n, w, msg) {
				return
			}
		}
	}
}

// statsType returns the statistics type of a request.
func statsType(req []byte) uint16 { return binary.BigEndian.Uint16(req[8:10]) }

// replayer answers table and flow statistics requests with captures.
func replayer(t *testing.T, v uint8) func(int, *fakeConn, []byte) bool {
	tables := loadCapture(t, fmt.Sprintf("of1%d-table-stats.bin", v-1))
	flows := loadCapture(t, fmt.Sprintf("of1%d-flow-stats.bin", v-1))
	return func(_ int, w *fakeConn, req []byte) bool {
		switch statsType(req) {
		case statsTable:
			w.reply(req, tables...)
		case statsFlow:
			w.reply(req, flows...)
		}
		return true
	}
}

// splitReply cuts a captured flow statistics reply into n parts along entry
// boundaries, with the MORE flag on all but the last, as a switch does.
func splitReply(t *testing.T, c *codec, msg []byte, n int) [][]byte {
	entries := flowEntries(t, c, msg)
	per := (len(entries) + n - 1) / n
	var parts [][]byte
	for i := 0; i < len(entries); i += per {
		part := append([]byte(nil), msg[:c.statsHeader]...)
		for _, e := range entries[i:min(i+per, len(entries))] {
			part = append(part, e...)
		}
		binary.BigEndian.PutUint16(part[2:], uint16(len(part)))
		flags := uint16(0)
		if i+per < len(entries) {
			flags = replyMore
		}
		binary.BigEndian.PutUint16(part[10:], flags)
		parts = append(parts, part)
	}
	return parts
}

func TestDialNegotiation(t *testing.T) {
	for _, tc := range []struct {
		hello    string
		raw      []byte
		versions []uint8
		want     uint8
		err      []string
	}{
		{hello: "hello-default.bin", want: Version13},
		{hello: "hello-default.bin", versions: []uint8{Version15}, want: Version15},
		{hello: "hello-default.bin", versions: []uint8{Version10, Version13}, want: Version10},
		{hello: "hello-of14.bin", want: Version14},
		{raw: []byte{1, 0, 0, 8, 0, 0, 0, 0}, want: Version10},
		{hello: "hello-of11-of12.bin", err: []string{"bridge allows OpenFlow11,OpenFlow12", "OpenFlow13,OpenFlow14,OpenFlow15", "protocols column", "set bridge br-test protocols="}},
		{hello: "hello-of14.bin", versions: []uint8{Version13}, err: []string{"allows OpenFlow14", "protocols column"}},
	} {
		t.Run(fmt.Sprintf("%s%x-%v", tc.hello, tc.raw, tc.versions), func(t *testing.T) {
			hello := tc.raw
			if tc.hello != "" {
				hello = loadCapture(t, tc.hello)[0]
			}
			v := tc.want
			if v == 0 {
				v = Version13
			}
			fs := newFakeSwitch(t, hello, replayer(t, v))
			c, err := Dial(context.Background(), fs.path, Options{Versions: tc.versions})
			if tc.err != nil {
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Version() != tc.want || c.Bridge() != "br-test" {
				t.Fatalf("negotiated %s on %s, want %s", VersionName(c.Version()), c.Bridge(), VersionName(tc.want))
			}
			// Our HELLO offers exactly the chosen version.
			fs.mu.Lock()
			ch := fs.clientHello
			fs.mu.Unlock()
			if ch[0] != tc.want || helloVersions(ch) != 1<<tc.want {
				t.Errorf("client hello %x", ch)
			}
			ts, err := c.TableStats(context.Background())
			if err != nil || len(ts) != 254 {
				t.Fatalf("TableStats: %d tables, %v", len(ts), err)
			}
			nr, err := c.NormalRules(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// The replayed capture is the whole table (no switch-side
			// filter here): 13 direct NORMAL rules, 12 in OpenFlow 1.0,
			// which cannot express write_actions(NORMAL).
			want := 13
			if tc.want == Version10 {
				want = 12
			}
			if len(nr) != want {
				t.Errorf("%d NORMAL rules, want %d", len(nr), want)
			}
		})
	}
}

func TestFlowStatsMultipart(t *testing.T) {
	c13 := codecs[Version13]
	single := loadCapture(t, "of13-flow-stats.bin")[0]
	want, err := decodeFlowStats(c13, single)
	if err != nil {
		t.Fatal(err)
	}
	real := loadCapture(t, "of13-flow-stats-multipart.bin.gz")
	var echoSent atomic.Bool
	fs := newFakeSwitch(t, loadCapture(t, "hello-default.bin")[0], func(_ int, w *fakeConn, req []byte) bool {
		if statsType(req) != statsFlow {
			t.Errorf("request type %d", statsType(req))
			return false
		}
		if req[16] == 120 { // table 120: the reply Open vSwitch split itself
			w.reply(req, real...)
			return true
		}
		parts := splitReply(t, c13, single, 3)
		w.reply(req, parts[0])
		// The switch probes in the middle of a reply; and sends an
		// asynchronous message (xid 0) nobody asked for.
		w.Write([]byte{4, typeEchoRequest, 0, 12, 0, 0, 0, 0x99, 'p', 'i', 'n', 'g'})
		w.Write([]byte{4, 12, 0, 8, 0, 0, 0, 0})
		echoSent.Store(true)
		w.reply(req, parts[1:]...)
		return true
	})
	c, err := Dial(context.Background(), fs.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Read by its own goroutine, written by every request: raw system
	// calls, so that neither wakes the runtime's monitor thread.
	if runtime.GOOS == "linux" && !rawio.IsRaw(c.nc) {
		t.Errorf("the connection is a %T, not a raw one", c.nc)
	}
	got, err := c.FlowStats(context.Background(), FlowFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 27 {
		t.Errorf("reassembled %d flows differ from the single-message %d", len(got), len(want))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		fs.mu.Lock()
		replies := fs.echoReplies
		fs.mu.Unlock()
		if len(replies) == 1 && replies[0] == 0x99 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo replies %v, want one with xid 0x99", replies)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, err = c.FlowStats(context.Background(), FlowFilter{OneTable: true, TableID: 120})
	if err != nil || len(got) != 1200 {
		t.Fatalf("real multipart reply: %d flows, %v", len(got), err)
	}
}

func TestMaxReplyBytes(t *testing.T) {
	real := loadCapture(t, "of13-flow-stats-multipart.bin.gz")
	tables := loadCapture(t, "of13-table-stats.bin")
	fs := newFakeSwitch(t, loadCapture(t, "hello-default.bin")[0], func(_ int, w *fakeConn, req []byte) bool {
		if statsType(req) == statsFlow {
			w.reply(req, real...)
		} else {
			w.reply(req, tables...)
		}
		return true
	})
	c, err := Dial(context.Background(), fs.path, Options{MaxReplyBytes: 70000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.FlowStats(context.Background(), FlowFilter{}); err == nil || !strings.Contains(err.Error(), "MaxReplyBytes") {
		t.Fatalf("got %v, want the reply cap error", err)
	}
	// The rest of the oversized reply is dropped; the connection goes on.
	if ts, err := c.TableStats(context.Background()); err != nil || len(ts) != 254 {
		t.Fatalf("after the cap: %d tables, %v", len(ts), err)
	}
}

func TestGarbageReplies(t *testing.T) {
	hello := loadCapture(t, "hello-default.bin")[0]
	withLength := func(m []byte) []byte {
		binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
		return m
	}
	for _, tc := range []struct {
		name   string
		reply  []byte
		hangup bool // the switch closes the connection after replying
		closed bool // the connection must end
	}{
		{name: "random body", reply: withLength(append([]byte{4, typeMultipart, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
			"\x00\x18garbage-garbage-garbage\xff"...))},
		{name: "entry lengths lie", reply: withLength(append([]byte{4, typeMultipart, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
			0xff, 0xf0, 0, 0, 0, 0, 0, 0))},
		{name: "wrong stats type", reply: loadCapture(t, "of13-table-stats.bin")[0]},
		{name: "short header length", reply: []byte{4, typeMultipart, 0, 3, 0, 0, 0, 0}, closed: true},
		{name: "wrong version", reply: loadCapture(t, "of10-flow-stats.bin")[0], closed: true},
		{name: "text", reply: []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), hangup: true, closed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeSwitch(t, hello, func(_ int, w *fakeConn, req []byte) bool {
				w.reply(req, tc.reply)
				return !tc.hangup
			})
			c, err := Dial(context.Background(), fs.path, Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.FlowStats(context.Background(), FlowFilter{}); err == nil {
				t.Fatal("garbage decoded without error")
			} else {
				t.Log(err)
			}
			time.Sleep(20 * time.Millisecond)
			if c.broken() != tc.closed {
				t.Errorf("connection ended: %v, want %v", c.broken(), tc.closed)
			}
			if tc.closed {
				if _, err := c.TableStats(context.Background()); !errors.Is(err, ErrClosed) {
					t.Errorf("after the connection ended: %v, want ErrClosed", err)
				}
			}
		})
	}
}

func TestTimeoutAndErrorReply(t *testing.T) {
	tables := loadCapture(t, "of13-table-stats.bin")
	errMsg := loadCapture(t, "of13-error.bin")[0]
	var n atomic.Int32
	fs := newFakeSwitch(t, loadCapture(t, "hello-default.bin")[0], func(_ int, w *fakeConn, req []byte) bool {
		switch n.Add(1) {
		case 1: // no answer at all
		case 2:
			w.reply(req, errMsg)
		default:
			w.reply(req, tables...)
		}
		return true
	})
	c, err := Dial(context.Background(), fs.path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.TableStats(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v, want a deadline error after 200ms", err, time.Since(start))
	}
	_, err = c.TableStats(context.Background())
	var oe *Error
	if !errors.As(err, &oe) || oe.Type != 4 {
		t.Fatalf("got %v, want the switch's OpenFlow error", err)
	}
	if ts, err := c.TableStats(context.Background()); err != nil || len(ts) != 254 {
		t.Fatalf("third request: %d tables, %v", len(ts), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.TableStats(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	fs := newFakeSwitch(t, loadCapture(t, "hello-default.bin")[0], replayer(t, Version13))
	c, err := Dial(context.Background(), fs.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ts, err := c.TableStats(context.Background())
			if err == nil && len(ts) != 254 {
				err = fmt.Errorf("%d tables", len(ts))
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			fl, err := c.FlowStats(context.Background(), FlowFilter{})
			if err == nil && len(fl) != 27 {
				err = fmt.Errorf("%d flows", len(fl))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestHelloFailed(t *testing.T) {
	// A switch that accepts the connection, then rejects our HELLO with
	// OFPET_HELLO_FAILED (xid 0) and hangs up, as Open vSwitch does.
	dir := t.TempDir()
	path := filepath.Join(dir, "br-x.mgmt")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.Write(loadCapture(t, "hello-default.bin")[0])
		readMsg(nc)
		nc.Write([]byte{4, typeError, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0})
	}()
	_, err = Dial(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "protocols column") || !strings.Contains(err.Error(), "HelloFailed") {
		t.Fatalf("got %v, want the switch's refusal with a hint at the protocols column", err)
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Dial(context.Background(), filepath.Join(dir, "br-nope.mgmt"), Options{})
	if err == nil || !strings.Contains(err.Error(), `bridge "br-nope" may not exist`) || !strings.Contains(err.Error(), "--ovs.rundir") {
		t.Errorf("missing socket: %v", err)
	}

	// A socket file nobody listens on (left behind by a dead vswitchd).
	stale := filepath.Join(dir, "br-stale.mgmt")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Dial(context.Background(), stale, Options{}); err == nil || !strings.Contains(err.Error(), "ovs-vswitchd running") {
		t.Errorf("stale socket: %v", err)
	}

	// Root bypasses file permissions, so check the wording on the error
	// net.Dial returns for EACCES.
	eacces := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	if err := dialError("/run/openvswitch/br-int.mgmt", "br-int", eacces); !strings.Contains(err.Error(), "run as root") || !errors.Is(err, syscall.EACCES) {
		t.Errorf("permission denied: %v", err)
	}

	// A peer that is not an OpenFlow switch.
	fs := newFakeSwitch(t, []byte("SSH-2.0-OpenSSH_9.2\r\n"), nil)
	if _, err := Dial(context.Background(), fs.path, Options{Timeout: 300 * time.Millisecond}); err == nil {
		t.Error("Dial to a non-OpenFlow peer succeeded")
	}
}

func TestPoolRedial(t *testing.T) {
	tables := loadCapture(t, "of13-table-stats.bin")
	var reqs atomic.Int32
	fs := newFakeSwitch(t, loadCapture(t, "hello-default.bin")[0], func(conn int, w *fakeConn, req []byte) bool {
		switch reqs.Add(1) {
		case 1: // answer, then hang up (vswitchd restarting between polls)
			w.reply(req, tables...)
			return false
		case 3: // hang up in the middle of a request on a reused connection
			return false
		}
		w.reply(req, tables...)
		return true
	})
	p := NewPool(filepath.Dir(fs.path), Options{Timeout: time.Second})
	defer p.Close()
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if ts, err := p.TableStats(ctx, "br-test"); err != nil || len(ts) != 254 {
			t.Fatalf("call %d: %d tables, %v", i, len(ts), err)
		}
		if i == 1 {
			time.Sleep(50 * time.Millisecond) // let the reader see the hang-up
		}
	}
	// Connections: the first, a redial after the idle hang-up, and one
	// more after the hang-up during request 3, retried transparently.
	if n := fs.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
	if _, err := p.NormalRules(ctx, "br-missing"); err == nil || !strings.Contains(err.Error(), "--ovs.rundir") {
		t.Errorf("missing bridge: %v", err)
	}
}

// TestRequestAfterHangupGivesReason: when the switch refuses the
// connection and hangs up before a request is written, the write's broken
// pipe must not hide the refusal the switch sent first.
func TestRequestAfterHangupGivesReason(t *testing.T) {
	ours, theirs, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	// The switch's HELLO_FAILED, then it hangs up.
	if _, err := theirs.Write([]byte{4, typeError, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	c := &Conn{nc: ours, path: "br-x.mgmt", bridge: "br-x", codec: codecs[Version13], opts: Options{}.withDefaults(),
		pending: make(map[uint32]*call), done: make(chan struct{})}
	// The reader starts only after the write has failed.
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.readLoop(bufio.NewReader(ours))
	}()
	_, err = c.roundTrip(context.Background(), func(xid uint32) []byte { return c.codec.echoRequestMsg(xid, nil) })
	if err == nil || !strings.Contains(err.Error(), "protocols column") || !strings.Contains(err.Error(), "HelloFailed") {
		t.Fatalf("got %v, want the switch's refusal", err)
	}
}

// socketPair returns the two ends of a connected unix stream socket.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}
