package linuxbridge

import (
	"encoding/binary"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAssembleProgram checks the encoding against struct bpf_insn: one
// 8-byte slot per instruction, two for a map load, jumps relative to the
// next slot.
func TestAssembleProgram(t *testing.T) {
	code, err := assembleProgram([]insn{
		jumpImm(unix.BPF_JEQ, r1, 0, "out"), // slot 0: skips the two-slot load
		loadMapFD(r2, 7),                    // slots 1-2
		movImm(r0, -1).at("out"),            // slot 3
		exit(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 5*insnSize {
		t.Fatalf("%d bytes, want 5 slots", len(code))
	}
	slot := func(i int) []byte { return code[i*insnSize : (i+1)*insnSize] }
	if op, off := slot(0)[0], int16(binary.NativeEndian.Uint16(slot(0)[2:])); op != 0x15 || off != 2 {
		t.Errorf("jeq: op %#x off %d, want 0x15 and 2", op, off)
	}
	if op, regs, imm := slot(1)[0], slot(1)[1], binary.NativeEndian.Uint32(slot(1)[4:]); op != 0x18 || regs != 0x12 || imm != 7 {
		t.Errorf("ld_imm64: op %#x regs %#x imm %d, want 0x18, src 1 (map fd) dst 2, 7", op, regs, imm)
	}
	if op, imm := slot(3)[0], int32(binary.NativeEndian.Uint32(slot(3)[4:])); op != 0xb7 || imm != -1 {
		t.Errorf("mov: op %#x imm %d, want 0xb7 and -1", op, imm)
	}
	if _, err := assembleProgram([]insn{jump("nowhere")}); err == nil {
		t.Error("a jump to an unknown label assembled")
	}
}

// TestEgressProgramCounts loads the program into the kernel and runs
// frames through it (BPF_PROG_TEST_RUN): a unicast frame is counted under
// (ifindex, dst, src) with its length, a broadcast one is not, and every
// frame goes on (TCX_NEXT).
func TestEgressProgramCounts(t *testing.T) {
	if syscall.Geteuid() != 0 {
		t.Skip("needs root for bpf()")
	}
	o, err := NewObserver("", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	uni, bcast := frame(extMAC), frame(MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	for _, f := range [][]byte{uni, uni, uni, bcast} {
		ret, _, err := testRun(o.prog, f, 1)
		if err != nil {
			t.Fatal(err)
		}
		if int32(ret) != tcxNext {
			t.Errorf("program returned %d, want TCX_NEXT (%d)", int32(ret), tcxNext)
		}
	}
	counts, err := o.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 {
		t.Fatalf("counts %+v, want one entry (the unicast frames)", counts)
	}
	c := counts[0]
	if c.Dst != extMAC || c.Src != vm1MAC || c.Packets != 3 || c.Bytes != 3*uint64(len(uni)) {
		t.Errorf("count %+v, want 3 frames of %d bytes from %s to %s", c, len(uni), vm1MAC, extMAC)
	}
	if runs, _, err := o.Stats(); err != nil {
		t.Errorf("stats: %v (runs %d)", err, runs)
	}
}

// TestCountsManyEntries reads more entries than one batch holds.
func TestCountsManyEntries(t *testing.T) {
	if syscall.Geteuid() != 0 {
		t.Skip("needs root for bpf()")
	}
	o, err := NewObserver("", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	const n = 1300
	for i := range n {
		dst := MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		if _, _, err := testRun(o.prog, frame(dst), 1); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := o.Counts()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[MAC]bool{}
	for _, c := range counts {
		seen[c.Dst] = true
	}
	if len(counts) != n || len(seen) != n {
		t.Errorf("%d counts over %d destinations, want %d of each", len(counts), len(seen), n)
	}
}
