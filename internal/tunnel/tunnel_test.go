package tunnel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const captures = "../ovs/testdata/ovs-3.1"

// capturedPorts reads the tunnel ports of a captured OVSDB Interface select
// (all interfaces of one lab hypervisor live on one bridge in these labs'
// tunnel files: br-tun for the VXLAN mesh, br-int for OVN).
func capturedPorts(t *testing.T, file, bridge string) []Port {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captures, file))
	if err != nil {
		t.Fatal(err)
	}
	var reply []struct {
		Rows []struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Options [2]any `json:"options"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &reply); err != nil {
		t.Fatal(err)
	}
	var out []Port
	for _, r := range reply[0].Rows {
		if !IsTunnel(r.Type) {
			continue
		}
		opts := map[string]string{}
		for _, kv := range r.Options[1].([]any) {
			pair := kv.([]any)
			opts[pair[0].(string)] = pair[1].(string)
		}
		p, err := FromOptions(bridge, r.Name, r.Type, opts)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no tunnel interface", file)
	}
	return out
}

var (
	keyTunnel = regexp.MustCompile(`tunnel\(tun_id=(0x[0-9a-f]+),src=([0-9.]+),dst=([0-9.]+),.*?in_port\(([a-z_0-9]+)\)`)
	pushTnl   = regexp.MustCompile(`tnl_push\(tnl_port\(([a-z_0-9]+)\),header\(.*?ipv4\(src=[0-9.]+,dst=([0-9.]+),.*?(?:vni=(0x[0-9a-f]+))`)
)

func TestResolveCaptured(t *testing.T) {
	for _, tc := range []struct {
		name, iface, flows string
		bridge             string
		ingress, egress    []string // ports resolved, in dump order
	}{
		{name: "vxlan sender", iface: "overlay-flood-hv1.select-Interface.json", flows: "overlay-flood-hv1.dpctl-dump-flows-m.txt",
			bridge: "br-tun", egress: []string{"vx2", "vx3"}},
		{name: "vxlan receiver", iface: "overlay-flood-hv2.select-Interface.json", flows: "overlay-flood-hv2.dpctl-dump-flows-m.txt",
			bridge: "br-tun", ingress: []string{"vx1"}},
		{name: "vxlan receiver 3", iface: "overlay-flood-hv3.select-Interface.json", flows: "overlay-flood-hv3.dpctl-dump-flows-m.txt",
			bridge: "br-tun", ingress: []string{"vx1"}},
		{name: "geneve sender", iface: "ovn-unknown2-ch1.select-Interface.json", flows: "ovn-unknown2-ch1.dpctl-dump-flows-m.txt",
			bridge: "br-int", egress: []string{"ovn-ch2-0"}},
		{name: "geneve receiver", iface: "ovn-unknown2-ch2.select-Interface.json", flows: "ovn-unknown2-ch2.dpctl-dump-flows-m.txt",
			bridge: "br-int", ingress: []string{"ovn-ch1-0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := NewTable(capturedPorts(t, tc.iface, tc.bridge))
			b, err := os.ReadFile(filepath.Join(captures, tc.flows))
			if err != nil {
				t.Fatal(err)
			}
			var in, out []string
			for _, line := range strings.Split(string(b), "\n") {
				if !strings.Contains(line, "02:00:00:00:99:99") {
					continue // the flood of the lab
				}
				if m := keyTunnel.FindStringSubmatch(line); m != nil {
					id, _ := strconv.ParseUint(m[1], 0, 64)
					p, reason, ok := table.Ingress(m[4], m[2], m[3], id)
					if !ok {
						t.Fatalf("ingress %v: %s", m[1:], reason)
					}
					in = append(in, p.Name)
				}
				for _, m := range pushTnl.FindAllStringSubmatch(line, -1) {
					id, _ := strconv.ParseUint(m[3], 0, 64)
					p, reason, ok := table.Egress(m[1], m[2], id)
					if !ok {
						t.Fatalf("egress %v: %s", m[1:], reason)
					}
					if p.Bridge != tc.bridge {
						t.Errorf("%s on bridge %q, want %q", p.Name, p.Bridge, tc.bridge)
					}
					out = append(out, p.Name)
				}
			}
			if strings.Join(in, ",") != strings.Join(tc.ingress, ",") || strings.Join(out, ",") != strings.Join(tc.egress, ",") {
				t.Errorf("ingress %v egress %v, want %v %v", in, out, tc.ingress, tc.egress)
			}
		})
	}
}

func TestResolveRules(t *testing.T) {
	mk := func(name, typ string, opts map[string]string) Port {
		p, err := FromOptions("br-tun", name, typ, opts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	table := NewTable([]Port{
		mk("vx-flow", "vxlan", map[string]string{"remote_ip": "flow", "key": "flow"}),
		mk("vx2", "vxlan", map[string]string{"remote_ip": "192.0.2.2", "key": "100"}),
		mk("vx2-8472", "vxlan", map[string]string{"remote_ip": "192.0.2.2", "key": "100", "dst_port": "8472"}),
		mk("gre2", "gre", map[string]string{"remote_ip": "192.0.2.2", "in_key": "7", "out_key": "0x8"}),
		mk("gnv9", "geneve", map[string]string{"remote_ip": "192.0.2.9", "local_ip": "192.0.2.1"}),
	})
	for _, tc := range []struct {
		name, dev, src, dst string
		id                  uint64
		egress              bool
		want                string
	}{
		{name: "exact remote beats flow", dev: "vxlan_sys_4789", src: "192.0.2.2", id: 100, want: "vx2"},
		{name: "other key falls to flow port", dev: "vxlan_sys_4789", src: "192.0.2.2", id: 5, want: "vx-flow"},
		{name: "unknown remote falls to flow port", dev: "vxlan_sys_4789", src: "192.0.2.77", id: 100, want: "vx-flow"},
		{name: "dst_port picks the device", dev: "vxlan_sys_8472", src: "192.0.2.2", id: 100, want: "vx2-8472"},
		{name: "gre in_key", dev: "gre_sys", src: "192.0.2.2", id: 7, want: "gre2"},
		{name: "gre out_key", dev: "gre_sys", src: "192.0.2.2", id: 8, egress: true, want: "gre2"},
		{name: "gre wrong key", dev: "gre_sys", src: "192.0.2.2", id: 8},
		{name: "geneve local_ip must match", dev: "genev_sys_6081", src: "192.0.2.9", dst: "192.0.2.5"},
		{name: "geneve", dev: "genev_sys_6081", src: "192.0.2.9", dst: "192.0.2.1", want: "gnv9"},
		{name: "not a tunnel device", dev: "tapvm1", src: "192.0.2.2"},
		{name: "no source", dev: "vxlan_sys_4789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Port
			var reason string
			var ok bool
			if tc.egress {
				p, reason, ok = table.Egress(tc.dev, tc.src, tc.id)
			} else {
				p, reason, ok = table.Ingress(tc.dev, tc.src, tc.dst, tc.id)
			}
			if ok != (tc.want != "") || p.Name != tc.want {
				t.Fatalf("got %q ok=%v (%s), want %q", p.Name, ok, reason, tc.want)
			}
			if !ok && reason == "" {
				t.Error("a miss without a reason")
			}
		})
	}
}

func TestFromOptionsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		opts      map[string]string
		err       string
	}{
		{"no remote", "vxlan", map[string]string{"key": "5"}, "remote_ip is missing"},
		{"remote not an ip", "vxlan", map[string]string{"remote_ip": "hv2"}, `remote_ip="hv2" is neither an IP`},
		{"bad key", "geneve", map[string]string{"remote_ip": "192.0.2.1", "key": "ten"}, `"ten" is neither a number`},
		{"bad dst_port", "vxlan", map[string]string{"remote_ip": "192.0.2.1", "dst_port": "99999"}, "not a UDP port"},
		{"not a tunnel", "patch", map[string]string{"peer": "patch-int"}, "not a tunnel type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromOptions("br-tun", "vx", tc.typ, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	p, err := FromOptions("br-tun", "vx", "vxlan", map[string]string{"remote_ip": "192.0.2.1", "remote-ip": "192.0.2.2", "key": "flow"})
	if err != nil || len(p.Unknown) != 1 || p.Unknown[0] != "remote-ip" || p.Key() != "flow" {
		t.Fatalf("undocumented option: %+v, %v", p, err)
	}
	p, _ = FromOptions("br-tun", "gre", "gre", map[string]string{"remote_ip": "192.0.2.1", "in_key": "1", "out_key": "2"})
	if p.Key() != "1/2" || p.DstPort != 0 {
		t.Errorf("gre: key %q dst_port %d", p.Key(), p.DstPort)
	}
}

func TestParseDevice(t *testing.T) {
	for name, want := range map[string]Device{
		"vxlan_sys_4789": {"vxlan", 4789}, "genev_sys_6081": {"geneve", 6081}, "gre_sys": {"gre", 0},
		"stt_sys_7471": {"stt", 7471}, "ip6erspan_sys": {"ip6erspan", 0},
	} {
		if d, ok := ParseDevice(name); !ok || d != want {
			t.Errorf("ParseDevice(%q) = %+v %v", name, d, ok)
		}
	}
	for _, bad := range []string{"tapvm1", "vxlan_sys_", "vxlan_sys_99999", "foo_sys", "genev_sys_x", ""} {
		if d, ok := ParseDevice(bad); ok {
			t.Errorf("ParseDevice(%q) = %+v", bad, d)
		}
	}
}

func FuzzResolve(f *testing.F) {
	f.Add("vxlan_sys_4789", "172.31.0.1", "172.31.0.2", uint64(100), "flow", "172.31.0.1")
	f.Add("genev_sys_6081", "172.31.1.1", "", uint64(1), "0x1", "flow")
	f.Fuzz(func(t *testing.T, dev, src, dst string, id uint64, key, remote string) {
		p, err := FromOptions("br", "p", "vxlan", map[string]string{"remote_ip": remote, "key": key})
		if err != nil {
			return
		}
		table := NewTable([]Port{p})
		_, _, _ = table.Ingress(dev, src, dst, id)
		_, _, _ = table.Egress(dev, src, id)
	})
}
