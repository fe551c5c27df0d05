package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/ovstest"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// steadyPoll is one poll of a calm host at the benchmark's scale, as the
// unixctl source leaves it for the fdb source: 500 VM ports on br-int,
// 5,000 megaflows (50 of them broadcasts copied to 10 ports), every
// counter grown since the previous poll, no MAC moving.
func steadyPoll(b *testing.B) *Poll {
	b.Helper()
	const nPorts, nFlows, nBcast = 500, 5000, 50
	u := &unixctlView{ports: map[string]*ovs.DPPort{}, portBr: map[string]string{}, bridges: []string{"br-int"},
		fdbStats: map[string]*state.FDB{"br-int": {Entries: 600, Max: 8192}}}
	names := make([]string, nPorts)
	for i := range names {
		names[i] = fmt.Sprintf("tap%04d", i)
		u.ports[names[i]], u.portBr[names[i]] = &ovs.DPPort{Name: names[i], OFPort: uint32(i + 1)}, "br-int"
	}
	outs := make([]detect.Output, 10)
	for i := range outs {
		outs[i].Port = names[i]
	}
	flows := make([]detect.Flow, nFlows)
	var key [16]byte
	for i := range flows {
		binary.LittleEndian.PutUint64(key[:], uint64(i)*0x9e3779b97f4a7c15)
		f := detect.Flow{Key: string(key[:]), InPort: names[i%nPorts], VLAN: -1,
			Src: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}, Dst: net.HardwareAddr{2, 0, 0, 1, byte(i >> 8), byte(i)},
			Outputs: outs[:1], Packets: 1, Bytes: 100}
		if i < nBcast {
			f.Dst, f.Outputs = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, outs
		}
		flows[i] = f
	}
	return &Poll{Time: time.Unix(1_700_000_000, 0), log: zap.NewNop(), unixctl: u, flows: flows, dumped: true,
		vswitchd: ovs.NewVswitchd(ovstest.NewFake())}
}

// next advances p by one poll interval, every megaflow grown.
func (p *Poll) next() {
	p.Time = p.Time.Add(5 * time.Second)
	for i := range p.flows {
		p.flows[i].Packets += 10
		p.flows[i].Bytes += 1000
	}
}

// liveHeap returns, after a collection, the bytes of live heap and how
// many of them the collector scans for pointers.
func liveHeap() (live, scan int64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return int64(m.HeapAlloc), int64(s[0].Value.Uint64())
}

// BenchmarkFDBSourceSteady is the fdb source's work per poll on a calm
// host of 5,000 megaflows, and the heap it keeps from one poll to the
// next: live-B bytes, scan-B of them holding pointers the collector marks.
func BenchmarkFDBSourceSteady(b *testing.B) {
	p := steadyPoll(b)
	live0, scan0 := liveHeap()
	s := NewFDB(loop.Config{}, time.Second)
	for range 2 {
		if err := s.Read(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		p.next()
	}
	live, scan := liveHeap()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Read(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		if rep := p.l2; len(rep.Broadcast) != 50 {
			b.Fatalf("broadcast from %d ports, want 50", len(rep.Broadcast))
		}
		p.next()
	}
	b.StopTimer()
	b.ReportMetric(float64(live-live0), "live-B")
	b.ReportMetric(float64(scan-scan0), "scan-B")
	runtime.KeepAlive(s)
}
