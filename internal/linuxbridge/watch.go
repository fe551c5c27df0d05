package linuxbridge

import (
	"context"
	"fmt"
)

// FrameCounter counts the unicast frames bridge ports transmit; *Observer
// is the kernel's (eBPF on tc egress).
type FrameCounter interface {
	// Sync makes the observed ports exactly want (ifindexes).
	Sync(want map[int]bool) error
	// Counts returns the cumulative counters.
	Counts() ([]Count, error)
	// Close detaches everything.
	Close() error
}

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Bridges, if not empty, are the only bridges watched; otherwise
	// Select's rule picks them.
	Bridges []string
	// LibvirtDir is where libvirt's runtime domain XML lives
	// (DefaultLibvirtDir if empty).
	LibvirtDir string
	// OVSPorts, if set, returns the names of the host's OVS ports, so that
	// bridges OVS owns are left alone. It is called only in polls that
	// found a Linux bridge.
	OVSPorts func() map[string]bool
	// MinPorts is the port count from which a bridge is watched without
	// Bridges (MinAutoPorts if zero).
	MinPorts int
	// Require opens the frame counter on the first poll even when no
	// bridge is to be watched, so that a missing privilege shows at once.
	Require bool
}

// Result is one poll of the watched bridges.
type Result struct {
	// Topology holds the watched bridges only, their ports and FDBs.
	Topology Topology
	// All is every Linux bridge seen, watched or not.
	All []Bridge
	// Streams are the unicast streams some port received without owning
	// the destination since the previous poll.
	Streams []Stream
	// VMs are the VMs behind the watched ports, by port name.
	VMs map[string]VM
	// FrameErr reports ports the frame counter could not attach to (a
	// port deleted meanwhile); the poll is good otherwise.
	FrameErr error
	// LibvirtErr reports unreadable libvirt domain files.
	LibvirtErr error
}

// Watcher polls the Linux bridges and their flooded frames: topology
// through a Reader, frames through a FrameCounter.
type Watcher struct {
	opts       WatchOptions
	reader     Reader
	open       func() (FrameCounter, error)
	frames     FrameCounter
	classifier *Classifier
}

// NewWatcher returns a Watcher over reader and the frame counter that
// open returns. open is called on the first poll that has a bridge to
// watch (or on the first poll with Require), and again on later polls
// while it fails: a host without Linux bridges never loads a program.
// The Watcher closes the frame counter in Close; it does not own reader.
func NewWatcher(opts WatchOptions, reader Reader, open func() (FrameCounter, error)) *Watcher {
	return &Watcher{opts: opts, reader: reader, open: open, classifier: NewClassifier()}
}

// Close closes the frame counter, detaching from every port.
func (w *Watcher) Close() error {
	if w.frames == nil {
		return nil
	}
	err := w.frames.Close()
	w.frames = nil
	return err
}

// Poll reads the bridges, makes the frame counter observe exactly the
// ports of the watched bridges (ports added since the last poll are
// attached, removed ones detached) and classifies the counters. When the
// frame counter cannot be opened it returns the topology read with the
// error.
func (w *Watcher) Poll(ctx context.Context) (Result, error) {
	topo, err := w.reader.Read(ctx)
	if err != nil {
		return Result{}, err
	}
	var ovs map[string]bool
	if w.opts.OVSPorts != nil && len(topo.Bridges) > 0 {
		ovs = w.opts.OVSPorts() // asked only when there is a bridge to tell about
	}
	res := Result{All: topo.Bridges}
	res.Topology = restrict(topo, Select(topo, w.opts.Bridges, ovs, w.opts.MinPorts))
	if w.frames == nil && (len(res.Topology.Bridges) > 0 || w.opts.Require) {
		f, err := w.open()
		if err != nil {
			return res, err
		}
		w.frames = f
	}
	if w.frames == nil {
		res.VMs = map[string]VM{}
		return res, nil // nothing to watch
	}
	want := make(map[int]bool, len(res.Topology.Ports))
	for _, p := range res.Topology.Ports {
		want[p.Index] = true
	}
	res.FrameErr = w.frames.Sync(want)
	counts, err := w.frames.Counts()
	if err != nil {
		return Result{}, fmt.Errorf("linuxbridge: %w", err)
	}
	vms, lerr := ReadLibvirtDir(w.opts.LibvirtDir)
	res.LibvirtErr = lerr
	res.VMs = make(map[string]VM, len(res.Topology.Ports))
	owned := make(map[string][]MAC)
	for _, p := range res.Topology.Ports {
		vm, ok := vms[p.Name]
		if !ok {
			if pre := NeutronPortPrefix(p.Name); pre != "" {
				vm, ok = VM{NeutronPortPrefix: pre}, true
			}
		}
		if ok {
			res.VMs[p.Name] = vm
			if !vm.MAC.IsZero() {
				owned[p.Name] = append(owned[p.Name], vm.MAC)
			}
		}
	}
	res.Streams = w.classifier.Update(res.Topology, counts, owned)
	return res, nil
}

// restrict keeps the bridges in keep, their ports and FDB entries.
func restrict(t Topology, keep []Bridge) Topology {
	in := make(map[int]bool, len(keep))
	for _, b := range keep {
		in[b.Index] = true
	}
	out := Topology{Bridges: keep}
	for _, p := range t.Ports {
		if in[p.MasterIndex] {
			out.Ports = append(out.Ports, p)
		}
	}
	for _, e := range t.FDB {
		if in[e.MasterIndex] {
			out.FDB = append(out.FDB, e)
		}
	}
	return out
}
