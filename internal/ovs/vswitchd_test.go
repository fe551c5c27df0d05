package ovs

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFakeFromDir(t *testing.T) {
	f, err := NewFakeFromDir(capDir)
	if err != nil {
		t.Fatal(err)
	}
	var v Vswitchd = f
	ctx := context.Background()

	if got, err := v.Version(ctx); err != nil || got != "3.1.0" {
		t.Errorf("Version = %q, %v", got, err)
	}
	dps, err := v.DumpDPs(ctx)
	if err != nil || !reflect.DeepEqual(dps, []string{"netdev@ovs-netdev"}) {
		t.Fatalf("DumpDPs = %q, %v", dps, err)
	}
	st, err := v.DatapathShow(ctx, dps[0])
	if err != nil || st.Flows != 2 || st.Hit != 22339 || len(st.Ports) != 8 {
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
	want := []string{"version", "dpctl/dump-dps", "dpctl/show netdev@ovs-netdev", "dpif/show", "fdb/show br-int",
		"fdb/stats-show br-int", "dpctl/dump-flows -m netdev@ovs-netdev"}
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
	f.SetReply("ofproto/trace br-int in_port=1,dl_dst=02:00:00:00:00:64", capture(t, "ofproto-trace.flood.txt"))
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

func TestDatapathShowWrongDP(t *testing.T) {
	f := NewFake()
	f.SetReply("dpctl/show system@ovs-system", capture(t, "dpctl-show.txt"))
	_, err := NewVswitchd(f).DatapathShow(context.Background(), "system@ovs-system")
	if err == nil || !strings.Contains(err.Error(), "reply is about netdev@ovs-netdev") {
		t.Fatalf("err = %v", err)
	}
}

// The parsers' errors pass through Vswitchd.
func TestVswitchdParseError(t *testing.T) {
	f := &Fake{Replies: map[string]string{"fdb/stats-show br-int": "bogus\n"}}
	if _, err := NewVswitchd(f).FDBStats(context.Background(), "br-int"); err == nil {
		t.Fatal("no error for a bogus reply")
	}
}
