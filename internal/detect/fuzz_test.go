package detect

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// fuzzPorts are the names a decoded flow may use: lab ports, a port the
// detector does not know, an empty name and a tunnel-looking one.
var fuzzPorts = []string{"tapvm1", "tapvm2", "tapvm3", "tapvm4", "uplink", "br-int", "", "17", "vxlan_sys_4789"}

// byteReader hands out fuzz bytes, then zeros.
type byteReader struct{ b []byte }

func (r *byteReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *byteReader) uint64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

// mac returns a MAC of any length 0-8 (the parser hands over what OVS
// printed; a malformed one must not crash the detector).
func (r *byteReader) mac() net.HardwareAddr {
	n := int(r.byte() % 9)
	if n == 0 {
		return nil
	}
	m := make(net.HardwareAddr, n)
	for i := range m {
		m[i] = r.byte()
	}
	return m
}

// decodePoll turns fuzz bytes into one poll's input.
func decodePoll(r *byteReader, t time.Time) Input {
	in := Input{Time: t, Ports: labPorts(), Received: map[string]uint64{}}
	flags := r.byte()
	in.Complete = flags&1 != 0
	if flags&2 != 0 {
		in.Observed = map[string]bool{}
		for i := 0; i < int(r.byte()%4); i++ {
			in.Observed[fuzzPorts[int(r.byte())%len(fuzzPorts)]] = true
		}
	}
	if flags&4 != 0 {
		in.FDB = fdbSet{"br-int/10/" + extMAC: true}
	}
	for i := 0; i < int(r.byte()%4); i++ {
		in.Received[fuzzPorts[int(r.byte())%len(fuzzPorts)]] = r.uint64()
	}
	for i := 0; i < int(r.byte()%8); i++ {
		f := Flow{Key: fmt.Sprintf("k%d", r.byte()%6), InPort: fuzzPorts[int(r.byte())%len(fuzzPorts)],
			Src: r.mac(), Dst: r.mac(), Packets: r.uint64(), Bytes: r.uint64()}
		for j := 0; j < int(r.byte()%6); j++ {
			o := Output{Port: fuzzPorts[int(r.byte())%len(fuzzPorts)], VLAN: int(int8(r.byte()))}
			if r.byte()&1 != 0 {
				o.Tunnel = fmt.Sprintf("192.0.2.%d", r.byte())
			}
			f.Outputs = append(f.Outputs, o)
		}
		in.Flows = append(in.Flows, f)
	}
	return in
}

// checkInvariants fails t when a result breaks what the metrics promise:
// counters never go down, active floods are bounded per bridge, ratios are
// shares.
func checkInvariants(t *testing.T, cfg Config, prev, cur Result) {
	t.Helper()
	for k, c := range prev.Flooded {
		if n := cur.Flooded[k]; n.Packets < c.Packets || n.Bytes < c.Bytes {
			t.Fatalf("flood counter %+v went down: %+v -> %+v", k, c, n)
		}
	}
	for k, v := range prev.Leaked {
		if cur.Leaked[k] < v {
			t.Fatalf("leaked counter %+v went down: %d -> %d", k, v, cur.Leaked[k])
		}
	}
	perBridge := map[string]int{}
	for _, f := range cur.Active {
		perBridge[f.Bridge]++
		if perBridge[f.Bridge] > cfg.MaxReported {
			t.Fatalf("more than %d active floods on %q", cfg.MaxReported, f.Bridge)
		}
	}
	for _, r := range cur.Ratios {
		if !(r.Ratio >= 0 && r.Ratio <= 1) {
			t.Fatalf("ratio %+v outside 0-1", r)
		}
	}
}

// FuzzObserve feeds the detector polls decoded from arbitrary bytes (odd
// MACs, unknown and empty ports, outputs back to in_port, counters that
// jump and reset): it must never panic and its results keep their promises.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 6, 2, 0, 0, 0, 0, 100, 10, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0xff, 0, 2, 0xff, 0, 4, 10, 0})
	f.Add([]byte("\x03\x02\x00\x01\x07\x05\x00\x02\x00\x00\x00\x64\x08\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.MaxReported, cfg.SustainPolls, cfg.MinPacketRate, cfg.FlowMemoryPolls = 2, 1, 0, 2
		d := New(cfg)
		r := &byteReader{b: data}
		t0 := time.Unix(1_700_000_000, 0)
		var prev Result
		for i := 0; i < 6; i++ {
			// Time may stand still or go back (a clock step).
			step := time.Duration(int8(r.byte())) * time.Second
			cur := d.Observe(decodePoll(r, t0.Add(step)))
			checkInvariants(t, cfg, prev, cur)
			prev, t0 = cur, t0.Add(step)
		}
	})
}

// TestObserveProperties runs the invariants over many random poll
// sequences (a seeded, repeatable companion of FuzzObserve for plain
// go test).
func TestObserveProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 2026))
	cfg := DefaultConfig()
	cfg.MaxReported, cfg.SustainPolls, cfg.MinPacketRate, cfg.FlowMemoryPolls = 2, 1, 0, 2
	for run := 0; run < 300; run++ {
		data := make([]byte, 64+rng.IntN(512))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			d := New(cfg)
			r := &byteReader{b: data}
			t0 := time.Unix(1_700_000_000, 0)
			var prev Result
			for i := 0; i < 8; i++ {
				cur := d.Observe(decodePoll(r, t0.Add(time.Duration(i)*5*time.Second)))
				checkInvariants(t, cfg, prev, cur)
				prev = cur
			}
		})
	}
}
