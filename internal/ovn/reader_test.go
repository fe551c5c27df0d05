package ovn

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// floodCookie returns the cookie of the rule ovn-controller installed on
// ch1 for "outport == none" in ls_in_l2_unknown (OpenFlow table 34 in OVN
// 23.03), read from the OpenFlow dump captured in the same lab run as the
// replies, and whether that rule floods (sets reg15 to a multicast key).
func floodCookie(t *testing.T, mode string) (uint32, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ovn-"+mode+"-ch1.ofctl-dump-flows-table34.txt"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`cookie=0x([0-9a-f]+), .*priority=50,reg15=0,metadata=\S+ actions=(\S+)`)
	m := re.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no priority-50 reg15=0 rule in the table 34 dump of %s", mode)
	}
	c, err := strconv.ParseUint(m[1], 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(c), strings.Contains(m[2], "0x8001->reg15")
}

func TestReplayModes(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		local   []string
		unknown []string
	}{
		{mode: "unknown2", local: []string{"vm1", "vm2"}, unknown: []string{"vm2", "vm3"}},
		{mode: "unknown1", local: []string{"vm1", "vm2"}, unknown: []string{"vm2"}},
		{mode: "secure", local: []string{"vm1", "vm2"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			r, err := LoadReplay(filepath.Join("testdata", "ovn-"+tc.mode+".replies.json"))
			if err != nil {
				t.Fatal(err)
			}
			var sb Reader = r
			ctx := context.Background()
			ch, err := sb.Chassis(ctx, "ch1")
			if err != nil || ch.Name != "ch1" {
				t.Fatalf("Chassis: %+v, %v", ch, err)
			}
			ports, err := sb.PortBindings(ctx, ch.UUID)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range ports {
				names = append(names, p.LogicalPort)
				if p.Chassis != ch.UUID {
					t.Errorf("%s bound to %s, want %s", p.LogicalPort, p.Chassis, ch.UUID)
				}
			}
			if !slices.Equal(names, tc.local) {
				t.Errorf("local ports %v, want %v", names, tc.local)
			}
			dp := ports[0].Datapath
			if name, err := sb.DatapathName(ctx, dp); err != nil || name != "sw0" {
				t.Errorf("DatapathName = %q, %v", name, err)
			}
			unknown, err := sb.UnknownPorts(ctx, dp)
			if err != nil {
				t.Fatal(err)
			}
			names = nil
			for _, p := range unknown {
				names = append(names, p.LogicalPort)
			}
			if !slices.Equal(names, tc.unknown) {
				t.Errorf("unknown ports %v, want %v", names, tc.unknown)
			}
			cookie, floods := floodCookie(t, tc.mode)
			if floods != (len(tc.unknown) > 0) {
				t.Fatalf("OpenFlow rule floods = %v with unknown ports %v", floods, tc.unknown)
			}
			flows, err := sb.LogicalFlows(ctx, FlowQuery{Cookie: cookie, Pipeline: "ingress", TableID: 26, Datapath: dp})
			if err != nil {
				t.Fatal(err)
			}
			if len(flows) != 1 || flows[0].Stage != "ls_in_l2_unknown" || flows[0].Match != `outport == "none"` {
				t.Fatalf("LogicalFlows(%#x) = %+v", cookie, flows)
			}
			if c, _ := flows[0].Cookie(); c != cookie {
				t.Errorf("flow cookie %#x, want %#x", c, cookie)
			}
			if got := strings.Contains(flows[0].Actions, `"_MC_unknown"`); got != floods {
				t.Errorf("actions %q, flooding %v", flows[0].Actions, floods)
			}
		})
	}
}

func TestReplayRefusesUncaptured(t *testing.T) {
	r, err := LoadReplay(filepath.Join("testdata", "ovn-unknown2.replies.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Chassis(context.Background(), "ch9"); err == nil || !strings.Contains(err.Error(), "no captured reply") {
		t.Fatalf("uncaptured select: %v", err)
	}
	down := errors.New("connection refused")
	r.SetError(down)
	if _, err := r.Chassis(context.Background(), "ch1"); !errors.Is(err, down) {
		t.Fatalf("SetError: %v", err)
	}
	if _, err := r.LogicalFlows(context.Background(), FlowQuery{Cookie: 1}); err == nil || !strings.Contains(err.Error(), "want ingress or egress") {
		t.Fatalf("lookup without pipeline: %v", err)
	}
}

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][2]string
		err  string
	}{
		{in: "unix:/var/run/ovn/ovnsb_db.sock", want: [][2]string{{"unix", "/var/run/ovn/ovnsb_db.sock"}}},
		{in: "tcp:192.0.2.10:6642,tcp:192.0.2.11", want: [][2]string{{"tcp", "192.0.2.10:6642"}, {"tcp", "192.0.2.11:6642"}}},
		{in: "tcp:[2001:db8::1]:6642", want: [][2]string{{"tcp", "[2001:db8::1]:6642"}}},
		{in: "ssl:192.0.2.10:6642", err: "ssl: needs certificates"},
		{in: "", err: "is external_ids:ovn-remote set"},
		{in: "ptcp:6642", err: "unknown scheme"},
		{in: "/run/ovn/ovnsb_db.sock", err: "want unix:/path"},
	} {
		got, err := parseRemote(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRemote(%q): err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseRemote(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// fakeServer is a scripted OVSDB server on a unix socket: it answers
// get_schema with the captured OVN 23.03 schema and each transact with
// reply(params), probing the client with an echo first.
func fakeServer(t *testing.T, reply func(params json.RawMessage) (string, bool)) string {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("testdata", "ovn-sb-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "sb.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFake(c, schema, reply)
		}
	}()
	return "unix:" + sock
}

func serveFake(c net.Conn, schema []byte, reply func(json.RawMessage) (string, bool)) {
	defer c.Close()
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
		}
		if dec.Decode(&req) != nil {
			return
		}
		switch req.Method {
		case "get_schema":
			_, _ = c.Write([]byte(`{"id":` + string(req.ID) + `,"result":` + string(schema) + `,"error":null}`))
		case "transact":
			// a probe first: the client must answer it and still get its reply
			_, _ = c.Write([]byte(`{"id":"echo","method":"echo","params":[]}`))
			var echo map[string]any
			if dec.Decode(&echo) != nil || echo["id"] != "echo" {
				return
			}
			res, ok := reply(req.Params)
			if !ok {
				return // hang up
			}
			_, _ = c.Write([]byte(`{"id":` + string(req.ID) + `,"result":` + res + `,"error":null}`))
		}
	}
}

func TestClientAgainstFakeServer(t *testing.T) {
	var hangups atomic.Int32
	addr := fakeServer(t, func(params json.RawMessage) (string, bool) {
		if strings.Contains(string(params), `"ch-hangup"`) {
			hangups.Add(1)
			return "", false
		}
		if strings.Contains(string(params), `"ch-slow"`) {
			time.Sleep(300 * time.Millisecond)
		}
		return `[{"rows":[{"_uuid":["uuid","b838e023-fc59-43ad-a808-59794bb3aca3"],"name":"ch1","hostname":"hv-a"}]}]`, true
	})
	c, err := NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	ch, err := c.Chassis(ctx, "ch1")
	if err != nil || ch.Hostname != "hv-a" {
		t.Fatalf("Chassis = %+v, %v", ch, err)
	}
	if _, err := c.Chassis(ctx, "ch-hangup"); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("server hung up: err = %v", err)
	}
	// the next call dials again
	if _, err := c.Chassis(ctx, "ch1"); err != nil {
		t.Fatalf("after a hang-up: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Chassis(short, "ch-slow"); err == nil {
		t.Fatal("a reply after the deadline was accepted")
	}
	if n := hangups.Load(); n != 1 {
		t.Errorf("hangups = %d", n)
	}
}

func TestClientDialErrors(t *testing.T) {
	missing := "unix:" + filepath.Join(t.TempDir(), "nope.sock")
	c, err := NewClient(missing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chassis(context.Background(), "ch1"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing socket: %v", err)
	}
	// a server with no OVN_Southbound (a Northbound, say)
	sock := filepath.Join(t.TempDir(), "nb.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		if json.NewDecoder(conn).Decode(&req) == nil {
			_, _ = conn.Write([]byte(`{"id":` + string(req.ID) + `,"result":null,"error":{"error":"unknown database","details":"OVN_Southbound"}}`))
		}
	}()
	c, _ = NewClient("unix:" + sock)
	if _, err := c.Chassis(context.Background(), "ch1"); err == nil || !strings.Contains(err.Error(), "not the Northbound") {
		t.Fatalf("wrong database: %v", err)
	}
}
