package linuxbridge

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// TestLabCapture refreshes testdata/lab-br0 from the lab (run with
// LB_CAPTURE=1): the raw AF_BRIDGE link and FDB dumps and the netdev view
// of the hypervisor namespace that the unit tests and fuzz seeds use.
func TestLabCapture(t *testing.T) {
	if os.Getenv("LB_CAPTURE") == "" {
		t.Skip("set LB_CAPTURE=1 to refresh testdata/lab-br0 from the lab")
	}
	l := upLab(t, "lbcap")
	devs, err := netdev.NewNetlinkReader(netdev.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer devs.Close()
	r, err := NewNetlinkReader(l.name, devs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	topo, err := r.Read(context.Background())
	if err != nil || len(topo.Bridges) != 1 {
		t.Fatalf("read: %+v %v", topo.Bridges, err)
	}
	dir := filepath.Join("testdata", "lab-br0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var links, fdb []string
	if err := r.dump(func() *nl.NetlinkRequest {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterBRVLAN)))
		return req
	}, unix.RTM_NEWLINK, func(b []byte) error { links = append(links, hex.EncodeToString(b)); return nil }, func() { links = nil }); err != nil {
		t.Fatal(err)
	}
	br := topo.Bridges[0].Index
	if err := r.dump(func() *nl.NetlinkRequest {
		req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(br))))
		return req
	}, unix.RTM_NEWNEIGH, func(b []byte) error { fdb = append(fdb, hex.EncodeToString(b)); return nil }, func() { fdb = nil }); err != nil {
		t.Fatal(err)
	}
	d, err := devs.DevicesIn(context.Background(), l.name)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(d, "", "  ")
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("links.hex", strings.Join(links, "\n")+"\n")
	write("fdb.hex", strings.Join(fdb, "\n")+"\n")
	write("devices.json", string(js)+"\n")
}
