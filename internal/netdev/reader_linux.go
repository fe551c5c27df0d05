package netdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkReader is the Reader of a live host. Each poll costs, per
// namespace, a non-blocking read of a link notification socket and one
// dump: RTM_GETSTATS, or RTM_GETLINK when the cached topology is stale (a
// notification arrived or it is older than Options.TopologyMaxAge). When
// RTM_GETSTATS shows that a device came or went since the topology was
// read, RTM_GETLINK follows in the same poll, so a new VM is never missing.
// It is safe for concurrent use; calls are serialized.
//
// A NetlinkReader keeps two netlink sockets open in each namespace it has
// read. A socket pins its namespace, so a namespace deleted with
// "ip netns del" lives on, devices included, until the next Devices call
// notices it is gone and closes them.
type NetlinkReader struct {
	opts Options

	mu     sync.Mutex
	selfNs netns.NsHandle // the agent's own namespace
	self   *nsReader      // nil after a failure, until reopened
	others map[string]*nsReader
	plain  map[string]bool // names that were no namespace mount in the last walk
}

var _ Filler = (*NetlinkReader)(nil)

// NewNetlinkReader returns a reader whose own namespace is that of the
// calling thread (the process's, unless the caller switched it).
func NewNetlinkReader(opts Options) (*NetlinkReader, error) {
	if opts.NetnsDir == "" {
		opts.NetnsDir = DefaultNetnsDir
	}
	if opts.TopologyMaxAge <= 0 {
		opts.TopologyMaxAge = DefaultTopologyMaxAge
	}
	// Keep a handle on the namespace, so that a socket reopened after a
	// failure lands in it whichever thread reopens it.
	selfNs, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("own netns: %w", err)
	}
	self, err := openNs("", selfNs, nsID{})
	if err != nil {
		selfNs.Close()
		return nil, err
	}
	return &NetlinkReader{opts: opts, selfNs: selfNs, self: self,
		others: make(map[string]*nsReader)}, nil
}

// Close releases every socket, which lets deleted namespaces go.
func (r *NetlinkReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.self.close()
	r.self = nil
	if r.selfNs.IsOpen() {
		r.selfNs.Close()
		r.selfNs = netns.None()
	}
	for name, n := range r.others {
		n.close()
		delete(r.others, name)
	}
	return nil
}

// Devices implements Reader. It fails only when the agent's own namespace
// cannot be read; other namespaces that fail are skipped and reported to
// Options.OnNetnsError.
func (r *NetlinkReader) Devices(ctx context.Context) (map[string]Device, error) {
	devs := make(map[string]Device)
	if err := r.FillDevices(ctx, devs); err != nil {
		return nil, err
	}
	return devs, nil
}

// FillDevices implements Filler, failing as Devices does.
func (r *NetlinkReader) FillDevices(ctx context.Context, devs map[string]Device) error {
	clear(devs)
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	self, err := r.ownReader()
	if err != nil {
		return err
	}
	now := time.Now()
	if err := self.read(ctx, now, r.opts.TopologyMaxAge, func(d Device) { devs[d.Name] = d }); err != nil {
		r.drop("", self)
		return err
	}
	if !r.opts.WalkNetns {
		r.prune(nil)
		return nil
	}
	return r.walk(ctx, now, devs)
}

// ErrNetnsPermission is reported, once per walk under the namespace
// directory's name, when the walk cannot enter other namespaces because the
// agent lacks CAP_SYS_ADMIN.
var ErrNetnsPermission = errors.New("--netns.walk needs CAP_SYS_ADMIN to enter other network namespaces " +
	"(systemd: add the ovs-flood-exporter-netns.conf drop-in; container: --cap-add SYS_ADMIN), " +
	"or drop --netns.walk; only the agent's own namespace is read")

// walk adds the devices of the namespaces in NetnsDir to devs. It fails
// only when ctx ends.
func (r *NetlinkReader) walk(ctx context.Context, now time.Time, devs map[string]Device) error {
	names, err := r.listNetns()
	if err != nil {
		r.report(r.opts.NetnsDir, err)
		r.prune(map[string]bool{})
		return nil
	}
	seen := make(map[string]bool, len(names))
	plain := make(map[string]bool)
	denied := false
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.nsReader(name)
		switch {
		case err == nil:
		case errors.Is(err, errNotNetns):
			// A name is a plain file for a moment while "ip netns add"
			// or "del" runs. For longer, the mount did not propagate
			// (a container's /run/netns mounted without rslave).
			plain[name] = true
			if r.plain[name] {
				r.report(name, fmt.Errorf("%w: in a container, mount %s with rslave propagation (-v %s:%s:ro,rslave)",
					err, r.opts.NetnsDir, r.opts.NetnsDir, r.opts.NetnsDir))
			}
			continue
		case vanished(err):
			continue
		case errors.Is(err, unix.EPERM):
			// Every other namespace fails the same way: one report
			// for the walk, under a name that does not change with
			// the set of namespaces.
			if !denied {
				// The message names no namespace, so it stays the same
				// from walk to walk (the caller logs changes).
				r.report(r.opts.NetnsDir, fmt.Errorf("%w: setns: %w", ErrNetnsPermission, unix.EPERM))
			}
			denied = true
			continue
		default:
			r.report(name, err)
			continue
		}
		seen[name] = true
		err = n.read(ctx, now, r.opts.TopologyMaxAge, func(d Device) { devs[Key(name, d.Name)] = d })
		if err != nil {
			r.drop(name, n)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.report(name, err)
		}
	}
	r.plain = plain
	r.prune(seen)
	return nil
}

// ownReader returns the reader of the agent's namespace, reopening it
// after a failure.
func (r *NetlinkReader) ownReader() (*nsReader, error) {
	if r.self != nil {
		return r.self, nil
	}
	if !r.selfNs.IsOpen() {
		return nil, errors.New("netdev: reader closed")
	}
	n, err := openNs("", r.selfNs, nsID{})
	if err != nil {
		return nil, err
	}
	r.self = n
	return n, nil
}

// drop closes the reader of namespace ns after a failed read, so that the
// next poll starts over with fresh sockets rather than trust ones in an
// unknown state.
func (r *NetlinkReader) drop(ns string, n *nsReader) {
	n.close()
	if ns == "" {
		r.self = nil
	} else if r.others[ns] == n {
		delete(r.others, ns)
	}
}

func (r *NetlinkReader) report(ns string, err error) {
	if r.opts.OnNetnsError != nil {
		r.opts.OnNetnsError(ns, err)
	}
}

// listNetns returns the names in NetnsDir that pass NetnsPrefixes, sorted.
func (r *NetlinkReader) listNetns() ([]string, error) {
	ents, err := os.ReadDir(r.opts.NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		// No named namespace was ever created on this host, or (in a
		// container) the directory is not mounted: say which.
		return nil, fmt.Errorf("--netns.walk: %s does not exist: no named namespace was created yet, "+
			"or it is not mounted into the container (-v %s:%s:ro,rslave): %w",
			r.opts.NetnsDir, r.opts.NetnsDir, r.opts.NetnsDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("--netns.walk: list namespaces: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if r.wanted(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (r *NetlinkReader) wanted(name string) bool {
	if len(r.opts.NetnsPrefixes) == 0 {
		return true
	}
	for _, p := range r.opts.NetnsPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// nsReader returns the cached reader of the named namespace, reopening it
// if the name now refers to a different namespace (deleted and created
// again between polls).
func (r *NetlinkReader) nsReader(name string) (*nsReader, error) {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return nil, fmt.Errorf("netns %q: invalid name", name)
	}
	path := filepath.Join(r.opts.NetnsDir, name)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if n := r.others[name]; n != nil {
			n.close()
			delete(r.others, name)
		}
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	id := nsID{dev: st.Dev, ino: st.Ino}
	if n := r.others[name]; n != nil {
		if n.id == id {
			return n, nil
		}
		n.close()
		delete(r.others, name)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	defer h.Close()
	// "ip netns add" creates the file before it bind-mounts the namespace
	// on it and "ip netns del" unmounts before it unlinks: in between, the
	// name is a plain file (which setns(2) rejects). Treat that as not
	// there.
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(h), &fs); err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return nil, fmt.Errorf("netns %s: %w", name, errNotNetns)
	}
	// Identify the namespace by the handle actually opened, in case the
	// name was replaced between the stat and the open.
	if err := unix.Fstat(int(h), &st); err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	n, err := openNs(name, h, nsID{dev: st.Dev, ino: st.Ino})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	r.others[name] = n
	return n, nil
}

// prune closes the readers of namespaces that are gone (not in seen, if
// seen is not nil) so that the sockets stop pinning them.
func (r *NetlinkReader) prune(seen map[string]bool) {
	for name, n := range r.others {
		keep := seen[name]
		if seen == nil {
			var st unix.Stat_t
			err := unix.Stat(filepath.Join(r.opts.NetnsDir, name), &st)
			keep = err == nil && n.id == (nsID{dev: st.Dev, ino: st.Ino})
		}
		if !keep {
			n.close()
			delete(r.others, name)
		}
	}
}

// errNotNetns is returned for a name in the namespace directory that is
// not (or no longer) a namespace mount.
var errNotNetns = errors.New("not a network namespace")

// vanished reports whether err means the namespace disappeared while we
// looked: the name is gone, or no longer (or not yet) a namespace mount.
func vanished(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, errNotNetns)
}

// nsID identifies a namespace by its nsfs inode.
type nsID struct{ dev, ino uint64 }

// nsReader reads one namespace.
type nsReader struct {
	name  string // "" for the agent's own
	id    nsID
	c     *conn
	sub   *LinkChanges    // RTNLGRP_LINK notifications; nil: refresh every poll
	links map[int]linkMsg // ifindex → the last RTM_GETLINK reply
	stamp time.Time       // when links was read
	dirty bool
	// noStats is set when the kernel rejects RTM_GETSTATS (before 4.7):
	// the counters then come from a full RTM_GETLINK dump.
	noStats bool
	stats   []indexCounters // reused across polls
}

type indexCounters struct {
	index int
	c     Counters
}

func openNs(name string, h netns.NsHandle, id nsID) (*nsReader, error) {
	var n *nsReader
	err := AtNetns(h, func() error {
		c, err := dial()
		if err != nil {
			return err
		}
		n = &nsReader{name: name, id: id, c: c, dirty: true}
		// Subscribe before the first RTM_GETLINK so that no change
		// slips in between. Without the subscription the reader still
		// works, at the price of a topology dump per poll.
		if sub, err := LinkChangesAt(netns.None()); err == nil {
			n.sub = sub
		}
		return nil
	})
	if err != nil {
		n.close() // opened, but the thread could not leave h
		return nil, err
	}
	return n, nil
}

func (n *nsReader) close() {
	if n == nil {
		return
	}
	n.c.close()
	n.sub.Close()
	n.sub = nil
}

// read emits every device of the namespace with its current counters,
// from one dump: RTM_GETSTATS when the cached topology is still good,
// otherwise RTM_GETLINK, whose replies carry the counters too.
func (n *nsReader) read(ctx context.Context, now time.Time, maxAge time.Duration, emit func(Device)) error {
	n.drainNotifications()
	if !n.noStats && !n.dirty && n.links != nil && now.Sub(n.stamp) <= maxAge {
		err := n.readStats(ctx)
		switch {
		case errors.Is(err, unix.EOPNOTSUPP):
			n.noStats = true // Linux before 4.7
		case err != nil:
			return err
		case n.consistent():
			for _, s := range n.stats {
				l := n.links[s.index]
				l.counters = s.c
				emit(n.device(l))
			}
			return nil
		}
		// A device came or went since the topology was read: fall
		// through to a full dump, so that a new VM is reported in this
		// very poll.
	}
	if err := n.refresh(ctx, now); err != nil {
		return err
	}
	for _, l := range n.links {
		emit(n.device(l))
	}
	return nil
}

func (n *nsReader) device(l linkMsg) Device {
	d := Device{
		Name:        l.name,
		Index:       l.index,
		Netns:       n.name,
		Kind:        l.kind,
		MasterIndex: l.master,
		Counters:    l.counters,
	}
	if l.kind == "veth" && !l.linkNsid {
		d.PeerIndex = l.link
	}
	return d
}

// consistent reports whether the stats dump covers exactly the cached
// devices.
func (n *nsReader) consistent() bool {
	if len(n.stats) != len(n.links) {
		return false
	}
	for _, s := range n.stats {
		if _, ok := n.links[s.index]; !ok {
			return false
		}
	}
	return true
}

func (n *nsReader) readStats(ctx context.Context) error {
	var err error
	for range dumpAttempts {
		n.stats = n.stats[:0]
		err = n.c.getStats(ctx, func(index int, c Counters) error {
			n.stats = append(n.stats, indexCounters{index, c})
			return nil
		})
		if !errors.Is(err, errDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("RTM_GETSTATS: %w", err)
	}
	return nil
}

// refresh re-reads names, kinds, masters, peers and counters with
// RTM_GETLINK.
func (n *nsReader) refresh(ctx context.Context, now time.Time) error {
	var err error
	for range dumpAttempts {
		links := make(map[int]linkMsg, len(n.links))
		err = n.c.getLink(ctx, func(m linkMsg) error {
			links[m.index] = m
			return nil
		})
		if err == nil {
			n.links, n.stamp, n.dirty = links, now, false
			return nil
		}
		if !errors.Is(err, errDumpInterrupted) {
			break
		}
	}
	return fmt.Errorf("RTM_GETLINK: %w", err)
}

// drainNotifications marks the topology dirty if the kernel announced a
// link change (or lost some: an overrun) since the last poll, or if there
// is no working subscription.
func (n *nsReader) drainNotifications() {
	if n.sub.Changed() {
		n.dirty = true
	}
}
