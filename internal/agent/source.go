package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Source is one thing the poller reads on every poll: ovs-vswitchd over
// unixctl, OVSDB, OpenFlow, netlink. Each source is one file of this
// package holding one implementation, and one line of OpenSources.
//
// The poll loop calls Read once per poll, in wiring order, with a context
// that ends after Timeout; it times the call, records it as
// ovs_flood_exporter_source_up{source=Name()} and
// ovs_flood_exporter_poll_duration_seconds, and logs only changes (down,
// new error, recovered). So a source neither logs its own failure nor
// measures itself: it returns an error that names the cause and the fix.
//
// Rules for a source:
//   - Read writes what it read into p, the poll under construction, and
//     nothing else; state kept between polls lives in the source's struct
//     (Read is never called concurrently).
//   - Read may use what sources wired before it put in p, but must work
//     when they are down (their fields are nil), and must not assume OVS
//     exists: a host may have only Linux bridges.
//   - Read returns when ctx ends. One source failing or hanging must not
//     fail another; return partial results with the error when part of a
//     read worked (a bridge vanishing mid-poll is not a failure).
//   - Counters from upstream go through p.counter so they stay monotonic
//     across upstream resets; names kept across polls go through p.intern.
//
// A source that is not OVS (a Linux bridge, say) appends its bridges,
// ports and flows to p with AddBridge, AddPort and AddFlows; the detector
// and the collectors then treat them like OVS's.
//
// Adding a source: write <name>.go here with a struct holding the reader
// (a small interface of the package that talks to the system, with a fake
// in its …test package), a New<Name>(reader, deadline) constructor and the
// three methods; add the label to state (Source<Name> and state.Sources);
// add one line to the list in OpenSources. Everything else (timing,
// source_up, logging, deadline) comes from the loop.
type Source interface {
	// Name is the source's label value in source_up, named after the
	// package it reads through ("unixctl", "ovsdb", "netlink", ...).
	Name() string
	// Timeout bounds one Read: the loop cancels Read's context after it.
	Timeout() time.Duration
	// Read reads the source once into p.
	Read(ctx context.Context, p *Poll) error
}

// Poll is one poll under construction: the sources read into it in
// wiring order, then the agent joins what they read, runs the detector and
// publishes a snapshot.
type Poll struct {
	// Time is when the poll started.
	Time time.Time

	cfg      *Config
	log      *zap.Logger
	counters *accumulator
	names    interner

	// Hints from the previous poll, for sources that choose what to read.
	sent     map[string]uint64 // bytes each port's VM sent in the last poll
	sentNow  map[string]uint64 // the same for this poll, filled by the join
	flooding []string          // in_ports of the active floods, and of floods counted last poll
	// leakReceivers: ports that take frames for MACs nobody owns exist
	// (OVN "unknown"): such leaks make no copies for the dump gate to see.
	leakReceivers bool

	// What each source read, under the source's name; nil when that
	// source is down this poll.
	ovsdb    *ovsdb.Topology // last topology read (kept while OVSDB is down)
	unixctl  *unixctlView
	openflow *openflowView
	netlink  map[string]netdev.Device
	l2       *loop.Report
	ovn      *ovnView
	// vswitchd answers the FDB lookups and traces made after the sources;
	// nil when the unixctl source is down.
	vswitchd ovs.Vswitchd

	// What every source contributes to the snapshot and the detector.
	bridges    []state.Bridge
	ports      []state.Port
	datapaths  []state.Datapath
	flows      []detect.Flow
	dumped     bool            // every megaflow of every datapath was read
	observed   map[string]bool // in_ports whose flows were read, when not all
	ovsVersion string
}

// AddBridge adds a bridge that is not OVS's to the snapshot.
func (p *Poll) AddBridge(b state.Bridge) { p.bridges = append(p.bridges, b) }

// AddPort adds a port that is not OVS's to the snapshot and the detector.
func (p *Poll) AddPort(port state.Port) { p.ports = append(p.ports, port) }

// AddFlows adds forwarding entries for the detector. Keys must be unique
// across sources (prefix them with the source's bridge or datapath).
func (p *Poll) AddFlows(f ...detect.Flow) { p.flows = append(p.flows, f...) }

// counter returns the monotonic total of the upstream counter key whose
// current value is cur (see accumulator).
func (p *Poll) counter(key string, cur uint64) uint64 {
	total, _ := p.counters.add(key, cur, p.Time)
	return total
}

// intern returns one shared copy of s (see interner).
func (p *Poll) intern(s string) string { return p.names.get(s) }

// readSources reads every source into p, each under its own deadline, and
// records how each went.
func (a *Agent) readSources(ctx context.Context, p *Poll, snap *state.Snapshot) {
	for _, s := range a.sources {
		name := s.Name()
		start := time.Now()
		err := readOne(ctx, s, p)
		snap.Sources[name] = a.status.record(name, time.Since(start), err)
		a.progress()
	}
}

func readOne(ctx context.Context, s Source, p *Poll) error {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout())
	defer cancel()
	err := s.Read(ctx, p)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("no answer within %s (the source's deadline): %w", s.Timeout(), err)
	}
	return err
}

// statusLog turns each source's result into its status and logs changes
// once (not every poll), so a down source does not flood the log.
type statusLog struct {
	log  *zap.Logger
	last map[string]string // source -> last error ("" when up)
}

func (l *statusLog) record(src string, took time.Duration, err error) state.SourceStatus {
	st := state.SourceStatus{Up: err == nil, Duration: took}
	if err != nil {
		st.Err = err.Error()
	}
	prev, seen := l.last[src]
	if seen && prev == st.Err {
		return st
	}
	switch {
	case err != nil:
		l.log.Error("source unreadable", zap.String("source", src), zap.Error(err))
	case seen:
		l.log.Info("source recovered", zap.String("source", src))
	}
	l.last[src] = st.Err
	return st
}
