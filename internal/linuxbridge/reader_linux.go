package linuxbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// rtextFilterBRVLAN asks an AF_BRIDGE link dump for each port's VLANs.
const rtextFilterBRVLAN = 1 << 1

// dumpAttempts bounds retries of a dump the kernel flags as interrupted
// (a VM starting mid-dump).
const dumpAttempts = 3

// NetlinkReader reads the Linux bridges of one network namespace over
// rtnetlink: one AF_BRIDGE RTM_GETLINK dump for every bridge port (flags,
// VLANs, master), one RTM_GETLINK per bridge (VLAN filtering, ageing) and
// one AF_BRIDGE RTM_GETNEIGH dump per bridge, filtered in the kernel by
// master, for its FDB. Device kinds and counters come from a netdev
// reader (RTM_GETSTATS), which the agent already polls.
//
// On a host without Linux bridges (the common OVS host) a read costs one
// non-blocking read of a link notification socket: the AF_BRIDGE dump,
// whose kernel walk of every device is most of a read, is sent again only
// when the kernel announced a link change since the dump that found no
// bridge (a bridge cannot appear without one), or every NoBridgeRecheck.
//
// It keeps two netlink sockets open, bound to its namespace. It is safe
// for concurrent use; calls are serialized.
type NetlinkReader struct {
	ns      string
	devices DeviceReader

	mu      sync.Mutex
	sock    *nl.SocketHandle
	changes *netdev.LinkChanges // nil: dump every read
	// noBridge is when a dump last found no bridge and no bridge port;
	// zero when the last dump found some.
	noBridge time.Time
	now      func() time.Time
	dumps    int // AF_BRIDGE link dumps sent, for tests
}

// NoBridgeRecheck is how long a dump that found no Linux bridge is
// trusted while the kernel announces no link change: a safety net, should
// a notification ever be lost without an overrun.
const NoBridgeRecheck = time.Minute

var _ Reader = (*NetlinkReader)(nil)

// NewNetlinkReader returns a reader of the bridges in the namespace
// mounted at /run/netns/<ns> ("" for the calling thread's namespace);
// devices must read that same namespace.
func NewNetlinkReader(ns string, devices DeviceReader) (*NetlinkReader, error) {
	h := netns.None()
	if ns != "" {
		var err error
		if h, err = netns.GetFromName(ns); err != nil {
			return nil, fmt.Errorf("linuxbridge: netns %s: %w", ns, err)
		}
		defer h.Close()
	}
	s, err := nl.GetNetlinkSocketAt(h, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("linuxbridge: netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(int64(nl.SocketTimeoutTv.Nano()))
	if err := s.SetReceiveTimeout(&tv); err != nil {
		s.Close()
		return nil, fmt.Errorf("linuxbridge: netlink socket: %w", err)
	}
	r := &NetlinkReader{ns: ns, devices: devices, sock: &nl.SocketHandle{Socket: s}, now: time.Now}
	// Subscribed before the first dump, so that no change slips in
	// between; without a subscription every read dumps.
	if c, err := netdev.LinkChangesAt(h); err == nil {
		r.changes = c
	}
	return r, nil
}

// Close releases the sockets.
func (r *NetlinkReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sock != nil {
		r.sock.Close()
		r.sock = nil
	}
	r.changes.Close()
	r.changes = nil
	return nil
}

// Read implements Reader.
func (r *NetlinkReader) Read(ctx context.Context) (Topology, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sock == nil {
		return Topology{}, errors.New("linuxbridge: reader closed")
	}
	now := r.now()
	// Drained before the dump: a change after it stays queued for the
	// next read.
	changed := r.changes.Changed()
	if !changed && !r.noBridge.IsZero() && now.Sub(r.noBridge) < NoBridgeRecheck {
		return Topology{}, nil // still no Linux bridge
	}
	r.noBridge = time.Time{}
	links, err := r.links()
	if err != nil {
		return Topology{}, err
	}
	if len(links) == 0 {
		// No Linux bridge (the common OVS host): skip the device dump.
		r.noBridge = now
		return Topology{}, nil
	}
	all, err := r.devices.Devices(ctx)
	if err != nil {
		return Topology{}, fmt.Errorf("linuxbridge: devices: %w", err)
	}
	topo := assemble(links, ownDevices(all))
	for i := range topo.Bridges {
		if err := ctx.Err(); err != nil {
			return Topology{}, err
		}
		b := &topo.Bridges[i]
		if info, err := r.bridgeInfo(b.Index); err == nil {
			b.VLANFiltering = info.VLANFiltering
			if info.AgeingSeconds >= 0 {
				b.AgeingSeconds = info.AgeingSeconds
			}
		}
		fdb, err := r.fdb(b.Index)
		if err != nil {
			// The bridge went away since the link dump: drop it this poll.
			b.Index = 0
			continue
		}
		topo.FDB = append(topo.FDB, fdb...)
	}
	topo.dropGone()
	return topo, nil
}

// links dumps every bridge and bridge port.
func (r *NetlinkReader) links() ([]bridgeLink, error) {
	r.dumps++
	var out []bridgeLink
	err := r.dump(func() *nl.NetlinkRequest {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterBRVLAN)))
		return req
	}, unix.RTM_NEWLINK, func(b []byte) error {
		l, err := parseBridgeLink(b)
		if err != nil {
			return err
		}
		out = append(out, l)
		return nil
	}, func() { out = out[:0] })
	if err != nil {
		return nil, fmt.Errorf("linuxbridge: bridge links: %w", err)
	}
	return out, nil
}

// bridgeInfo reads the settings of the bridge device with ifindex br: one
// RTM_GETLINK of that device.
func (r *NetlinkReader) bridgeInfo(br int) (bridgeInfo, error) {
	var (
		info bridgeInfo
		got  bool
	)
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(br)
	req.AddData(msg)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: r.sock}
	var perr error
	err := req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWLINK, func(b []byte) bool {
		info, perr = parseBridgeInfo(b)
		got = perr == nil
		return false
	})
	switch {
	case perr != nil:
		return info, perr
	case err != nil:
		return info, fmt.Errorf("linuxbridge: bridge ifindex %d: %w", br, err)
	case !got:
		return info, fmt.Errorf("linuxbridge: bridge ifindex %d: no answer", br)
	}
	return info, nil
}

// fdb dumps the FDB of the bridge with ifindex br. The request carries a
// struct ifinfomsg with IFLA_MASTER, which the kernel reads as "entries of
// this bridge's ports only".
func (r *NetlinkReader) fdb(br int) ([]FDBEntry, error) {
	var out []FDBEntry
	err := r.dump(func() *nl.NetlinkRequest {
		req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(br))))
		return req
	}, unix.RTM_NEWNEIGH, func(b []byte) error {
		e, ok, err := parseFDBEntry(b)
		if err != nil {
			return err
		}
		if ok && e.MasterIndex == br {
			out = append(out, e)
		}
		return nil
	}, func() { out = out[:0] })
	if err != nil {
		return nil, fmt.Errorf("linuxbridge: fdb of ifindex %d: %w", br, err)
	}
	return out, nil
}

// dump runs a dump, retrying when the kernel flags it interrupted
// (reset is called before each retry).
func (r *NetlinkReader) dump(newReq func() *nl.NetlinkRequest, typ uint16, f func([]byte) error, reset func()) error {
	var err error
	for attempt := 0; attempt < dumpAttempts; attempt++ {
		if attempt > 0 {
			reset()
		}
		req := newReq()
		req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: r.sock}
		var ferr error
		err = req.ExecuteIter(unix.NETLINK_ROUTE, typ, func(b []byte) bool {
			ferr = f(b)
			return ferr == nil
		})
		if ferr != nil {
			return ferr
		}
		if !errors.Is(err, nl.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// NewDeviceReaderIn opens a netdev reader whose own namespace is the one
// mounted at /run/netns/<ns> ("" for the caller's), for NetlinkReader.
// Its sockets stay bound there whichever thread reads them.
func NewDeviceReaderIn(ns string) (*netdev.NetlinkReader, error) {
	var r *netdev.NetlinkReader
	err := inNetns(ns, func() (err error) {
		r, err = netdev.NewNetlinkReader(netdev.Options{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("linuxbridge: device reader in netns %q: %w", ns, err)
	}
	return r, nil
}

// inNetns runs f on a thread switched into the namespace mounted at
// /run/netns/<ns> ("" runs f right here), for the calls that resolve
// ifindexes in the caller's namespace (attaching eBPF links); netdev.AtNetns
// does the switching.
func inNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	target, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer target.Close()
	return netdev.AtNetns(target, f)
}
