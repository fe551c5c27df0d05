package netdev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newReader returns a NetlinkReader closed when the test ends.
func newReader(tb testing.TB, opts Options) *NetlinkReader {
	tb.Helper()
	r, err := NewNetlinkReader(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	return r
}

// hybridPlug builds, in namespace ns, the iptables hybrid plug of seed 001:
// tapX (a tap) and vnetX (a veth) in Linux bridge qbrX, with the veth pair
// qvbX ⇄ qvoX, qvbX in the bridge and qvoX left for OVS.
func hybridPlug(tb testing.TB, ns string) {
	ipBatch(tb, ns, []string{
		"link add qbrX type bridge",
		"link add qvbX type veth peer name qvoX",
		"link set qvbX master qbrX",
		"tuntap add tapX mode tap",
		"link set tapX master qbrX",
		"link add vnetX type veth peer name vnetX-vm",
		"link set vnetX master qbrX",
	})
}

func TestNetnsHybridPlug(t *testing.T) {
	needRoot(t)
	const ns = "nd-hv"
	addNetns(t, ns)
	hybridPlug(t, ns)
	ctx := context.Background()

	check := func(t *testing.T, devs map[string]Device, prefix string) {
		t.Helper()
		get := func(name string) Device {
			t.Helper()
			d, ok := devs[prefix+name]
			if !ok {
				t.Fatalf("no device %q in %v", prefix+name, keys(devs))
			}
			return d
		}
		br, qvb, qvo, tap, vnet := get("qbrX"), get("qvbX"), get("qvoX"), get("tapX"), get("vnetX")
		for _, c := range []struct {
			d    Device
			kind string
		}{{br, "bridge"}, {qvb, "veth"}, {qvo, "veth"}, {tap, "tun"}, {vnet, "veth"}} {
			if c.d.Kind != c.kind {
				t.Errorf("%s kind %q, want %q", c.d.Name, c.d.Kind, c.kind)
			}
		}
		if qvb.MasterIndex != br.Index || tap.MasterIndex != br.Index || vnet.MasterIndex != br.Index || qvo.MasterIndex != 0 {
			t.Errorf("masters: qvb %d tap %d vnet %d qvo %d, bridge %d", qvb.MasterIndex, tap.MasterIndex, vnet.MasterIndex, qvo.MasterIndex, br.Index)
		}
		if qvb.PeerIndex != qvo.Index || qvo.PeerIndex != qvb.Index || tap.PeerIndex != 0 {
			t.Errorf("peers: qvb→%d (qvo %d), qvo→%d (qvb %d), tap→%d", qvb.PeerIndex, qvo.Index, qvo.PeerIndex, qvb.Index, tap.PeerIndex)
		}
		if got := resolveVM(devs, prefix+"qvoX"); got != prefix+"tapX" {
			t.Errorf("resolveVM(%q) = %q, want %q", prefix+"qvoX", got, prefix+"tapX")
		}
		if got := resolveVM(devs, prefix+"tapX"); got != prefix+"tapX" {
			t.Errorf("resolveVM(%q) = %q", prefix+"tapX", got)
		}
	}

	t.Run("devicesIn", func(t *testing.T) {
		r := newReader(t, Options{})
		devs, err := r.devicesIn(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		check(t, devs, "")
		if d := devs["qvoX"]; d.Netns != ns {
			t.Errorf("Netns = %q, want %q", d.Netns, ns)
		}
	})
	t.Run("walk", func(t *testing.T) {
		r := newReader(t, Options{WalkNetns: true, NetnsPrefixes: []string{ns}})
		devs, err := r.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, devs, ns+"/")
	})
	t.Run("own namespace", func(t *testing.T) {
		// A reader created on a thread inside ns treats ns as its own.
		var r *NetlinkReader
		if err := inNetns(ns, func() (err error) { r, err = NewNetlinkReader(Options{}); return err }); err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		devs, err := r.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, devs, "")
		if d := devs["qvoX"]; d.Netns != "" {
			t.Errorf("Netns = %q, want \"\"", d.Netns)
		}
	})
}

// TestNetnsMatchesLinkList cross-checks the reader against the netlink
// library's own RTM_GETLINK decoding.
func TestNetnsMatchesLinkList(t *testing.T) {
	needRoot(t)
	const ns = "nd-ll"
	addNetns(t, ns)
	hybridPlug(t, ns)
	ipBatch(t, ns, []string{"link set lo up", "link set qbrX up", "link set qvbX up", "link set qvoX up", "link set vnetX up", "link set vnetX-vm up"})
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	r := newReader(t, Options{})
	devs, err := r.devicesIn(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	links, err := nh.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != len(devs) {
		t.Errorf("%d links, %d devices: %v", len(links), len(devs), keys(devs))
	}
	for _, l := range links {
		a := l.Attrs()
		d, ok := devs[a.Name]
		if !ok {
			t.Errorf("missing %s", a.Name)
			continue
		}
		wantPeer := 0
		if l.Type() == "veth" {
			wantPeer = a.ParentIndex
		}
		if d.Index != a.Index || d.MasterIndex != a.MasterIndex || d.PeerIndex != wantPeer {
			t.Errorf("%s: got index %d master %d peer %d, LinkList %d %d %d", a.Name, d.Index, d.MasterIndex, d.PeerIndex, a.Index, a.MasterIndex, wantPeer)
		}
		if s := a.Statistics; s != nil && (d.Counters.RxPackets > s.RxPackets || d.Counters.TxPackets > s.TxPackets) {
			// Our read came first, so it cannot be ahead.
			t.Errorf("%s: counters %+v ahead of LinkList's %+v", a.Name, d.Counters, *s)
		}
	}
}

// vethPair joins namespaces a and b with veth va (10.99.0.1) ⇄ vb
// (10.99.0.2), with static neighbours so that no ARP is counted.
func vethPair(tb testing.TB, a, b string) {
	ipBatch(tb, a, []string{
		"link add va address 02:00:00:99:00:01 type veth peer name vb address 02:00:00:99:00:02 netns " + b,
		"addr add 10.99.0.1/24 dev va",
		"neigh add 10.99.0.2 lladdr 02:00:00:99:00:02 dev va nud permanent",
		"link set va up",
	})
	ipBatch(tb, b, []string{
		"addr add 10.99.0.2/24 dev vb",
		"neigh add 10.99.0.1 lladdr 02:00:00:99:00:01 dev vb nud permanent",
		"link set vb up",
	})
}

// delta returns after-before per counter.
func delta(before, after Counters) Counters {
	return Counters{
		RxBytes: after.RxBytes - before.RxBytes, RxPackets: after.RxPackets - before.RxPackets, RxDropped: after.RxDropped - before.RxDropped,
		TxBytes: after.TxBytes - before.TxBytes, TxPackets: after.TxPackets - before.TxPackets, TxDropped: after.TxDropped - before.TxDropped,
	}
}

// near reports whether got is within frac of want.
func near(got, want uint64, frac float64) bool {
	d := float64(got) - float64(want)
	if d < 0 {
		d = -d
	}
	return d <= frac*float64(want)
}

func TestNetnsCounters(t *testing.T) {
	needRoot(t)
	const a, b = "nd-ct-a", "nd-ct-b"
	addNetns(t, a)
	addNetns(t, b)
	vethPair(t, a, b)
	r := newReader(t, Options{WalkNetns: true, NetnsPrefixes: []string{"nd-ct-"}})
	ctx := context.Background()
	snap := func(t *testing.T) (va, vb Counters) {
		t.Helper()
		devs, err := r.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		da, ok1 := devs[Key(a, "va")]
		db, ok2 := devs[Key(b, "vb")]
		if !ok1 || !ok2 {
			t.Fatalf("va or vb missing: %v", keys(devs))
		}
		if da.PeerIndex != 0 {
			t.Errorf("va's peer is in another namespace, PeerIndex = %d", da.PeerIndex)
		}
		return da.Counters, db.Counters
	}
	// check asserts that va was handed wantPackets frames of frame bytes
	// (TxPackets sent, TxDropped when vb's backlog overflowed), that vb
	// received what va sent, and that nothing much went the other way.
	check := func(t *testing.T, a0, b0, a1, b1 Counters, wantPackets, frame uint64, frac float64) {
		t.Helper()
		da, db := delta(a0, a1), delta(b0, b1)
		t.Logf("va Δ %+v", da)
		t.Logf("vb Δ %+v", db)
		if !near(da.TxPackets+da.TxDropped, wantPackets, frac) {
			t.Errorf("va sent %d and dropped %d packets, want %d in all (±%.0f%%)", da.TxPackets, da.TxDropped, wantPackets, 100*frac)
		}
		if da.TxDropped > wantPackets {
			t.Fatalf("va dropped %d of %d", da.TxDropped, wantPackets)
		}
		if want := (wantPackets - da.TxDropped) * frame; !near(da.TxBytes, want, frac) {
			t.Errorf("va sent %d bytes, want %d (±%.0f%%)", da.TxBytes, want, 100*frac)
		}
		if !near(db.RxPackets, da.TxPackets, 0.01) || !near(db.RxBytes, da.TxBytes, 0.01) {
			t.Errorf("vb received %d packets %d bytes, va sent %d, %d", db.RxPackets, db.RxBytes, da.TxPackets, da.TxBytes)
		}
		if da.RxBytes > da.TxBytes/10 {
			t.Errorf("va received %d bytes of a one-way flow of %d", da.RxBytes, da.TxBytes)
		}
	}

	t.Run("udp", func(t *testing.T) {
		const (
			n       = 2000
			payload = 1200
			frame   = payload + 8 + 20 + 14 // UDP, IPv4, Ethernet headers
		)
		var rx, tx *net.UDPConn
		if err := inNetns(b, func() (err error) {
			rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		if err := inNetns(a, func() (err error) {
			tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		var (
			wg       sync.WaitGroup
			received int
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				_ = rx.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := rx.Read(buf); err != nil {
					return
				}
				received++
			}
		}()
		a0, b0 := snap(t)
		msg := make([]byte, payload)
		for i := range n {
			if _, err := tx.Write(msg); err != nil {
				t.Fatal(err)
			}
			if i%50 == 49 {
				// Let vb's backlog drain; what still overflows it
				// shows up as va's TxDropped.
				time.Sleep(time.Millisecond)
			}
		}
		wg.Wait()
		a1, b1 := snap(t)
		t.Logf("socket received %d of %d", received, n)
		check(t, a0, b0, a1, b1, n, frame, 0.02)
	})

	t.Run("iperf3", func(t *testing.T) {
		if _, err := exec.LookPath("iperf3"); err != nil {
			t.Skip("no iperf3")
		}
		srv := exec.Command("ip", "netns", "exec", b, "iperf3", "-s", "-1", "-B", "10.99.0.2", "-p", "5299")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
		time.Sleep(300 * time.Millisecond) // let the server listen
		a0, b0 := snap(t)
		out, err := exec.Command("ip", "netns", "exec", a, "iperf3", "-J", "-c", "10.99.0.2", "-p", "5299",
			"-u", "-n", "2M", "-l", "1200", "-b", "100M").Output()
		if err != nil {
			t.Fatalf("iperf3: %v\n%s", err, out)
		}
		a1, b1 := snap(t)
		var res struct {
			End struct {
				Sum struct {
					Bytes   uint64 `json:"bytes"`
					Packets uint64 `json:"packets"`
				} `json:"sum"`
			} `json:"end"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.End.Sum.Packets == 0 {
			t.Fatalf("iperf3 JSON: %v\n%s", err, out)
		}
		s := res.End.Sum
		t.Logf("iperf3 sent %d datagrams, %d bytes of payload", s.Packets, s.Bytes)
		if s.Bytes != s.Packets*1200 {
			t.Fatalf("iperf3 datagrams not all of 1200 bytes")
		}
		// The TCP control connection adds a few dozen small frames.
		check(t, a0, b0, a1, b1, s.Packets, 1200+8+20+14, 0.03)
	})
}

// TestNetnsWalk checks which namespaces the walk reads and that it skips,
// silently, namespaces that vanish or are half created.
func TestNetnsWalk(t *testing.T) {
	needRoot(t)
	const a, b = "nd-vn-a", "nd-vn-b"
	addNetns(t, a)
	addNetns(t, b)
	vethPair(t, a, b)
	ctx := context.Background()

	// A private namespace directory: links to the two real namespaces, a
	// dangling link (deleted between readdir and open) and a plain file
	// (what "ip netns add" shows before it mounts the namespace).
	dir := t.TempDir()
	for _, l := range [][2]string{{"nd-vn-a", "/run/netns/" + a}, {"nd-vn-b", "/run/netns/" + b}, {"nd-vn-gone", "/run/netns/nd-vn-nosuch"}} {
		if err := os.Symlink(l[1], filepath.Join(dir, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "nd-vn-half"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var reported []string
	r := newReader(t, Options{WalkNetns: true, NetnsDir: dir, NetnsPrefixes: []string{"nd-vn-"},
		OnNetnsError: func(ns string, err error) { reported = append(reported, fmt.Sprintf("%s: %v", ns, err)) }})
	devs, err := r.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"nd-vn-a/va", "nd-vn-a/lo", "nd-vn-b/vb", "nd-vn-b/lo"} {
		if _, ok := devs[k]; !ok {
			t.Errorf("missing %s in %v", k, keys(devs))
		}
	}
	if len(reported) != 0 {
		t.Errorf("errors reported for vanished namespaces: %v", reported)
	}
	// "ip netns add" finishes: the plain file was a passing state (one
	// that lasts is reported, see TestNetnsWalkPlainFile).
	if err := os.Remove(filepath.Join(dir, "nd-vn-half")); err != nil {
		t.Fatal(err)
	}

	t.Run("no walk", func(t *testing.T) {
		r := newReader(t, Options{NetnsDir: dir})
		devs, err := r.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k, d := range devs {
			if strings.Contains(k, "/") || d.Netns != "" {
				t.Errorf("device %s from %q without walking", k, d.Netns)
			}
		}
	})
	t.Run("prefix filter", func(t *testing.T) {
		r := newReader(t, Options{WalkNetns: true, NetnsDir: dir, NetnsPrefixes: []string{"nd-vn-b"}})
		devs, err := r.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := devs["nd-vn-a/va"]; ok {
			t.Error("nd-vn-a read despite the prefix filter")
		}
		if _, ok := devs["nd-vn-b/vb"]; !ok {
			t.Error("nd-vn-b not read")
		}
	})
	// Delete b: the next walk drops it without an error and closes its
	// sockets, so the kernel frees the namespace and with it the veth,
	// whose va end then disappears from a.
	if err := os.Remove(filepath.Join(dir, "nd-vn-b")); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "del", b)
	devs, err = r.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range devs {
		if strings.HasPrefix(k, "nd-vn-b/") {
			t.Errorf("%s still reported after the namespace was deleted", k)
		}
	}
	if len(reported) != 0 {
		t.Errorf("errors reported: %v", reported)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		devs, err := r.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := devs["nd-vn-a/va"]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("va still exists: the deleted namespace is still pinned")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNetnsTopologyCache checks that topology is re-read on link changes
// and only then.
func TestNetnsTopologyCache(t *testing.T) {
	needRoot(t)
	const ns = "nd-tc"
	addNetns(t, ns)
	hybridPlug(t, ns)
	r := newReader(t, Options{})
	ctx := context.Background()
	read := func(t *testing.T) (map[string]Device, time.Time) {
		t.Helper()
		devs, err := r.devicesIn(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		return devs, r.others[ns].stamp
	}
	_, s1 := read(t)
	if r.others[ns].sub == nil {
		t.Fatal("no link notification subscription")
	}
	devs, s2 := read(t)
	if !s2.Equal(s1) {
		t.Error("topology re-read without any change")
	}
	if _, ok := devs["tapX"]; !ok {
		t.Fatal("no tapX")
	}

	tests := []struct {
		name  string
		batch []string
		check func(devs map[string]Device) error
	}{
		{"rename", []string{"link set tapX name tapY"}, func(devs map[string]Device) error {
			if _, ok := devs["tapX"]; ok {
				return errors.New("tapX still there")
			}
			if resolveVM(devs, "qvoX") != "tapY" {
				return fmt.Errorf("qvoX resolves to %q", resolveVM(devs, "qvoX"))
			}
			return nil
		}},
		{"release", []string{"link set tapY nomaster"}, func(devs map[string]Device) error {
			if devs["tapY"].MasterIndex != 0 {
				return errors.New("tapY still enslaved")
			}
			if got := resolveVM(devs, "qvoX"); got != "vnetX" {
				return fmt.Errorf("qvoX resolves to %q, want vnetX", got)
			}
			return nil
		}},
		{"new device", []string{"tuntap add tapZ mode tap", "link set tapZ master qbrX"}, func(devs map[string]Device) error {
			if devs["tapZ"].MasterIndex != devs["qbrX"].Index {
				return errors.New("tapZ missing or not in qbrX")
			}
			return nil
		}},
		{"delete", []string{"link del vnetX"}, func(devs map[string]Device) error {
			if _, ok := devs["vnetX"]; ok {
				return errors.New("vnetX still there")
			}
			if _, ok := devs["vnetX-vm"]; ok {
				return errors.New("vnetX-vm (its peer) still there")
			}
			return nil
		}},
	}
	prev := s2
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ipBatch(t, ns, tt.batch)
			devs, s := read(t)
			if !s.After(prev) {
				t.Error("topology not re-read")
			}
			prev = s
			if err := tt.check(devs); err != nil {
				t.Errorf("%v; devices %v", err, keys(devs))
			}
		})
	}

	t.Run("without subscription", func(t *testing.T) {
		n := r.others[ns]
		n.sub.Close()
		n.sub = nil
		_, s1 := read(t)
		_, s2 := read(t)
		if !s2.After(s1) {
			t.Error("topology not re-read on every poll without a subscription")
		}
	})
}

func keys(devs map[string]Device) []string {
	ks := make([]string, 0, len(devs))
	for k := range devs {
		ks = append(ks, k)
	}
	return ks
}

// TestNetnsAbandonedDump checks that a dump left unread (the context
// ended midway) does not break the next one.
func TestNetnsAbandonedDump(t *testing.T) {
	needRoot(t)
	const ns = "nd-ab"
	addNetns(t, ns)
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("tuntap add tap%d mode tap", i))
	}
	ipBatch(t, ns, lines)
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := dialAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx := context.Background()

	// Start a stats dump and read only its first datagram.
	req := nl.NewNetlinkRequest(rtmGetStats, unix.NLM_F_DUMP)
	req.AddData(ifStatsMsg{filterMask: 1})
	c.seq++
	req.Seq = c.seq
	if err := unix.Sendto(c.sock.GetFd(), req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	c.unfinished = c.seq
	n, err := c.recv(ctx, c.sock.GetFd(), time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_ = walkMsgs(c.buf[:n], func(m nlMsg) (bool, error) {
		if m.typ == nlmsgDone {
			t.Fatal("the dump fit in one datagram; the test needs more devices")
		}
		return true, nil
	})

	for i := range 2 {
		k := 0
		if err := c.getStats(ctx, func(int, Counters) error { k++; return nil }); err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		if k != 301 {
			t.Errorf("dump %d: %d devices, want 301", i, k)
		}
	}

	r := newReader(t, Options{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Devices(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Devices with a canceled context: %v", err)
	}
}

// TestNetnsAtNetns checks that AtNetns runs f in the target namespace,
// leaves the caller's thread alone and reports failures.
func TestNetnsAtNetns(t *testing.T) {
	needRoot(t)
	const ns = "nd-at"
	addNetns(t, ns)
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mine, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()

	var inside bool
	boom := errors.New("boom")
	err = AtNetns(target, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		inside = cur.Equal(target)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want f's error", err)
	}
	if !inside {
		t.Error("f did not run in the target namespace")
	}
	if cur, err := netns.Get(); err != nil || !cur.Equal(mine) {
		t.Errorf("caller's thread moved to another namespace (%v)", err)
	} else {
		cur.Close()
	}
	called := false
	if err := AtNetns(netns.None(), func() error { called = true; return nil }); err == nil || called {
		t.Errorf("entering a closed handle: err %v, f called %v", err, called)
	}
}
