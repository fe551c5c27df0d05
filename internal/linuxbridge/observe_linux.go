package linuxbridge

import (
	"errors"
	"fmt"
	"os"
	"sync"

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
func egressProgram(counts int) []insn {
	const (
		helperMapLookupElem = 1
		helperMapUpdateElem = 2
	)
	return []insn{
		movReg(r6, r1),
		// Direct packet access: the Ethernet header is in the linear
		// part of every skb a device transmits.
		loadMem(r2, r6, skbData, unix.BPF_W),
		loadMem(r3, r6, skbDataEnd, unix.BPF_W),
		movReg(r4, r2),
		addImm(r4, 12),
		jumpReg(unix.BPF_JGT, r4, r3, "out"),
		// Group bit set: broadcast or multicast, never "unknown unicast".
		loadMem(r1, r2, 0, unix.BPF_B),
		aluImm(unix.BPF_AND, r1, 1),
		jumpImm(unix.BPF_JNE, r1, 0, "out"),
		// dst and src MACs into the key.
		loadMem(r1, r2, 0, unix.BPF_W),
		storeMem(rFP, -12, r1, unix.BPF_W),
		loadMem(r1, r2, 4, unix.BPF_H),
		storeMem(rFP, -8, r1, unix.BPF_H),
		loadMem(r1, r2, 6, unix.BPF_H),
		storeMem(rFP, -6, r1, unix.BPF_H),
		loadMem(r1, r2, 8, unix.BPF_W),
		storeMem(rFP, -4, r1, unix.BPF_W),
		loadMem(r1, r6, skbIfindex, unix.BPF_W),
		storeMem(rFP, -16, r1, unix.BPF_W),
		loadMem(r7, r6, skbLen, unix.BPF_W),
		loadMapFD(r1, counts),
		movReg(r2, rFP),
		addImm(r2, -16),
		call(helperMapLookupElem),
		jumpImm(unix.BPF_JEQ, r0, 0, "insert"),
		movImm(r1, 1),
		atomicAdd64(r0, r1),
		movReg(r1, r0),
		addImm(r1, 8),
		atomicAdd64(r1, r7),
		jump("out"),
		// A new entry; BPF_NOEXIST so that a racing CPU's first frame is
		// lost rather than its counts overwritten.
		movImm(r1, 1).at("insert"),
		storeMem(rFP, -32, r1, unix.BPF_DW),
		storeMem(rFP, -24, r7, unix.BPF_DW),
		loadMapFD(r1, counts),
		movReg(r2, rFP),
		addImm(r2, -16),
		movReg(r3, rFP),
		addImm(r3, -32),
		movImm(r4, unix.BPF_NOEXIST),
		call(helperMapUpdateElem),
		movImm(r0, tcxNext).at("out"),
		exit(),
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
	counts int          // map fd; -1 once closed
	prog   int          // program fd; -1 once closed
	links  map[int]int  // link fds by ifindex
	keys   []counterKey // batch buffers, reused
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
	counts, err := createLRUHash("lb_flood_cnt", 16, 16, uint32(maxEntries))
	if err != nil {
		return nil, privilegeError("create the counter map", err)
	}
	code, err := assembleProgram(egressProgram(counts))
	if err != nil {
		_ = unix.Close(counts)
		return nil, fmt.Errorf("linuxbridge: assemble the tc egress program: %w", err)
	}
	prog, err := loadSchedCLS("lb_flood_egress", code, "Apache-2.0")
	if err != nil {
		_ = unix.Close(counts)
		return nil, privilegeError("load the tc egress program", err)
	}
	return &Observer{ns: ns, counts: counts, prog: prog, links: make(map[int]int)}, nil
}

func privilegeError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
		// RLIMIT_MEMLOCK does not matter: kernels since 5.11 charge BPF
		// memory to the cgroup.
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
	if o.prog < 0 {
		return errors.New("linuxbridge: observer closed")
	}
	for idx, l := range o.links {
		if !want[idx] {
			_ = unix.Close(l)
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
			l, err := attachTCXEgress(o.prog, idx)
			switch {
			case errors.Is(err, unix.EINVAL):
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
	if o.counts < 0 {
		return nil, errors.New("linuxbridge: observer closed")
	}
	if o.keys == nil {
		o.keys = make([]counterKey, 512)
		o.vals = make([]counterValue, 512)
	}
	var (
		out    []Count
		cursor batchCursor
	)
	for {
		n, err := lookupBatch(o.counts, &cursor, o.keys, o.vals)
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
		if errors.Is(err, unix.ENOENT) {
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
	if o.prog < 0 {
		return 0, 0, errors.New("linuxbridge: observer closed")
	}
	return progStats(o.prog)
}

// Close detaches every link and releases the program and map.
func (o *Observer) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for idx, l := range o.links {
		errs = append(errs, unix.Close(l))
		delete(o.links, idx)
	}
	if o.prog >= 0 {
		errs = append(errs, unix.Close(o.prog))
		o.prog = -1
	}
	if o.counts >= 0 {
		errs = append(errs, unix.Close(o.counts))
		o.counts = -1
	}
	return errors.Join(errs...)
}

var _ FrameCounter = (*Observer)(nil)
