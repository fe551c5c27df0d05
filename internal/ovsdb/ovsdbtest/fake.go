// Package ovsdbtest provides a fake OVSDB reader for tests of code that
// consumes topologies, so that the release binary carries no fake.
package ovsdbtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
)

var _ ovsdb.Reader = (*Fake)(nil)

// Fake is an ovsdb.Reader serving a Topology set by the test, for tests of
// code that consumes topologies. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	topo   ovsdb.Topology
	err    error
	closed bool
	reads  int
}

// NewFake returns a Fake serving t.
func NewFake(t ovsdb.Topology) *Fake { return &Fake{topo: t.Clone()} }

// LoadFake returns a Fake serving the Topology stored as JSON in file, as
// written by encoding/json from a Topology (see internal/ovsdb/testdata/lab-topology.json, which the ovsdb lab test
// keeps in step with a fresh lab).
func LoadFake(file string) (*Fake, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var t ovsdb.Topology
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parsing topology %s: %w", file, err)
	}
	return NewFake(t), nil
}

// SetTopology replaces the topology served; CurCfg reports t.CurCfg, so
// bump it to make the change visible to callers that poll CurCfg.
func (f *Fake) SetTopology(t ovsdb.Topology) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topo = t.Clone()
}

// SetError makes every call fail with err (nil: succeed again), as when
// ovsdb-server is down.
func (f *Fake) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// TopologyReads returns how many times Topology succeeded, so that tests
// can check that callers read the topology only when CurCfg changes.
func (f *Fake) TopologyReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// Topology returns a copy of the topology set last.
func (f *Fake) Topology(ctx context.Context) (ovsdb.Topology, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return ovsdb.Topology{}, err
	}
	f.reads++
	return f.topo.Clone(), nil
}

// CurCfg returns the CurCfg of the topology set last.
func (f *Fake) CurCfg(ctx context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return 0, err
	}
	return f.topo.CurCfg, nil
}

// Close makes later calls fail with ovsdb.ErrClosed.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *Fake) check(ctx context.Context) error {
	switch {
	case f.closed:
		return ovsdb.ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return f.err
	}
}
