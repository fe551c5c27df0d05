package collector

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden")

// labSnapshot is what the agent publishes on the seed-000 lab during a flood.
func labSnapshot() *state.Snapshot {
	fk := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"}
	return &state.Snapshot{
		Time:       time.Unix(1_795_227_087, 500_000_000),
		OVSVersion: "3.1.0",
		Sources: map[string]state.SourceStatus{
			state.SourceUnixctl:  {Up: true, Duration: 2 * time.Millisecond},
			state.SourceOVSDB:    {Up: true, Duration: time.Millisecond},
			state.SourceNetlink:  {Up: true, Duration: 500 * time.Microsecond},
			state.SourceOpenFlow: {Up: false, Duration: 0, Err: "permission denied"},
		},
		Bridges: []state.Bridge{{
			Name: "br-int", DatapathType: "netdev",
			FDB:    &state.FDB{Entries: 6, Max: 8192, Learned: 6, Expired: 1, Evicted: 0, Moved: 2},
			Tables: []state.Table{{ID: 0, Rules: 2, Lookups: 16694, Matches: 16694}, {ID: 1}, {ID: 94, Rules: 1, Lookups: 16680, Matches: 16680}},
			NormalRules: []state.Rule{
				{Table: 81, Priority: 1, Cookie: 0, Packets: 0, Bytes: 0},
				{Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578, Packets: 16680, Bytes: 20699362},
			},
			MACAgingTime: 300,
		}},
		Ports: []state.Port{
			{Bridge: "br-int", Name: "tapvm1", OFPort: 1, VLAN: 10, Device: "tapvm1", IfaceID: "port-vm1", AttachedMAC: "02:00:00:00:00:01", VMUUID: "00000000-0000-4000-8000-000000000001",
				Counters: &state.Counters{RxBytes: 20699362, RxPackets: 16680, TxBytes: 446, TxPackets: 7}},
			{Bridge: "br-int", Name: "tapvm2", OFPort: 2, VLAN: 10, Device: "tapvm2", IfaceID: "port-vm2", AttachedMAC: "02:00:00:00:00:02", VMUUID: "00000000-0000-4000-8000-000000000002",
				Counters: &state.Counters{TxBytes: 20699362, TxPackets: 16680}},
			{Bridge: "br-int", Name: "uplink", OFPort: 6, VLAN: 10, Device: "uplink"},
			{Bridge: "br-int", Name: "br-int", OFPort: 65534, VLAN: -1, Type: "internal", Device: "br-int"},
		},
		Datapaths: []state.Datapath{{Name: "netdev@ovs-netdev", Flows: 2, Hit: 22339, Missed: 4, Dumped: 2}},
		Detect: detect.Result{
			Flooded:     map[detect.CounterKey]detect.Counter{{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}: {Packets: 16680, Bytes: 20699362}},
			Leaked:      map[detect.PortKey]uint64{{Bridge: "br-int", Port: "tapvm2"}: 20699362},
			Active:      []detect.Flood{{FloodKey: fk, PacketRate: 2085, ByteRate: 2587420, Victims: []detect.Victim{{Port: "tapvm2", Bytes: 12937100}}}},
			Ratios:      []detect.Ratio{{PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm2"}, Ratio: 0.998}, {PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm1"}, Ratio: 0}},
			PollSeconds: 5,
		},
		Rules: map[detect.FloodKey]state.RuleRef{fk: {Bridge: "br-int", Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578}},
	}
}

func TestCollectFloodSeries(t *testing.T) {
	store := &state.Store{}
	store.Publish(labSnapshot())
	c := New(store)
	cases := []struct {
		name   string
		metric string
		want   string
	}{
		{"active flood", "ovs_flood_active", `
# HELP ovs_flood_active 1 while a sustained unknown-unicast flood to dst_mac is detected; absent otherwise. At most --flood.max-reported series per bridge, worst first. Detection runs on the agent's own poll cadence (--poll.interval), not at scrape time.
# TYPE ovs_flood_active gauge
ovs_flood_active{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 1
`},
		{"flood bytes", "ovs_flood_unknown_unicast_bytes_total", `
# HELP ovs_flood_unknown_unicast_bytes_total Bytes of unicast frames OVS delivered to more than one port because the destination MAC was not learned.
# TYPE ovs_flood_unknown_unicast_bytes_total counter
ovs_flood_unknown_unicast_bytes_total{bridge="br-int",in_port="tapvm1",vlan="10"} 2.0699362e+07
`},
		{"rule link", "ovs_flood_rule_info", `
# HELP ovs_flood_rule_info The OpenFlow rule whose NORMAL action floods an active flood, as found by ofproto/trace.
# TYPE ovs_flood_rule_info gauge
ovs_flood_rule_info{bridge="br-int",cookie="0xe4fc1a92d440c578",dst_mac="02:00:00:00:00:64",in_port="tapvm1",priority="1",table="94",vlan="10"} 1
`},
		{"tables without use are skipped", "ovs_openflow_table_rules", `
# HELP ovs_openflow_table_rules Active rules in this OpenFlow table.
# TYPE ovs_openflow_table_rules gauge
ovs_openflow_table_rules{bridge="br-int",table="0"} 2
ovs_openflow_table_rules{bridge="br-int",table="94"} 1
`},
		{"source health", "ovs_flood_exporter_source_up", `
# HELP ovs_flood_exporter_source_up 1 if the source was read successfully in the last poll.
# TYPE ovs_flood_exporter_source_up gauge
ovs_flood_exporter_source_up{source="netlink"} 1
ovs_flood_exporter_source_up{source="openflow"} 0
ovs_flood_exporter_source_up{source="ovsdb"} 1
ovs_flood_exporter_source_up{source="unixctl"} 1
`},
		{"port info", "ovs_port_info", `
# HELP ovs_port_info OVS port identity, for joining flood series to Neutron ports and Nova instances. device is the VM-facing device (the tap behind a qbr bridge for hybrid plugs).
# TYPE ovs_port_info gauge
ovs_port_info{attached_mac="",bridge="br-int",device="br-int",iface_id="",ofport="65534",port="br-int",vlan="",vm_uuid=""} 1
ovs_port_info{attached_mac="",bridge="br-int",device="uplink",iface_id="",ofport="6",port="uplink",vlan="10",vm_uuid=""} 1
ovs_port_info{attached_mac="02:00:00:00:00:01",bridge="br-int",device="tapvm1",iface_id="port-vm1",ofport="1",port="tapvm1",vlan="10",vm_uuid="00000000-0000-4000-8000-000000000001"} 1
ovs_port_info{attached_mac="02:00:00:00:00:02",bridge="br-int",device="tapvm2",iface_id="port-vm2",ofport="2",port="tapvm2",vlan="10",vm_uuid="00000000-0000-4000-8000-000000000002"} 1
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), tc.metric); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCollectBeforeFirstPoll(t *testing.T) {
	c := New(&state.Store{})
	want := `
# HELP ovs_flood_exporter_source_up 1 if the source was read successfully in the last poll.
# TYPE ovs_flood_exporter_source_up gauge
ovs_flood_exporter_source_up{source="netlink"} 0
ovs_flood_exporter_source_up{source="openflow"} 0
ovs_flood_exporter_source_up{source="ovsdb"} 0
ovs_flood_exporter_source_up{source="unixctl"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestGolden renders the whole exposition for the lab snapshot and compares
// it with testdata/metrics.golden, which CI also runs through
// "promtool check metrics".
func TestGolden(t *testing.T) {
	store := &state.Store{}
	store.Publish(labSnapshot())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(store))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	const golden = "testdata/metrics.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/collector -update)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("exposition differs from %s (rerun with -update if intended):\n%s", golden, buf.String())
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(p, "check", "metrics")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("promtool not installed; CI must install prometheus")
	}
}
