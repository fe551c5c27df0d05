package ovs

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const capDir = "testdata/ovs-3.1"

func capture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(capDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestParseFDBShow(t *testing.T) {
	tests := []struct {
		file string
		text string
		want FDBTable
	}{
		{file: "fdb-show.txt", want: FDBTable{Entries: []FDBEntry{
			{Port: "1", VLAN: 10, MAC: mac("02:00:00:00:00:01"), Age: 1},
		}}},
		{file: "fdb-show.static.txt", want: FDBTable{Entries: []FDBEntry{
			{Port: "2", VLAN: 10, MAC: mac("02:aa:00:00:00:01"), Age: -1, Static: true},
			{Port: "1", VLAN: 10, MAC: mac("02:00:00:00:00:01"), Age: 0},
		}}},
		{file: "fdb-show.local.txt", want: FDBTable{Entries: []FDBEntry{
			{Port: "1", VLAN: 0, MAC: mac("ba:07:2f:65:03:22"), Age: 21},
			{Port: "LOCAL", VLAN: 0, MAC: mac("3a:66:7e:2c:5a:4d"), Age: 0},
		}}},
		{file: "empty table", text: " port  VLAN  MAC                Age\n", want: FDBTable{Entries: []FDBEntry{}}},
		{file: "odd lines", text: " port  VLAN  MAC                Age\n    1    10  02:00:00:00:00:01    1\n    x\n    1  9999  02:00:00:00:00:01    1\n    1    10  02:00:00:00:00:0g    1\n    1    10  02:00:00:00:00:02  soon\n", want: FDBTable{
			Entries: []FDBEntry{{Port: "1", VLAN: 10, MAC: mac("02:00:00:00:00:01"), Age: 1}}, Skipped: 4}},
		{file: "no header", text: "   7    20  02:00:00:00:00:07  300\r\n", want: FDBTable{Entries: []FDBEntry{
			{Port: "7", VLAN: 20, MAC: mac("02:00:00:00:00:07"), Age: 300}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text := tt.text
			if text == "" {
				text = capture(t, tt.file)
			}
			got, err := ParseFDBShow(text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFDBShow =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseFDBStats(t *testing.T) {
	tests := []struct {
		file string
		text string
		want FDBStats
	}{
		{file: "fdb-stats-show.txt", want: FDBStats{Bridge: "br-int", Entries: 1, MaxEntries: 8192, Learned: 1}},
		{file: "fdb-stats-show.static.txt", want: FDBStats{Bridge: "br-int", Entries: 2, MaxEntries: 8192, StaticEntries: 1, Learned: 1}},
		{file: "all counters", text: `Statistics for bridge "br-ex":
  Current/maximum MAC entries in the table: 50000/50000
  Total number of learned MAC entries     : 123456789012
  Total number of expired MAC entries     : 2
  Total number of evicted MAC entries     : 3
  Total number of port moved MAC entries  : 4
  Some future counter                     : 5
`, want: FDBStats{Bridge: "br-ex", Entries: 50000, MaxEntries: 50000, Learned: 123456789012, Expired: 2, Evicted: 3, Moved: 4, Skipped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text := tt.text
			if text == "" {
				text = capture(t, tt.file)
			}
			got, err := ParseFDBStats(text)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseFDBStats = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseDpifShow(t *testing.T) {
	sys := func(name string, of, dp uint32) DPPort {
		return DPPort{Name: name, OFPort: of, DPPort: dp, Type: "system"}
	}
	brInt := []DPPort{
		{Name: "br-int", OFPort: LocalOFPort, DPPort: 1, Type: "tap"},
		sys("tapvm1", 1, 2), sys("tapvm2", 2, 3), sys("tapvm3", 3, 4),
		sys("tapvm4", 4, 5), sys("tapvm5", 5, 6), sys("uplink", 6, 7),
	}
	withPatch := append([]DPPort{brInt[0], {Name: "patch-tun", OFPort: 7, DPPort: NoDPPort, Type: "patch", Config: "peer=patch-int"}}, brInt[1:]...)
	tests := []struct {
		file string
		want []Datapath
	}{
		{"dpif-show.txt", []Datapath{{Name: "netdev@ovs-netdev", Hit: 22404, Missed: 4, Bridges: []DPBridge{{Name: "br-int", Ports: brInt}}}}},
		{"dpif-show.tunnels.txt", []Datapath{{Name: "netdev@ovs-netdev", Hit: 3287, Missed: 6, Bridges: []DPBridge{
			{Name: "br-int", Ports: withPatch},
			{Name: "br-phys", Ports: []DPPort{
				{Name: "br-phys", OFPort: LocalOFPort, DPPort: 12, Type: "tap"},
				sys("phys0", 1, 11),
			}},
			{Name: "br-tun", Ports: []DPPort{
				{Name: "br-tun", OFPort: LocalOFPort, DPPort: 8, Type: "tap"},
				{Name: "gnv0", OFPort: 2, DPPort: 10, Type: "geneve", Config: "key=flow, remote_ip=192.0.2.3"},
				{Name: "patch-int", OFPort: 3, DPPort: NoDPPort, Type: "patch", Config: "peer=patch-tun"},
				{Name: "vxlan0", OFPort: 1, DPPort: 9, Type: "vxlan", Config: "remote_ip=192.0.2.2"},
			}},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseDpifShow(capture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDpifShow =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseDpctlShow(t *testing.T) {
	ports := []DatapathPort{
		{0, "ovs-netdev", "tap", ""}, {1, "br-int", "tap", ""}, {2, "tapvm1", "", ""},
		{3, "tapvm2", "", ""}, {4, "tapvm3", "", ""}, {5, "tapvm4", "", ""},
		{6, "tapvm5", "", ""}, {7, "uplink", "", ""},
	}
	tunnels := append(append([]DatapathPort(nil), ports...),
		DatapathPort{8, "br-tun", "tap", ""},
		DatapathPort{9, "vxlan_sys_4789", "vxlan", "packet_type=ptap"},
		DatapathPort{10, "genev_sys_6081", "geneve", "packet_type=ptap"},
		DatapathPort{11, "phys0", "", ""},
		DatapathPort{12, "br-phys", "tap", ""},
	)
	kernel := `system@ovs-system:
  lookups: hit:123456 missed:789 lost:3
  flows: 42
  masks: hit:1000 total:5 hit/pkt:1.02
  cache: hit:900 hit-rate:90.00%
  caches:
    masks-cache: size:256
  port 0: ovs-system (internal)
  port 1: br-int (internal)
  port 2: vxlan_sys_4789 (vxlan: packet_type=ptap)
  port 3: eth0
netdev@ovs-netdev:
  lookups: hit:1 missed:2 lost:0
  flows: 0
  something new: 7
`
	tests := []struct {
		file string
		text string
		want []DatapathStats
	}{
		{file: "dpctl-show.txt", want: []DatapathStats{{Name: "netdev@ovs-netdev", Hit: 22339, Missed: 4, Flows: 2, Ports: ports}}},
		{file: "dpctl-show-all.txt", want: []DatapathStats{{Name: "netdev@ovs-netdev", Hit: 22351, Missed: 4, Flows: 2, Ports: ports}}},
		{file: "dpctl-show.tunnels.txt", want: []DatapathStats{{Name: "netdev@ovs-netdev", Hit: 3291, Missed: 6, Flows: 2, Ports: tunnels}}},
		{file: "dpctl-show-s.txt", want: []DatapathStats{{Name: "netdev@ovs-netdev", Hit: 3294, Missed: 6, Flows: 2, Ports: tunnels}}},
		{file: "kernel", text: kernel, want: []DatapathStats{
			{Name: "system@ovs-system", Hit: 123456, Missed: 789, Lost: 3, Flows: 42, Ports: []DatapathPort{
				{0, "ovs-system", "internal", ""}, {1, "br-int", "internal", ""},
				{2, "vxlan_sys_4789", "vxlan", "packet_type=ptap"}, {3, "eth0", "", ""},
			}},
			{Name: "netdev@ovs-netdev", Hit: 1, Missed: 2, Skipped: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text := tt.text
			if text == "" {
				text = capture(t, tt.file)
			}
			got, err := ParseDpctlShow(text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDpctlShow =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseDumpDPs(t *testing.T) {
	got, err := ParseDumpDPs(capture(t, "dpctl-dump-dps.txt"))
	if err != nil || !reflect.DeepEqual(got, []string{"netdev@ovs-netdev"}) {
		t.Fatalf("ParseDumpDPs = %q, %v", got, err)
	}
	got, err = ParseDumpDPs("system@ovs-system\nnetdev@ovs-netdev\n\nbogus line\n")
	if err != nil || !reflect.DeepEqual(got, []string{"system@ovs-system", "netdev@ovs-netdev"}) {
		t.Fatalf("ParseDumpDPs = %q, %v", got, err)
	}
	got, err = ParseDumpDPs("")
	if err != nil || len(got) != 0 {
		t.Fatalf("ParseDumpDPs(\"\") = %q, %v", got, err)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{capture(t, "version.txt"), "3.1.0"},
		{"ovs-vswitchd (Open vSwitch) 2.17.9\nDPDK 21.11.6\n", "2.17.9"},
		{"ovs-vswitchd (Open vSwitch) 3.3.0-1.el9\n", "3.3.0-1.el9"},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// Every parser rejects input in which it recognizes nothing.
func TestUnrecognizable(t *testing.T) {
	garbage := []string{"<html>not OVS</html>\n", "\x00\x01\x02", "  \n  hello world: : :\n"}
	parsers := map[string]func(string) error{
		"ParseFDBShow":   func(s string) error { _, err := ParseFDBShow(s); return err },
		"ParseFDBStats":  func(s string) error { _, err := ParseFDBStats(s); return err },
		"ParseDpifShow":  func(s string) error { _, err := ParseDpifShow(s); return err },
		"ParseDpctlShow": func(s string) error { _, err := ParseDpctlShow(s); return err },
		"ParseDumpDPs":   func(s string) error { _, err := ParseDumpDPs(s); return err },
		"ParseDumpFlows": func(s string) error { _, err := ParseDumpFlows(s); return err },
		"ParseTrace":     func(s string) error { _, err := ParseTrace(s); return err },
		"ParseVersion":   func(s string) error { _, err := ParseVersion(s); return err },
	}
	for name, parse := range parsers {
		t.Run(name, func(t *testing.T) {
			for _, g := range garbage {
				if err := parse(g); err == nil {
					t.Errorf("%s(%q): no error", name, g)
				}
			}
		})
	}
}

func TestParseDumpFlows(t *testing.T) {
	out := func(port string, vlan int) Output { return Output{Port: port, VLAN: vlan} }
	tun := func(port, dst string, id uint64, tport string) Output {
		return Output{Port: port, VLAN: -1, Tunnel: true, TunnelDst: dst, TunnelID: id, TunnelPort: tport}
	}
	tests := []struct {
		file string
		want []Megaflow // Key and Actions are checked separately
	}{
		{"dpctl-dump-flows-m.seed000-flood.txt", []Megaflow{
			{UFID: "3cf89955-7a92-4d8c-a35f-3cdf3b61fb10", InPort: "tapvm1", EthSrc: mac("02:00:00:00:00:01"), EthDst: mac("02:00:00:00:00:64"), VLAN: -1,
				Packets: 5617, Bytes: 6967069, Used: time.Millisecond,
				Outputs: []Output{out("br-int", 10), out("tapvm2", -1), out("tapvm3", -1), out("uplink", -1)}},
			{UFID: "387687e1-c733-4e81-852e-4e4d15f604b5", InPort: "uplink", EthDst: mac("02:00:00:00:00:01"), VLAN: -1,
				Packets: 7, Bytes: 446, Used: 2693 * time.Millisecond, Outputs: []Output{out("tapvm1", -1)}},
		}},
		{"dpctl-dump-flows-m.seed000-fixed.txt", []Megaflow{
			{UFID: "3cf89955-7a92-4d8c-a35f-3cdf3b61fb10", InPort: "tapvm1", EthSrc: mac("02:00:00:00:00:01"), EthDst: mac("02:00:00:00:00:64"), VLAN: -1,
				Packets: 16051, Bytes: 19907719, Used: time.Millisecond, Outputs: []Output{out("uplink", -1)}},
			{UFID: "387687e1-c733-4e81-852e-4e4d15f604b5", InPort: "uplink", EthDst: mac("02:00:00:00:00:01"), VLAN: -1,
				Packets: 22, Bytes: 1757, Used: 1694 * time.Millisecond, Outputs: []Output{out("tapvm1", -1)}},
		}},
		{"dpctl-dump-flows.seed000-flood.txt", []Megaflow{
			{InPort: "2", EthSrc: mac("02:00:00:00:00:01"), EthDst: mac("02:00:00:00:00:64"), VLAN: -1,
				Packets: 5630, Bytes: 6983215, Used: time.Millisecond,
				Outputs: []Output{out("1", 10), out("3", -1), out("4", -1), out("7", -1)}},
			{InPort: "7", EthDst: mac("02:00:00:00:00:01"), VLAN: -1, Packets: 7, Bytes: 446, Used: 2699 * time.Millisecond, Outputs: []Output{out("2", -1)}},
		}},
		{"dpctl-dump-flows-m.tunnel-ct.txt", []Megaflow{
			{UFID: "366db9f3-e74d-45bc-9278-f96e30b56026", InPort: "tapvm1", EthSrc: mac("02:00:00:00:00:01"), EthDst: mac("02:00:00:00:00:64"), VLAN: -1,
				Packets: 1334, Bytes: 1648758, Used: 6 * time.Millisecond,
				Outputs: []Output{out("br-int", 10), out("tapvm2", -1), out("tapvm3", -1), out("uplink", -1),
					tun("phys0", "192.0.2.2", 0, "vxlan_sys_4789"), tun("phys0", "192.0.2.3", 100, "genev_sys_6081")}},
			{UFID: "7dcc5c3a-ed24-4c05-b989-29488f892e2b", InPort: "uplink", EthDst: mac("02:00:00:00:00:01"), VLAN: -1,
				Packets: 7, Bytes: 446, Used: 2553 * time.Millisecond, Outputs: []Output{out("tapvm1", -1)}},
			{UFID: "6e8d4763-0e64-4478-b4e6-4eb1258ed8d2", InPort: "tapvm4", RecircID: 2, EthSrc: mac("02:00:00:00:00:04"), EthDst: mac("02:00:00:00:00:05"), VLAN: -1,
				Packets: 8, Bytes: 444, Used: 125 * time.Millisecond, Outputs: []Output{out("tapvm5", -1)}},
			{UFID: "5c4f9778-a6c2-4894-bf4a-031860c1c585", InPort: "tapvm5", EthSrc: mac("02:00:00:00:00:05"), EthDst: mac("02:00:00:00:00:04"), VLAN: -1,
				Packets: 8, Bytes: 500, Used: 126 * time.Millisecond, Outputs: []Output{out("tapvm4", -1)}},
			{UFID: "4bb9f392-04eb-4e96-8290-4034040c587d", InPort: "tapvm4", VLAN: -1,
				Packets: 8, Bytes: 444, Used: 125 * time.Millisecond, Recirculates: true},
		}},
		{"dpctl-dump-flows.tunnel-ct.txt", []Megaflow{
			{InPort: "2", EthSrc: mac("02:00:00:00:00:01"), EthDst: mac("02:00:00:00:00:64"), VLAN: -1, Packets: 1349, Bytes: 1667388, Used: 0,
				Outputs: []Output{out("1", 10), out("3", -1), out("4", -1), out("7", -1), tun("11", "192.0.2.2", 0, "9"), tun("11", "192.0.2.3", 100, "10")}},
			{InPort: "7", EthDst: mac("02:00:00:00:00:01"), VLAN: -1, Packets: 7, Bytes: 446, Used: 2576 * time.Millisecond, Outputs: []Output{out("2", -1)}},
			{InPort: "5", RecircID: 2, EthSrc: mac("02:00:00:00:00:04"), EthDst: mac("02:00:00:00:00:05"), VLAN: -1, Packets: 8, Bytes: 444, Used: 148 * time.Millisecond, Outputs: []Output{out("6", -1)}},
			{InPort: "6", EthSrc: mac("02:00:00:00:00:05"), EthDst: mac("02:00:00:00:00:04"), VLAN: -1, Packets: 8, Bytes: 500, Used: 149 * time.Millisecond, Outputs: []Output{out("5", -1)}},
			{InPort: "5", VLAN: -1, Packets: 8, Bytes: 444, Used: 148 * time.Millisecond, Recirculates: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text := capture(t, tt.file)
			got, err := ParseDumpFlows(text)
			if err != nil {
				t.Fatal(err)
			}
			if got.Skipped != 0 {
				t.Errorf("Skipped = %d", got.Skipped)
			}
			if len(got.Flows) != len(tt.want) {
				t.Fatalf("%d flows, want %d", len(got.Flows), len(tt.want))
			}
			lines := strings.Split(strings.TrimSpace(text), "\n")[1:]
			for i, f := range got.Flows {
				// Key and Actions are the exact substrings of the line.
				if !strings.Contains(lines[i], f.Key+", packets:") || f.Key == "" {
					t.Errorf("flow %d: Key %q is not the match of %q", i, f.Key, lines[i])
				}
				if !strings.Contains(lines[i], "actions:"+f.Actions) || strings.Contains(f.Actions, "dp-extra-info") {
					t.Errorf("flow %d: Actions %q", i, f.Actions)
				}
				f.Key, f.Actions = "", ""
				if !reflect.DeepEqual(f, tt.want[i]) {
					t.Errorf("flow %d =\n%+v\nwant\n%+v", i, f, tt.want[i])
				}
			}
		})
	}
}

// TestParseTunnelCapture reads dumps captured with a VXLAN port (fixed
// remote 192.0.2.2) and a Geneve port (remote and VNI set by the flow) on
// br-int, an underlay bridge br-phys owning the tunnel endpoint 192.0.2.1,
// and a remote host sending through a kernel VXLAN device with VNI 100
// (TestLabTunnelFlows builds the same setup).
func TestParseTunnelCapture(t *testing.T) {
	tests := []struct {
		file                             string
		vxlanPort, genevePort, phys, vm1 string
		underlay, tapvm2                 string
	}{
		{"dpctl-dump-flows-m.vxlan.txt", "vxlan_sys_4789", "genev_sys_6081", "phys0", "tapvm1", "phys0", "tapvm2"},
		{"dpctl-dump-flows.vxlan.txt", "11", "10", "9", "2", "9", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := ParseDumpFlows(capture(t, tt.file))
			if err != nil || m.Skipped != 0 || m.Truncated {
				t.Fatalf("%d flows, %d skipped, truncated %v: %v", len(m.Flows), m.Skipped, m.Truncated, err)
			}
			var rx, pops, tx int
			for _, f := range m.Flows {
				switch {
				case f.InPort == tt.vxlanPort:
					rx++
					want := &TunnelKey{ID: 100, Src: "192.0.2.2", Dst: "192.0.2.1"}
					if !reflect.DeepEqual(f.Tunnel, want) {
						t.Errorf("received through VXLAN: Tunnel = %+v, want %+v", f.Tunnel, want)
					}
					if len(f.Outputs) != 1 || f.Outputs[0] != (Output{Port: tt.vm1, VLAN: -1}) {
						t.Errorf("received through VXLAN: Outputs = %+v", f.Outputs)
					}
				case f.Tunnel != nil:
					t.Errorf("flow from %s has Tunnel %+v", f.InPort, f.Tunnel)
				case f.Recirculates:
					pops++
					if f.InPort != tt.phys || !strings.Contains(f.Actions, "tnl_pop("+tt.vxlanPort+")") {
						t.Errorf("tnl_pop flow = %+v", f)
					}
				case f.EthDst.String() == "02:00:00:00:00:50":
					tx++
					want := []Output{
						{Port: tt.underlay, VLAN: -1, Tunnel: true, TunnelDst: "192.0.2.2", TunnelID: 100, TunnelPort: tt.vxlanPort},
						{Port: tt.underlay, VLAN: -1, Tunnel: true, TunnelDst: "192.0.2.3", TunnelID: 200, TunnelPort: tt.genevePort},
						{Port: tt.tapvm2, VLAN: -1},
					}
					if !reflect.DeepEqual(f.Outputs, want) || !f.IsUnicastDst() {
						t.Errorf("sent into the tunnels: Outputs =\n%+v\nwant\n%+v", f.Outputs, want)
					}
				}
			}
			if rx != 2 || pops != 1 || tx != 1 {
				t.Errorf("%d flows received through VXLAN, %d tnl_pop, %d sent into tunnels; want 2, 1, 1", rx, pops, tx)
			}
		})
	}
}

func TestParseDumpFlowsSkips(t *testing.T) {
	text := capture(t, "dpctl-dump-flows-m.seed000-flood.txt") +
		"flow-dump from pmd on cpu core: 3\n" +
		"some new line OVS might print\n" +
		"recirc_id(0),in_port(2),eth(src=02:00:00:00:00:01), packets:x, bytes:1, used:never, actions:1\n" +
		"recirc_id(0),in_port(2),eth(src=02:00:00:00:00:01), packets:1, bytes:1, used:never, actions:1\n"
	got, err := ParseDumpFlows(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Flows) != 3 || got.Skipped != 2 {
		t.Fatalf("%d flows, %d skipped; want 3, 2", len(got.Flows), got.Skipped)
	}
	if f := got.Flows[2]; f.Used != -1 || f.Packets != 1 || f.InPort != "2" {
		t.Errorf("last flow = %+v", f)
	}
	empty, err := ParseDumpFlows("flow-dump from the main thread:\n")
	if err != nil || len(empty.Flows) != 0 {
		t.Errorf("empty dump = %+v, %v", empty, err)
	}
	if empty, err := ParseDumpFlows(""); err != nil || len(empty.Flows) != 0 {
		t.Errorf("empty reply = %+v, %v", empty, err)
	}
}

// TestActions covers the action grammar with lines in the kernel
// datapath's format as well as the userspace one.
func TestActions(t *testing.T) {
	o := func(port string, vlan int) Output { return Output{Port: port, VLAN: vlan} }
	tn := func(port string, vlan int, dst string, id uint64, tport string) Output {
		return Output{Port: port, VLAN: vlan, Tunnel: true, TunnelDst: dst, TunnelID: id, TunnelPort: tport}
	}
	tests := []struct {
		name    string
		key     string
		actions string
		want    []Output
		recirc  bool
	}{
		{name: "drop", actions: "drop"},
		{name: "plain", actions: "1,2,3", want: []Output{o("1", -1), o("2", -1), o("3", -1)}},
		{name: "push pop", actions: "push_vlan(vid=10,pcp=0),1,pop_vlan,3", want: []Output{o("1", 10), o("3", -1)}},
		{name: "qinq", actions: "push_vlan(tpid=0x88a8,vid=100,pcp=0),push_vlan(vid=10,pcp=0),1,pop_vlan,2,pop_vlan,3",
			want: []Output{o("1", 10), o("2", 100), o("3", -1)}},
		{name: "tagged input", key: "recirc_id(0),in_port(9),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x8100),vlan(vid=30,pcp=0),encap(eth_type(0x0800))",
			actions: "4,pop_vlan,5,push_vlan(vid=31,pcp=0),6", want: []Output{o("4", 30), o("5", -1), o("6", 31)}},
		{name: "clone restores", actions: "clone(push_vlan(vid=5,pcp=0),2),3", want: []Output{o("2", 5), o("3", -1)}},
		{name: "kernel vxlan", actions: "set(tunnel(tun_id=0x64,src=10.0.0.1,dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df|key))),4,pop_vlan,5",
			want: []Output{tn("4", -1, "10.0.0.2", 100, "4"), tn("5", -1, "10.0.0.2", 100, "5")}},
		{name: "kernel geneve opts", actions: "push_vlan(vid=7,pcp=0),set(tunnel(tun_id=0x5,dst=10.0.0.3,ttl=64,tp_dst=6081,geneve({class=0x102,type=0x80,len=4,0xa/0xffffffff}),flags(df|csum|key))),6",
			want: []Output{tn("6", 7, "10.0.0.3", 5, "6")}},
		{name: "ipv6 tunnel", actions: "clone(set(tunnel(tun_id=0x1,ipv6_dst=2001:db8::2,ttl=64,flags(key))),5),6",
			want: []Output{tn("5", -1, "2001:db8::2", 1, "5"), o("6", -1)}},
		{name: "tnl_push", actions: "push_vlan(vid=10,pcp=0),1,tnl_push(tnl_port(9),header(size=50,type=4,eth(dst=02:00:00:00:00:92,src=3a:66:7e:2c:5a:4d,dl_type=0x0800),ipv4(src=192.0.2.1,dst=192.0.2.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x0)),out_port(12)),11",
			want: []Output{o("1", 10), tn("11", -1, "192.0.2.2", 0, "9")}},
		// Formats from lib/odp-util.c's format_odp_tnl_push_header (no GRE
		// or IPv6 underlay in the lab captures).
		{name: "tnl_push geneve opts ipv6", actions: "tnl_push(tnl_port(genev_sys_6081),header(size=70,type=5,eth(dst=02:00:00:00:00:92,src=3a:66:7e:2c:5a:4d,dl_type=0x86dd),ipv6(src=2001:db8::1,dst=2001:db8::2,label=0,proto=17,tclass=0x0,hlimit=64),udp(src=0,dst=6081,csum=0xffff),geneve(crit,vni=0x1c8,options({class=0x102,type=0x80,len=4,0xa}))),out_port(br-phys)),phys0",
			want: []Output{tn("phys0", -1, "2001:db8::2", 0x1c8, "genev_sys_6081")}},
		{name: "tnl_push gre key", actions: "clone(tnl_push(tnl_port(gre_sys),header(size=42,type=3,eth(dst=02:00:00:00:00:92,src=3a:66:7e:2c:5a:4d,dl_type=0x0800),ipv4(src=192.0.2.1,dst=192.0.2.9,proto=47,tos=0,ttl=64,frag=0x4000),gre((flags=0x2000,proto=0x6558),key=0x2a)),out_port(br-phys)),phys0),tapvm2",
			want: []Output{tn("phys0", -1, "192.0.2.9", 42, "gre_sys"), o("tapvm2", -1)}},
		{name: "set tunnel without key", actions: "set(tunnel(dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df))),4",
			want: []Output{tn("4", -1, "10.0.0.2", 0, "4")}},
		{name: "ct recirc", actions: "ct(commit,zone=1,nat(src=10.0.0.1:1024-2048)),recirc(0x5)", recirc: true},
		{name: "hash recirc", actions: "hash(l4(0)),recirc(0x3)", recirc: true},
		{name: "tnl_pop", actions: "tnl_pop(4)", recirc: true},
		{name: "check_pkt_len", actions: "check_pkt_len(size=1500,gt(userspace(pid=1,controller(reason=1,dont_send=0,continuation=0,recirc_id=1,rule_cookie=0,controller_id=0,max_len=65535))),le(7))",
			want: []Output{o("7", -1)}},
		{name: "sample 100% is clone", actions: "sample(sample=100.0%,actions(push_vlan(vid=3,pcp=0),8)),9", want: []Output{o("8", 3), o("9", -1)}},
		{name: "sampling", actions: "sample(sample=10.0%,actions(userspace(pid=3,sFlow(vid=0,pcp=0,output=2147483650),actions))),2", want: []Output{o("2", -1)}},
		{name: "userspace then output", actions: "userspace(pid=0,slow_path(controller)),3", want: []Output{o("3", -1)}},
		{name: "lb_output", actions: "lb_output(1)", want: []Output{o("lb_output(1)", -1)}},
		{name: "trunc meter set", actions: "meter(0),trunc(200),set(eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)),set(ipv4(ttl=63)),5", want: []Output{o("5", -1)}},
		{name: "bare words", actions: "ct_clear,pop_eth,pop_nsh,tapvm1", want: []Output{o("tapvm1", -1)}},
		{name: "unbalanced", actions: "clone(1,2", want: []Output{o("1", -1), o("2", -1)}},
		{name: "deep nesting", actions: strings.Repeat("clone(", 40) + "1" + strings.Repeat(")", 40) + ",2", want: []Output{o("2", -1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = "recirc_id(0),in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)"
			}
			line := key + ", packets:1, bytes:2, used:0.500s, actions:" + tt.actions
			got, err := ParseDumpFlows(line)
			if err != nil || len(got.Flows) != 1 {
				t.Fatalf("ParseDumpFlows(%q) = %+v, %v", line, got, err)
			}
			f := got.Flows[0]
			if f.Actions != tt.actions {
				t.Errorf("Actions = %q", f.Actions)
			}
			if !reflect.DeepEqual(f.Outputs, tt.want) {
				t.Errorf("Outputs =\n%+v\nwant\n%+v", f.Outputs, tt.want)
			}
			if f.Recirculates != tt.recirc {
				t.Errorf("Recirculates = %v", f.Recirculates)
			}
		})
	}
}

func TestMegaflowKey(t *testing.T) {
	tests := []struct {
		key     string
		unicast bool
		dst     net.HardwareAddr
		masked  bool
		src     net.HardwareAddr
		recirc  uint32
		inPort  string
		vlan    int
		tunnel  *TunnelKey
	}{
		{key: "recirc_id(0),in_port(2),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:64)", unicast: true,
			src: mac("02:00:00:00:00:01"), dst: mac("02:00:00:00:00:64"), inPort: "2", vlan: -1},
		{key: "recirc_id(0x1f),in_port(tap0),eth(dst=ff:ff:ff:ff:ff:ff)", dst: mac("ff:ff:ff:ff:ff:ff"), recirc: 31, inPort: "tap0", vlan: -1},
		{key: "recirc_id(0),in_port(tap0),eth(dst=01:00:5e:00:00:01)", dst: mac("01:00:5e:00:00:01"), inPort: "tap0", vlan: -1},
		{key: "in_port(1),eth(dst=00:00:00:00:00:00/01:00:00:00:00:00)", dst: mac("00:00:00:00:00:00"), masked: true, inPort: "1", vlan: -1},
		{key: "in_port(1),eth(src=02:00:00:00:00:01/00:00:00:00:00:00,dst=02:00:00:00:00:05/ff:ff:ff:ff:ff:ff)", unicast: true, dst: mac("02:00:00:00:00:05"), inPort: "1", vlan: -1},
		{key: "in_port(1),eth(dst=02:00:00:00:00:05/00:00:00:00:00:00)", inPort: "1", vlan: -1},
		{key: "in_port(1),eth_type(0x0806)", inPort: "1", vlan: -1},
		{key: "in_port(1),eth(dst=02:00:00:00:00:05),eth_type(0x8100),vlan(vid=12,pcp=0),encap(eth_type(0x0800))", unicast: true, dst: mac("02:00:00:00:00:05"), inPort: "1", vlan: 12},
		{key: "tunnel(tun_id=0x1,src=10.0.0.1,dst=10.0.0.2,flags(-df+csum+key)),in_port(3),eth(dst=02:00:00:00:00:05)", unicast: true, dst: mac("02:00:00:00:00:05"), inPort: "3", vlan: -1,
			tunnel: &TunnelKey{ID: 1, Src: "10.0.0.1", Dst: "10.0.0.2"}},
		{key: "skb_priority(0/0),tunnel(tun_id=0x64/0xffff,ipv6_src=2001:db8::2,ipv6_dst=2001:db8::1/ffff::,ttl=64/0,geneve({class=0x102,type=0x80,len=4,0xa/0xf}),flags(-df+csum+key)),recirc_id(0x3),in_port(genev_sys_6081)",
			recirc: 3, inPort: "genev_sys_6081", vlan: -1, tunnel: &TunnelKey{ID: 100, Src: "2001:db8::2", Dst: "2001:db8::1"}},
		{key: "recirc_id(0),in_port(tunnel(x)),eth(dst=02:00:00:00:00:05)", unicast: true, dst: mac("02:00:00:00:00:05"), inPort: "tunnel(x)", vlan: -1},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := ParseDumpFlows(tt.key + ", packets:0, bytes:0, used:never, actions:drop")
			if err != nil || len(got.Flows) != 1 {
				t.Fatalf("%+v, %v", got, err)
			}
			f := got.Flows[0]
			if f.IsUnicastDst() != tt.unicast || !reflect.DeepEqual(f.EthDst, tt.dst) || f.EthDstMasked != tt.masked ||
				!reflect.DeepEqual(f.EthSrc, tt.src) || f.RecircID != tt.recirc || f.InPort != tt.inPort || f.VLAN != tt.vlan {
				t.Errorf("got unicast=%v dst=%v masked=%v src=%v recirc=%d in_port=%q vlan=%d",
					f.IsUnicastDst(), f.EthDst, f.EthDstMasked, f.EthSrc, f.RecircID, f.InPort, f.VLAN)
			}
			if f.Outputs != nil || f.Used != -1 {
				t.Errorf("Outputs = %v, Used = %v", f.Outputs, f.Used)
			}
			if !reflect.DeepEqual(f.Tunnel, tt.tunnel) {
				t.Errorf("Tunnel = %+v, want %+v", f.Tunnel, tt.tunnel)
			}
		})
	}
}

func TestParseUsed(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0.001s", time.Millisecond, true},
		{"2.693s", 2693 * time.Millisecond, true},
		{"0.000s", 0, true},
		{"12345.010s", 12345*time.Second + 10*time.Millisecond, true},
		{"never", -1, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"-1.000s", 0, false},
		{"1.000", 0, false},
		{"s", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseUsed(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUsed(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseTrace(t *testing.T) {
	type step struct {
		bridge   string
		depth    int
		table    int
		priority int
		cookie   uint64
		match    string
		actions  string // joined with "|"
	}
	tests := []struct {
		file      string
		flow      string
		bridges   []string
		steps     []step
		floodStep int // index into steps, -1 if not flooded
		megaflow  string
		dpActions string
		resumed   int
	}{
		{
			file: "ofproto-trace.flood.txt", flow: "ip,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,nw_src=10.0.10.1,nw_dst=10.0.10.100,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no",
			bridges: []string{"br-int"},
			steps: []step{
				{"br-int", 0, 0, 10, 0, "", "resubmit(,94)"},
				{"br-int", 0, 94, 1, 0xe4fc1a92d440c578, "", "NORMAL"},
			},
			floodStep: 1,
			megaflow:  "recirc_id=0,eth,ip,in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,nw_frag=no",
			dpActions: "push_vlan(vid=10,pcp=0),1,pop_vlan,3,4,7",
		},
		{
			file: "ofproto-trace.fixed.txt", flow: "in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,dl_type=0x0000",
			bridges: []string{"br-int"},
			steps: []step{
				{"br-int", 0, 0, 10, 0, "", "resubmit(,94)"},
				{"br-int", 0, 94, 12, 0xe4fc1a92d440c579, "in_port=1,dl_dst=02:00:00:00:00:64", "output:6"},
			},
			floodStep: -1,
			megaflow:  "recirc_id=0,eth,in_port=1,dl_dst=02:00:00:00:00:64,dl_type=0x0000",
			dpActions: "7",
		},
		{
			file: "ofproto-trace.output.txt", flow: "in_port=6,vlan_tci=0x0000,dl_src=02:00:00:00:00:64,dl_dst=02:00:00:00:00:01,dl_type=0x0000",
			bridges: []string{"br-int"},
			steps: []step{
				{"br-int", 0, 0, 100, 0, "in_port=6", "resubmit(,81)"},
				{"br-int", 0, 81, 50, 0, "dl_dst=02:00:00:00:00:01", "output:1"},
			},
			floodStep: -1,
			megaflow:  "recirc_id=0,eth,in_port=6,dl_dst=02:00:00:00:00:01,dl_type=0x0000",
			dpActions: "2",
		},
		{
			file: "ofproto-trace.nomatch.txt", flow: "in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=02:00:00:00:00:05,dl_type=0x0000",
			bridges: []string{"br-tun"},
			steps: []step{
				{"br-tun", 0, 0, 5, 0, "in_port=1", "resubmit(,5)"},
				{"br-tun", 0, 5, -1, 0, "", "drop"},
			},
			floodStep: -1,
			megaflow:  "recirc_id=0,eth,in_port=1,dl_type=0x0000",
			dpActions: "drop",
		},
		{
			// Through the patch port into br-tun (goto_table/resubmit
			// chain), out two native tunnels via br-phys.
			file: "ofproto-trace.patch-tunnel.txt", flow: "in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,dl_type=0x0000",
			bridges: []string{"br-int", "br-tun", "br-phys"},
			steps: []step{
				{"br-int", 0, 0, 10, 0, "", "resubmit(,94)"},
				{"br-int", 0, 94, 1, 0xe4fc1a92d440c578, "", "NORMAL"},
				{"br-tun", 0, 0, 1, 0, "in_port=3", "goto_table:2"},
				{"br-tun", 0, 2, 0, 0, "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00", "resubmit(,20)"},
				{"br-tun", 0, 20, 0, 0, "", "resubmit(,22)"},
				{"br-tun", 0, 22, 1, 0, "dl_vlan=10", "pop_vlan|set_field:0x64->tun_id|output:1|output:2"},
				{"br-phys", 1, 0, 0, 0, "", "NORMAL"},
				{"br-phys", 0, 0, 0, 0, "", "NORMAL"},
			},
			floodStep: 1,
			megaflow:  "recirc_id=0,eth,in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,dl_type=0x0000",
			dpActions: "push_vlan(vid=10,pcp=0),1,pop_vlan,3,4,7,clone(tnl_push(tnl_port(9),header(size=50,type=4,eth(dst=02:00:00:00:00:92,src=3a:66:7e:2c:5a:4d,dl_type=0x0800),ipv4(src=192.0.2.1,dst=192.0.2.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x0)),out_port(12)),11),tnl_push(tnl_port(10),header(size=50,type=5,eth(dst=02:00:00:00:00:93,src=3a:66:7e:2c:5a:4d,dl_type=0x0800),ipv4(src=192.0.2.1,dst=192.0.2.3,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=6081,csum=0x0),geneve(vni=0x64)),out_port(12)),11",
		},
		{
			// ct() recirculates; the flood happens in the resumed section.
			file: "ofproto-trace.ct.txt", flow: "ip,in_port=4,vlan_tci=0x0000,dl_src=02:00:00:00:00:04,dl_dst=02:00:00:00:00:05,nw_src=10.0.20.4,nw_dst=10.0.20.5,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no",
			bridges: []string{"br-int", "br-tun"},
			steps: []step{
				{"br-int", 0, 0, 20, 0, "ip,in_port=4", "ct(table=94,zone=1)|drop"},
			},
			floodStep: -2, // in Resumed[0]
			megaflow:  "recirc_id=0,eth,ip,in_port=4,nw_frag=no",
			dpActions: "ct(zone=1),recirc(0x1)",
			resumed:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tr, err := ParseTrace(capture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Flow != tt.flow || tr.Megaflow != tt.megaflow || tr.DatapathActions != tt.dpActions || tr.FinalFlow != "unchanged" {
				t.Errorf("Flow %q\nMegaflow %q\nDatapathActions %q\nFinalFlow %q", tr.Flow, tr.Megaflow, tr.DatapathActions, tr.FinalFlow)
			}
			if !reflect.DeepEqual(tr.Bridges, tt.bridges) {
				t.Errorf("Bridges = %q, want %q", tr.Bridges, tt.bridges)
			}
			if tr.Skipped != 0 || len(tr.Resumed) != tt.resumed {
				t.Errorf("Skipped = %d, %d resumed sections", tr.Skipped, len(tr.Resumed))
			}
			var got []step
			for _, s := range tr.Steps {
				got = append(got, step{s.Bridge, s.Depth, s.Table, s.Priority, s.Cookie, s.Match, strings.Join(s.Actions, "|")})
			}
			if !reflect.DeepEqual(got, tt.steps) {
				t.Errorf("Steps =\n%+v\nwant\n%+v", got, tt.steps)
			}
			switch {
			case tt.floodStep >= 0:
				if !tr.Flooded || tr.FloodStep != &tr.Steps[tt.floodStep] {
					t.Errorf("Flooded %v FloodStep %+v, want step %d", tr.Flooded, tr.FloodStep, tt.floodStep)
				}
			case tt.floodStep == -1:
				if tr.Flooded || tr.FloodStep != nil {
					t.Errorf("Flooded %v FloodStep %+v, want none", tr.Flooded, tr.FloodStep)
				}
			}
		})
	}

	t.Run("resumed section", func(t *testing.T) {
		tr, err := ParseTrace(capture(t, "ofproto-trace.ct.txt"))
		if err != nil {
			t.Fatal(err)
		}
		r := tr.Resumed[0]
		if r.Resume != "recirc(0x1) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)" ||
			!strings.HasPrefix(r.Flow, "recirc_id=0x1,ct_state=new|trk,ct_zone=1,") ||
			r.DatapathActions != "push_vlan(vid=20,pcp=0),1,pop_vlan,6" || len(r.Steps) != 5 {
			t.Fatalf("Resumed[0] = %+v", r)
		}
		if !r.Flooded || r.FloodStep != &r.Steps[0] || r.FloodStep.Table != 94 || r.FloodStep.Bridge != "br-int" {
			t.Errorf("resumed flood step = %+v", r.FloodStep)
		}
		if !tr.Flooded || tr.FloodStep != r.FloodStep {
			t.Errorf("top-level Flooded %v FloodStep %p, want the resumed one %p", tr.Flooded, tr.FloodStep, r.FloodStep)
		}
		if n := tr.Steps[0].Notes; len(n) != 2 || !strings.HasPrefix(n[0], "A clone of the packet is forked to recirculate.") {
			t.Errorf("notes = %q", n)
		}
	})
	t.Run("notes", func(t *testing.T) {
		tr, _ := ParseTrace(capture(t, "ofproto-trace.patch-tunnel.txt"))
		want := []string{"output to native tunnel", "tunneling to 192.0.2.2 via br-phys",
			"tunneling from 3a:66:7e:2c:5a:4d 192.0.2.1 to 02:00:00:00:00:92 192.0.2.2",
			"output to native tunnel", "tunneling to 192.0.2.3 via br-phys",
			"tunneling from 3a:66:7e:2c:5a:4d 192.0.2.1 to 02:00:00:00:00:93 192.0.2.3"}
		if got := tr.Steps[5].Notes; !reflect.DeepEqual(got, want) {
			t.Errorf("Notes = %q", got)
		}
		if got := tr.FloodStep.Notes; !reflect.DeepEqual(got, []string{floodNote}) {
			t.Errorf("flood step notes = %q", got)
		}
	})
	t.Run("odd lines", func(t *testing.T) {
		text := capture(t, "ofproto-trace.flood.txt") + "Some future summary line\n"
		tr, err := ParseTrace(text)
		if err != nil || tr.Skipped != 1 || !tr.Flooded {
			t.Errorf("Skipped %d Flooded %v err %v", tr.Skipped, tr.Flooded, err)
		}
	})
}

func TestParseStepHeader(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want TraceStep
	}{
		{"0. priority 10", true, TraceStep{Table: 0, Priority: 10}},
		{"94. in_port=1,dl_dst=02:00:00:00:00:64, priority 12, cookie 0xe4fc1a92d440c579", true,
			TraceStep{Table: 94, Priority: 12, Cookie: 0xe4fc1a92d440c579, Match: "in_port=1,dl_dst=02:00:00:00:00:64"}},
		{"5. No match.", true, TraceStep{Table: 5, Priority: -1}},
		{"254. priority 0", true, TraceStep{Table: 254}},
		{"1. output:2", false, TraceStep{}},
		{"999. priority 1", false, TraceStep{}},
		{". priority 1", false, TraceStep{}},
		{"3.priority 1", false, TraceStep{}},
	}
	for _, tt := range tests {
		got, ok := parseStepHeader(tt.in)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseStepHeader(%q) = %+v, %v", tt.in, got, ok)
		}
	}
}

// The walk over a key's leading items and the search for each field read
// every key OVS printed in the captures alike.
func TestKeyHeadWalkMatchesSearch(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(capDir, "*dump-flows*"))
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	keys, commons := 0, 0
	texts := map[string]string{"the benchmark dump": benchDump(t)}
	for _, name := range files {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		texts[name] = string(text)
	}
	for name, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			if _, rest, ok := strings.Cut(line, "ufid:"); ok {
				_, line, _ = strings.Cut(rest, ", ")
			}
			key, _, ok := strings.Cut(line, ", packets:")
			if !ok {
				continue
			}
			var p flowParser
			walked, searched := Megaflow{Key: key, VLAN: -1}, Megaflow{Key: key, VLAN: -1}
			r1, ok1 := p.parseKeyHead(&walked)
			r2, ok2 := p.searchKeyHead(&searched)
			if !ok1 || !ok2 || r1 != r2 || !reflect.DeepEqual(walked, searched) {
				t.Fatalf("%s: key %q\nwalked   %v %q %+v\nsearched %v %q %+v", name, key, ok1, r1, walked, ok2, r2, searched)
			}
			common := Megaflow{Key: key, VLAN: -1}
			if r3, ok3 := p.commonKeyHead(&common); ok3 {
				if r3 != r1 || !reflect.DeepEqual(common, walked) {
					t.Fatalf("%s: key %q\ncommon %q %+v\nwalked %q %+v", name, key, r3, common, r1, walked)
				}
				commons++
			}
			keys++
		}
	}
	if keys < 5000 || commons < 5000 {
		t.Fatalf("only %d keys in the captures, %d of the common layout", keys, commons)
	}
}

// A parse that reuses a released dump's memory reads the same flows as
// one that does not, and Release leaves nothing behind.
func TestDumpFlowsRelease(t *testing.T) {
	text := capture(t, "dpctl-dump-flows.seed000-flood.txt")
	want, err := ParseDumpFlows(text)
	if err != nil || len(want.Flows) == 0 {
		t.Fatal(len(want.Flows), err)
	}
	for range 3 {
		m, err := ParseDumpFlows(text)
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Fatalf("after a release: %+v, %v\nwant %+v", m, err, want)
		}
		kept, keptOut := m.Flows[:1], m.Flows[0].Outputs
		m.Release()
		if m.Flows != nil || kept[0].Key != "" || len(keptOut) == 0 || keptOut[0].Port != "" {
			t.Fatalf("released dump still holds %d flows (%q, %+v)", len(m.Flows), kept[0].Key, keptOut)
		}
		m.Release() // twice is harmless
	}
}
