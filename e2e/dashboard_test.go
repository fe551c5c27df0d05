package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// floodPanels selects the dashboard panels that must show data during the
// lab's flood: everything about floods, flood copies and leak ratios.
const floodPanels = `flood|copies|leak ratio`

// TestDashboardQueriesDuringFlood evaluates every query of the shipped
// Grafana dashboard with scripts/check-deploy.sh against a real Prometheus
// that scrapes the agent while the lab floods.
func TestDashboardQueriesDuringFlood(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	script := filepath.Join(repoRoot(), "scripts", "check-deploy.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("the deploy checker is missing: %v", err)
	}
	agentBinary(t) // build first: a broken build fails before the lab starts
	l := labtest.Up(t, "op2")
	ns := l.Name
	c := nsClient(ns, nil)

	a := startAgent(t, ns, l.RunDir)
	startFlood(t, l, "120", "10M")
	prom := startPrometheus(t, ns, promConfig{target: a.addr})
	waitFloodActive(t, c, "http://"+a.addr)

	// rate() over the dashboard's 1m $__rate_interval needs two samples of
	// each counter, and the leak ratio needs the flood to dominate the
	// victims' traffic; wait for Prometheus to have both.
	for _, q := range []string{
		`ovs_flood_active{in_port="tapvm1"} == 1`,
		`rate(ovs_flood_unknown_unicast_bytes_total{in_port="tapvm1"}[1m]) > 0`,
		`rate(ovs_flood_leaked_bytes_total{port="tapvm3"}[1m]) > 0`,
		`ovs_flood_leak_ratio{port="tapvm2"} > 0.5`,
	} {
		waitFor(t, 60*time.Second, "Prometheus to answer "+q, func() (bool, string) {
			return promHas(c, prom, q)
		})
	}

	run := func(args ...string) (string, error) {
		argv := append([]string{"bash", script, "--only-dashboard", "--prometheus", prom, "--range", "5m"}, args...)
		stdout, stderr, err := runIn(ns, 2*time.Minute, nil, argv...)
		return stdout + stderr, err
	}

	t.Run("flood panels have data", func(t *testing.T) {
		out, err := run("--require-data", floodPanels)
		t.Logf("check-deploy.sh:\n%s", out)
		if err != nil {
			t.Fatalf("check-deploy.sh --require-data %q failed: %v", floodPanels, err)
		}
		for _, want := range []string{
			"PASS  dashboard structure",
			"PASS  dashboard queries against " + prom + " (live, data required for panels matching /" + floodPanels + "/)",
			"all checks passed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("output has a FAIL line")
		}
	})

	// The checker must notice panels without data: on a host that does not
	// exist every flood panel is empty.
	t.Run("missing data is caught", func(t *testing.T) {
		out, err := run("--require-data", floodPanels, "--var", "instance=no-such-host:1")
		if err == nil {
			t.Fatalf("check-deploy.sh passed for an instance without data:\n%s", out)
		}
		for _, want := range []string{"FAIL  dashboard queries against", "no data over the last 5m", "check(s) failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// promHas reports whether the instant query q returns at least one series.
func promHas(c *http.Client, prom, q string) (bool, string) {
	code, body, err := get(c, prom+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil || code != http.StatusOK {
		return false, fmt.Sprintf("HTTP %d %v %s", code, err, body)
	}
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return false, err.Error()
	}
	return res.Status == "success" && len(res.Data.Result) > 0, body
}
