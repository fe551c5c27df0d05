package ovstest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

const capDir = "../testdata/ovs-3.1"

func TestFakeFromDir(t *testing.T) {
	f, err := NewFakeFromDir(capDir)
	if err != nil {
		t.Fatal(err)
	}
	var v ovs.Vswitchd = f
	ctx := context.Background()

	if got, err := v.Version(ctx); err != nil || got != "3.1.0" {
		t.Errorf("Version = %q, %v", got, err)
	}
	st, err := v.DatapathShow(ctx, "netdev@ovs-netdev")
	if err != nil || st.Flows != 2 || st.Hit != 22339 || st.Ports != nil {
		t.Errorf("DatapathShow = %+v, %v", st, err)
	}
	dpif, err := v.DpifShow(ctx)
	if err != nil || len(dpif) != 1 || len(dpif[0].Bridges[0].Ports) != 7 {
		t.Errorf("DpifShow = %+v, %v", dpif, err)
	}
	fdb, err := v.FDBShow(ctx, "br-int")
	if err != nil || len(fdb.Entries) != 1 || fdb.Entries[0].MAC.String() != "02:00:00:00:00:01" {
		t.Errorf("FDBShow = %+v, %v", fdb, err)
	}
	stats, err := v.FDBStats(ctx, "br-int")
	if err != nil || stats.MaxEntries != 8192 {
		t.Errorf("FDBStats = %+v, %v", stats, err)
	}
	flows, err := v.DumpFlows(ctx, "netdev@ovs-netdev")
	if err != nil || len(flows.Flows) != 2 || len(flows.Flows[0].Outputs) != 4 || !flows.Flows[0].IsUnicastDst() {
		t.Errorf("DumpFlows = %+v, %v", flows, err)
	}
	want := []string{"version", "dpctl/show -s netdev@ovs-netdev", "dpif/show", "fdb/show br-int",
		"fdb/stats-show br-int", "dpctl/dump-flows --names netdev@ovs-netdev"}
	if !reflect.DeepEqual(f.Calls, want) {
		t.Errorf("Calls = %q, want %q", f.Calls, want)
	}

	// Unknown commands and injected errors.
	if _, err := v.FDBShow(ctx, "br-nope"); err == nil || !strings.Contains(err.Error(), `no reply for "fdb/show br-nope"`) {
		t.Errorf("FDBShow(br-nope) err = %v", err)
	}
	boom := errors.New("boom")
	f.SetErr("fdb/show br-int", boom)
	if _, err := v.FDBShow(ctx, "br-int"); !errors.Is(err, boom) {
		t.Errorf("FDBShow err = %v, want boom", err)
	}
	if err := f.LoadFile("ofproto/trace br-int in_port=1,dl_dst=02:00:00:00:00:64", capDir+"/ofproto-trace.flood.txt"); err != nil {
		t.Fatal(err)
	}
	tr, err := v.Trace(ctx, "br-int", "in_port=1,dl_dst=02:00:00:00:00:64")
	if err != nil || !tr.Flooded || tr.FloodStep.Table != 94 {
		t.Errorf("Trace = %+v, %v", tr, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := v.Version(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Version err = %v", err)
	}
}
