package ovs_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// labName is this package's lab (internal/ovs/unixctl uses "ux1").
const labName = "ux2"

// TestLabVswitchd reads a live vswitchd during the seed-000 flood through
// every Vswitchd method and checks that the parsers understand every line.
func TestLabVswitchd(t *testing.T) {
	l := labtest.Up(t, labName)
	c := unixctl.New(l.RunDir, unixctl.Options{})
	defer c.Close()
	v := ovs.NewVswitchd(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ver, err := v.Version(ctx)
	if err != nil || !strings.HasPrefix(ver, "3.") && !strings.HasPrefix(ver, "2.") {
		t.Fatalf("Version = %q, %v", ver, err)
	}
	out, err := c.Call(ctx, "dpctl/dump-dps")
	if dps, perr := ovs.ParseDumpDPs(out); err != nil || perr != nil || !slices.Contains(dps, "netdev@ovs-netdev") {
		t.Fatalf("dpctl/dump-dps = %q, %v, %v", dps, err, perr)
	}
	dpif, err := v.DpifShow(ctx)
	if err != nil || len(dpif) != 1 || len(dpif[0].Bridges) != 1 {
		t.Fatalf("DpifShow = %+v, %v", dpif, err)
	}
	ports := map[string]ovs.DPPort{}
	for _, p := range dpif[0].Bridges[0].Ports {
		ports[p.Name] = p
	}
	for _, name := range []string{"br-int", "tapvm1", "tapvm2", "tapvm3", "tapvm4", "tapvm5", "uplink"} {
		if _, ok := ports[name]; !ok {
			t.Errorf("dpif/show has no port %s: %+v", name, dpif)
		}
	}
	if ports["br-int"].OFPort != ovs.LocalOFPort || ports["tapvm1"].Type != "system" {
		t.Errorf("ports = %+v", ports)
	}
	// Cross-check the OpenFlow port numbers with the database.
	for _, name := range []string{"tapvm1", "uplink"} {
		out, err := l.Vsctl("get", "interface", name, "ofport")
		if err != nil {
			t.Fatal(err)
		}
		if got := ports[name].OFPort; strings.TrimSpace(out) != uintStr(got) {
			t.Errorf("%s: dpif/show ofport %d, ovsdb says %s", name, got, out)
		}
	}

	// Flood: vm1 -> ext is unknown unicast on br-int.
	done := make(chan error, 1)
	go func() { _, err := l.Run("flood", "4", "5M"); done <- err }()
	var flooded *ovs.Megaflow
	deadline := time.Now().Add(10 * time.Second)
	for flooded == nil && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		st, err := v.DatapathShow(ctx, "netdev@ovs-netdev")
		if err != nil || st.Skipped != 0 {
			t.Fatalf("DatapathShow = %+v, %v", st, err)
		}
		if st.Flows == 0 {
			continue
		}
		m, err := v.DumpFlows(ctx, "netdev@ovs-netdev")
		if err != nil || m.Skipped != 0 {
			t.Fatalf("DumpFlows = %+v, %v", m, err)
		}
		for i := range m.Flows {
			f := &m.Flows[i]
			if f.InPort == "tapvm1" && f.IsUnicastDst() && f.EthDst.String() == "02:00:00:00:00:64" && len(f.Outputs) >= 3 && f.Packets > 0 {
				flooded = f
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if flooded == nil {
		t.Fatal("no flooded megaflow from tapvm1 to 02:00:00:00:00:64 during the flood")
	}
	var outs []string
	for _, o := range flooded.Outputs {
		outs = append(outs, o.Port)
	}
	for _, want := range []string{"tapvm2", "tapvm3", "uplink"} {
		if !slices.Contains(outs, want) {
			t.Errorf("flooded megaflow outputs %q lack %s", outs, want)
		}
	}
	if slices.Contains(outs, "tapvm4") || slices.Contains(outs, "tapvm5") {
		t.Errorf("VLAN 10 flood reached VLAN 20 ports: %q", outs)
	}
	t.Logf("flooded megaflow: %d packets, outputs %+v", flooded.Packets, flooded.Outputs)

	fdb, err := v.FDBShow(ctx, "br-int")
	if err != nil || fdb.Skipped != 0 {
		t.Fatalf("FDBShow = %+v, %v", fdb, err)
	}
	learned := false
	for _, e := range fdb.Entries {
		if e.MAC.String() == "02:00:00:00:00:01" && e.VLAN == 10 && e.Port == uintStr(ports["tapvm1"].OFPort) {
			learned = true
		}
		if e.MAC.String() == "02:00:00:00:00:64" {
			t.Errorf("the external MAC was learned: %+v", e)
		}
	}
	if !learned {
		t.Errorf("vm1's MAC not learned on tapvm1: %+v", fdb.Entries)
	}
	stats, err := v.FDBStats(ctx, "br-int")
	if err != nil || stats.Skipped != 0 || stats.Bridge != "br-int" || stats.MaxEntries != 8192 || stats.Entries != uint64(len(fdb.Entries)) || stats.Learned == 0 {
		t.Errorf("FDBStats = %+v, %v (fdb has %d entries)", stats, err, len(fdb.Entries))
	}

	tr, err := v.Trace(ctx, "br-int", "in_port=tapvm1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64")
	if err != nil || tr.Skipped != 0 {
		t.Fatalf("Trace = %+v, %v", tr, err)
	}
	if !tr.Flooded || tr.FloodStep.Table != 94 || tr.FloodStep.Cookie != 0xe4fc1a92d440c578 || tr.FloodStep.Bridge != "br-int" {
		t.Errorf("trace: Flooded %v, FloodStep %+v", tr.Flooded, tr.FloodStep)
	}

	// After the fix the same trace goes straight to the uplink.
	l.MustRun("fix")
	tr, err = v.Trace(ctx, "br-int", "in_port=tapvm1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64")
	if err != nil || tr.Flooded || tr.DatapathActions != uintStr(ports["uplink"].DPPort) {
		t.Errorf("fixed trace: %+v, %v", tr, err)
	}
}

func uintStr(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
