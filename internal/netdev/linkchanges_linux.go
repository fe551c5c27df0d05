package netdev

import (
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/rawio"
)

// LinkChanges tells whether the kernel announced a link change in one
// namespace (a device added, removed, renamed, enslaved to a bridge or
// released, brought up or down) since it was last asked. It holds an
// RTNLGRP_LINK subscription and drains it without blocking; the messages
// are not parsed, so a reader that re-dumps on any change cannot get out
// of step with the kernel. It is not safe for concurrent use.
type LinkChanges struct {
	sub *nl.NetlinkSocket // nil once broken: every call then says changed
	buf []byte
}

// notifyBufSize holds one link notification; longer ones are cut, which
// is harmless as they are only counted.
const notifyBufSize = 8 << 10

// LinkChangesAt subscribes to the link changes of namespace h
// (netns.None() for the calling thread's). The socket stays bound there.
func LinkChangesAt(h netns.NsHandle) (*LinkChanges, error) {
	sub, err := nl.SubscribeAt(h, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
	if err != nil {
		return nil, fmt.Errorf("RTNLGRP_LINK subscription: %w", err)
	}
	return &LinkChanges{sub: sub, buf: make([]byte, notifyBufSize)}, nil
}

// Changed empties the subscription and says whether anything was in it.
// An overrun (ENOBUFS: changes were lost) counts as a change, and so does
// every call after the subscription broke, so that a caller falls back
// to reading every time rather than trusting stale state.
func (w *LinkChanges) Changed() bool {
	if w == nil || w.sub == nil {
		return true
	}
	changed := false
	fd := w.sub.GetFd()
	for {
		_, err := rawio.Recv(fd, w.buf, unix.MSG_DONTWAIT)
		switch err {
		case nil, unix.ENOBUFS:
			changed = true
		case unix.EAGAIN:
			return changed
		default:
			w.Close()
			return true
		}
	}
}

// Close releases the subscription.
func (w *LinkChanges) Close() {
	if w != nil && w.sub != nil {
		w.sub.Close()
		w.sub = nil
	}
}
