package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
)

// SourceOptions say where the real sources are.
type SourceOptions struct {
	// RunDir is OVS's run directory (--ovs.rundir).
	RunDir string
	// DB is the OVSDB address (--ovs.db).
	DB string
	// Timeout bounds each request to OVS.
	Timeout time.Duration
	// WalkNetns also reads device counters in /run/netns namespaces.
	WalkNetns bool
	// OnNetnsError is told what the namespace walk could not read (see
	// netdev.Options.OnNetnsError); log it.
	OnNetnsError func(ns string, err error)
}

// OpenSources returns the real sources. Nothing is dialed yet: every source
// connects on first use and reconnects after errors, so the agent starts
// (and serves its health metrics) while OVS is down.
func OpenSources(o SourceOptions) (Sources, func()) {
	uc := unixctl.New(o.RunDir, unixctl.Options{Timeout: o.Timeout})
	of := openflow.NewPool(o.RunDir, openflow.Options{Timeout: o.Timeout})
	src := Sources{
		Vswitchd: ovs.NewVswitchd(uc),
		OpenFlow: of,
	}
	closers := []func() error{uc.Close, of.Close}
	if db, err := ovsdb.New(o.DB); err != nil {
		src.OVSDB = failingTopology{err}
	} else {
		src.OVSDB = db
		closers = append(closers, db.Close)
	}
	if nl, err := netdev.NewNetlinkReader(netdev.Options{WalkNetns: o.WalkNetns, OnNetnsError: o.OnNetnsError}); err != nil {
		src.Netdev = failingDevices{err}
	} else {
		src.Netdev = nl
		closers = append(closers, nl.Close)
	}
	return src, func() {
		for _, c := range closers {
			_ = c()
		}
	}
}

// failingTopology stands in for an OVSDB source whose address is invalid,
// so the error shows on every poll instead of stopping the agent.
type failingTopology struct{ err error }

func (f failingTopology) Topology(context.Context) (ovsdb.Topology, error) {
	return ovsdb.Topology{}, fmt.Errorf("--ovs.db: %w", f.err)
}
func (f failingTopology) CurCfg(context.Context) (int64, error) {
	return 0, fmt.Errorf("--ovs.db: %w", f.err)
}

type failingDevices struct{ err error }

func (f failingDevices) Devices(context.Context) (map[string]netdev.Device, error) {
	return nil, fmt.Errorf("netlink: %w", f.err)
}
