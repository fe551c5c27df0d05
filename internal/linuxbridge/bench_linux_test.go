package linuxbridge

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// frame is a 1442-byte Ethernet frame from vm1 to the external host.
func frame(dst MAC) []byte {
	b := make([]byte, 1442)
	copy(b[0:6], dst[:])
	copy(b[6:12], vm1MAC[:])
	b[12], b[13] = 0x08, 0x00
	return b
}

// BenchmarkEgressProgram measures the kernel program alone, per frame,
// with BPF_PROG_TEST_RUN (the kernel times the runs): a unicast frame
// whose counter exists (the steady state of a flood), and a broadcast
// frame (rejected after the first byte).
func BenchmarkEgressProgram(b *testing.B) {
	if err := unix.Access("/sys/fs/bpf", unix.F_OK); err != nil || syscall.Geteuid() != 0 {
		b.Skip("needs root and bpf()")
	}
	for _, bc := range []struct {
		name string
		dst  MAC
	}{{"unicast", extMAC}, {"broadcast", MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}} {
		b.Run(bc.name, func(b *testing.B) {
			o, err := NewObserver("", 0)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			in := frame(bc.dst)
			if _, _, err := testRun(o.prog, in, 1); err != nil { // create the entry
				b.Fatal(err)
			}
			b.ResetTimer()
			_, per, err := testRun(o.prog, in, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per), "kernel-ns/frame")
		})
	}
}

// BenchmarkLabPoll100Ports is the load: br0 with 100 ports (the
// lab's four plus 96 veths) while vm1 floods ext at 20 Mbit/s, so every
// frame is copied to 99 ports. It reports the agent CPU (user + system,
// getrusage) per Watcher poll and, from the kernel's own run-time
// statistics, the observing program's CPU: per frame and as a share of
// one core. Run it with -benchtime=20x: each poll is one iteration.
func BenchmarkLabPoll100Ports(b *testing.B) {
	l := upLab(b, "lbb")
	h := nsHandle(b, l.name)
	br, err := h.LinkByName("br0")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 96; i++ {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("vnx%d", i), MasterIndex: br.Attrs().Index}, PeerName: fmt.Sprintf("vnx%dp", i)}
		if err := h.LinkAdd(veth); err != nil {
			b.Fatal(err)
		}
		peer, err := h.LinkByName(veth.PeerName)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.LinkSetUp(veth); err != nil {
			b.Fatal(err)
		}
		if err := h.LinkSetUp(peer); err != nil {
			b.Fatal(err)
		}
	}
	// BPF_ENABLE_STATS: run-time statistics are kept while the fd is open.
	statsType := uint32(unix.BPF_STATS_RUN_TIME)
	stats, err := bpfCall(unix.BPF_ENABLE_STATS, unsafe.Pointer(&statsType), unsafe.Sizeof(statsType))
	if err != nil {
		b.Fatalf("enable bpf stats: %v", err)
	}
	defer unix.Close(stats)
	w := newLabWatcher(b, l, WatchOptions{})
	ctx := context.Background()
	if res, err := w.Poll(ctx); err != nil || len(res.Topology.Ports) != 100 {
		b.Fatalf("poll: %d ports, %v", len(res.Topology.Ports), err)
	}

	secs := 12
	flood := exec.Command("bash", labScript(), "flood", l.name, fmt.Sprint(secs), "20M")
	flood.Env = append(flood.Environ(), "LAB_BASE="+l.base)
	if err := flood.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = flood.Wait() }()
	time.Sleep(2 * time.Second)
	runs0, ns0, _ := w.obs.Stats()
	start := time.Now()
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u0 := rusage()
		res, err := w.Poll(ctx)
		cpu += rusage() - u0
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Topology.Ports) != 100 {
			b.Fatalf("%d ports", len(res.Topology.Ports))
		}
		time.Sleep(400 * time.Millisecond) // let frames flow between polls
	}
	b.StopTimer()
	wall := time.Since(start)
	runs1, ns1, _ := w.obs.Stats()
	runs, ns := runs1-runs0, ns1-ns0
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/poll")
	if runs > 0 {
		b.ReportMetric(float64(ns)/float64(runs), "kernel-ns/frame")
		b.ReportMetric(float64(runs)/wall.Seconds(), "frames/s")
		b.ReportMetric(100*float64(ns)/float64(wall.Nanoseconds()), "core-%")
	}
}

// rusage returns the process's user plus system CPU time so far.
func rusage() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
