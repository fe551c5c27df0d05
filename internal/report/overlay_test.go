package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// ovnSnapshot is chassis ch1 of lab/ovn.sh flooding in mode unknown2, as
// the agent publishes it.
func ovnSnapshot() (*state.Snapshot, detect.FloodKey) {
	k := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", DstMAC: "02:00:00:00:99:99"}
	return &state.Snapshot{
		Time: time.Unix(1_795_227_087, 0), Hostname: "ch1",
		Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: true}, state.SourceOVN: {Up: true}},
		Ports: []state.Port{
			{Bridge: "br-int", Name: "tapvm1", IfaceID: "vm1", OVN: &state.OVNPort{LogicalPort: "vm1", Switch: "sw0", PortSecurity: true}},
			{Bridge: "br-int", Name: "tapvm2", IfaceID: "vm2", OVN: &state.OVNPort{LogicalPort: "vm2", Switch: "sw0", Unknown: true}},
			{Bridge: "br-int", Name: "ovn-ch2-0", Type: "geneve", Tunnel: &state.Tunnel{Type: "geneve", RemoteIP: "172.31.1.2", Key: "flow"}},
		},
		Detect: detect.Result{PollSeconds: 1, Active: []detect.Flood{{FloodKey: k, ByteRate: 208_000, PacketRate: 200,
			Victims: []detect.Victim{{Port: "ovn-ch2-0", Bytes: 208_000}, {Port: "tapvm2", Bytes: 208_000}}}}},
		Rules: map[detect.FloodKey]state.RuleRef{k: {Bridge: "br-int", Table: 34, Priority: 50, Cookie: 0x19aab82,
			Path: []string{"br-int table 0 priority 100"},
			Logical: &state.LogicalFlow{UUID: "019aab82-4cf6-4208-b687-09b947a88e22", Pipeline: "ingress", TableID: 26,
				Stage: "ls_in_l2_unknown", Priority: 50, Match: `outport == "none"`, Actions: `outport = "_MC_unknown"; output;`,
				UnknownPorts: []string{"vm2", "vm3"}}}},
	}, k
}

func TestOVNFloodReport(t *testing.T) {
	s, _ := ovnSnapshot()
	var b bytes.Buffer
	if err := Build(s, s).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"flooded by: OVN logical flow 019aab82-4cf6-4208-b687-09b947a88e22, stage ls_in_l2_unknown (ingress table 26)",
		`match=(outport == "none") actions=(outport = "_MC_unknown"; output;)`,
		"victim ovn-ch2-0 (geneve tunnel to 172.31.1.2)",
		`OVN port vm2 on sw0, addresses include "unknown", port security off`,
		`(here vm2, vm3)`, "lsp-set-port-security",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"NORMAL", "br-int table 0 priority 100"} {
		if strings.Contains(out, not) {
			t.Errorf("an OVN flood's report mentions %q:\n%s", not, out)
		}
	}
}

func TestTunnelIngressFix(t *testing.T) {
	k := detect.FloodKey{Bridge: "br-tun", InPort: "vx1", VLAN: 1, DstMAC: "02:00:00:00:99:99"}
	s := &state.Snapshot{
		Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: true}},
		Ports: []state.Port{{Bridge: "br-tun", Name: "vx1", Type: "vxlan",
			Tunnel: &state.Tunnel{Type: "vxlan", LocalIP: "172.31.0.2", RemoteIP: "172.31.0.1", Key: "flow"}}},
		Detect: detect.Result{Active: []detect.Flood{{FloodKey: k, Victims: []detect.Victim{{Port: "tapvm1"}}}}},
	}
	r := Build(s, s)
	if len(r.Floods) != 1 || r.Floods[0].InPort.Tunnel == nil || r.Floods[0].InPort.Tunnel.RemoteIP != "172.31.0.1" {
		t.Fatalf("floods %+v", r.Floods)
	}
	if fix := r.Floods[0].Fix; !strings.Contains(fix, "remote 172.31.0.1") || !strings.Contains(fix, "l2population") || strings.Contains(fix, "NORMAL rule") {
		t.Errorf("fix %q", fix)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"remote_ip": "172.31.0.1"`) {
		t.Errorf("json lacks the remote: %v\n%s", err, b.String())
	}
}

func TestTrunkChildNamed(t *testing.T) {
	s, _ := ovnSnapshot()
	s.Ports[0].OVN.Children = map[int]string{100: "vm1c"}
	s.Detect.Active[0].VLAN = 100
	s.Rules = map[detect.FloodKey]state.RuleRef{}
	r := Build(s, s)
	if got := r.Floods[0].InPort.OVN; got == nil || got.Child != "vm1c" {
		t.Fatalf("in_port OVN %+v, want child vm1c", got)
	}
	if !strings.Contains(r.Floods[0].InPort.Who(), "from its sub-port vm1c") {
		t.Errorf("Who() = %q", r.Floods[0].InPort.Who())
	}
	s.Detect.Active[0].VLAN = 200 // no sub-port has this tag
	if got := Build(s, s).Floods[0].InPort.OVN; got.Child != "" {
		t.Errorf("VLAN 200 attributed to %q", got.Child)
	}
}
