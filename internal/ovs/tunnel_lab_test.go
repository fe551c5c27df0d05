package ovs_test

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// tunnelLab adds to a lab what the VXLAN captures in testdata were taken
// with: an underlay bridge br-phys owning the tunnel endpoint 192.0.2.1, a
// remote host (netns <lab>-rem, 192.0.2.2) on its port phys0 with a kernel
// VXLAN device (VNI 100, inner MAC 02:00:00:00:00:50), and on br-int a
// VXLAN port vx0 (fixed remote 192.0.2.2, key=flow) and a Geneve port gn0
// (remote and key from the flow). vm1's frames to 02:00:00:00:00:50 go
// into both tunnels (VNI 100 to 192.0.2.2, VNI 200 to 192.0.2.3) and to
// tapvm2; whatever arrives through vx0 goes to tapvm1.
func tunnelLab(t *testing.T, l *labtest.Lab) {
	t.Helper()
	rem := l.Name + "-rem"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	in := func(ns string, args ...string) {
		t.Helper()
		if _, err := labtest.ExecIn(ns, args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	must := func(out string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	_ = exec.Command("ip", "netns", "del", rem).Run() // leftovers
	ip("netns", "add", rem)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", rem).Run() })
	ip("link", "add", "phys0", "netns", l.Name, "type", "veth", "peer", "name", "eth0", "netns", rem)
	in(rem, "ip", "link", "set", "lo", "up")
	in(rem, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:92", "up")
	in(rem, "ip", "addr", "add", "192.0.2.2/24", "dev", "eth0")
	must(l.Exec("ip", "link", "set", "phys0", "up"))
	// The userspace datapath needs software checksums on veths.
	_, _ = labtest.ExecIn(rem, "ethtool", "-K", "eth0", "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
	_, _ = l.Exec("ethtool", "-K", "phys0", "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")

	must(l.Vsctl("add-br", "br-phys", "--", "set", "bridge", "br-phys", "datapath_type=netdev", "--", "add-port", "br-phys", "phys0"))
	must(l.Exec("ip", "addr", "add", "192.0.2.1/24", "dev", "br-phys"))
	must(l.Exec("ip", "link", "set", "br-phys", "up"))
	must(l.Vsctl("add-port", "br-int", "vx0", "--", "set", "interface", "vx0", "type=vxlan", "options:remote_ip=192.0.2.2", "options:key=flow",
		"--", "add-port", "br-int", "gn0", "--", "set", "interface", "gn0", "type=geneve", "options:remote_ip=flow", "options:key=flow"))
	for _, flow := range []string{
		"priority=200,in_port=vx0,actions=output:tapvm1",
		"priority=200,in_port=tapvm1,dl_dst=02:00:00:00:00:50,actions=set_field:100->tun_id,output:vx0,set_field:192.0.2.3->tun_dst,set_field:200->tun_id,output:gn0,output:tapvm2",
	} {
		must(l.Ofctl("add-flow", "br-int", flow))
	}
	// Native tunneling resolves the remotes' MACs itself; set them so no
	// ARP is needed for 192.0.2.3, which does not exist.
	must(l.Appctl("tnl/neigh/set", "br-phys", "192.0.2.2", "02:00:00:00:00:92"))
	must(l.Appctl("tnl/neigh/set", "br-phys", "192.0.2.3", "02:00:00:00:00:93"))
	// Wait until ovs-vswitchd's route table has the endpoint.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := l.Appctl("ovs/route/show")
		if strings.Contains(out, "192.0.2.0/24 dev br-phys") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovs/route/show has no route to 192.0.2.0/24:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	in(rem, "ip", "link", "add", "vxr", "type", "vxlan", "id", "100", "remote", "192.0.2.1", "local", "192.0.2.2", "dstport", "4789", "dev", "eth0")
	in(rem, "ip", "link", "set", "vxr", "address", "02:00:00:00:00:50", "up")
	in(rem, "ip", "addr", "add", "10.0.10.50/24", "dev", "vxr")
	in(rem, "ip", "neigh", "replace", "10.0.10.1", "lladdr", "02:00:00:00:00:01", "dev", "vxr")
	in(l.Name+"-vm1", "ip", "neigh", "replace", "10.0.10.50", "lladdr", "02:00:00:00:00:50", "dev", "eth0")
}

// sendUDP sends a few datagrams from netns ns to addr:9 (discard), with
// bash's /dev/udp.
func sendUDP(t *testing.T, ns, addr string) {
	t.Helper()
	send := `for i in 1 2 3 4 5; do printf '%064d' 0 >/dev/udp/` + addr + `/9; done`
	if _, err := labtest.ExecIn(ns, "bash", "-c", send); err != nil {
		t.Fatal(err)
	}
}

// TestLabTunnelFlows reads the megaflows of traffic through real VXLAN and
// Geneve ports: the key of a packet that arrived through VXLAN carries its
// tunnel header, and each copy sent into a tunnel carries its remote, VNI
// and tunnel port. Flows that never touched a tunnel (the benign twin)
// carry none of it.
func TestLabTunnelFlows(t *testing.T) {
	l := labtest.Up(t, "tn1")
	tunnelLab(t, l)
	c := unixctl.New(l.RunDir, unixctl.Options{})
	defer c.Close()
	v := ovs.NewVswitchd(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var rx, tx *ovs.Megaflow
	deadline := time.Now().Add(15 * time.Second)
	for (rx == nil || tx == nil) && time.Now().Before(deadline) {
		sendUDP(t, l.Name+"-vm1", "10.0.10.50")
		sendUDP(t, l.Name+"-rem", "10.0.10.1")
		time.Sleep(300 * time.Millisecond)
		m, err := v.DumpFlows(ctx, "netdev@ovs-netdev")
		if err != nil || m.Skipped != 0 {
			t.Fatalf("DumpFlows = %+v, %v", m, err)
		}
		for i := range m.Flows {
			f := &m.Flows[i]
			switch {
			case f.InPort == "vxlan_sys_4789":
				// The rule matches in_port only: the key wildcards the MACs.
				rx = f
			case f.InPort == "tapvm1" && f.EthDst != nil && f.EthDst.String() == "02:00:00:00:00:50":
				tx = f
			case f.Tunnel != nil:
				t.Errorf("flow from %s, which is no tunnel port, has Tunnel %+v", f.InPort, f.Tunnel)
			}
			for _, o := range f.Outputs {
				if o.Tunnel && f != tx {
					t.Errorf("flow from %s sends %+v into a tunnel", f.InPort, o)
				}
			}
		}
	}
	if rx == nil || tx == nil {
		t.Fatalf("after 15s: flow received through VXLAN %+v, flow sent into the tunnels %+v", rx, tx)
	}
	if want := (&ovs.TunnelKey{ID: 100, Src: "192.0.2.2", Dst: "192.0.2.1"}); !reflect.DeepEqual(rx.Tunnel, want) {
		t.Errorf("received through VXLAN: Tunnel = %+v, want %+v (key %s)", rx.Tunnel, want, rx.Key)
	}
	if want := []ovs.Output{{Port: "tapvm1", VLAN: -1}}; !reflect.DeepEqual(rx.Outputs, want) {
		t.Errorf("received through VXLAN: Outputs = %+v, want %+v", rx.Outputs, want)
	}
	want := []ovs.Output{
		{Port: "phys0", VLAN: -1, Tunnel: true, TunnelDst: "192.0.2.2", TunnelID: 100, TunnelPort: "vxlan_sys_4789"},
		{Port: "phys0", VLAN: -1, Tunnel: true, TunnelDst: "192.0.2.3", TunnelID: 200, TunnelPort: "genev_sys_6081"},
		{Port: "tapvm2", VLAN: -1},
	}
	if !reflect.DeepEqual(tx.Outputs, want) {
		t.Errorf("sent into the tunnels: Outputs =\n%+v\nwant\n%+v\n(actions %s)", tx.Outputs, want, tx.Actions)
	}
	if tx.Tunnel != nil || !tx.IsUnicastDst() {
		t.Errorf("flow from tapvm1: Tunnel %+v, unicast %v", tx.Tunnel, tx.IsUnicastDst())
	}
}
