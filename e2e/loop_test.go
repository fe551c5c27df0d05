package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest/rawframe"
)

// loopPanels are the dashboard panels about loops, broadcast storms and
// MAC-table pressure.
const loopPanels = `MAC moves by port|Broadcast by entry port|Loop ports|MAC table fill by port`

// firing returns the labels of the alerts named name that Prometheus at
// url has firing.
func firing(t *testing.T, ns, url, name string) []map[string]string {
	t.Helper()
	_, body, err := get(nsClient(ns, nil), url+"/api/v1/alerts")
	if err != nil {
		return nil
	}
	var res struct {
		Data struct {
			Alerts []struct {
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
				State       string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &res) != nil {
		return nil
	}
	var out []map[string]string
	for _, a := range res.Data.Alerts {
		if a.Labels["alertname"] == name && a.State == "firing" {
			l := a.Labels
			l["summary"] = a.Annotations["summary"]
			out = append(out, l)
		}
	}
	return out
}

func arp(t *testing.T, ns, dev, srcIP, target string) {
	t.Helper()
	s, err := rawframe.Open(ns, dev)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Send(rawframe.ARPRequest(s.MAC, net.ParseIP(srcIP), net.ParseIP(target))); err != nil {
		t.Fatal(err)
	}
}

// TestLoopAlertsAndPanels runs the agent on lab/loop.sh's lab with the
// shipped rules in a real Prometheus: one link and its broadcasts fire
// nothing; a second link fires OVSL2Loop for both bridges and
// OVSBroadcastStorm; a VM sending from random source MACs into a 64-entry
// table fires OVSFDBExhausted naming its port; and every loop, broadcast
// and MAC-table panel of the dashboard has data.
func TestLoopAlertsAndPanels(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	agentBinary(t) // build first: a broken build fails before the lab starts
	l := labtest.UpLoop(t, "ol")
	ns := l.Name
	c := nsClient(ns, nil)
	a := startAgent(t, ns, l.RunDir)
	rules := shortenFor(t, filepath.Join(repoRoot(), "deploy", "prometheus", "ovs-flood-exporter.rules.yml"), t.TempDir(), "5s")
	prom := startPrometheus(t, ns, promConfig{target: a.addr, rules: rules})
	waitFor(t, 30*time.Second, "Prometheus to evaluate every rule", func() (bool, string) { return rulesHealthy(c, prom) })

	// Twin: one link carries the same broadcasts.
	arp(t, ns+"-vm1", "eth0", "10.0.0.1", "10.0.0.200")
	arp(t, ns, "br-ex", "10.0.0.254", "10.0.0.201")
	time.Sleep(8 * time.Second)
	for _, name := range []string{"OVSL2Loop", "OVSBroadcastStorm", "OVSMACMoveStorm"} {
		if got := firing(t, ns, prom, name); len(got) > 0 {
			t.Errorf("one link: %s fired: %v", name, got)
		}
	}

	l.MustRun("link2")
	arp(t, ns+"-vm1", "eth0", "10.0.0.1", "10.0.0.200")
	arp(t, ns, "br-ex", "10.0.0.254", "10.0.0.201")
	waitFor(t, 60*time.Second, "OVSL2Loop for br-int and br-ex and OVSBroadcastStorm", func() (bool, string) {
		loops := firing(t, ns, prom, "OVSL2Loop")
		storms := firing(t, ns, prom, "OVSBroadcastStorm")
		return len(loops) == 2 && len(storms) > 0, fmt.Sprintf("loops %v storms %v", loops, storms)
	})
	for _, al := range firing(t, ns, prom, "OVSL2Loop") {
		want := map[string]string{"br-int": "(ports int-ex1 int-ex2)", "br-ex": "(ports ex-int1 ex-int2)"}[al["bridge"]]
		if want == "" || !strings.HasSuffix(al["summary"], want) {
			t.Errorf("OVSL2Loop %s: summary %q, want it to end in %q", al["bridge"], al["summary"], want)
		}
	}
	for _, q := range []string{`rate(ovs_fdb_port_moves_total{port="int-ex1"}[1m]) > 0`, `rate(ovs_flood_broadcast_packets_total{in_port="ex-int2"}[1m]) > 100`} {
		waitFor(t, 30*time.Second, "Prometheus to answer "+q, func() (bool, string) { return promHas(c, prom, q) })
	}

	// Cut the loop, then fill br-int's 64-entry table from vm1.
	l.MustRun("unlink2")
	l.MustRun("tablesize", "64")
	s, err := rawframe.Open(ns+"-vm1", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		ext := net.HardwareAddr{2, 0, 0, 0, 0, 0x64}
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = s.Paced(2000, 2*time.Second, func(int) ([]byte, error) {
				m, err := rawframe.RandomMAC()
				return rawframe.UDPFrame(m, ext, net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.100"), 18), err
			})
		}
	}()
	waitFor(t, 60*time.Second, "OVSFDBExhausted naming tapvm1", func() (bool, string) {
		got := firing(t, ns, prom, "OVSFDBExhausted")
		return len(got) == 1 && strings.Contains(got[0]["summary"], "port tapvm1 holds"), fmt.Sprint(got)
	})
	waitFor(t, 60*time.Second, "the loop alerts to clear", func() (bool, string) {
		got := firing(t, ns, prom, "OVSL2Loop")
		return len(got) == 0, fmt.Sprint(got)
	})

	argv := []string{"bash", filepath.Join(repoRoot(), "scripts", "check-deploy.sh"), "--only-dashboard",
		"--prometheus", prom, "--range", "5m", "--require-data", loopPanels}
	stdout, stderr, err := runIn(ns, 2*time.Minute, nil, argv...)
	t.Logf("check-deploy.sh:\n%s%s", stdout, stderr)
	if err != nil || !strings.Contains(stdout+stderr, "all checks passed") {
		t.Errorf("check-deploy.sh --require-data %q failed: %v", loopPanels, err)
	}
}
