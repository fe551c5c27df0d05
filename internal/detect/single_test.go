package detect

import (
	"testing"
	"time"
)

// ovnPorts mirrors chassis ch1 of lab/ovn.sh: vm1 and vm2 on br-int
// without VLANs, and the Geneve port to ch2.
func ovnPorts() map[string]Port {
	return map[string]Port{
		"tapvm1":    {Bridge: "br-int", Name: "tapvm1", VLAN: -1, Endpoint: true, MAC: mac("02:00:00:02:00:01")},
		"tapvm2":    {Bridge: "br-int", Name: "tapvm2", VLAN: -1, Endpoint: true, MAC: mac("02:00:00:02:00:02")},
		"ovn-ch2-0": {Bridge: "br-int", Name: "ovn-ch2-0", VLAN: -1, Tunnel: true},
		"novm":      {Bridge: "br-int", Name: "novm", VLAN: -1, Endpoint: true}, // no MAC known
	}
}

// observe runs flows (one list per poll, 5 s apart) through a detector.
func observe(ports map[string]Port, fdb FDB, polls ...[]Flow) []Result {
	d := New(Config{})
	t0 := time.Unix(1_700_000_000, 0)
	var out []Result
	for i, flows := range polls {
		out = append(out, d.Observe(Input{Time: t0.Add(time.Duration(i) * 5 * time.Second), Ports: ports,
			Flows: flows, Complete: true, FDB: fdb}))
	}
	return out
}

// unicast is a megaflow from in to dst with one output per port.
func unicast(key, in, src, dst string, packets uint64, outs ...string) Flow {
	f := Flow{Key: key, InPort: in, Src: mac(src), Dst: mac(dst), Packets: packets, Bytes: packets * 1042}
	for _, o := range outs {
		f.Outputs = append(f.Outputs, Output{Port: o, VLAN: -1})
	}
	return f
}

func TestSingleReceiverLeak(t *testing.T) {
	const nobody = "02:00:00:00:99:99"
	polls := func(f func(n uint64) []Flow) [][]Flow {
		var out [][]Flow
		for i := range uint64(5) {
			out = append(out, f(i*1000))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		flows  func(n uint64) []Flow
		fdb    FDB
		victim string // "" when nothing must be reported
	}{
		{name: "OVN port with unknown receives a MAC nobody owns",
			flows:  func(n uint64) []Flow { return []Flow{unicast("a", "tapvm1", "02:00:00:02:00:01", nobody, n, "tapvm2")} },
			victim: "tapvm2"},
		{name: "delivery to the owner",
			flows: func(n uint64) []Flow {
				return []Flow{unicast("a", "tapvm1", "02:00:00:02:00:01", "02:00:00:02:00:02", n, "tapvm2")}
			}},
		{name: "a VM that sends from a second MAC receives for it",
			flows: func(n uint64) []Flow {
				return []Flow{
					unicast("a", "tapvm1", "02:00:00:02:00:01", "0a:00:00:00:00:aa", n, "tapvm2"),
					unicast("b", "tapvm2", "0a:00:00:00:00:aa", "02:00:00:02:00:01", n, "tapvm1"),
				}
			}},
		{name: "a second MAC in the port's OVN addresses",
			flows: func(n uint64) []Flow {
				return []Flow{unicast("a", "tapvm1", "02:00:00:02:00:01", "0a:00:00:00:00:bb", n, "tapvm2")}
			}},
		{name: "learned by the FDB there", fdb: fdbSet{"br-int/0/" + nobody: true},
			flows: func(n uint64) []Flow { return []Flow{unicast("a", "tapvm1", "02:00:00:02:00:01", nobody, n, "tapvm2")} }},
		{name: "a port whose MACs are unknown is not judged",
			flows: func(n uint64) []Flow { return []Flow{unicast("a", "tapvm1", "02:00:00:02:00:01", nobody, n, "novm")} }},
		{name: "a tunnel is not a single receiver",
			flows: func(n uint64) []Flow {
				return []Flow{unicast("a", "tapvm1", "02:00:00:02:00:01", nobody, n, "ovn-ch2-0")}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ports := ovnPorts()
			p := ports["tapvm2"]
			p.MACs = append(p.MACs, mac("0a:00:00:00:00:bb"))
			ports["tapvm2"] = p
			res := observe(ports, tc.fdb, polls(tc.flows)...)
			last := res[len(res)-1]
			if tc.victim == "" {
				if len(last.Active) != 0 || len(last.Leaked) != 0 {
					t.Fatalf("reported %+v, leaked %v", last.Active, last.Leaked)
				}
				return
			}
			if len(last.Active) != 1 {
				t.Fatalf("active floods %+v, want one", last.Active)
			}
			f := last.Active[0]
			if f.InPort != "tapvm1" || f.Bridge != "br-int" || f.DstMAC != nobody || len(f.Victims) != 1 || f.Victims[0].Port != tc.victim {
				t.Errorf("flood %+v", f)
			}
			// five polls of 1000 packets each after the baseline, 1042 bytes each
			if got := last.Leaked[PortKey{Bridge: "br-int", Port: tc.victim}]; got != 4*1000*1042 {
				t.Errorf("leaked %d, want %d", got, 4*1000*1042)
			}
		})
	}
}

func TestSendersAreBounded(t *testing.T) {
	s := senders{}
	var flows []Flow
	for i := range 500 {
		src := mac("02:00:00:00:00:00")
		src[4], src[5] = byte(i>>8), byte(i)
		flows = append(flows, Flow{Key: "k", InPort: "tapvm1", Src: src, Packets: 1})
	}
	s.learn(flows, nil, 1)
	if n := len(s["tapvm1"]); n != maxSendersPerPort {
		t.Fatalf("%d source MACs remembered for one port, want the cap %d", n, maxSendersPerPort)
	}
	s.learn(nil, nil, 1+senderMemoryPolls+59) // the next sweep after expiry
	if len(s) != 0 {
		t.Fatalf("old senders kept: %d ports", len(s))
	}
}

// TestTunnelCopiesAreCharged: the VXLAN sender of lab/overlay.sh, after the
// agent resolved its tnl_push copies to the tunnel ports vx2 and vx3.
func TestTunnelCopiesAreCharged(t *testing.T) {
	ports := map[string]Port{
		"tapvm1": {Bridge: "br-int", Name: "tapvm1", VLAN: 1, Endpoint: true, MAC: mac("02:00:00:01:01:01")},
		"tapvm2": {Bridge: "br-int", Name: "tapvm2", VLAN: 1, Endpoint: true, MAC: mac("02:00:00:01:01:02")},
		"br-int": {Bridge: "br-int", Name: "br-int", VLAN: -1},
		"vx2":    {Bridge: "br-tun", Name: "vx2", VLAN: -1, Tunnel: true},
		"vx3":    {Bridge: "br-tun", Name: "vx3", VLAN: -1, Tunnel: true},
	}
	flow := func(n uint64) []Flow {
		return []Flow{{Key: "f", InPort: "tapvm1", Src: mac("02:00:00:01:01:01"), Dst: mac("02:00:00:00:99:99"),
			Packets: n, Bytes: n * 1042, Outputs: []Output{{Port: "br-int", VLAN: 1}, {Port: "vx2", VLAN: -1, Tunnel: "172.31.0.2"},
				{Port: "vx3", VLAN: -1, Tunnel: "172.31.0.3"}, {Port: "tapvm2", VLAN: -1}}}}
	}
	res := observe(ports, nil, flow(0), flow(1000), flow(2000), flow(3000))
	last := res[len(res)-1]
	for _, p := range []PortKey{{"br-int", "tapvm2"}, {"br-tun", "vx2"}, {"br-tun", "vx3"}} {
		if got := last.Leaked[p]; got != 3000*1042 {
			t.Errorf("leaked to %v: %d, want %d", p, got, 3000*1042)
		}
	}
	if _, ok := last.Leaked[PortKey{"br-int", "br-int"}]; ok {
		t.Error("the bridge's LOCAL port was charged")
	}
	if len(last.Active) != 1 || len(last.Active[0].Victims) != 3 {
		t.Fatalf("active %+v, want one flood with tapvm2, vx2 and vx3 as victims", last.Active)
	}
}

// TestUnresolvedTunnelKeepsABridge: a flood from a datapath tunnel device
// that matched no OVS port is reported on the bridge of its victims.
func TestUnresolvedTunnelKeepsABridge(t *testing.T) {
	ports := ovnPorts()
	out := Classify([]Flow{unicast("a", "genev_sys_6081", "02:00:00:02:00:03", "02:00:00:00:99:99", 10, "tapvm1", "tapvm2")}, ports)
	if len(out) != 1 || out[0].Bridge != "br-int" {
		t.Fatalf("classified %+v, want bridge br-int", out)
	}
}

func TestFrameVLAN(t *testing.T) {
	access := Port{Name: "tapvm1", VLAN: 10}
	untagged := Port{Name: "tapvm1", VLAN: -1}
	for _, tc := range []struct {
		in   Port
		key  int
		seen int
		want int
	}{
		{access, 100, 20, 10},    // an access port's tag wins
		{untagged, 100, -1, 100}, // a tagged frame on a trunk or sub-port
		{untagged, -1, 20, 20},   // the first tag seen at an output
		{untagged, -1, -1, 0},
		{Port{VLAN: 5}, -1, -1, 0}, // an unknown in_port has no tag
	} {
		if got := frameVLAN(Flow{VLAN: tc.key}, tc.in, tc.seen); got != tc.want {
			t.Errorf("frameVLAN(key %d, port %+v, seen %d) = %d, want %d", tc.key, tc.in, tc.seen, got, tc.want)
		}
	}
}
