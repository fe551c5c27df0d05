package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// webhookAlert is one alert of an Alertmanager webhook notification.
type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// webhook collects the alerts Alertmanager posts to it.
type webhook struct {
	mu     sync.Mutex
	alerts []webhookAlert
	posts  int
	bad    []string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Version string         `json:"version"`
		Status  string         `json:"status"`
		Alerts  []webhookAlert `json:"alerts"`
	}
	err := json.NewDecoder(r.Body).Decode(&msg)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.posts++
	if err != nil || msg.Version != "4" {
		h.bad = append(h.bad, fmt.Sprintf("version %q, decode error %v", msg.Version, err))
	}
	h.alerts = append(h.alerts, msg.Alerts...)
}

// find returns the firing alerts named name whose label key has value.
func (h *webhook) find(name, key, value string) []webhookAlert {
	return h.findStatus("firing", name, key, value)
}

// findStatus returns the alerts in status (firing, resolved) named name
// whose label key has value.
func (h *webhook) findStatus(status, name, key, value string) []webhookAlert {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webhookAlert
	for _, a := range h.alerts {
		if a.Status == status && a.Labels["alertname"] == name && a.Labels[key] == value {
			out = append(out, a)
		}
	}
	return out
}

// summary lists what arrived so far, for failure messages.
func (h *webhook) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range h.alerts {
		seen[fmt.Sprintf("%s %s port=%s in_port=%s", a.Status, a.Labels["alertname"], a.Labels["port"], a.Labels["in_port"])] = true
	}
	var s []string
	for k := range seen {
		s = append(s, k)
	}
	sort.Strings(s)
	return fmt.Sprintf("%d posts, alerts: [%s], bad posts: %v", h.posts, strings.Join(s, "; "), h.bad)
}

// TestAlertPathToWebhook follows a flood from the wire to a pager: the lab
// floods, the agent detects it, a real Prometheus loads the shipped alert
// rules (only the "for:" shortened) and a real Alertmanager posts the page
// to a webhook served by this test.
func TestAlertPathToWebhook(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	agentBinary(t) // build first: a broken build fails before the lab starts
	l := labtest.Up(t, "op1")
	ns := l.Name
	c := nsClient(ns, nil)

	a := startAgent(t, ns, l.RunDir)
	startFlood(t, l, "120", "10M")

	// The webhook receiver: a listener created inside the lab namespace,
	// served by this process (see the package comment).
	hook := &webhook{}
	ln := nsListen(t, ns, "127.0.0.1:0")
	srv := &http.Server{Handler: hook, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	am := startAlertmanager(t, ns, "http://"+ln.Addr().String()+"/hook")
	rules := shortenFor(t, filepath.Join(repoRoot(), "deploy", "prometheus", "ovs-flood-exporter.rules.yml"), t.TempDir(), "5s")
	prom := startPrometheus(t, ns, promConfig{target: a.addr, rules: rules, alertmanager: am})

	// Every rule of the shipped file loaded and evaluates without error.
	waitFor(t, 30*time.Second, "Prometheus to evaluate every rule", func() (bool, string) {
		return rulesHealthy(c, prom)
	})

	// The page for the flood, and the warnings for both victims.
	waitFor(t, 90*time.Second, "OVSUnknownUnicastFlood for tapvm1 and OVSFloodLeakingToVM for tapvm2 and tapvm3 at the webhook", func() (bool, string) {
		ok := len(hook.find("OVSUnknownUnicastFlood", "in_port", floodInPort)) > 0 &&
			len(hook.find("OVSFloodLeakingToVM", "port", "tapvm2")) > 0 &&
			len(hook.find("OVSFloodLeakingToVM", "port", "tapvm3")) > 0
		if ok {
			return true, ""
		}
		_, alerts, _ := get(c, prom+"/api/v1/alerts")
		return false, hook.summary() + "; Prometheus alerts: " + alerts
	})

	page := hook.find("OVSUnknownUnicastFlood", "in_port", floodInPort)[0]
	t.Logf("page after %v: labels %v\nsummary: %s\nvm: %s\ndescription: %s", time.Since(start).Round(100*time.Millisecond),
		page.Labels, page.Annotations["summary"], page.Annotations["vm"], page.Annotations["description"])
	wantLabels := map[string]string{
		"alertname": "OVSUnknownUnicastFlood",
		"severity":  "page",
		"job":       "ovs-flood-exporter",
		"instance":  a.addr,
		"bridge":    floodBridge,
		"in_port":   floodInPort,
		"vlan":      floodVLAN,
		"dst_mac":   floodDstMAC,
	}
	for k, want := range wantLabels {
		if got := page.Labels[k]; got != want {
			t.Errorf("page label %s = %q, want %q (labels %v)", k, got, want, page.Labels)
		}
	}
	for k, v := range page.Annotations {
		// A template that fails renders as an error text, not as an error.
		if strings.Contains(v, "error expanding") || strings.Contains(v, "<no value>") {
			t.Errorf("annotation %s did not render: %q", k, v)
		}
	}
	// The annotations join ovs_port_info: the alert names the VM behind the port.
	if got, want := page.Annotations["vm"], "port port-vm1, VM 00000000-0000-4000-8000-000000000001, MAC 02:00:00:00:00:01"; got != want {
		t.Errorf("annotation vm = %q, want %q", got, want)
	}
	desc := page.Annotations["description"]
	for _, want := range []string{
		"Sender: Neutron port port-vm1 of VM 00000000-0000-4000-8000-000000000001.",
		"with destination 02:00:00:00:00:64",
		"Ports receiving copies (worst 5):",
		" tapvm2 (",
		" tapvm3 (",
		"bit/s.",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %q:\n%s", want, desc)
		}
	}
	for _, bad := range []string{"tapvm4", "tapvm5", "Rate: unknown", "none measured"} {
		if strings.Contains(desc, bad) {
			t.Errorf("description has %q:\n%s", bad, desc)
		}
	}
	if got := page.Annotations["summary"]; !strings.Contains(got, "floods unicast from port tapvm1 (VLAN 10) to unlearned MAC 02:00:00:00:00:64") {
		t.Errorf("summary = %q", got)
	}
	if got := page.Annotations["runbook_url"]; !strings.HasSuffix(got, "/docs/runbook.md#ovsunknownunicastflood") {
		t.Errorf("runbook_url = %q", got)
	}

	for _, port := range []string{"tapvm2", "tapvm3"} {
		w := hook.find("OVSFloodLeakingToVM", "port", port)[0]
		if w.Labels["severity"] != "warning" || w.Labels["bridge"] != floodBridge {
			t.Errorf("OVSFloodLeakingToVM %s labels %v", port, w.Labels)
		}
		if want := "VM 00000000-0000-4000-8000-00000000000" + port[len(port)-1:]; !strings.Contains(w.Annotations["vm"], want) {
			t.Errorf("OVSFloodLeakingToVM %s: annotation vm = %q, want it to contain %q", port, w.Annotations["vm"], want)
		}
	}

	// Nothing else may fire: not for the VMs that receive no copies, not
	// for the sender, and no agent-health or FDB alert on a healthy lab.
	for _, port := range []string{"tapvm1", "tapvm4", "tapvm5"} {
		if got := hook.find("OVSFloodLeakingToVM", "port", port); len(got) > 0 {
			t.Errorf("OVSFloodLeakingToVM fired for %s: %v", port, got[0].Labels)
		}
	}
	for _, name := range []string{"OVSFloodExporterDown", "OVSFloodExporterSourceDown", "OVSFloodExporterStalePolls",
		"OVSFDBNearCapacity", "OVSFDBEvicting", "OVSMACMoveStorm", "OVSFloodExporterMegaflowDumpBounded"} {
		if got := hook.find(name, "job", "ovs-flood-exporter"); len(got) > 0 {
			t.Errorf("%s fired during a plain flood: %v %v", name, got[0].Labels, got[0].Annotations)
		}
	}

	// The fix (Neutron's explicitly_egress_direct flow) ends the flood: the
	// agent clears it and the page resolves, without a human silencing it.
	l.MustRun("fix")
	waitFor(t, 60*time.Second, "OVSUnknownUnicastFlood for tapvm1 to be resolved after lab.sh fix", func() (bool, string) {
		return len(hook.findStatus("resolved", "OVSUnknownUnicastFlood", "in_port", floodInPort)) > 0, hook.summary()
	})
	t.Logf("page resolved after %v", time.Since(start).Round(100*time.Millisecond))

	hook.mu.Lock()
	if len(hook.bad) > 0 {
		t.Errorf("malformed webhook posts: %v", hook.bad)
	}
	hook.mu.Unlock()
}

// rulesHealthy reports whether Prometheus at url has evaluated every alerting
// rule of the shipped file at least once without error.
func rulesHealthy(c *http.Client, url string) (bool, string) {
	code, body, err := get(c, url+"/api/v1/rules")
	if err != nil || code != http.StatusOK {
		return false, fmt.Sprintf("HTTP %d %v %s", code, err, body)
	}
	var res struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return false, err.Error()
	}
	n := 0
	for _, g := range res.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				return false, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	want := strings.Count(mustRead(filepath.Join(repoRoot(), "deploy", "prometheus", "ovs-flood-exporter.rules.yml")), "- alert:")
	return n == want && n > 0, fmt.Sprintf("%d rules loaded, want %d", n, want)
}

func mustRead(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
