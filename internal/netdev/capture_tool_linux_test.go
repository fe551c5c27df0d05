//go:build capture

package netdev

// Refresh the captures with (as root):
//
//	go test -tags capture -run TestCaptureNetlink ./internal/netdev/
//
// It is behind a build tag because it rewrites testdata rather than testing
// anything; TestCapturedDumps checks what it captured.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestCaptureNetlink writes the raw replies (every datagram, concatenated:
// netlink messages delimit themselves) of an RTM_GETLINK and an
// RTM_GETSTATS dump of a namespace holding the iptables hybrid plug of seed
// 001 (see hybridPlug), with traffic on the veth so the counters are not
// all zero.
func TestCaptureNetlink(t *testing.T) {
	needRoot(t)
	const ns = "nd-capture"
	addNetns(t, ns)
	hybridPlug(t, ns)
	ipBatch(t, ns, []string{
		"link set lo up", "link set qbrX up", "link set qvbX up", "link set qvoX up",
		"link set vnetX up", "link set vnetX-vm up",
		"addr add 192.0.2.1/24 dev qvoX",
		"neigh add 192.0.2.2 lladdr 02:00:00:00:00:02 dev qvoX",
	})
	var h netns.NsHandle
	err := inNetns(ns, func() error {
		u, err := net.Dial("udp", "192.0.2.2:9")
		if err != nil {
			return err
		}
		defer u.Close()
		for range 10 {
			if _, err := u.Write(make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err = netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := dialAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	getLink := nl.NewNetlinkRequest(rtmGetLink, unix.NLM_F_DUMP)
	getLink.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	getStats := nl.NewNetlinkRequest(rtmGetStats, unix.NLM_F_DUMP)
	getStats.AddData(ifStatsMsg{filterMask: 1 << (iflaStatsLink64 - 1)})
	for file, req := range map[string]*nl.NetlinkRequest{"getlink.bin": getLink, "getstats.bin": getStats} {
		raw := captureDump(t, c, req)
		if err := os.WriteFile(filepath.Join("testdata", file), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", file, len(raw))
	}
}

// captureDump sends req on c and returns every reply datagram up to and
// including NLMSG_DONE.
func captureDump(t *testing.T, c *conn, req *nl.NetlinkRequest) []byte {
	fd := c.sock.GetFd()
	c.seq++
	req.Seq = c.seq
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	deadline := time.Now().Add(5 * time.Second)
	for done := false; !done; {
		n, err := c.recv(context.Background(), fd, deadline)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, c.buf[:n]...)
		err = walkMsgs(c.buf[:n], func(m nlMsg) (bool, error) {
			done = done || m.typ == nlmsgDone || m.typ == nlmsgError
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return raw
}
