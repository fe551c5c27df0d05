package tunnel

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// livePorts reads hypervisor n's tunnel interfaces with ovs-vsctl.
func livePorts(t *testing.T, lab *labtest.Multi, n int) []Port {
	t.Helper()
	_, run := lab.Host("hv", n)
	out, err := lab.ExecHost("hv", n, "ovs-vsctl", "--db=unix:"+run+"/db.sock", "--format=json",
		"--columns=name,type,options", "list", "interface")
	if err != nil {
		t.Fatal(err)
	}
	var tbl struct {
		Data [][]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &tbl); err != nil {
		t.Fatal(err)
	}
	var ports []Port
	for _, r := range tbl.Data {
		name, typ := r[0].(string), r[1].(string)
		if !IsTunnel(typ) {
			continue
		}
		opts := map[string]string{}
		for _, kv := range r[2].([]any)[1].([]any) {
			pair := kv.([]any)
			opts[pair[0].(string)] = pair[1].(string)
		}
		p, err := FromOptions("br-tun", name, typ, opts)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	return ports
}

// resolveDump resolves the tunnel ends of the megaflows to dst on host n:
// the ingress port of each megaflow from a tunnel, and for each megaflow
// sending through tunnels its copies' ports joined by "+".
func resolveDump(t *testing.T, lab *labtest.Multi, n int, dst string) (in, out []string) {
	t.Helper()
	dump, err := lab.ExecHost("hv", n, "ovs-appctl", "dpctl/dump-flows", "-m", "netdev@ovs-netdev")
	if err != nil {
		t.Fatal(err)
	}
	table := NewTable(livePorts(t, lab, n))
	for _, line := range strings.Split(dump, "\n") {
		if !strings.Contains(line, "dst="+dst+")") || strings.Contains(line, "packets:0,") {
			continue
		}
		if m := keyTunnel.FindStringSubmatch(line); m != nil {
			id, _ := strconv.ParseUint(m[1], 0, 64)
			p, reason, ok := table.Ingress(m[4], m[2], m[3], id)
			if !ok {
				t.Fatalf("hv%d ingress: %s", n, reason)
			}
			in = append(in, p.Name)
		}
		var copies []string
		for _, m := range pushTnl.FindAllStringSubmatch(line, -1) {
			id, _ := strconv.ParseUint(m[3], 0, 64)
			p, reason, ok := table.Egress(m[1], m[2], id)
			if !ok {
				t.Fatalf("hv%d egress: %s", n, reason)
			}
			copies = append(copies, p.Name)
		}
		if len(copies) > 0 {
			out = append(out, strings.Join(copies, "+"))
		}
	}
	return in, out
}

// TestLabOverlay floods a MAC nobody owns across the three-hypervisor VXLAN
// mesh and resolves every tunnel end of the live megaflows to its OVS port;
// the twin (learned unicast to one remote VM) must use one tunnel only.
func TestLabOverlay(t *testing.T) {
	lab := labtest.UpMulti(t, labtest.OverlayScript(), "ovx")
	wait := lab.Start("flood", "4", "200")
	defer func() { _ = wait() }()
	waitForFlows(t, lab, 1, "02:00:00:00:99:99")
	// hv3 has one flow-based port, vxflow (remote_ip=flow), for both remotes
	for n, want := range map[int][2]string{1: {"", "vx2+vx3"}, 2: {"vx1", ""}, 3: {"vxflow", ""}} {
		in, out := resolveDump(t, lab, n, "02:00:00:00:99:99")
		if strings.Join(in, ",") != want[0] || strings.Join(out, ",") != want[1] {
			t.Errorf("hv%d flood: ingress %v egress %v, want %q %q", n, in, out, want[0], want[1])
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	t.Run("flow-based sender", func(t *testing.T) {
		wait := lab.Start("flood", "3", "200", "3")
		defer func() { _ = wait() }()
		// the megaflows of hv1's flood may still be there (10 s idle expiry)
		waitForFlows(t, lab, 3, `in_port\(tapvm1\).*dst=02:00:00:00:99:99`)
		waitForFlows(t, lab, 1, `in_port\(vxlan_sys_4789\).*dst=02:00:00:00:99:99`)
		if _, out := resolveDump(t, lab, 3, "02:00:00:00:99:99"); strings.Join(out, ",") != "vxflow+vxflow" {
			t.Errorf("hv3 flood: egress %v, want two copies through vxflow", out)
		}
		if in, _ := resolveDump(t, lab, 1, "02:00:00:00:99:99"); strings.Join(in, ",") != "vx3" {
			t.Errorf("hv1 receives hv3's flood through %v, want vx3", in)
		}
	})
	t.Run("learned unicast twin", func(t *testing.T) {
		if _, err := lab.Run("warm"); err != nil {
			t.Fatal(err)
		}
		wait := lab.Start("east", "3", "200")
		defer func() { _ = wait() }()
		vm := "02:00:00:01:02:01" // hv2's vm1
		waitForFlows(t, lab, 1, "dst="+vm)
		in, out := resolveDump(t, lab, 1, vm)
		if len(in) != 0 || len(out) == 0 {
			t.Errorf("hv1 to hv2's vm1: ingress %v egress %v, want copies through vx2", in, out)
		}
		for _, copies := range out {
			if copies != "vx2" {
				t.Errorf("hv1 to hv2's vm1: a megaflow sends through %s, want vx2 alone", copies)
			}
		}
		if in, _ := resolveDump(t, lab, 3, vm); len(in) != 0 {
			t.Errorf("hv3 received learned unicast for hv2 through %v", in)
		}
	})
}

// waitForFlows waits until hypervisor n has a megaflow matching the
// regular expression re that counted packets.
func waitForFlows(t *testing.T, lab *labtest.Multi, n int, re string) {
	t.Helper()
	counted := regexp.MustCompile(re + `\).*packets:[1-9]`)
	for range 50 {
		out, err := lab.ExecHost("hv", n, "ovs-appctl", "dpctl/dump-flows", "-m", "netdev@ovs-netdev")
		if err == nil && counted.MatchString(out) {
			return
		}
		_, _ = lab.ExecHost("hv", n, "sleep", "0.1")
	}
	t.Fatalf("no megaflow matching %s on hv%d", re, n)
}
