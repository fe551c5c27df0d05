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
	// bridges OVS owns are left alone.
	OVSPorts func() map[string]bool
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
	frames     FrameCounter
	classifier *Classifier
}

// NewWatcher returns a Watcher over reader and frames (it owns neither).
func NewWatcher(opts WatchOptions, reader Reader, frames FrameCounter) *Watcher {
	return &Watcher{opts: opts, reader: reader, frames: frames, classifier: NewClassifier()}
}

// Poll reads the bridges, makes the frame counter observe exactly the
// ports of the watched bridges (ports added since the last poll are
// attached, removed ones detached) and classifies the counters.
func (w *Watcher) Poll(ctx context.Context) (Result, error) {
	topo, err := w.reader.Read(ctx)
	if err != nil {
		return Result{}, err
	}
	var ovs map[string]bool
	if w.opts.OVSPorts != nil {
		ovs = w.opts.OVSPorts()
	}
	res := Result{All: topo.Bridges}
	res.Topology = restrict(topo, Select(topo, w.opts.Bridges, ovs))
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
