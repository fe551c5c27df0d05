package detect

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSingleReceivers measures what the MAC-set checks add to a poll
// at 500 VM ports and 5,000 megaflows, most of them unicast to one owner:
// learning the source MACs and judging every single-output megaflow.
func BenchmarkSingleReceivers(b *testing.B) {
	ports := map[string]Port{}
	for i := range 500 {
		n := fmt.Sprintf("tap%d", i)
		ports[n] = Port{Bridge: "br-int", Name: n, VLAN: 1, Endpoint: true, MAC: mac(fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff))}
	}
	var flows []Flow
	for i := range 5000 {
		from, to := i%500, (i*7+1)%500
		flows = append(flows, Flow{Key: fmt.Sprint(i), InPort: fmt.Sprintf("tap%d", from), Src: ports[fmt.Sprintf("tap%d", from)].MAC,
			Dst: ports[fmt.Sprintf("tap%d", to)].MAC, Packets: uint64(i), Bytes: uint64(i) * 1000,
			Outputs: []Output{{Port: fmt.Sprintf("tap%d", to), VLAN: -1}}})
	}
	d := New(Config{})
	in := Input{Time: time.Unix(0, 0), Ports: ports, Flows: flows, Complete: true}
	deltas := make([]flowDelta, len(flows)) // every megaflow carried its whole count
	for i, f := range flows {
		deltas[i] = flowDelta{f.Packets, f.Bytes}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.poll++
		d.senders.learn(in.Flows, in.Ports, d.poll)
		for j := range in.Flows {
			if _, leak := d.singleReceiver(&in, &in.Flows[j], deltas[j]); leak {
				b.Fatalf("megaflow %d: a leak among owned deliveries", j)
			}
		}
	}
}
