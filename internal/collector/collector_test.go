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
	dto "github.com/prometheus/client_model/go"
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
			state.SourceFDB:      {Up: true, Duration: 100 * time.Microsecond},
		},
		Bridges: []state.Bridge{{
			Name: "br-int", DatapathType: "netdev",
			FDB: &state.FDB{Entries: 6, Max: 8192, Learned: 6, Expired: 1, Evicted: 0, Moved: 2},
			// Table 1 has no rules: a miss there drops, it is not reported.
			Tables: []state.Table{{ID: 0, Rules: 2, Lookups: 16694, Matches: 16694}, {ID: 1, Lookups: 14}, {ID: 2},
				{ID: 94, Rules: 1, Lookups: 16680, Matches: 16680}},
			NormalRules: []state.Rule{
				{Table: 81, Priority: 1, Cookie: 0, Packets: 0, Bytes: 0},
				{Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578, Packets: 16680, Bytes: 20699362, Match: "reg5=0x1"},
				{Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578, Packets: 3, Bytes: 300, Match: "reg5=0x2"},
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
			Flooded: map[detect.CounterKey]detect.Counter{{Bridge: "br-int", InPort: "tapvm1", VLAN: 10}: {Packets: 16680, Bytes: 20699362}},
			Leaked:  map[detect.PortKey]uint64{{Bridge: "br-int", Port: "tapvm2"}: 20699362},
			Active:  []detect.Flood{{FloodKey: fk, PacketRate: 2085, ByteRate: 2587420, Victims: []detect.Victim{{Port: "tapvm2", Bytes: 12937100}}}},
			Ratios: []detect.Ratio{{PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm2"}, Ratio: 0.998, Leaked: 12937100, Received: 12962975},
				// an idle VM that got copies before the window: no ratio
				{PortKey: detect.PortKey{Bridge: "br-int", Port: "uplink"}}},
			PollSeconds:     5,
			FlowsRemembered: 2,
		},
		Rules: map[detect.FloodKey]state.RuleRef{fk: {Bridge: "br-int", Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578}},
	}
}

// domainGatherer builds one domain's families from a fixed snapshot, so
// each domain is compared alone.
type domainGatherer struct {
	d domain
	s *state.Snapshot
}

func (g domainGatherer) Gather() ([]*dto.MetricFamily, error) {
	b := newBuilder(sizes{})
	g.d.build(b, g.s)
	return b.finish()
}

// edit returns the lab snapshot changed by f.
func edit(f func(s *state.Snapshot)) *state.Snapshot {
	s := labSnapshot()
	f(s)
	return s
}

func TestDomains(t *testing.T) {
	cases := []struct {
		name string
		d    domain
		snap *state.Snapshot
		want string
	}{
		{"flood", newFloodMetrics(), labSnapshot(), floodExposition},
		{"flood without a traced rule or a previous poll", newFloodMetrics(), edit(func(s *state.Snapshot) {
			s.Rules, s.Detect.PollSeconds = nil, 0
			s.Detect.Ratios = nil
		}), floodWithoutRuleExposition},
		{"fdb", newFDBMetrics(), labSnapshot(), fdbExposition},
		{"fdb unreadable, OVS defaults", newFDBMetrics(), edit(func(s *state.Snapshot) {
			s.Bridges[0].FDB, s.Bridges[0].MACAgingTime, s.Bridges[0].MACTableSize = nil, 0, 50000
		}), fdbUnreadableExposition},
		{"openflow: tables without rules are dropped, first of equal NORMAL rules wins", newOpenFlowMetrics(), labSnapshot(), openFlowExposition},
		{"port", newPortMetrics(), labSnapshot(), portExposition},
		{"datapath", newDatapathMetrics(), edit(func(s *state.Snapshot) {
			s.Datapaths[0].Bounded, s.Datapaths[0].Blind, s.Datapaths[0].Dropped = true, true, 7
		}), datapathExposition},
		{"exporter", newExporterMetrics(), labSnapshot(), exporterExposition},
		{"tunnel", newTunnelMetrics(), edit(func(s *state.Snapshot) {
			// the tunnel ports of lab/overlay.sh's hv1
			s.Ports = append(s.Ports,
				state.Port{Bridge: "br-tun", Name: "vx2", OFPort: 2, VLAN: -1, Type: "vxlan",
					Tunnel: &state.Tunnel{Type: "vxlan", LocalIP: "172.31.0.1", RemoteIP: "172.31.0.2", Key: "flow"}},
				state.Port{Bridge: "br-tun", Name: "vx3", OFPort: 3, VLAN: -1, Type: "vxlan",
					Tunnel: &state.Tunnel{Type: "vxlan", LocalIP: "172.31.0.1", RemoteIP: "172.31.0.3", Key: "flow"}})
		}), tunnelExposition},
		{"no tunnels", newTunnelMetrics(), labSnapshot(), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.GatherAndCompare(domainGatherer{tc.d, tc.snap}, strings.NewReader(tc.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

const tunnelExposition = `
# HELP ovs_tunnel_info Tunnel port endpoints from OVSDB options ("flow": set per packet by OpenFlow); join on bridge and port to name the remote host of tunnel copies.
# TYPE ovs_tunnel_info gauge
ovs_tunnel_info{bridge="br-tun",key="flow",local_ip="172.31.0.1",port="vx2",remote_ip="172.31.0.2",type="vxlan"} 1
ovs_tunnel_info{bridge="br-tun",key="flow",local_ip="172.31.0.1",port="vx3",remote_ip="172.31.0.3",type="vxlan"} 1
`

const floodExposition = `
# HELP ovs_flood_active 1 while a sustained unknown-unicast flood to dst_mac is detected; absent otherwise. At most --flood.max-reported series per bridge, worst first. Detection runs on the agent's own poll cadence (--poll.interval), not at scrape time.
# TYPE ovs_flood_active gauge
ovs_flood_active{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 1
# HELP ovs_flood_leak_ratio Share (0-1) of what the device behind this endpoint port delivered to its VM over the detection window that was copies of other hosts' flooded unicast; absent for a port that never received a copy, or that received nothing in the window.
# TYPE ovs_flood_leak_ratio gauge
ovs_flood_leak_ratio{bridge="br-int",port="tapvm2"} 0.998
# HELP ovs_flood_leaked_bytes_total Bytes delivered to this endpoint port (a VM), or sent through this tunnel port to its remote host, as copies of flooded frames addressed to some other MAC.
# TYPE ovs_flood_leaked_bytes_total counter
ovs_flood_leaked_bytes_total{bridge="br-int",port="tapvm2"} 2.0699362e+07
# HELP ovs_flood_rate_bytes Current flooded bytes per second of an active flood (same series as ovs_flood_active).
# TYPE ovs_flood_rate_bytes gauge
ovs_flood_rate_bytes{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 2.58742e+06
# HELP ovs_flood_rate_packets Current flooded packets per second of an active flood (same series as ovs_flood_active).
# TYPE ovs_flood_rate_packets gauge
ovs_flood_rate_packets{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 2085
# HELP ovs_flood_rule_info The OpenFlow rule whose NORMAL action floods an active flood, as found by ofproto/trace.
# TYPE ovs_flood_rule_info gauge
ovs_flood_rule_info{bridge="br-int",cookie="0xe4fc1a92d440c578",dst_mac="02:00:00:00:00:64",in_port="tapvm1",priority="1",table="94",vlan="10"} 1
# HELP ovs_flood_unknown_unicast_bytes_total Bytes of unicast frames OVS delivered to more than one port because the destination MAC was not learned.
# TYPE ovs_flood_unknown_unicast_bytes_total counter
ovs_flood_unknown_unicast_bytes_total{bridge="br-int",in_port="tapvm1",vlan="10"} 2.0699362e+07
# HELP ovs_flood_unknown_unicast_packets_total Unicast packets OVS delivered to more than one port because the destination MAC was not learned, by the port where they entered.
# TYPE ovs_flood_unknown_unicast_packets_total counter
ovs_flood_unknown_unicast_packets_total{bridge="br-int",in_port="tapvm1",vlan="10"} 16680
# HELP ovs_flood_victim_rate_bytes Bytes per second of an active flood copied to a victim port.
# TYPE ovs_flood_victim_rate_bytes gauge
ovs_flood_victim_rate_bytes{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",port="tapvm2",vlan="10"} 2.58742e+06
`

const floodWithoutRuleExposition = `
# HELP ovs_flood_active 1 while a sustained unknown-unicast flood to dst_mac is detected; absent otherwise. At most --flood.max-reported series per bridge, worst first. Detection runs on the agent's own poll cadence (--poll.interval), not at scrape time.
# TYPE ovs_flood_active gauge
ovs_flood_active{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 1
# HELP ovs_flood_leaked_bytes_total Bytes delivered to this endpoint port (a VM), or sent through this tunnel port to its remote host, as copies of flooded frames addressed to some other MAC.
# TYPE ovs_flood_leaked_bytes_total counter
ovs_flood_leaked_bytes_total{bridge="br-int",port="tapvm2"} 2.0699362e+07
# HELP ovs_flood_rate_bytes Current flooded bytes per second of an active flood (same series as ovs_flood_active).
# TYPE ovs_flood_rate_bytes gauge
ovs_flood_rate_bytes{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 2.58742e+06
# HELP ovs_flood_rate_packets Current flooded packets per second of an active flood (same series as ovs_flood_active).
# TYPE ovs_flood_rate_packets gauge
ovs_flood_rate_packets{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 2085
# HELP ovs_flood_unknown_unicast_bytes_total Bytes of unicast frames OVS delivered to more than one port because the destination MAC was not learned.
# TYPE ovs_flood_unknown_unicast_bytes_total counter
ovs_flood_unknown_unicast_bytes_total{bridge="br-int",in_port="tapvm1",vlan="10"} 2.0699362e+07
# HELP ovs_flood_unknown_unicast_packets_total Unicast packets OVS delivered to more than one port because the destination MAC was not learned, by the port where they entered.
# TYPE ovs_flood_unknown_unicast_packets_total counter
ovs_flood_unknown_unicast_packets_total{bridge="br-int",in_port="tapvm1",vlan="10"} 16680
`

const fdbExposition = `
# HELP ovs_fdb_config_aging_seconds Configured other_config:mac-aging-time (OVS default 300 when unset); a Linux bridge's ageing_time.
# TYPE ovs_fdb_config_aging_seconds gauge
ovs_fdb_config_aging_seconds{bridge="br-int"} 300
# HELP ovs_fdb_config_table_size Configured other_config:mac-table-size (OVS default 8192 when unset).
# TYPE ovs_fdb_config_table_size gauge
ovs_fdb_config_table_size{bridge="br-int"} 8192
# HELP ovs_fdb_entries MAC entries currently in the bridge's MAC learning table.
# TYPE ovs_fdb_entries gauge
ovs_fdb_entries{bridge="br-int"} 6
# HELP ovs_fdb_evicted_total MAC entries evicted because the table was full.
# TYPE ovs_fdb_evicted_total counter
ovs_fdb_evicted_total{bridge="br-int"} 0
# HELP ovs_fdb_expired_total MAC entries expired after mac-aging-time.
# TYPE ovs_fdb_expired_total counter
ovs_fdb_expired_total{bridge="br-int"} 1
# HELP ovs_fdb_learned_total MAC entries learned by the bridge.
# TYPE ovs_fdb_learned_total counter
ovs_fdb_learned_total{bridge="br-int"} 6
# HELP ovs_fdb_max_entries Maximum MAC entries of the bridge's MAC learning table (other_config:mac-table-size).
# TYPE ovs_fdb_max_entries gauge
ovs_fdb_max_entries{bridge="br-int"} 8192
# HELP ovs_fdb_moved_total MAC entries relearned on another port (MAC moves; a storm of them means an L2 loop).
# TYPE ovs_fdb_moved_total counter
ovs_fdb_moved_total{bridge="br-int"} 2
# HELP ovs_fdb_static_entries Static MAC entries in the bridge's MAC learning table.
# TYPE ovs_fdb_static_entries gauge
ovs_fdb_static_entries{bridge="br-int"} 0
`

const fdbUnreadableExposition = `
# HELP ovs_fdb_config_aging_seconds Configured other_config:mac-aging-time (OVS default 300 when unset); a Linux bridge's ageing_time.
# TYPE ovs_fdb_config_aging_seconds gauge
ovs_fdb_config_aging_seconds{bridge="br-int"} 300
# HELP ovs_fdb_config_table_size Configured other_config:mac-table-size (OVS default 8192 when unset).
# TYPE ovs_fdb_config_table_size gauge
ovs_fdb_config_table_size{bridge="br-int"} 50000
`

const openFlowExposition = `
# HELP ovs_openflow_normal_rule_bytes_total Bytes that hit an OpenFlow rule whose actions include NORMAL.
# TYPE ovs_openflow_normal_rule_bytes_total counter
ovs_openflow_normal_rule_bytes_total{bridge="br-int",cookie="0x0",priority="1",table="81"} 0
ovs_openflow_normal_rule_bytes_total{bridge="br-int",cookie="0xe4fc1a92d440c578",priority="1",table="94"} 2.0699362e+07
# HELP ovs_openflow_normal_rule_packets_total Packets that hit an OpenFlow rule whose actions include NORMAL (MAC learning switch).
# TYPE ovs_openflow_normal_rule_packets_total counter
ovs_openflow_normal_rule_packets_total{bridge="br-int",cookie="0x0",priority="1",table="81"} 0
ovs_openflow_normal_rule_packets_total{bridge="br-int",cookie="0xe4fc1a92d440c578",priority="1",table="94"} 16680
# HELP ovs_openflow_table_lookups_total Packets looked up in this OpenFlow table.
# TYPE ovs_openflow_table_lookups_total counter
ovs_openflow_table_lookups_total{bridge="br-int",table="0"} 16694
ovs_openflow_table_lookups_total{bridge="br-int",table="94"} 16680
# HELP ovs_openflow_table_matches_total Packets that matched a rule in this OpenFlow table.
# TYPE ovs_openflow_table_matches_total counter
ovs_openflow_table_matches_total{bridge="br-int",table="0"} 16694
ovs_openflow_table_matches_total{bridge="br-int",table="94"} 16680
# HELP ovs_openflow_table_rules Active rules in this OpenFlow table; tables without rules have no ovs_openflow_table_* series.
# TYPE ovs_openflow_table_rules gauge
ovs_openflow_table_rules{bridge="br-int",table="0"} 2
ovs_openflow_table_rules{bridge="br-int",table="94"} 1
`

const portExposition = `
# HELP ovs_interface_receive_bytes_total Bytes received by the device (its own view).
# TYPE ovs_interface_receive_bytes_total counter
ovs_interface_receive_bytes_total{bridge="br-int",device="tapvm1",port="tapvm1"} 2.0699362e+07
ovs_interface_receive_bytes_total{bridge="br-int",device="tapvm2",port="tapvm2"} 0
# HELP ovs_interface_receive_drops_total Received packets dropped by the device.
# TYPE ovs_interface_receive_drops_total counter
ovs_interface_receive_drops_total{bridge="br-int",device="tapvm1",port="tapvm1"} 0
ovs_interface_receive_drops_total{bridge="br-int",device="tapvm2",port="tapvm2"} 0
# HELP ovs_interface_receive_packets_total Packets received by the device.
# TYPE ovs_interface_receive_packets_total counter
ovs_interface_receive_packets_total{bridge="br-int",device="tapvm1",port="tapvm1"} 16680
ovs_interface_receive_packets_total{bridge="br-int",device="tapvm2",port="tapvm2"} 0
# HELP ovs_interface_transmit_bytes_total Bytes transmitted by the device (on a VM tap: what the VM received).
# TYPE ovs_interface_transmit_bytes_total counter
ovs_interface_transmit_bytes_total{bridge="br-int",device="tapvm1",port="tapvm1"} 446
ovs_interface_transmit_bytes_total{bridge="br-int",device="tapvm2",port="tapvm2"} 2.0699362e+07
# HELP ovs_interface_transmit_drops_total Transmitted packets dropped by the device.
# TYPE ovs_interface_transmit_drops_total counter
ovs_interface_transmit_drops_total{bridge="br-int",device="tapvm1",port="tapvm1"} 0
ovs_interface_transmit_drops_total{bridge="br-int",device="tapvm2",port="tapvm2"} 0
# HELP ovs_interface_transmit_packets_total Packets transmitted by the device.
# TYPE ovs_interface_transmit_packets_total counter
ovs_interface_transmit_packets_total{bridge="br-int",device="tapvm1",port="tapvm1"} 7
ovs_interface_transmit_packets_total{bridge="br-int",device="tapvm2",port="tapvm2"} 16680
# HELP ovs_port_info OVS port identity, for joining flood series to Neutron ports and Nova instances. device is the VM-facing device (the tap behind a qbr bridge for hybrid plugs).
# TYPE ovs_port_info gauge
ovs_port_info{attached_mac="",bridge="br-int",device="br-int",iface_id="",ofport="65534",port="br-int",vlan="",vm_uuid=""} 1
ovs_port_info{attached_mac="",bridge="br-int",device="uplink",iface_id="",ofport="6",port="uplink",vlan="10",vm_uuid=""} 1
ovs_port_info{attached_mac="02:00:00:00:00:01",bridge="br-int",device="tapvm1",iface_id="port-vm1",ofport="1",port="tapvm1",vlan="10",vm_uuid="00000000-0000-4000-8000-000000000001"} 1
ovs_port_info{attached_mac="02:00:00:00:00:02",bridge="br-int",device="tapvm2",iface_id="port-vm2",ofport="2",port="tapvm2",vlan="10",vm_uuid="00000000-0000-4000-8000-000000000002"} 1
`

const datapathExposition = `
# HELP ovs_datapath_flows Megaflows installed in the datapath.
# TYPE ovs_datapath_flows gauge
ovs_datapath_flows{datapath="netdev@ovs-netdev"} 2
# HELP ovs_datapath_lookups_hit_total Datapath packets that hit an installed megaflow.
# TYPE ovs_datapath_lookups_hit_total counter
ovs_datapath_lookups_hit_total{datapath="netdev@ovs-netdev"} 22339
# HELP ovs_datapath_lookups_missed_total Datapath packets that missed and went to ovs-vswitchd (upcalls).
# TYPE ovs_datapath_lookups_missed_total counter
ovs_datapath_lookups_missed_total{datapath="netdev@ovs-netdev"} 4
# HELP ovs_flood_exporter_megaflow_dump_blind 1 when the datapath has so many megaflows that not even one port's filtered dump fits --dpctl.max-flows/--dpctl.dump-budget: the agent reads no megaflow there and detects no new flood until the count falls (or the budget is raised).
# TYPE ovs_flood_exporter_megaflow_dump_blind gauge
ovs_flood_exporter_megaflow_dump_blind{datapath="netdev@ovs-netdev"} 1
# HELP ovs_flood_exporter_megaflow_dump_bounded 1 when a full megaflow dump of the datapath would exceed --dpctl.max-flows or --dpctl.dump-budget, so the agent reads only a few ports' megaflows per poll (or none: see ovs_flood_exporter_megaflow_dump_blind).
# TYPE ovs_flood_exporter_megaflow_dump_bounded gauge
ovs_flood_exporter_megaflow_dump_bounded{datapath="netdev@ovs-netdev"} 1
# HELP ovs_flood_exporter_megaflows_dropped Megaflows of the last dump beyond the agent's parse cap (flooded unicast megaflows are kept first); the ports they enter by are not observed in that poll.
# TYPE ovs_flood_exporter_megaflows_dropped gauge
ovs_flood_exporter_megaflows_dropped{datapath="netdev@ovs-netdev"} 7
`

const exporterExposition = `
# HELP ovs_flood_exporter_last_poll_timestamp_seconds When the last poll finished (the agent polls on its own cadence, --poll.interval).
# TYPE ovs_flood_exporter_last_poll_timestamp_seconds gauge
ovs_flood_exporter_last_poll_timestamp_seconds 1.7952270875e+09
# HELP ovs_flood_exporter_megaflows_remembered Megaflows whose counters the detector keeps between polls; it follows the megaflows the last dumps showed, also when the datapath churns through new ones.
# TYPE ovs_flood_exporter_megaflows_remembered gauge
ovs_flood_exporter_megaflows_remembered 2
# HELP ovs_flood_exporter_ovs_info The ovs-vswitchd version the agent talks to.
# TYPE ovs_flood_exporter_ovs_info gauge
ovs_flood_exporter_ovs_info{version="3.1.0"} 1
# HELP ovs_flood_exporter_poll_duration_seconds Time spent reading the source in the last poll.
# TYPE ovs_flood_exporter_poll_duration_seconds gauge
ovs_flood_exporter_poll_duration_seconds{source="fdb"} 0.0001
ovs_flood_exporter_poll_duration_seconds{source="netlink"} 0.0005
ovs_flood_exporter_poll_duration_seconds{source="openflow"} 0
ovs_flood_exporter_poll_duration_seconds{source="ovn"} 0
ovs_flood_exporter_poll_duration_seconds{source="ovsdb"} 0.001
ovs_flood_exporter_poll_duration_seconds{source="unixctl"} 0.002
# HELP ovs_flood_exporter_source_up 1 if the source was read successfully in the last poll.
# TYPE ovs_flood_exporter_source_up gauge
ovs_flood_exporter_source_up{source="fdb"} 1
ovs_flood_exporter_source_up{source="netlink"} 1
ovs_flood_exporter_source_up{source="openflow"} 0
ovs_flood_exporter_source_up{source="ovn"} 0
ovs_flood_exporter_source_up{source="ovsdb"} 1
ovs_flood_exporter_source_up{source="unixctl"} 1
`

func TestCollectBeforeFirstPoll(t *testing.T) {
	c := New(&state.Store{})
	want := `
# HELP ovs_flood_exporter_source_up 1 if the source was read successfully in the last poll.
# TYPE ovs_flood_exporter_source_up gauge
ovs_flood_exporter_source_up{source="fdb"} 0
ovs_flood_exporter_source_up{source="netlink"} 0
ovs_flood_exporter_source_up{source="openflow"} 0
ovs_flood_exporter_source_up{source="ovn"} 0
ovs_flood_exporter_source_up{source="ovsdb"} 0
ovs_flood_exporter_source_up{source="unixctl"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestGolden renders the whole exposition for the lab snapshot and compares
// it with testdata/metrics.golden, which CI also runs through
// "promtool check metrics". The families served (Gather) and the same
// collector in a pedantic registry, which checks every metric against its
// Desc, must render the same bytes.
func TestGolden(t *testing.T) {
	store := &state.Store{}
	store.Publish(labSnapshot())
	c := New(store)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	var out [2]bytes.Buffer
	for i, g := range []prometheus.Gatherer{c, reg} {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		enc := expfmt.NewEncoder(&out[i], expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Errorf("served families differ from the registry's gathering:\n%s\n---\n%s", out[0].String(), out[1].String())
	}
	buf := out[0]
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
