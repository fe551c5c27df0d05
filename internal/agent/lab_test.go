package agent

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

const extMAC = "02:00:00:00:00:64"

// labAgent runs the real agent, with real sources, against lab l. The
// netlink reader is created inside the lab's namespace, where the lab's
// OVS ports are.
func labAgent(t *testing.T, l *labtest.Lab) (*Agent, *state.Store) {
	t.Helper()
	src, closeSrc := OpenSources(SourceOptions{RunDir: l.RunDir, Timeout: 2 * time.Second, Deadline: 5 * time.Second})
	t.Cleanup(closeSrc)
	err := l.InNetns(func() error {
		nl, err := netdev.NewNetlinkReader(netdev.Options{})
		if err != nil {
			return err
		}
		t.Cleanup(func() { _ = nl.Close() })
		for i, s := range src {
			if s.Name() == state.SourceNetlink {
				src[i] = NewNetlink(nl, 5*time.Second, nil)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	store := &state.Store{}
	return New(cfg, src, nil, store), store
}

// iperfResult is what iperf3 --json says the client sent.
type iperfResult struct {
	End struct {
		Sum struct {
			Bytes   uint64 `json:"bytes"`
			Packets uint64 `json:"packets"`
		} `json:"sum"`
	} `json:"end"`
}

// sentFrameBytes returns the Ethernet bytes iperf3's UDP test put on the
// wire: payload plus 42 bytes of Ethernet, IPv4 and UDP headers a packet.
func sentFrameBytes(t *testing.T, logPath string) (frames, packets uint64) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var r iperfResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("iperf3 json %s: %v", logPath, err)
	}
	return r.End.Sum.Bytes + 42*r.End.Sum.Packets, r.End.Sum.Packets
}

// pollWhile polls every second while traffic runs (done closes when it
// ends) and then extra more times; it returns every snapshot.
func pollWhile(t *testing.T, a *Agent, done <-chan struct{}, extra int) []*state.Snapshot {
	t.Helper()
	var snaps []*state.Snapshot
	ctx := context.Background()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	running := true
	for running {
		select {
		case <-done:
			running = false
		case <-tick.C:
			snaps = append(snaps, a.Poll(ctx))
		}
	}
	for i := 0; i < extra; i++ {
		<-tick.C
		snaps = append(snaps, a.Poll(ctx))
	}
	return snaps
}

func runTraffic(t *testing.T, l *labtest.Lab, cmd string, seconds, rate string) (<-chan struct{}, *string) {
	t.Helper()
	done := make(chan struct{})
	var out string
	go func() {
		defer close(done)
		o, err := l.Run(cmd, seconds, rate)
		if err != nil {
			t.Errorf("lab %s: %v", cmd, err)
		}
		out = strings.TrimSpace(o)
	}()
	return done, &out
}

func findActive(s *state.Snapshot, k detect.FloodKey) (detect.Flood, bool) {
	for _, f := range s.Detect.Active {
		if f.FloodKey == k {
			return f, true
		}
	}
	return detect.Flood{}, false
}

func TestLabSeed000FloodIsFoundAndAttributed(t *testing.T) {
	l := labtest.Up(t, "ag1")
	a, _ := labAgent(t, l)
	base := a.Poll(context.Background())
	for _, src := range state.Sources {
		if !base.Sources[src].Up {
			t.Fatalf("source %s down on the lab: %s", src, base.Sources[src].Err)
		}
	}
	done, logPath := runTraffic(t, l, "flood", "8", "5M")
	snaps := pollWhile(t, a, done, 4)
	sentBytes, sentPackets := sentFrameBytes(t, filepath.Join(l.Base, "iperf-"+l.Name+"-vm1.log"))
	if *logPath == "" || sentPackets == 0 {
		t.Fatalf("iperf sent nothing")
	}

	key := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: extMAC}
	var seen detect.Flood
	var seenAt *state.Snapshot
	maxRatio := map[string]float64{}
	for _, s := range snaps {
		if f, ok := findActive(s, key); ok && seenAt == nil {
			seen, seenAt = f, s
		}
		for _, r := range s.Detect.Ratios {
			maxRatio[r.Port] = math.Max(maxRatio[r.Port], r.Ratio)
		}
		for _, f := range s.Detect.Active {
			if f.FloodKey != key {
				t.Errorf("unexpected active flood %+v", f.FloodKey)
			}
		}
	}
	if seenAt == nil {
		t.Fatalf("the seed-000 flood was never reported active; last result %+v", snaps[len(snaps)-1].Detect)
	}
	var victims []string
	for _, v := range seen.Victims {
		victims = append(victims, v.Port)
	}
	if strings.Join(victims, ",") != "tapvm2,tapvm3" {
		t.Errorf("victims = %v, want tapvm2,tapvm3 (VLAN 10 only)", victims)
	}
	if r, ok := seenAt.Rules[key]; !ok || r.Table != 94 || r.Cookie != 0xe4fc1a92d440c578 {
		t.Errorf("flooding rule = %+v, want table 94 cookie 0xe4fc1a92d440c578", seenAt.Rules[key])
	}

	last := snaps[len(snaps)-1]
	got := last.Detect.Flooded[detect.CounterKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}]
	if diff := math.Abs(float64(got.Bytes)-float64(sentBytes)) / float64(sentBytes); diff > 0.10 {
		t.Errorf("flooded bytes %d vs sent %d (%.1f%% off, want within 10%%)", got.Bytes, sentBytes, 100*diff)
	}
	t.Logf("sent %d frame bytes in %d packets; agent counted %d flooded bytes in %d packets", sentBytes, sentPackets, got.Bytes, got.Packets)
	for _, p := range []string{"tapvm2", "tapvm3"} {
		if last.Detect.Leaked[detect.PortKey{Bridge: "br-int", Port: p}] == 0 {
			t.Errorf("no leaked bytes charged to victim %s", p)
		}
		if maxRatio[p] < 0.9 {
			t.Errorf("leak ratio of %s peaked at %.3f, want near 1", p, maxRatio[p])
		}
	}
	for _, p := range []string{"tapvm4", "tapvm5", "uplink", "tapvm1"} {
		if b := last.Detect.Leaked[detect.PortKey{Bridge: "br-int", Port: p}]; b != 0 {
			t.Errorf("%s is not a victim but was charged %d bytes", p, b)
		}
		if maxRatio[p] > 0.05 {
			t.Errorf("%s leak ratio %.3f, want ~0", p, maxRatio[p])
		}
	}
	if len(last.Detect.Active) != 0 {
		t.Errorf("flood still active %d polls after the traffic stopped", 4)
	}
	// The FDB confirms: the external MAC was never learned.
	for _, b := range last.Bridges {
		if b.Name == "br-int" && (b.FDB == nil || b.FDB.Max != 8192) {
			t.Errorf("br-int FDB stats = %+v", b.FDB)
		}
	}
}

func TestLabFixedFlowsRaiseNothing(t *testing.T) {
	l := labtest.Up(t, "ag2")
	l.MustRun("fix")
	a, _ := labAgent(t, l)
	a.Poll(context.Background())
	done, _ := runTraffic(t, l, "flood", "6", "5M")
	snaps := pollWhile(t, a, done, 1)
	for _, s := range snaps {
		if len(s.Detect.Active) != 0 {
			t.Fatalf("fixed lab reported %+v", s.Detect.Active)
		}
	}
	if c := snaps[len(snaps)-1].Detect.Flooded; len(c) != 0 {
		t.Errorf("fixed lab counted flooded traffic: %+v", c)
	}
}

func TestLabLearnedEastWestAndARPRaiseNothing(t *testing.T) {
	l := labtest.Up(t, "ag3")
	a, _ := labAgent(t, l)
	a.Poll(context.Background())
	done, _ := runTraffic(t, l, "east", "6", "5M")
	// ARP: vm4 asks for an address nobody has, several times a second:
	// broadcasts only, on VLAN 20.
	arp := make(chan struct{})
	go func() {
		defer close(arp)
		_, _ = labtest.ExecIn(l.Name+"-vm4", "ping", "-c", "25", "-i", "0.2", "-W", "1", "10.0.20.99")
	}()
	snaps := pollWhile(t, a, done, 1)
	<-arp
	for _, s := range snaps {
		if len(s.Detect.Active) != 0 {
			t.Fatalf("learned east-west traffic or ARP raised %+v", s.Detect.Active)
		}
	}
	last := snaps[len(snaps)-1]
	if c := last.Detect.Flooded[detect.CounterKey{Bridge: "br-int", InPort: "tapvm4", VLAN: 20}]; c.Packets != 0 {
		t.Errorf("ARP broadcasts counted as unknown unicast: %+v", c)
	}
	// vm2 -> vm3 floods only its first frames, until vm3 answers.
	if c := last.Detect.Flooded[detect.CounterKey{Bridge: "br-int", InPort: "tapvm2", VLAN: 10}]; c.Packets > 50 {
		t.Errorf("learned east-west flooded %d packets", c.Packets)
	}
}

func TestLabOVSRestartUnderTheAgent(t *testing.T) {
	l := labtest.Up(t, "ag4")
	a, store := labAgent(t, l)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(store))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("scrape status %d", resp.StatusCode)
		}
		return string(b)
	}
	ctx := context.Background()
	if s := a.Poll(ctx); !s.Sources[state.SourceUnixctl].Up || !s.Sources[state.SourceOVSDB].Up || !s.Sources[state.SourceOpenFlow].Up {
		t.Fatalf("sources down before the restart: %+v", s.Sources)
	}
	l.MustRun("stop")
	s := a.Poll(ctx)
	for _, src := range []string{state.SourceUnixctl, state.SourceOVSDB, state.SourceOpenFlow} {
		if s.Sources[src].Up {
			t.Errorf("source %s up while OVS is stopped", src)
		}
		if s.Sources[src].Err == "" {
			t.Errorf("source %s down without an error message", src)
		}
	}
	if !s.Sources[state.SourceNetlink].Up {
		t.Errorf("netlink must stay up: %s", s.Sources[state.SourceNetlink].Err)
	}
	if body := scrape(); !strings.Contains(body, `ovs_flood_exporter_source_up{source="unixctl"} 0`) {
		t.Errorf("scrape while OVS is down does not show unixctl down:\n%s", body)
	}
	t.Logf("while stopped: unixctl: %s", s.Sources[state.SourceUnixctl].Err)
	l.MustRun("start")
	recovered := -1
	for i := 1; i <= 2; i++ {
		time.Sleep(time.Second)
		s = a.Poll(ctx)
		if s.Sources[state.SourceUnixctl].Up && s.Sources[state.SourceOVSDB].Up && s.Sources[state.SourceOpenFlow].Up {
			recovered = i
			break
		}
	}
	if recovered < 0 {
		t.Fatalf("sources not back within two polls: %+v", s.Sources)
	}
	if body := scrape(); !strings.Contains(body, `ovs_flood_exporter_source_up{source="unixctl"} 1`) {
		t.Errorf("scrape after recovery:\n%s", body)
	}
	t.Logf("recovered after %d poll(s)", recovered)
}

// TestLabHybridPlugVictim wires vm3 the iptables-hybrid way (seed 001):
// tapvm3 -> qbrvm3 -> qvbvm3/qvovm3 -> br-int. The copies are charged to
// the OVS port qvovm3 and correlated with the tap behind the Linux bridge.
func TestLabHybridPlugVictim(t *testing.T) {
	l := labtest.UpEnv(t, "ag5", "LAB_HYBRID=3")
	a, _ := labAgent(t, l)
	a.Poll(context.Background())
	done, _ := runTraffic(t, l, "flood", "6", "5M")
	snaps := pollWhile(t, a, done, 0)
	last := snaps[len(snaps)-1]
	p, ok := last.PortByName("qvovm3")
	if !ok || p.Device != "tapvm3" || p.IfaceID != "port-vm3" {
		t.Fatalf("qvovm3 = %+v, want device tapvm3 (the tap behind qbrvm3)", p)
	}
	var victims []string
	maxRatio := 0.0
	for _, s := range snaps {
		for _, f := range s.Detect.Active {
			victims = victims[:0]
			for _, v := range f.Victims {
				victims = append(victims, v.Port)
			}
		}
		for _, r := range s.Detect.Ratios {
			if r.Port == "qvovm3" {
				maxRatio = math.Max(maxRatio, r.Ratio)
			}
		}
	}
	if strings.Join(victims, ",") != "qvovm3,tapvm2" {
		t.Errorf("victims = %v, want qvovm3,tapvm2", victims)
	}
	if maxRatio < 0.9 {
		t.Errorf("leak ratio of the hybrid-plugged VM peaked at %.3f, want near 1", maxRatio)
	}
}

// A hung ovsdb-server (stopped with SIGSTOP: it accepts connections and
// never answers) makes the ovsdb source down alone, within --ovs.timeout;
// vswitchd, OpenFlow and netlink are read in the same poll, and OVSDB
// recovers once the server runs again.
func TestLabHungOVSDBIsDownAlone(t *testing.T) {
	l := labtest.Up(t, "ag6")
	a, _ := labAgent(t, l)
	ctx := context.Background()
	if s := a.Poll(ctx); !s.Sources[state.SourceOVSDB].Up {
		t.Fatalf("ovsdb down before the test: %s", s.Sources[state.SourceOVSDB].Err)
	}
	b, err := os.ReadFile(filepath.Join(l.RunDir, "ovsdb-server.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	s := a.Poll(ctx)
	resume()
	if st := s.Sources[state.SourceOVSDB]; st.Up || !strings.Contains(st.Err, "deadline") {
		t.Errorf("ovsdb up=%v err=%q, want down on its deadline", st.Up, st.Err)
	}
	for _, src := range []string{state.SourceUnixctl, state.SourceOpenFlow, state.SourceNetlink} {
		if !s.Sources[src].Up {
			t.Errorf("%s down while only ovsdb-server hangs: %s", src, s.Sources[src].Err)
		}
	}
	if p, ok := s.PortByName("tapvm1"); !ok || p.IfaceID == "" {
		t.Errorf("tapvm1 lost its identity while OVSDB hangs: %+v", p)
	}
	var up bool
	for i := 0; i < 2 && !up; i++ {
		time.Sleep(time.Second)
		up = a.Poll(ctx).Sources[state.SourceOVSDB].Up
	}
	if !up {
		t.Error("ovsdb not back within two polls of the server resuming")
	}
}
