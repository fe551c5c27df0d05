package linuxbridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is the little of bpf(2) the observer needs: create a map, load
// a program assembled here, attach it to a device's tcx egress hook, read
// the map in batches. Everything is held by file descriptor and nothing is
// pinned. The attribute layouts are those of union bpf_attr in
// include/uapi/linux/bpf.h; the kernel accepts a shorter attribute than its
// own as long as the fields it reads are there, and requires the rest zero.

// bpfCall runs bpf(cmd, attr, size) and returns its result.
func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// bpfMapCreateAttr is the BPF_MAP_CREATE part of union bpf_attr.
type bpfMapCreateAttr struct {
	mapType, keySize, valueSize, maxEntries, mapFlags, innerMapFD, numaNode uint32
	name                                                                    [unix.BPF_OBJ_NAME_LEN]byte
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoadAttr struct {
	progType, insnCnt  uint32
	insns, license     uint64
	logLevel, logSize  uint32
	logBuf             uint64
	kernVersion, flags uint32
	name               [unix.BPF_OBJ_NAME_LEN]byte
}

// bpfLinkCreateAttr is the BPF_LINK_CREATE part of union bpf_attr for tcx
// (relative_fd and expected_revision zero: append after every program).
type bpfLinkCreateAttr struct {
	progFD, ifindex, attachType, flags uint32
	relative, _                        uint32
	expectedRevision                   uint64
}

// bpfBatchAttr is the BPF_MAP_*_BATCH part of union bpf_attr.
type bpfBatchAttr struct {
	inBatch, outBatch, keys, values uint64
	count, mapFD                    uint32
	elemFlags, flags                uint64
}

// bpfTestRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
type bpfTestRunAttr struct {
	progFD, retval, sizeIn, sizeOut uint32
	dataIn, dataOut                 uint64
	repeat, duration                uint32
}

// bpfInfoAttr is the BPF_OBJ_GET_INFO_BY_FD part of union bpf_attr.
type bpfInfoAttr struct {
	fd, infoLen uint32
	info        uint64
}

func objName(s string) (n [unix.BPF_OBJ_NAME_LEN]byte) {
	copy(n[:unix.BPF_OBJ_NAME_LEN-1], s)
	return n
}

// createLRUHash creates a BPF_MAP_TYPE_LRU_HASH and returns its fd.
func createLRUHash(name string, keySize, valueSize, maxEntries uint32) (int, error) {
	attr := bpfMapCreateAttr{mapType: unix.BPF_MAP_TYPE_LRU_HASH, keySize: keySize, valueSize: valueSize,
		maxEntries: maxEntries, name: objName(name)}
	return bpfCall(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// loadSchedCLS loads a BPF_PROG_TYPE_SCHED_CLS program and returns its fd.
// When the verifier refuses it, the error carries the end of its log.
func loadSchedCLS(name string, insns []byte, license string) (int, error) {
	lic := append([]byte(license), 0)
	attr := bpfProgLoadAttr{progType: unix.BPF_PROG_TYPE_SCHED_CLS, insnCnt: uint32(len(insns) / insnSize),
		insns: uint64(uintptr(unsafe.Pointer(&insns[0]))), license: uint64(uintptr(unsafe.Pointer(&lic[0]))),
		name: objName(name)}
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(lic)
	if err == nil || !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINVAL) {
		return fd, err
	}
	// Load again with the verifier's log, to say why.
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	if fd, err2 := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 == nil {
		return fd, nil
	}
	runtime.KeepAlive(insns)
	runtime.KeepAlive(lic)
	text := string(log[:max(0, indexZero(log))])
	if len(text) > 512 {
		text = "…" + text[len(text)-512:]
	}
	return -1, fmt.Errorf("%w: verifier: %s", err, text)
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// attachTCXEgress attaches prog to the tcx egress hook of ifindex (in the
// calling thread's namespace) and returns the link's fd; closing it
// detaches. Kernels before 6.6 have no tcx and answer EINVAL.
func attachTCXEgress(prog, ifindex int) (int, error) {
	attr := bpfLinkCreateAttr{progFD: uint32(prog), ifindex: uint32(ifindex), attachType: unix.BPF_TCX_EGRESS}
	return bpfCall(unix.BPF_LINK_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// batchCursor is where a batched map read stopped.
type batchCursor struct {
	started bool
	token   uint64 // the kernel's opaque position (a bucket number for hashes)
}

// lookupBatch reads up to len(keys) entries of the map after the cursor
// into keys and values, and returns how many it read. At the end it
// returns unix.ENOENT, possibly with entries.
func lookupBatch[K, V any](mapFD int, c *batchCursor, keys []K, values []V) (int, error) {
	in, out := c.token, uint64(0)
	attr := bpfBatchAttr{keys: uint64(uintptr(unsafe.Pointer(&keys[0]))), values: uint64(uintptr(unsafe.Pointer(&values[0]))),
		count: uint32(min(len(keys), len(values))), mapFD: uint32(mapFD), outBatch: uint64(uintptr(unsafe.Pointer(&out)))}
	if c.started {
		attr.inBatch = uint64(uintptr(unsafe.Pointer(&in)))
	}
	_, err := bpfCall(unix.BPF_MAP_LOOKUP_BATCH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(keys)
	runtime.KeepAlive(values)
	runtime.KeepAlive(&in)
	runtime.KeepAlive(&out)
	c.started, c.token = true, out
	return int(attr.count), err
}

// progStats returns a program's run count and run time, which the kernel
// keeps while kernel.bpf_stats_enabled is 1 (struct bpf_prog_info:
// run_time_ns at byte 192, run_cnt at 200).
func progStats(prog int) (runs, nanos uint64, err error) {
	var info [216]byte
	attr := bpfInfoAttr{fd: uint32(prog), infoLen: uint32(len(info)), info: uint64(uintptr(unsafe.Pointer(&info[0])))}
	if _, err := bpfCall(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return 0, 0, err
	}
	runtime.KeepAlive(&info)
	return binary.NativeEndian.Uint64(info[200:]), binary.NativeEndian.Uint64(info[192:]), nil
}

// testRun runs prog repeat times over frame (BPF_PROG_TEST_RUN) and
// returns its last return value and the kernel's mean time per run in ns.
func testRun(prog int, frame []byte, repeat int) (retval uint32, nsPerRun uint32, err error) {
	attr := bpfTestRunAttr{progFD: uint32(prog), sizeIn: uint32(len(frame)),
		dataIn: uint64(uintptr(unsafe.Pointer(&frame[0]))), repeat: uint32(repeat)}
	_, err = bpfCall(unix.BPF_PROG_TEST_RUN, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(frame)
	return attr.retval, attr.duration, err
}

// insnSize is the size of one eBPF instruction (struct bpf_insn).
const insnSize = 8

// insn is one eBPF instruction before assembly: jumps name their target
// by label, and an instruction may carry a label of its own.
type insn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int64 // 64 bits only for ldImm64
	target   string
	label    string
}

// Registers.
const (
	r0 uint8 = iota
	r1
	r2
	r3
	r4
	r5
	r6
	r7
	rFP uint8 = 10
)

func aluImm(op, dst uint8, imm int32) insn {
	return insn{op: unix.BPF_ALU64 | op | unix.BPF_K, dst: dst, imm: int64(imm)}
}
func aluReg(op, dst, src uint8) insn {
	return insn{op: unix.BPF_ALU64 | op | unix.BPF_X, dst: dst, src: src}
}
func movImm(dst uint8, imm int32) insn { return aluImm(unix.BPF_MOV, dst, imm) }
func movReg(dst, src uint8) insn       { return aluReg(unix.BPF_MOV, dst, src) }
func addImm(dst uint8, imm int32) insn { return aluImm(unix.BPF_ADD, dst, imm) }

// loadMem is dst = *(size *)(src + off).
func loadMem(dst, src uint8, off int16, size uint8) insn {
	return insn{op: unix.BPF_LDX | unix.BPF_MEM | size, dst: dst, src: src, off: off}
}

// storeMem is *(size *)(dst + off) = src.
func storeMem(dst uint8, off int16, src, size uint8) insn {
	return insn{op: unix.BPF_STX | unix.BPF_MEM | size, dst: dst, src: src, off: off}
}

// atomicAdd64 is lock *(u64 *)dst += src.
func atomicAdd64(dst, src uint8) insn {
	return insn{op: unix.BPF_STX | unix.BPF_ATOMIC | unix.BPF_DW, dst: dst, src: src, imm: unix.BPF_ADD}
}

func jumpImm(op, dst uint8, imm int32, target string) insn {
	return insn{op: unix.BPF_JMP | op | unix.BPF_K, dst: dst, imm: int64(imm), target: target}
}
func jumpReg(op, dst, src uint8, target string) insn {
	return insn{op: unix.BPF_JMP | op | unix.BPF_X, dst: dst, src: src, target: target}
}
func jump(target string) insn { return insn{op: unix.BPF_JMP | unix.BPF_JA, target: target} }
func call(helper int32) insn  { return insn{op: unix.BPF_JMP | unix.BPF_CALL, imm: int64(helper)} }
func exit() insn              { return insn{op: unix.BPF_JMP | unix.BPF_EXIT} }

// loadMapFD is dst = the map with file descriptor fd (a two-slot
// BPF_LD_IMM64 that the kernel rewrites to the map's address).
func loadMapFD(dst uint8, fd int) insn {
	return insn{op: unix.BPF_LD | unix.BPF_IMM | unix.BPF_DW, dst: dst, src: unix.BPF_PSEUDO_MAP_FD, imm: int64(fd)}
}

func (i insn) at(label string) insn { i.label = label; return i }

func (i insn) slots() int {
	if i.op == unix.BPF_LD|unix.BPF_IMM|unix.BPF_DW {
		return 2
	}
	return 1
}

// assembleProgram encodes prog, resolving jump labels.
func assembleProgram(prog []insn) ([]byte, error) {
	pos := make(map[string]int)
	n := 0
	for _, i := range prog {
		if i.label != "" {
			pos[i.label] = n
		}
		n += i.slots()
	}
	out := make([]byte, 0, n*insnSize)
	at := 0
	for _, i := range prog {
		off := i.off
		if i.target != "" {
			t, ok := pos[i.target]
			if !ok {
				return nil, fmt.Errorf("jump to unknown label %q", i.target)
			}
			off = int16(t - at - 1)
		}
		out = append(out, i.op, i.src<<4|i.dst&0x0f)
		out = binary.NativeEndian.AppendUint16(out, uint16(off))
		out = binary.NativeEndian.AppendUint32(out, uint32(int32(i.imm)))
		if i.slots() == 2 {
			out = append(out, 0, 0, 0, 0)
			out = binary.NativeEndian.AppendUint32(out, uint32(i.imm>>32))
		}
		at += i.slots()
	}
	return out, nil
}
