// Package linuxbridgetest provides fakes of the linuxbridge package's
// Reader and FrameCounter for tests of the code that uses them, and the
// topology captured from the project's Linux-bridge lab.
package linuxbridgetest

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// Reader is a linuxbridge.Reader returning a set topology or error.
type Reader struct {
	mu   sync.Mutex
	topo linuxbridge.Topology
	err  error
}

var _ linuxbridge.Reader = (*Reader)(nil)

// NewReader returns a Reader of t.
func NewReader(t linuxbridge.Topology) *Reader { return &Reader{topo: t} }

// Set replaces the topology.
func (r *Reader) Set(t linuxbridge.Topology) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topo = t
}

// SetError makes Read fail with err (nil to recover).
func (r *Reader) SetError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Read implements linuxbridge.Reader.
func (r *Reader) Read(ctx context.Context) (linuxbridge.Topology, error) {
	if err := ctx.Err(); err != nil {
		return linuxbridge.Topology{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.topo, r.err
}

// Frames is a linuxbridge.FrameCounter whose counters the test sets.
type Frames struct {
	mu       sync.Mutex
	counts   map[[3]uint64]linuxbridge.Count
	attached map[int]bool
	syncErr  error
	err      error
}

var _ linuxbridge.FrameCounter = (*Frames)(nil)

// NewFrames returns a Frames with no counters.
func NewFrames() *Frames {
	return &Frames{counts: make(map[[3]uint64]linuxbridge.Count), attached: make(map[int]bool)}
}

func key(c linuxbridge.Count) [3]uint64 {
	var d, s uint64
	for i := 0; i < 6; i++ {
		d = d<<8 | uint64(c.Dst[i])
		s = s<<8 | uint64(c.Src[i])
	}
	return [3]uint64{uint64(c.Ifindex), d, s}
}

// Add adds c's packets and bytes to the counter of (c.Ifindex, c.Dst,
// c.Src), as the kernel program would for frames that port transmitted.
func (f *Frames) Add(c linuxbridge.Count) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(c)
	cur := f.counts[k]
	c.Packets += cur.Packets
	c.Bytes += cur.Bytes
	f.counts[k] = c
}

// SetError makes Counts fail with err (nil to recover).
func (f *Frames) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// SetSyncError makes Sync report err after attaching (a port gone).
func (f *Frames) SetSyncError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncErr = err
}

// Sync implements linuxbridge.FrameCounter.
func (f *Frames) Sync(want map[int]bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached = make(map[int]bool, len(want))
	for k, v := range want {
		f.attached[k] = v
	}
	return f.syncErr
}

// Attached reports whether ifindex is observed.
func (f *Frames) Attached(ifindex int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attached[ifindex]
}

// Counts implements linuxbridge.FrameCounter: the counters of attached
// ports only, as the kernel counts nothing elsewhere.
func (f *Frames) Counts() ([]linuxbridge.Count, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([]linuxbridge.Count, 0, len(f.counts))
	for _, c := range f.counts {
		if f.attached[c.Ifindex] {
			out = append(out, c)
		}
	}
	return out, nil
}

// Close implements linuxbridge.FrameCounter.
func (f *Frames) Close() error { return nil }

// LabTopology returns the topology captured from lab/linuxbridge.sh:
// br0 (ifindex 2) with vnet1..3 (3..5) and an uplink (6) whose learning
// is off; vm1..3 (02:00:00:00:01:01..03) learned on vnet1..3.
func LabTopology() (linuxbridge.Topology, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "testdata", "lab-br0")
	links, err := readHex(filepath.Join(dir, "links.hex"))
	if err != nil {
		return linuxbridge.Topology{}, err
	}
	fdb, err := readHex(filepath.Join(dir, "fdb.hex"))
	if err != nil {
		return linuxbridge.Topology{}, err
	}
	js, err := os.ReadFile(filepath.Join(dir, "devices.json"))
	if err != nil {
		return linuxbridge.Topology{}, err
	}
	var devs map[string]netdev.Device
	if err := json.Unmarshal(js, &devs); err != nil {
		return linuxbridge.Topology{}, fmt.Errorf("devices.json: %w", err)
	}
	return linuxbridge.ParseDumps(links, fdb, devs)
}

// readHex reads one hex-encoded netlink message payload per line.
func readHex(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		b, err := hex.DecodeString(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, b)
	}
	return out, sc.Err()
}
