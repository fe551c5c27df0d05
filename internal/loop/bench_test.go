package loop

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// bigFDBShow returns an fdb/show reply of n entries in the layout of the
// captured MAC-flood table (the real lines, with the MACs counted up), so
// the benchmark reads a full default-size table.
func bigFDBShow(b *testing.B, n int, shift int) string {
	b.Helper()
	lines := strings.Split(strings.TrimSpace(read(b, "macflood-fdb-show.br-int.1.txt")), "\n")
	var sb strings.Builder
	sb.WriteString(lines[0] + "\n")
	for i := 0; i < n; i++ {
		port := []string{"1", "2", "4", "5"}[(i+shift)%4]
		fmt.Fprintf(&sb, "%5s     0  02:%02x:%02x:%02x:00:01    0\n", port, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	return sb.String()
}

// BenchmarkStormPoll is the agent's extra work per poll during a storm on
// a bridge with a full 8,192-entry table, every entry on another port than
// in the previous read (the worst case): parse fdb/show, compare it with
// the previous read, count entries per port and weigh the loop verdict.
// The sub-benchmarks split the parse (internal/ovs) from this package's part.
func BenchmarkStormPoll(b *testing.B) {
	prevText, curText := bigFDBShow(b, 8192, 0), bigFDBShow(b, 8192, 1)
	prev, err := ovs.ParseFDBShow(prevText)
	if err != nil {
		b.Fatal(err)
	}
	cur, err := ovs.ParseFDBShow(curText)
	if err != nil {
		b.Fatal(err)
	}
	c := loadCapture(b, "loop")
	in := c.input(b, "br-int", mac(b, "02:00:00:00:ff:01"))
	in.FDB, in.Interval = &cur, time.Second
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := ovs.ParseFDBShow(curText); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verdict", func(b *testing.B) {
		var x fdbIndex
		x.update(prev)
		tables := [2]ovs.FDBTable{cur, prev}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			onto := x.update(tables[i%2])
			_ = PortEntries(tables[i%2], "br-int", c.ports)
			ev := Assess(in, onto, DefaultConfig)
			if onto["1"]+onto["2"]+onto["4"]+onto["5"] != 8192 || len(ev.Ports) == 0 {
				b.Fatalf("moves %v, ports %v", onto, ev.Ports)
			}
		}
	})
}

// BenchmarkMACFloodPoll is the fdb source's per-poll work on a datapath
// with 20,000 megaflows from random source MACs (a MAC flood) that all
// grow between polls.
func BenchmarkMACFloodPoll(b *testing.B) {
	const n = 20000
	flows := make([]detect.Flow, n)
	dst := mac(b, "02:00:00:00:00:64")
	for i := range flows {
		flows[i] = detect.Flow{Key: fmt.Sprintf("netdev@ovs-netdev/%08x-0000-0000-0000-000000000000", i), InPort: "tapvm1",
			Src: net.HardwareAddr{2, byte(i >> 16), byte(i >> 8), byte(i), 0, 1}, Dst: dst, Packets: 1, Bytes: 60}
	}
	var p Ports
	p.Add("br-int", "tapvm1", 1)
	var c Counter
	deltas := c.Deltas(flows, true)
	in := BridgeInput{Bridge: "br-int", Interval: time.Second}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range flows {
			flows[k].Packets++
			flows[k].Bytes += 60
		}
		deltas = c.AppendDeltas(deltas[:0], flows, true)
		fl := Flows{Dump: flows, Deltas: deltas, Ports: p}
		st := FindStations(nil, fl)
		_ = Broadcast(fl, st)
		in.Flows, in.Stations = fl, st
		_ = Assess(in, nil, DefaultConfig)
	}
}

// BenchmarkCounterSteady is the Counter's part of a full-dump poll of
// 5,000 megaflows that every poll lists again with grown counters.
func BenchmarkCounterSteady(b *testing.B) {
	const n = 5000
	flows := make([]detect.Flow, n)
	for i := range flows {
		flows[i] = detect.Flow{Key: fmt.Sprintf("%016x", i*7919), Packets: 1, Bytes: 60}
	}
	var c Counter
	out := c.Deltas(flows, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range flows {
			flows[k].Packets++
			flows[k].Bytes += 60
		}
		out = c.AppendDeltas(out[:0], flows, true)
	}
}
