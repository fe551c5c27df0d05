package netdev

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// recvBufSize holds the largest datagram the kernel sends for a dump: it
// sizes dump skbs to the reader's previous recvmsg length, capped just
// under 32 KiB.
const recvBufSize = 64 << 10

// defaultTimeout bounds one dump when the context has no deadline; a
// kernel dump never takes this long unless something is badly wrong.
const defaultTimeout = 5 * time.Second

// errDumpInterrupted means the device set changed while it was dumped.
var errDumpInterrupted = errors.New("netlink dump interrupted by a concurrent change")

// conn is one NETLINK_ROUTE socket bound in one network namespace, with a
// receive buffer reused across dumps so that a poll allocates little.
// It is not safe for concurrent use.
type conn struct {
	sock *nl.NetlinkSocket
	pid  uint32 // our port id, to ignore anything not addressed to us
	seq  uint32
	buf  []byte
	// unfinished is the sequence number of a dump abandoned midway (the
	// context ended), 0 if none. The kernel refuses a new dump on the
	// socket (EBUSY) until the rest of that one has been read.
	unfinished uint32
}

// dial opens a conn in the namespace of the calling thread.
func dial() (*conn, error) {
	// With no namespace handles, nl opens the socket right here.
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	pid, err := s.GetPid()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("netlink socket port id: %w", err)
	}
	return &conn{sock: s, pid: pid, buf: make([]byte, recvBufSize)}, nil
}

// dialAt opens a conn in the namespace ns. The socket stays bound to ns
// whichever thread uses it afterwards.
func dialAt(ns netns.NsHandle) (*conn, error) {
	var c *conn
	err := AtNetns(ns, func() (err error) {
		c, err = dial()
		return err
	})
	if err != nil {
		c.close() // opened, but the thread could not leave ns
		return nil, err
	}
	return c, nil
}

// setns switches the calling thread into a namespace; a variable so that
// tests can make it fail the way it does without CAP_SYS_ADMIN.
var setns = netns.Set

// AtNetns runs f on a new goroutine locked to its OS thread and switched
// into ns, so the caller's thread never changes namespace. When the thread
// already is in ns (the agent's own namespace), f runs without setns(2),
// which needs CAP_SYS_ADMIN even for the namespace one is in: an agent
// without capabilities still reads its own devices. If the thread cannot
// be switched back, it stays locked: the runtime then destroys it when the
// goroutine ends instead of reusing it in the wrong namespace.
func AtNetns(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		if orig.Equal(ns) {
			runtime.UnlockOSThread()
			errc <- f()
			return
		}
		if err := setns(ns); err != nil {
			runtime.UnlockOSThread() // setns failed: still in orig
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := f()
		if err := setns(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func (c *conn) close() {
	if c != nil && c.sock != nil {
		c.sock.Close()
		c.sock = nil
	}
}

// getLink dumps every device (RTM_GETLINK) and calls f for each.
func (c *conn) getLink(ctx context.Context, f func(linkMsg) error) error {
	req := nl.NewNetlinkRequest(rtmGetLink, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	return c.dump(ctx, req, rtmNewLink, func(b []byte) error {
		m, err := parseLinkMsg(b)
		if err != nil {
			return err
		}
		return f(m)
	})
}

// ifStatsMsg is the RTM_GETSTATS request header (struct if_stats_msg),
// which the nl package does not provide.
type ifStatsMsg struct {
	ifindex    uint32
	filterMask uint32
}

// Serialize implements nl.NetlinkRequestData.
func (m ifStatsMsg) Serialize() []byte {
	b := make([]byte, sizeofIfStatsMsg) // family AF_UNSPEC, pads zero
	binary.NativeEndian.PutUint32(b[4:8], m.ifindex)
	binary.NativeEndian.PutUint32(b[8:12], m.filterMask)
	return b
}

// Len implements nl.NetlinkRequestData.
func (m ifStatsMsg) Len() int { return sizeofIfStatsMsg }

// getStats dumps the 64-bit counters of every device (RTM_GETSTATS with
// only IFLA_STATS_LINK_64 requested) and calls f for each. The reply has no
// names or topology, which is what makes it several times cheaper than
// RTM_GETLINK.
func (c *conn) getStats(ctx context.Context, f func(index int, c Counters) error) error {
	req := nl.NewNetlinkRequest(rtmGetStats, unix.NLM_F_DUMP)
	req.AddData(ifStatsMsg{filterMask: 1 << (iflaStatsLink64 - 1)})
	return c.dump(ctx, req, rtmNewStats, func(b []byte) error {
		idx, cnt, ok, err := parseStatsMsg(b)
		if err != nil || !ok {
			return err
		}
		return f(idx, cnt)
	})
}

// dump sends req and feeds the payload of every reply of type typ to f
// until NLMSG_DONE. A dump the kernel flags as interrupted is drained and
// reported as errDumpInterrupted so that the caller can retry.
func (c *conn) dump(ctx context.Context, req *nl.NetlinkRequest, typ uint16, f func([]byte) error) error {
	if c.sock == nil {
		return errors.New("netlink socket closed")
	}
	fd := c.sock.GetFd()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	if c.unfinished != 0 {
		if err := c.finish(ctx, fd, deadline); err != nil {
			return err
		}
	}
	c.seq++
	req.Seq = c.seq
	if err := rawio.SendNetlink(fd, req.Serialize()); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	c.unfinished = c.seq
	var (
		intr, done bool
		derr, ferr error // from the kernel, from f
	)
	for !done {
		n, err := c.recv(ctx, fd, deadline)
		if err != nil {
			return err
		}
		err = walkMsgs(c.buf[:n], func(m nlMsg) (bool, error) {
			if m.seq != c.seq || m.pid != c.pid {
				return true, nil // a late reply to an abandoned request
			}
			if m.flags&nlmFDumpIntr != 0 {
				intr = true
			}
			switch m.typ {
			case nlmsgDone, nlmsgError:
				done = true
				if len(m.data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.data)); e != 0 {
						derr = fmt.Errorf("netlink: %w", syscall.Errno(-e))
					}
				}
				return false, nil
			case typ:
				if ferr == nil {
					// Keep draining after a parse error so the
					// socket is clean for the next request.
					ferr = f(m.data)
				}
			}
			if m.flags&nlmFMulti == 0 {
				done = true
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	c.unfinished = 0
	if derr != nil {
		return derr
	}
	if ferr != nil {
		return ferr
	}
	if intr {
		return errDumpInterrupted
	}
	return nil
}

// finish reads and discards the rest of the abandoned dump.
func (c *conn) finish(ctx context.Context, fd int, deadline time.Time) error {
	for c.unfinished != 0 {
		n, err := c.recv(ctx, fd, deadline)
		if err != nil {
			return err
		}
		err = walkMsgs(c.buf[:n], func(m nlMsg) (bool, error) {
			if m.seq == c.unfinished && (m.typ == nlmsgDone || m.typ == nlmsgError || m.flags&nlmFMulti == 0) {
				c.unfinished = 0
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			// Unreadable leftovers: the socket cannot be trusted.
			return fmt.Errorf("draining an abandoned dump: %w", err)
		}
	}
	return nil
}

// recv reads one datagram into c.buf, waiting at most until deadline.
// The socket is non-blocking (nl registers it with the runtime poller), so
// this polls explicitly; a dump's datagrams are all queued within
// microseconds of each other, so the thread is never parked for long.
func (c *conn) recv(ctx context.Context, fd int, deadline time.Time) (int, error) {
	for {
		// MSG_DONTWAIT: a raw call must never block, whatever the socket.
		n, err := rawio.Recv(fd, c.buf, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			if n > len(c.buf) {
				return 0, fmt.Errorf("netlink datagram of %d bytes exceeds the %d-byte buffer", n, len(c.buf))
			}
			return n, nil
		case err != unix.EAGAIN:
			return 0, fmt.Errorf("netlink receive: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, fmt.Errorf("netlink receive: %w", context.DeadlineExceeded)
		}
		if wait > 100*time.Millisecond {
			wait = 100 * time.Millisecond // re-check ctx now and then
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(wait/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("netlink poll: %w", err)
		}
	}
}
