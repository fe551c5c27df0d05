package linuxbridge

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// checkCapture compares testdata/lab-br0 (the raw AF_BRIDGE link and FDB
// dumps and the netdev view that the unit tests and fuzz seeds use) with
// what the lab's namespace answers now, so that the captures stay what the
// kernel says. With LB_CAPTURE=1 it rewrites them instead.
func checkCapture(t *testing.T, l *bridgeLab, r *NetlinkReader, devs *netdev.NetlinkReader) {
	t.Helper()
	topo, err := r.Read(context.Background())
	if err != nil || len(topo.Bridges) != 1 {
		t.Fatalf("read: %+v %v", topo.Bridges, err)
	}
	// lab/linuxbridge.sh sets ageing_time 30000 (centiseconds) on br0.
	if got := topo.Bridges[0].AgeingSeconds; got != 300 {
		t.Errorf("br0 ageing %d s, want the lab's 300 s", got)
	}
	var links, fdb [][]byte
	if err := r.dump(func() *nl.NetlinkRequest {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterBRVLAN)))
		return req
	}, unix.RTM_NEWLINK, func(b []byte) error { links = append(links, append([]byte(nil), b...)); return nil }, func() { links = nil }); err != nil {
		t.Fatal(err)
	}
	br := topo.Bridges[0].Index
	if err := r.dump(func() *nl.NetlinkRequest {
		req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(br))))
		return req
	}, unix.RTM_NEWNEIGH, func(b []byte) error { fdb = append(fdb, append([]byte(nil), b...)); return nil }, func() { fdb = nil }); err != nil {
		t.Fatal(err)
	}
	all, err := devs.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := ownDevices(all)
	dir := filepath.Join("testdata", "lab-br0")
	if os.Getenv("LB_CAPTURE") != "" {
		writeCapture(t, dir, links, fdb, d)
		return
	}
	live, err := ParseDumps(links, fdb, d)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := ParseDumps(labMessages(t, "links.hex"), labMessages(t, "fdb.hex"), savedDevices(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := shape(live), shape(saved); got != want {
		t.Errorf("the lab no longer answers like testdata/lab-br0 (refresh with LB_CAPTURE=1):\n live %s\nsaved %s", got, want)
	}
}

// shape is what a capture must keep: names, indexes, flags and the MACs
// the lab sets (the veths' own addresses are random).
func shape(t Topology) string {
	var b strings.Builder
	for _, br := range t.Bridges {
		fmt.Fprintf(&b, "bridge %s/%d;", br.Name, br.Index)
	}
	for _, p := range t.Ports {
		fmt.Fprintf(&b, "port %s/%d master %d no %d %s learn %v flood %v;", p.Name, p.Index, p.MasterIndex, p.No, p.Kind, p.Learning, p.UnicastFlood)
	}
	var learned []string
	for _, e := range t.FDB {
		if !e.Local {
			learned = append(learned, fmt.Sprintf("%s@%d", e.MAC, e.PortIndex))
		}
	}
	sort.Strings(learned)
	fmt.Fprintf(&b, "learned %v", learned)
	return b.String()
}

func savedDevices(t *testing.T, dir string) map[string]netdev.Device {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(dir, "devices.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]netdev.Device
	if err := json.Unmarshal(js, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeCapture(t *testing.T, dir string, links, fdb [][]byte, d map[string]netdev.Device) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hexLines := func(ms [][]byte) string {
		var s []string
		for _, m := range ms {
			s = append(s, hex.EncodeToString(m))
		}
		return strings.Join(s, "\n") + "\n"
	}
	js, _ := json.MarshalIndent(d, "", "  ")
	for name, text := range map[string]string{"links.hex": hexLines(links), "fdb.hex": hexLines(fdb), "devices.json": string(js) + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("rewrote %s", dir)
}
