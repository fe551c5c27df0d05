package agent

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// lbLab is one lab/linuxbridge.sh instance: a Linux-bridge hypervisor
// without OVS.
type lbLab struct {
	name, base string
}

func lbScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "lab", "linuxbridge.sh")
}

func (l lbLab) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", append([]string{lbScript(), args[0], l.name}, args[1:]...)...)
	c.Env = append(os.Environ(), "LAB_BASE="+l.base)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		t.Errorf("linuxbridge.sh %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func upLBLab(t *testing.T, name string) lbLab {
	t.Helper()
	labtest.Skip(t)
	base := os.Getenv("LAB_BASE")
	if base == "" {
		base = "/tmp/ovs-flood-lab"
	}
	l := lbLab{name: labtest.Prefix() + name, base: base}
	l.run(t, "down")
	l.run(t, "up")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		if os.Getenv("LAB_KEEP") == "" {
			l.run(t, "down")
		}
	})
	return l
}

// lbAgent runs the real agent as a host without OVS sees it (OVS's run
// directory empty) with the linuxbridge source reading the lab's
// namespace, and libvirt's runtime XML naming vm2's domain.
func lbAgent(t *testing.T, netns string) *Agent {
	t.Helper()
	libvirt := t.TempDir()
	xml := `<domstatus state='running'><domain type='kvm' id='2'><name>vm2</name>` +
		`<uuid>00000000-0000-4000-8000-0000000000b2</uuid><devices><interface type='bridge'>` +
		`<mac address='02:00:00:00:01:02'/><source bridge='br0'/><target dev='vnet2'/></interface></devices></domain></domstatus>`
	if err := os.WriteFile(filepath.Join(libvirt, "vm2.xml"), []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	src, closeSrc := OpenSources(SourceOptions{RunDir: t.TempDir(), Timeout: time.Second, Deadline: 3 * time.Second,
		LinuxBridge: LinuxBridgeOptions{Enabled: LinuxBridgeAuto, Netns: netns, LibvirtDir: libvirt}})
	t.Cleanup(closeSrc)
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	return New(cfg, src, nil, &state.Store{})
}

// TestLabLinuxBridgeFlood is the scenario end to end: br0 with
// vnet1..3 and an uplink that does not learn, no OVS; vm1 sends 20 Mbit/s
// to the external host. The agent reports the flood from vnet1 with
// vnet2 and vnet3 as victims, bytes within 20 % of what was sent, in the
// same metric families as OVS's, while the OVS sources are down.
func TestLabLinuxBridgeFlood(t *testing.T) {
	l := upLBLab(t, "agl")
	a := lbAgent(t, l.name)
	base := a.Poll(context.Background())
	if st := base.Sources[state.SourceLinuxBridge]; !st.Up {
		t.Fatalf("linuxbridge down: %s", st.Err)
	}
	if base.Sources[state.SourceUnixctl].Up {
		t.Fatal("unixctl up without OVS")
	}
	done := make(chan struct{})
	var out string
	go func() {
		defer close(done)
		out = l.run(t, "flood", "6", "20M")
	}()
	snaps := pollWhile(t, a, done, 3)
	var sentPackets, sentBytes uint64
	if _, err := fmt.Sscanf(out[strings.Index(out, "sent_packets"):], "sent_packets %d sent_bytes %d", &sentPackets, &sentBytes); err != nil {
		t.Fatalf("sender output %q: %v", out, err)
	}
	key := detect.FloodKey{Bridge: "br0", InPort: "vnet1", VLAN: 0, DstMAC: "02:00:00:00:01:64"}
	var seen *detect.Flood
	maxRatio := map[string]float64{}
	for _, s := range snaps {
		for i, f := range s.Detect.Active {
			if f.FloodKey != key {
				t.Errorf("unexpected flood %+v", f.FloodKey)
			} else if seen == nil {
				seen = &s.Detect.Active[i]
			}
		}
		for _, r := range s.Detect.Ratios {
			maxRatio[r.Port] = math.Max(maxRatio[r.Port], r.Ratio)
		}
	}
	if seen == nil {
		t.Fatalf("flood never active; last %+v", snaps[len(snaps)-1].Detect)
	}
	var victims []string
	for _, v := range seen.Victims {
		victims = append(victims, v.Port)
	}
	if fmt.Sprint(victims) != "[vnet2 vnet3]" {
		t.Errorf("victims %v, want [vnet2 vnet3]", victims)
	}
	last := snaps[len(snaps)-1]
	got := last.Detect.Flooded[detect.CounterKey{Bridge: "br0", InPort: "vnet1", VLAN: 0}]
	if diff := math.Abs(float64(got.Bytes)-float64(sentBytes)) / float64(sentBytes); diff > 0.20 {
		t.Errorf("flooded bytes %d vs sent %d (%.1f%% off, want within 20%%)", got.Bytes, sentBytes, 100*diff)
	}
	t.Logf("sent %d frames %d bytes; agent counted %d packets %d bytes flooded", sentPackets, sentBytes, got.Packets, got.Bytes)
	for _, p := range []string{"vnet2", "vnet3"} {
		if last.Detect.Leaked[detect.PortKey{Bridge: "br0", Port: p}] == 0 {
			t.Errorf("no leaked bytes charged to %s", p)
		}
		if maxRatio[p] < 0.9 {
			t.Errorf("leak ratio of %s peaked at %.3f, want near 1", p, maxRatio[p])
		}
	}
	if b := last.Detect.Leaked[detect.PortKey{Bridge: "br0", Port: "vnet1"}]; b != 0 {
		t.Errorf("vnet1 charged %d leaked bytes", b)
	}
	checkLBExposition(t, last)
	if len(last.Detect.Active) != 0 {
		t.Errorf("flood still active after the traffic stopped")
	}

	t.Run("twin learning on", func(t *testing.T) {
		l.run(t, "learn", "on")
		a := lbAgent(t, l.name)
		a.Poll(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.run(t, "flood", "4", "20M")
		}()
		for _, s := range pollWhile(t, a, done, 1) {
			if len(s.Detect.Active) != 0 || len(s.Detect.Flooded) != 0 {
				t.Fatalf("flood reported with learning on: %+v %+v", s.Detect.Active, s.Detect.Flooded)
			}
		}
	})
}

// checkLBExposition checks the Linux bridge's series in the exposition.
func checkLBExposition(t *testing.T, s *state.Snapshot) {
	t.Helper()
	store := &state.Store{}
	store.Publish(s)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(store))
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`ovs_flood_exporter_source_up{source="linuxbridge"} 1`,
		`ovs_flood_exporter_source_up{source="unixctl"} 0`,
		`ovs_port_info{attached_mac="02:00:00:00:01:02",bridge="br0",device="vnet2",iface_id="",ofport="2",port="vnet2",vlan="",vm_uuid="00000000-0000-4000-8000-0000000000b2"} 1`,
		`ovs_flood_unknown_unicast_bytes_total{bridge="br0",in_port="vnet1",vlan="0"}`,
		`ovs_flood_leaked_bytes_total{bridge="br0",port="vnet2"}`,
		`ovs_fdb_entries{bridge="br0"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

// TestLabHybridPlugCountedOnce runs the OVS lab with vm3 plugged the
// iptables-hybrid way (tapvm3 -> qbrvm3 -> qvbvm3/qvovm3 -> br-int) and
// both OVS and linuxbridge sources: the seed-000 flood is reported once,
// on br-int, and qbrvm3 (two ports, its qvb's peer on OVS) is left alone.
func TestLabHybridPlugCountedOnce(t *testing.T) {
	l := labtest.UpEnv(t, "agh", "LAB_HYBRID=3")
	a, _ := labAgent(t, l)
	devs, err := netdev.NewNetlinkReader(netdev.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = devs.Close() })
	lb, closers := withLinuxBridge(nil, nil, LinuxBridgeOptions{Enabled: LinuxBridgeAuto, Netns: l.Name, LibvirtDir: t.TempDir()}, devs, 5*time.Second)
	t.Cleanup(func() {
		for _, c := range closers {
			_ = c()
		}
	})
	a.sources = append(a.sources, lb...)
	base := a.Poll(context.Background())
	for _, src := range state.SourcesOf(base) {
		if !base.Sources[src].Up {
			t.Fatalf("source %s down: %s", src, base.Sources[src].Err)
		}
	}
	if _, ok := base.Sources[state.SourceLinuxBridge]; !ok {
		t.Fatal("linuxbridge source not wired")
	}
	done, _ := runTraffic(t, l, "flood", "6", "5M")
	snaps := pollWhile(t, a, done, 1)
	active := 0
	for _, s := range snaps {
		for _, f := range s.Detect.Active {
			active++
			if f.Bridge != "br-int" {
				t.Errorf("flood on %s: counted twice (%+v)", f.Bridge, f.FloodKey)
			}
		}
		for k := range s.Detect.Flooded {
			if k.Bridge != "br-int" {
				t.Errorf("flooded counter on %s: %+v", k.Bridge, k)
			}
		}
		for _, p := range s.Ports {
			if p.Bridge == "qbrvm3" {
				t.Errorf("qbrvm3 watched: port %+v", p)
			}
		}
	}
	if active == 0 {
		t.Error("the OVS flood was not reported at all")
	}
}
