package ovn

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

var update = flag.Bool("update", false, "rewrite testdata/ovn-*.replies.json from the OVN lab")

// ovnLab is one lab/ovn.sh instance: a real ovn-northd, Southbound and two
// ovn-controller chassis in namespaces.
type ovnLab struct{ *labtest.Multi }

func (l *ovnLab) sb() string { return l.Southbound() }

func (l *ovnLab) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := l.Run(args[0], args[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (l *ovnLab) sbctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ovn-sbctl", append([]string{"--db=" + l.sb(), "--timeout=20"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovn-sbctl %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// ofctl runs ovs-ofctl on ch1's br-int.
func (l *ovnLab) ofctl(t *testing.T, cmd string, args ...string) string {
	t.Helper()
	_, run := l.Host("ch", 1)
	out, err := l.ExecHost("ch", 1, "ovs-ofctl", append([]string{"-O", "OpenFlow15", cmd, "unix:" + filepath.Join(run, "br-int.mgmt")}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// upOVN starts the OVN lab (skipping under -short, failing when
// OVS_FLOOD_LAB=require and something is missing) and stops it at the end.
func upOVN(t *testing.T) *ovnLab {
	t.Helper()
	return &ovnLab{labtest.UpMulti(t, labtest.OVNScript(), "ovnsb", "ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl")}
}

// recorder is a caller that keeps every exchange, for -update.
type recorder struct {
	c   caller
	mu  sync.Mutex
	log []Exchange
}

func (r *recorder) selectRows(ctx context.Context, ops []ovsdbrpc.Select, each func(op int, r ovsdbrpc.Row) error) error {
	result := make([]struct {
		Rows []map[string]json.RawMessage `json:"rows"`
	}, len(ops))
	err := r.c.selectRows(ctx, ops, func(op int, row ovsdbrpc.Row) error {
		m := map[string]json.RawMessage{}
		if err := row.Columns(func(col string, v ovsdbrpc.Value) error {
			m[col] = append(json.RawMessage(nil), v...)
			return nil
		}); err != nil {
			return err
		}
		result[op].Rows = append(result[op].Rows, m)
		return each(op, row)
	})
	if err != nil {
		return err
	}
	params, err := ovsdbrpc.SelectParams(southbound, ops...)
	if err != nil {
		return err
	}
	for i := range result {
		if result[i].Rows == nil {
			result[i].Rows = []map[string]json.RawMessage{}
		}
	}
	res, err := json.Marshal(result)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.log = append(r.log, Exchange{Params: params, Result: res})
	r.mu.Unlock()
	return nil
}

func (r *recorder) close() error { return r.c.close() }

// TestLab runs the OVN lab once for the lab tests of this package.
func TestLab(t *testing.T) {
	l := upOVN(t)
	t.Run("Southbound", func(t *testing.T) { testLabSouthbound(t, l) })
	t.Run("ReadOnlyWire", func(t *testing.T) { testLabReadOnlyWire(t, l) })
}

// testLabSouthbound reads a real Southbound in each lab mode and checks what
// the Client decodes against ovn-sbctl's own view of the same rows.
func testLabSouthbound(t *testing.T, l *ovnLab) {
	client, err := NewClient(l.sb())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, mode := range []string{"unknown2", "unknown1", "secure"} {
		t.Run(mode, func(t *testing.T) {
			l.mustRun(t, "mode", mode)
			rec := &recorder{c: client}
			checkLabMode(t, l, rec, mode)
			if *update {
				b, err := json.MarshalIndent(rec.log, "", " ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("testdata", "ovn-"+mode+".replies.json"), append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				// the OpenFlow table the cookies come from, from the same run
				of := l.ofctl(t, "dump-flows", "table=34")
				if err := os.WriteFile(filepath.Join("testdata", "ovn-"+mode+"-ch1.ofctl-dump-flows-table34.txt"), []byte(of), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func checkLabMode(t *testing.T, l *ovnLab, c caller, mode string) {
	ctx := context.Background()
	ch, err := queryChassis(ctx, c, "ch1")
	if err != nil {
		t.Fatal(err)
	}
	if want := l.sbctl(t, "--bare", "--columns=_uuid", "find", "chassis", "name=ch1"); ch.UUID != want || ch.Hostname != "ch1" {
		t.Fatalf("Chassis(ch1) = %+v, ovn-sbctl says uuid %s", ch, want)
	}
	ports, err := queryPortBindings(ctx, c, cond("chassis", "==", uuidValue(ch.UUID)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ports {
		names = append(names, p.LogicalPort)
		sbMAC := l.sbctl(t, "--bare", "--columns=mac", "find", "port_binding", "logical_port="+p.LogicalPort)
		if p.Unknown != strings.Contains(sbMAC, "unknown") {
			t.Errorf("%s: Unknown = %v, ovn-sbctl mac = %q", p.LogicalPort, p.Unknown, sbMAC)
		}
		if len(p.Addresses) != 1 || !strings.Contains(sbMAC, p.Addresses[0].MAC) {
			t.Errorf("%s: addresses %+v, ovn-sbctl mac = %q", p.LogicalPort, p.Addresses, sbMAC)
		}
		secure := l.sbctl(t, "--bare", "--columns=port_security", "find", "port_binding", "logical_port="+p.LogicalPort)
		if (len(p.PortSecurity) > 0) != (secure != "") {
			t.Errorf("%s: port security %+v, ovn-sbctl = %q", p.LogicalPort, p.PortSecurity, secure)
		}
	}
	if !slices.Equal(names, []string{"vm1", "vm2"}) {
		t.Fatalf("ch1's port bindings = %v, want [vm1 vm2]", names)
	}
	dp := ports[0].Datapath
	if name, err := queryDatapathName(ctx, c, dp); err != nil || name != "sw0" {
		t.Fatalf("DatapathName(%s) = %q, %v; want sw0", dp, name, err)
	}
	unknown, err := queryUnknownPorts(ctx, c, dp)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range unknown {
		got = append(got, p.LogicalPort)
	}
	want := map[string][]string{"unknown2": {"vm2", "vm3"}, "unknown1": {"vm2"}, "secure": nil}[mode]
	if !slices.Equal(got, want) {
		t.Errorf("UnknownPorts = %v, want %v", got, want)
	}
	checkFloodFlow(t, l, c, dp, mode != "secure")
}

// checkFloodFlow looks up, by the cookie ovn-controller installed for it on
// ch1, the logical flow that decides what happens to a destination no port
// owns: "outport = _MC_unknown" while some port has "unknown", "drop" when none.
func checkFloodFlow(t *testing.T, l *ovnLab, c caller, dp string, flood bool) {
	ctx := context.Background()
	uuid := l.sbctl(t, "--bare", "--columns=_uuid", "find", "logical_flow",
		`external_ids:stage-name=ls_in_l2_unknown`, `match="outport == \"none\""`)
	table := l.sbctl(t, "--bare", "--columns=table_id", "list", "logical_flow", uuid)
	actions := l.sbctl(t, "--bare", "--columns=actions", "list", "logical_flow", uuid)
	cookie, err := CookieOf(uuid)
	if err != nil {
		t.Fatal(err)
	}
	var tableID int
	if err := json.Unmarshal([]byte(table), &tableID); err != nil {
		t.Fatalf("table_id %q: %v", table, err)
	}
	flows, err := queryLogicalFlows(ctx, c, FlowQuery{Cookie: cookie, Pipeline: "ingress", TableID: tableID, Datapath: dp})
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 1 || flows[0].UUID != uuid || flows[0].Stage != "ls_in_l2_unknown" || flows[0].Actions != actions {
		t.Fatalf("LogicalFlows(cookie %#x) = %+v, want the ls_in_l2_unknown flow %s with actions %q", cookie, flows, uuid, actions)
	}
	if got := strings.Contains(flows[0].Actions, "_MC_unknown"); got != flood {
		t.Errorf("flow %s actions %q: floods to _MC_unknown = %v, want %v", uuid, flows[0].Actions, got, flood)
	}
	// the same cookie is on ch1's br-int, where the agent will find it
	if out := l.ofctl(t, "dump-flows", "cookie=0x"+uuid[:8]+"/-1"); !strings.Contains(out, "cookie=0x"+strings.TrimLeft(uuid[:8], "0")) {
		t.Errorf("ch1's br-int has no OpenFlow rule with cookie 0x%s:\n%s", uuid[:8], out)
	}
}

// testLabReadOnlyWire puts a proxy between a Client and the lab's
// Southbound and checks every message the Client sends: get_schema,
// transacts made only of selects, and echo replies.
func testLabReadOnlyWire(t *testing.T, l *ovnLab) {
	sock := filepath.Join(t.TempDir(), "sb-proxy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu   sync.Mutex
		sent []map[string]any
	)
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", strings.TrimPrefix(l.sb(), "unix:"))
			if err != nil {
				down.Close()
				return
			}
			go func() { _, _ = io.Copy(down, up) }()
			go func() {
				pr, pw := io.Pipe()
				go func() {
					dec := json.NewDecoder(bufio.NewReader(pr))
					for {
						var m map[string]any
						if dec.Decode(&m) != nil {
							return
						}
						mu.Lock()
						sent = append(sent, m)
						mu.Unlock()
					}
				}()
				_, _ = io.Copy(io.MultiWriter(up, pw), down)
				pw.Close()
			}()
		}
	}()
	c, err := NewClient("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := c.Chassis(ctx, "ch1")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := c.PortBindings(ctx, ch.UUID)
	if err != nil || len(ports) == 0 {
		t.Fatalf("PortBindings: %v, %v", ports, err)
	}
	if _, err := c.UnknownPorts(ctx, ports[0].Datapath); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LogicalFlows(ctx, FlowQuery{Cookie: 1, Pipeline: "ingress", TableID: 26}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(sent) < 5 {
		t.Fatalf("proxy saw %d messages, want at least 5 (get_schema and four transacts)", len(sent))
	}
	for _, m := range sent {
		checkReadOnlyMessage(t, m)
	}
}

func checkReadOnlyMessage(t *testing.T, m map[string]any) {
	t.Helper()
	method, _ := m["method"].(string)
	switch method {
	case "get_schema":
	case "transact":
		params, _ := m["params"].([]any)
		if len(params) < 2 || params[0] != "OVN_Southbound" {
			t.Errorf("transact params %v", params)
		}
		for _, op := range params[1:] {
			o, _ := op.(map[string]any)
			if o["op"] != "select" || o["columns"] == nil {
				t.Errorf("transact carries %v, want only selects naming columns", op)
			}
		}
	case "":
		if _, ok := m["result"]; !ok {
			t.Errorf("message %v is neither a request nor a reply", m)
		}
	default:
		t.Errorf("Client sent method %q", method)
	}
}
