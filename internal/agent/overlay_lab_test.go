package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

const nobodyMAC = "02:00:00:00:99:99" // the MAC no VM owns in lab/overlay.sh and lab/ovn.sh

// hostAgent runs the real agent against host n of a multi-host lab, its
// netlink reader inside that host's namespace.
func hostAgent(t *testing.T, lab *labtest.Multi, kind string, n int) *Agent {
	t.Helper()
	ns, run := lab.Host(kind, n)
	src, closeSrc := OpenSources(SourceOptions{RunDir: run, Timeout: 2 * time.Second, Deadline: 5 * time.Second})
	t.Cleanup(closeSrc)
	err := labtest.InNetns(ns, func() error {
		nl, err := netdev.NewNetlinkReader(netdev.Options{})
		if err != nil {
			return err
		}
		t.Cleanup(func() { _ = nl.Close() })
		for i, s := range src {
			if s.Name() == state.SourceNetlink {
				src[i] = NewNetlink(nl, 5*time.Second, nil)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	return New(cfg, src, nil, &state.Store{})
}

// pollHosts polls every agent once a second while cmd runs in the lab and
// twice after; it returns each agent's last snapshot and every snapshot.
func pollHosts(t *testing.T, lab *labtest.Multi, agents []*Agent, cmd ...string) (last []*state.Snapshot, all [][]*state.Snapshot) {
	t.Helper()
	ctx := context.Background()
	all = make([][]*state.Snapshot, len(agents))
	for i, a := range agents {
		all[i] = append(all[i], a.Poll(ctx))
	}
	done := make(chan error, 1)
	wait := lab.Start(cmd[0], cmd[1:]...)
	go func() { done <- wait() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for extra := -1; extra < 2; {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("lab %v: %v", cmd, err)
			}
			extra = 0
			done = nil
		case <-tick.C:
			for i, a := range agents {
				all[i] = append(all[i], a.Poll(ctx))
			}
			if extra >= 0 {
				extra++
			}
		}
	}
	for _, s := range all {
		last = append(last, s[len(s)-1])
	}
	return last, all
}

// everActive returns the floods active in any of snaps, by key.
func everActive(snaps []*state.Snapshot) map[detect.FloodKey]detect.Flood {
	out := map[detect.FloodKey]detect.Flood{}
	for _, s := range snaps {
		for _, f := range s.Detect.Active {
			out[f.FloodKey] = f
		}
	}
	return out
}

func victimSet(f detect.Flood) map[string]bool {
	out := map[string]bool{}
	for _, v := range f.Victims {
		out[v.Port] = true
	}
	return out
}

// TestLabVXLANMesh: on lab/overlay.sh, hv1's vm1 sends 1,600 frames of 1,042
// bytes to a MAC nobody owns. hv1 must charge each copy to the tunnel port
// it left through (vx2, vx3) as well as to its local neighbour; hv2 and hv3
// must attribute the flood to their tunnel port vx1 on br-tun, never to
// vxlan_sys_4789 or an empty bridge (hv3 through its flow-based port vxflow).
// Twin: learned unicast to hv2 through
// vx2 raises nothing anywhere.
func TestLabVXLANMesh(t *testing.T) {
	lab := labtest.UpMulti(t, labtest.OverlayScript(), "agvx")
	agents := []*Agent{hostAgent(t, lab, "hv", 1), hostAgent(t, lab, "hv", 2), hostAgent(t, lab, "hv", 3)}
	last, all := pollHosts(t, lab, agents, "flood", "8", "200")

	sender := everActive(all[0])
	f, ok := sender[detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 1, DstMAC: nobodyMAC}]
	if !ok {
		t.Fatalf("hv1: no flood from tapvm1 on br-int; active: %v", sender)
	}
	if v := victimSet(f); !v["tapvm2"] || !v["vx2"] || !v["vx3"] {
		t.Errorf("hv1 victims %v, want tapvm2, vx2 and vx3", f.Victims)
	}
	const sent = 8 * 200 * 1042
	local := last[0].Detect.Leaked[detect.PortKey{Bridge: "br-int", Port: "tapvm2"}]
	for _, p := range []string{"vx2", "vx3"} {
		got := last[0].Detect.Leaked[detect.PortKey{Bridge: "br-tun", Port: p}]
		// every copy the datapath counted but the one that created the megaflow
		if got < sent*8/10 || got > sent || got != local {
			t.Errorf("hv1 leaked to %s: %d bytes, want the %d tapvm2 got, about %d sent", p, got, local, sent)
		}
	}
	for _, port := range last[0].Ports {
		if port.Name == "vx2" && (port.Tunnel == nil || port.Tunnel.RemoteIP != "172.31.0.2" || port.Bridge != "br-tun") {
			t.Errorf("hv1 vx2: %+v tunnel %+v", port, port.Tunnel)
		}
	}
	// hv3's br-tun has one flow-based port (remote_ip=flow) for both remotes
	for i, in := range []string{"vx1", "vxflow"} {
		got := everActive(all[i+1])
		if len(got) == 0 {
			t.Errorf("hv%d: no flood found", i+2)
		}
		for k := range got {
			if k.InPort != in || k.Bridge != "br-tun" || k.DstMAC != nobodyMAC {
				t.Errorf("hv%d: flood %+v, want in_port %s on br-tun", i+2, k, in)
			}
		}
	}
	for _, port := range last[2].Ports {
		if port.Name == "vxflow" && (port.Tunnel == nil || port.Tunnel.RemoteIP != "flow") {
			t.Errorf("hv3 vxflow: tunnel %+v, want remote_ip flow", port.Tunnel)
		}
	}

	t.Run("learned unicast twin", func(t *testing.T) {
		if _, err := lab.Run("warm"); err != nil {
			t.Fatal(err)
		}
		before := last[0].Detect.Leaked
		_, all := pollHosts(t, lab, agents, "east", "6", "200")
		for i, snaps := range all {
			s := snaps[len(snaps)-1]
			for _, x := range snaps[1:] {
				for _, fl := range x.Detect.Active {
					if fl.DstMAC != nobodyMAC {
						t.Errorf("hv%d: learned unicast reported as a flood: %+v", i+1, fl.FloodKey)
					}
				}
			}
			if i == 0 && s.Detect.Leaked[detect.PortKey{Bridge: "br-tun", Port: "vx2"}] != before[detect.PortKey{Bridge: "br-tun", Port: "vx2"}] {
				t.Errorf("hv1: learned unicast through vx2 charged as leaked")
			}
		}
	})
}

// TestLabOVN: on lab/ovn.sh (ovn-northd, two chassis joined by Geneve), vm1
// on ch1 sends to a MAC nobody owns. With vm2 (ch1) and vm3 (ch2) having
// "unknown" addresses, ch1 charges tapvm2 and the Geneve port to ch2 and
// names the logical flow; with only vm2 "unknown" the one wrong receiver is
// a single-receiver leak; with port security on (the twin) nothing is found.
// Last, a trunk sub-port of vm1 floods and is named.
func TestLabOVN(t *testing.T) {
	lab := labtest.UpMulti(t, labtest.OVNScript(), "agovn", "ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl")
	for _, tc := range []struct {
		mode    string
		victims []string // nil: nothing may be reported
	}{
		{"unknown2", []string{"ovn-ch2-0", "tapvm2"}},
		{"unknown1", []string{"tapvm2"}},
		{"secure", nil},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			if _, err := lab.Run("mode", tc.mode); err != nil {
				t.Fatal(err)
			}
			a := hostAgent(t, lab, "ch", 1)
			last, all := pollHosts(t, lab, []*Agent{a}, "flood", "7", "200")
			if st := last[0].Sources[state.SourceOVN]; !st.Up {
				t.Fatalf("source ovn down: %s", st.Err)
			}
			active := everActive(all[0])
			if tc.victims == nil {
				if len(active) != 0 || len(last[0].Detect.Leaked) != 0 {
					t.Fatalf("port security on: reported %v, leaked %v", active, last[0].Detect.Leaked)
				}
				return
			}
			k := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 0, DstMAC: nobodyMAC}
			f, ok := active[k]
			if !ok {
				t.Fatalf("no flood %+v; active: %v", k, active)
			}
			var got []string
			for _, v := range f.Victims {
				got = append(got, v.Port)
			}
			if len(got) != len(tc.victims) || got[0] != tc.victims[0] || got[len(got)-1] != tc.victims[len(tc.victims)-1] {
				t.Errorf("victims %v, want %v", got, tc.victims)
			}
			ref, ok := last[0].Rules[k]
			if !ok {
				for _, s := range all[0] {
					if r, ok2 := s.Rules[k]; ok2 {
						ref, ok = r, true
					}
				}
			}
			if !ok || ref.Logical == nil || ref.Logical.Stage != "ls_in_l2_unknown" || ref.Logical.Match != `outport == "none"` {
				t.Fatalf("rule %+v, want the ls_in_l2_unknown logical flow", ref)
			}
			// the switch's unknown ports, ch2's vm3 included in unknown2
			if want := map[string]string{"unknown2": "vm2,vm3", "unknown1": "vm2"}[tc.mode]; strings.Join(ref.Logical.UnknownPorts, ",") != want {
				t.Errorf("unknown ports %v, want %s", ref.Logical.UnknownPorts, want)
			}
			for _, p := range last[0].Ports {
				if p.Name == "tapvm2" && (p.OVN == nil || !p.OVN.Unknown || p.OVN.Switch != "sw0") {
					t.Errorf("tapvm2's OVN port: %+v", p.OVN)
				}
			}
		})
	}
	t.Run("trunk sub-port", func(t *testing.T) { testOVNTrunkSubPort(t, lab) })
}

// testOVNTrunkSubPort: frames tagged 100 from vm1's tap belong to its
// sub-port vm1c (parent vm1, tag 100); their flood to vm2's "unknown"
// addresses is reported on VLAN 100 and names vm1c.
func testOVNTrunkSubPort(t *testing.T, lab *labtest.Multi) {
	if _, err := lab.Run("mode", "unknown1"); err != nil {
		t.Fatal(err)
	}
	a := hostAgent(t, lab, "ch", 1)
	_, all := pollHosts(t, lab, []*Agent{a}, "trunk", "7", "200")
	k := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 100, DstMAC: nobodyMAC}
	for _, s := range all[0] {
		if _, ok := findActive(s, k); !ok {
			continue
		}
		r := report.Build(s, s)
		for _, f := range r.Floods {
			if f.VLAN == 100 && f.InPort.OVN != nil && f.InPort.OVN.Child == "vm1c" && len(f.Victims) == 1 && f.Victims[0].Port == "tapvm2" {
				return
			}
		}
		t.Fatalf("flood %+v found, but the report does not name sub-port vm1c: %+v", k, r.Floods)
	}
	t.Fatalf("no flood %+v; active: %v", k, everActive(all[0]))
}
