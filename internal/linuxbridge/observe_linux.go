package linuxbridge

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultMaxEntries bounds the kernel map of (port, destination, source)
// counters. An entry is 16 bytes of key and 16 of value; the kernel's LRU
// hash costs about 100 bytes per entry with its overhead, so the default
// pins under 2 MiB of kernel memory whatever the traffic.
const DefaultMaxEntries = 16384

// counterKey mirrors the map key the program writes: the egress ifindex
// and the frame's first 12 bytes (destination MAC, source MAC).
type counterKey struct {
	Ifindex uint32
	Dst     [6]byte
	Src     [6]byte
}

// counterValue mirrors the map value: frames and bytes (L2 length).
type counterValue struct {
	Packets uint64
	Bytes   uint64
}

// Offsets in struct __sk_buff (include/uapi/linux/bpf.h), stable ABI.
const (
	skbLen     = 0
	skbIfindex = 40
	skbData    = 76
	skbDataEnd = 80
)

// TCX return code: let the next program (or the qdisc) decide.
const tcxNext = -1

// egressProgram returns the tc egress program: for every frame a port
// transmits whose destination MAC is unicast, add one packet and its
// length to the map entry (ifindex, dst, src), creating it if absent.
// It never changes the frame's fate (it returns TCX_NEXT).
//
// Stack layout (r10 is the frame pointer):
//
//	fp-16  u32 ifindex   \ the 16-byte key
//	fp-12  dst[6] src[6] /
//	fp-32  u64 packets   \ the value of a new entry
//	fp-24  u64 bytes     /
func egressProgram(counts *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// Direct packet access: the Ethernet header is in the linear
		// part of every skb a device transmits.
		asm.LoadMem(asm.R2, asm.R6, skbData, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, skbDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 12),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		// Group bit set: broadcast or multicast, never "unknown unicast".
		asm.LoadMem(asm.R1, asm.R2, 0, asm.Byte),
		asm.And.Imm(asm.R1, 1),
		asm.JNE.Imm(asm.R1, 0, "out"),
		// dst and src MACs into the key.
		asm.LoadMem(asm.R1, asm.R2, 0, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R2, 4, asm.Half),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.Half),
		asm.LoadMem(asm.R1, asm.R2, 6, asm.Half),
		asm.StoreMem(asm.RFP, -6, asm.R1, asm.Half),
		asm.LoadMem(asm.R1, asm.R2, 8, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R6, skbIfindex, asm.Word),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.Word),
		asm.LoadMem(asm.R7, asm.R6, skbLen, asm.Word),
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "insert"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Add.Imm(asm.R1, 8),
		asm.StoreXAdd(asm.R1, asm.R7, asm.DWord),
		asm.Ja.Label("out"),
		// A new entry; BPF_NOEXIST so that a racing CPU's first frame is
		// lost rather than its counts overwritten.
		asm.Mov.Imm(asm.R1, 1).WithSymbol("insert"),
		asm.StoreMem(asm.RFP, -32, asm.R1, asm.DWord),
		asm.StoreMem(asm.RFP, -24, asm.R7, asm.DWord),
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -32),
		asm.Mov.Imm(asm.R4, 1), // BPF_NOEXIST
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("out"),
		asm.Return(),
	}
}

// DropIn is the systemd drop-in that grants the observer its
// capabilities, as shipped in deploy/systemd.
const DropIn = "ovs-flood-exporter-linuxbridge.conf"

// ErrObserverUnsupported wraps every failure to load or attach the eBPF
// program that comes from the kernel or from missing privileges.
var ErrObserverUnsupported = errors.New("linuxbridge: cannot observe frames with eBPF on tc egress")

// Observer is the FrameCounter of a live host. It counts, in the kernel, the unicast frames each observed bridge
// port transmits, by (destination MAC, source MAC), with one eBPF program
// attached to the egress hook (tcx) of every port. Reading the counters
// is one batched map lookup per poll; nothing is copied per frame.
//
// Links are held by file descriptor only (never pinned), so a crashed
// agent leaves nothing attached, and a deleted port takes its link with
// it. It is safe for concurrent use.
type Observer struct {
	ns     string
	mu     sync.Mutex
	counts *ebpf.Map
	prog   *ebpf.Program
	links  map[int]link.Link // by ifindex
	keys   []counterKey      // batch buffers, reused
	vals   []counterValue
}

// NewObserver loads the program and its map (maxEntries <= 0 means
// DefaultMaxEntries), to observe ports of the namespace mounted at
// /run/netns/<ns> ("" for the agent's own). It needs CAP_BPF and CAP_NET_ADMIN (or root);
// without them the error wraps ErrObserverUnsupported and says so.
func NewObserver(ns string, maxEntries int) (*Observer, error) {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	counts, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "lb_flood_cnt",
		Type:       ebpf.LRUHash,
		KeySize:    16,
		ValueSize:  16,
		MaxEntries: uint32(maxEntries),
	})
	if err != nil {
		return nil, privilegeError("create the counter map", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "lb_flood_egress",
		Type:         ebpf.SchedCLS,
		License:      "Apache-2.0",
		Instructions: egressProgram(counts),
	})
	if err != nil {
		_ = counts.Close()
		return nil, privilegeError("load the tc egress program", err)
	}
	return &Observer{ns: ns, counts: counts, prog: prog, links: make(map[int]link.Link)}, nil
}

func privilegeError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
		// cilium/ebpf's hint about RLIMIT_MEMLOCK does not apply: kernels
		// since 5.11 charge BPF memory to the cgroup.
		return fmt.Errorf("%w: %s: operation not permitted: the agent needs CAP_BPF and CAP_NET_ADMIN "+
			"(install the systemd drop-in deploy/systemd/%s as /etc/systemd/system/ovs-flood-exporter.service.d/linuxbridge.conf)",
			ErrObserverUnsupported, what, DropIn)
	}
	return fmt.Errorf("%w: %s: %v", ErrObserverUnsupported, what, err)
}

// Sync attaches the program to the egress of every ifindex in want that
// is not attached yet and detaches it from every port no longer wanted.
// Ifindexes are those of the observer's namespace. It returns the ports that failed to attach (a port deleted meanwhile, say)
// joined into one error; the others are observed either way.
func (o *Observer) Sync(want map[int]bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.prog == nil {
		return errors.New("linuxbridge: observer closed")
	}
	for idx, l := range o.links {
		if !want[idx] {
			_ = l.Close()
			delete(o.links, idx)
		}
	}
	var attach []int
	for idx := range want {
		if _, ok := o.links[idx]; !ok {
			attach = append(attach, idx)
		}
	}
	if len(attach) == 0 {
		return nil
	}
	var errs []error
	// The kernel resolves the ifindex in the caller's namespace.
	err := inNetns(o.ns, func() error {
		for _, idx := range attach {
			l, err := link.AttachTCX(link.TCXOptions{Interface: idx, Program: o.prog, Attach: ebpf.AttachTCXEgress})
			switch {
			case errors.Is(err, ebpf.ErrNotSupported):
				errs = append(errs, fmt.Errorf("%w: attach to ifindex %d: tcx links need Linux 6.6 or later: %v", ErrObserverUnsupported, idx, err))
				continue
			case err != nil:
				errs = append(errs, fmt.Errorf("attach to ifindex %d: %w", idx, err))
				continue
			}
			o.links[idx] = l
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// Attached returns how many ports the program is attached to.
func (o *Observer) Attached() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.links)
}

// Counts returns every counter in the kernel map: cumulative frames and
// bytes per (egress port, destination, source) since the entry was
// created. An entry the LRU evicted and re-created starts again from
// zero, so callers take deltas and treat a decrease as a reset.
func (o *Observer) Counts() ([]Count, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		return nil, errors.New("linuxbridge: observer closed")
	}
	if o.keys == nil {
		o.keys = make([]counterKey, 512)
		o.vals = make([]counterValue, 512)
	}
	var (
		out    []Count
		cursor ebpf.MapBatchCursor
	)
	for {
		n, err := o.counts.BatchLookup(&cursor, o.keys, o.vals, nil)
		for i := 0; i < n; i++ {
			k, v := o.keys[i], o.vals[i]
			out = append(out, Count{
				Ifindex: int(k.Ifindex),
				Dst:     MAC(k.Dst),
				Src:     MAC(k.Src),
				Packets: v.Packets,
				Bytes:   v.Bytes,
			})
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read flood counters: %w", err)
		}
	}
}

// Stats returns the program's run count and total run time, which the
// kernel keeps only while kernel.bpf_stats_enabled is 1 (benchmarks turn
// it on to measure the cost per frame).
func (o *Observer) Stats() (runs, nanos uint64, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.prog == nil {
		return 0, 0, errors.New("linuxbridge: observer closed")
	}
	st, err := o.prog.Stats()
	if err != nil {
		return 0, 0, err
	}
	return st.RunCount, uint64(st.Runtime.Nanoseconds()), nil
}

// Close detaches every link and releases the program and map.
func (o *Observer) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for idx, l := range o.links {
		errs = append(errs, l.Close())
		delete(o.links, idx)
	}
	if o.prog != nil {
		errs = append(errs, o.prog.Close())
		o.prog = nil
	}
	if o.counts != nil {
		errs = append(errs, o.counts.Close())
		o.counts = nil
	}
	return errors.Join(errs...)
}

var _ FrameCounter = (*Observer)(nil)
