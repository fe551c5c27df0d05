package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovn"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
)

// SourceOptions say where the real sources are and how long they may take.
type SourceOptions struct {
	// RunDir is OVS's run directory (--ovs.rundir).
	RunDir string
	// DB is the OVSDB address (--ovs.db); unix:<RunDir>/db.sock if empty.
	DB string
	// Timeout bounds each request to OVS, OVSDB's included (--ovs.timeout).
	Timeout time.Duration
	// Deadline bounds each source's whole read in a poll (several
	// requests); the poll interval is a good value.
	Deadline time.Duration
	// MaxReplyBytes bounds one unixctl reply (--ovs.max-reply-bytes).
	MaxReplyBytes int
	// WalkNetns also reads device counters in /run/netns namespaces.
	WalkNetns bool
	// Loop holds the loop verdict's thresholds (zero: loop.DefaultConfig).
	Loop loop.Config
	// LinuxBridge configures the linuxbridge source.
	LinuxBridge LinuxBridgeOptions
}

// DefaultSourceOptions returns the defaults behind --ovs.rundir and
// --ovs.timeout.
func DefaultSourceOptions() SourceOptions {
	return SourceOptions{RunDir: "/var/run/openvswitch", Timeout: 2 * time.Second, Deadline: DefaultConfig().Interval,
		MaxReplyBytes: unixctl.DefaultMaxReplyBytes, LinuxBridge: LinuxBridgeOptions{Enabled: LinuxBridgeAuto}}
}

// DefaultDB is the OVSDB address used when --ovs.db is not given.
func DefaultDB(rundir string) string {
	return "unix:" + strings.TrimRight(rundir, "/") + "/db.sock"
}

// OpenSources returns the real sources in the order they are read, and a
// function that closes them. Nothing is dialed yet: every source connects
// on first use and reconnects after errors, so the agent starts (and
// serves its health metrics) while OVS is down. A source is one line of
// the list below.
func OpenSources(o SourceOptions) ([]Source, func()) {
	def := DefaultSourceOptions()
	orDefault(&o.Timeout, def.Timeout)
	orDefault(&o.Deadline, def.Deadline)
	if o.DB == "" {
		o.DB = DefaultDB(o.RunDir)
	}
	uc := unixctl.New(o.RunDir, unixctl.Options{Timeout: o.Timeout, MaxReplyBytes: o.MaxReplyBytes})
	of := openflow.NewPool(o.RunDir, openflow.Options{Timeout: o.Timeout})
	closers := []func() error{uc.Close, of.Close}
	var db ovsdb.Reader
	if c, err := ovsdb.New(o.DB); err != nil {
		db = failing{fmt.Errorf("--ovs.db: %w", err)}
	} else {
		db, closers = c, append(closers, c.Close)
	}
	netns := &NetnsErrors{}
	var (
		nl  netdev.Reader
		ndr *netdev.NetlinkReader
	)
	if r, err := netdev.NewNetlinkReader(netdev.Options{WalkNetns: o.WalkNetns, OnNetnsError: netns.Report}); err != nil {
		nl = failing{fmt.Errorf("netlink: %w", err)}
	} else {
		nl, ndr, closers = r, r, append(closers, r.Close)
	}
	sources := []Source{
		NewOVSDB(db, o.Deadline, o.Timeout),
		NewUnixctl(ovs.NewVswitchd(uc), o.Deadline),
		NewOpenFlow(of, o.Deadline),
		NewNetlink(nl, o.Deadline, netns),
		NewFDB(o.Loop, o.Deadline),
		NewOVN(func(remote string) (ovn.Reader, error) { return ovn.NewClient(remote) }, o.Timeout),
	}
	sources, closers = withLinuxBridge(sources, closers, o.LinuxBridge, ndr, o.Deadline)
	return sources, func() {
		for _, c := range closers {
			_ = c()
		}
	}
}

// failing stands in for a reader that could not be opened, so the error
// (naming the flag to fix) shows on every poll instead of stopping the
// agent.
type failing struct{ err error }

func (f failing) Topology(context.Context) (ovsdb.Topology, error)          { return ovsdb.Topology{}, f.err }
func (f failing) CurCfg(context.Context) (int64, error)                     { return 0, f.err }
func (f failing) Close() error                                              { return nil }
func (f failing) Devices(context.Context) (map[string]netdev.Device, error) { return nil, f.err }
