package loop

import (
	"net"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// fuzzInput decodes bytes into one poll of a small bridge: flows between a
// few ports and MACs, a MAC table and a move count.
func fuzzInput(b []byte) (BridgeInput, []PortMAC) {
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	ports := []string{"1", "2", "3", "LOCAL"}
	names := []string{"tapvm1", "int-ex1", "int-ex2", "br-int"}
	var p Ports
	for i, n := range names {
		of := uint32(i + 1)
		if ports[i] == "LOCAL" {
			of = ovs.LocalOFPort
		}
		p.Add("br-int", n, of)
	}
	mac := func() net.HardwareAddr { return net.HardwareAddr{next() & 3, 0, 0, 0, 0, next() & 3} }
	in := BridgeInput{Bridge: "br-int", Interval: time.Duration(next()) * 10 * time.Millisecond,
		Moved: uint64(next()) * 50, Ports: p, LocalMAC: mac()}
	in.Flows.Ports = p
	for n := int(next() % 8); n > 0; n-- {
		f := detect.Flow{Key: string(rune('a' + next()%8)), InPort: names[next()%4], Src: mac(), Dst: mac(), DstMasked: next()&1 == 1}
		d := Delta{Packets: uint64(next()) * 20, Bytes: uint64(next()) * 1000, Counted: next()&1 == 0}
		for o := int(next() % 4); o > 0; o-- {
			f.Outputs = append(f.Outputs, detect.Output{Port: names[next()%4]})
		}
		in.Flows.Dump = append(in.Flows.Dump, f)
		in.Flows.Deltas = append(in.Flows.Deltas, d)
	}
	if next()&1 == 1 {
		t := ovs.FDBTable{}
		for n := int(next() % 6); n > 0; n-- {
			t.Entries = append(t.Entries, ovs.FDBEntry{Port: ports[next()%4], VLAN: uint16(next() % 2), MAC: mac(), Age: int(next() % 4)})
		}
		in.FDB = &t
	}
	attached := []PortMAC{{Bridge: "br-int", Port: "tapvm1", MAC: mac()}}
	in.Attached = attached
	return in, attached
}

// FuzzTracker feeds arbitrary polls to the loop verdict: it never panics,
// the moves it charges to ports never exceed the bridge's, loop ports are
// ports of the bridge, and a poll without moves, flows or table clears.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{100, 20, 3, 0, 1, 1, 0, 0, 2, 9, 9, 2, 1, 2, 1, 1, 0, 0, 2, 9, 9, 2, 1, 2})
	f.Add([]byte{50, 255, 7, 1, 2, 3, 1, 2, 3, 4, 5, 3, 0, 1, 2, 1, 5, 0, 3, 2, 1, 1, 3, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTracker(Config{})
		now := time.Unix(1_700_000_000, 0)
		for len(b) > 0 {
			in, attached := fuzzInput(b)
			if len(b) > 24 {
				b = b[24:]
			} else {
				b = nil
			}
			in.Stations = FindStations(attached, in.Flows)
			st := tr.Observe(in, now)
			now = now.Add(time.Second)
			var sum uint64
			for _, n := range st.PortMoves {
				sum += n
			}
			if sum > in.Moved {
				t.Fatalf("charged %d moves, bridge moved %d", sum, in.Moved)
			}
			for _, p := range st.Ports {
				if in.Ports.Bridge(p) != "br-int" {
					t.Fatalf("loop port %q is not a port of br-int", p)
				}
			}
			_ = StationFloods(in.Flows, in.Stations)
			_ = Broadcast(in.Flows, in.Stations)
		}
		quiet := BridgeInput{Bridge: "br-int", Interval: time.Second}
		for i := 0; i < DefaultConfig.ClearPolls; i++ {
			tr.Observe(quiet, now)
		}
		if st := tr.Observe(quiet, now); st.Active {
			t.Fatal("still active after quiet polls")
		}
	})
}
