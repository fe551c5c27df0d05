package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge/linuxbridgetest"
)

// BenchmarkLinuxBridgeSourceRead100Ports measures what the source adds on
// top of the kernel reads (BenchmarkLabPoll100Ports in internal/linuxbridge
// measures those): classifying the counters and turning a 100-port bridge
// into the poll's bridges, ports (monotonic counters) and flows, while one
// VM floods the other 99 ports and every VM receives learned traffic.
func BenchmarkLinuxBridgeSourceRead100Ports(b *testing.B) {
	topo := linuxbridge.Topology{Bridges: []linuxbridge.Bridge{{Name: "br0", Index: 1, AgeingSeconds: 300}}}
	frames := linuxbridgetest.NewFrames()
	vm := func(i int) linuxbridge.MAC { return linuxbridge.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)} }
	ext := linuxbridge.MAC{2, 0, 0, 0, 0xff, 0xff}
	for i := 0; i < 100; i++ {
		idx := 10 + i
		topo.Ports = append(topo.Ports, linuxbridge.Port{Name: fmt.Sprintf("vnet%d", i), Index: idx, MasterIndex: 1, No: i + 1,
			Kind: "tun", Learning: true, UnicastFlood: true})
		topo.FDB = append(topo.FDB, linuxbridge.FDBEntry{MAC: vm(i), PortIndex: idx, MasterIndex: 1})
	}
	src := NewLinuxBridge(linuxbridgetest.NewReader(topo), func() (linuxbridge.FrameCounter, error) { return frames, nil },
		linuxbridge.WatchOptions{LibvirtDir: b.TempDir()}, time.Minute)
	a := New(DefaultConfig(), nil, nil, nil)
	poll := func() {
		for i := 1; i < 100; i++ {
			frames.Add(linuxbridge.Count{Ifindex: 10 + i, Src: vm(0), Dst: ext, Packets: 170, Bytes: 170 * 1442})
			frames.Add(linuxbridge.Count{Ifindex: 10 + i, Src: vm(0), Dst: vm(i), Packets: 100, Bytes: 100 * 1442})
		}
		p := &Poll{Time: time.Now(), cfg: &a.cfg, log: a.log, counters: a.counters, names: a.names}
		if err := src.Read(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		if len(p.ports) != 100 || len(p.flows) == 0 {
			b.Fatalf("%d ports, %d flows", len(p.ports), len(p.flows))
		}
	}
	poll()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		poll()
	}
}
