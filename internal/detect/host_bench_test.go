package detect

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// benchHost is one poll's input shaped like the benchmark host (bench/):
// 500 VM ports, 10 to a VLAN, each sending from 8 MACs; 4,950 megaflows of
// unicast between ports of one VLAN and 50 flooded ones, one per VLAN, each
// reaching the 9 other ports of its VLAN and br-int's LOCAL port; a device
// counter for every port.
type benchHost struct {
	ports    map[string]Port
	flows    []Flow
	received map[string]uint64
	polls    int
}

func newBenchHost() *benchHost {
	const nPorts, vlans, macsPerPort, megaflows, flooded = 500, 50, 8, 5000, 50
	per := nPorts / vlans
	h := &benchHost{ports: map[string]Port{"br-int": {Bridge: "br-int", Name: "br-int", VLAN: -1}},
		received: map[string]uint64{}}
	names := make([]string, nPorts)
	macs := make([][]net.HardwareAddr, nPorts)
	for i := range nPorts {
		names[i] = fmt.Sprintf("tapbe%06x-%02x", i, i&0xff)
		for k := range macsPerPort {
			macs[i] = append(macs[i], net.HardwareAddr{0xfa, 0x16, 0x3e, byte(k), byte(i >> 8), byte(i)})
		}
		h.ports[names[i]] = Port{Bridge: "br-int", Name: names[i], VLAN: 100 + i/per, Endpoint: true, MAC: macs[i][0]}
		h.received[names[i]] = uint64(i) * 1_000_000
	}
	pairs := per * macsPerPort
	for j := range megaflows - flooded {
		v, k := j%vlans, j/vlans
		s := k % pairs
		hop := 1 + (k/pairs)%(per-1)
		src, dst := v*per+s/macsPerPort, v*per+(s/macsPerPort+hop)%per
		h.flows = append(h.flows, Flow{Key: fmt.Sprintf("u%015x", j), InPort: names[src], VLAN: -1,
			Src: macs[src][s%macsPerPort], Dst: macs[dst][s%macsPerPort], Packets: 10, Bytes: 10_000,
			Outputs: []Output{{Port: names[dst], VLAN: -1}}})
	}
	for f := range flooded {
		v := f % vlans
		src := v*per + (f/vlans)%per
		fl := Flow{Key: fmt.Sprintf("f%015x", f), InPort: names[src], VLAN: -1, Src: macs[src][0],
			Dst: net.HardwareAddr{0x02, 0xee, 0xee, 0x00, byte(f >> 8), byte(f)}, Packets: 100, Bytes: 100_000,
			Outputs: []Output{{Port: "br-int", VLAN: 100 + v}}}
		for p := v * per; p < (v+1)*per; p++ {
			if p != src {
				fl.Outputs = append(fl.Outputs, Output{Port: names[p], VLAN: -1})
			}
		}
		h.flows = append(h.flows, fl)
	}
	return h
}

// next grows the counters as one more second of traffic would, the
// floods' by a little more or less from one poll to the next.
func (h *benchHost) next() {
	h.polls++
	for j := range h.flows {
		f := &h.flows[j]
		if len(f.Outputs) > 1 {
			f.Packets += 20
			f.Bytes += 20_000 + uint64(h.polls%7)*1000
		} else if j%4 == 0 {
			f.Packets++
			f.Bytes += 1000
		}
	}
	for p := range h.received {
		h.received[p] += 50_000
	}
}

// BenchmarkObserveHost is one full-dump poll of the benchmark host with
// its 50 floods running.
func BenchmarkObserveHost(b *testing.B) {
	h := newBenchHost()
	d := New(DefaultConfig())
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 { // past the baseline and the sustain polls
		h.next()
		d.Observe(Input{Time: t0.Add(time.Duration(i) * time.Second), Ports: h.ports, Flows: h.flows,
			Complete: true, Received: h.received})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.next()
		r := d.Observe(Input{Time: t0.Add(time.Duration(i+3) * time.Second), Ports: h.ports, Flows: h.flows,
			Complete: true, Received: h.received})
		if len(r.Active) != 10 || len(r.Ratios) != 450 {
			b.Fatalf("%d active floods, %d ratios; want 10 and 450", len(r.Active), len(r.Ratios))
		}
	}
}
