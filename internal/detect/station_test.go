package detect

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

const stationMAC = "91:92:ac:18:04:c8"

// stationFlows is the captured megaflow dump of lab/loop.sh's station lab:
// vm1 sends to 91:92:ac:18:04:c8, the group-bit MAC attached to tapvm3.
func stationFlows(t *testing.T, n int) []Flow {
	t.Helper()
	b, err := os.ReadFile("../ovs/testdata/ovs-3.1/station-dpctl-dump-flows-m." + string(rune('0'+n)) + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := ovs.ParseDumpFlows(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []Flow
	for _, m := range mf.Flows {
		f := Flow{Key: m.UFID, InPort: m.InPort, Src: m.EthSrc, Dst: m.EthDst, Packets: m.Packets, Bytes: m.Bytes}
		for _, o := range m.Outputs {
			f.Outputs = append(f.Outputs, Output{Port: o.Port, VLAN: o.VLAN})
		}
		out = append(out, f)
	}
	return out
}

func stationPorts() map[string]Port {
	ports := map[string]Port{
		"br-int":  {Bridge: "br-int", Name: "br-int", VLAN: -1},
		"int-ex1": {Bridge: "br-int", Name: "int-ex1", VLAN: -1},
		"ex-int1": {Bridge: "br-ex", Name: "ex-int1", VLAN: -1},
		"ext":     {Bridge: "br-ex", Name: "ext", VLAN: -1},
		"br-ex":   {Bridge: "br-ex", Name: "br-ex", VLAN: -1},
		"tapvm1":  {Bridge: "br-int", Name: "tapvm1", VLAN: -1, Endpoint: true, MAC: mac(vm1MAC)},
		"tapvm2":  {Bridge: "br-int", Name: "tapvm2", VLAN: -1, Endpoint: true, MAC: mac(vm2MAC)},
		// The station found by the frames it sends: its attached MAC is
		// an ordinary one, so only Stations keeps its copy from being
		// charged.
		"tapvm3": {Bridge: "br-int", Name: "tapvm3", VLAN: -1, Endpoint: true, MAC: mac(vm3MAC)},
	}
	return ports
}

func TestClassifyStations(t *testing.T) {
	flows := stationFlows(t, 2)
	if got := ClassifyStations(flows, stationPorts(), nil); got != nil {
		t.Errorf("no stations: %+v", got)
	}
	if got := Classify(flows, stationPorts()); len(got) != 0 {
		t.Errorf("Classify took group-bit traffic for unknown unicast: %+v", got)
	}
	got := ClassifyStations(flows, stationPorts(), map[string]string{stationMAC: "tapvm3"})
	outs := map[string][]string{}
	for _, c := range got {
		outs[c.Bridge+"/"+c.Flow.InPort] = c.Outputs
	}
	want := map[string][]string{"br-int/tapvm1": {"br-int", "tapvm2", "int-ex1"}, "br-ex/ex-int1": {"br-ex", "ext"}}
	if !reflect.DeepEqual(outs, want) {
		t.Errorf("station floods = %v, want %v", outs, want)
	}
}

func TestStationFloodIsReportedLikeUnknownUnicast(t *testing.T) {
	d := New(Config{SustainPolls: 2, ClearPolls: 2})
	t0 := time.Unix(1_700_000_000, 0)
	st := map[string]string{stationMAC: "tapvm3"}
	var res Result
	for i, n := range []int{1, 2, 2} {
		flows := stationFlows(t, n)
		if i == 2 { // the same megaflows a poll later, grown
			for k := range flows {
				flows[k].Packets += 5000
				flows[k].Bytes += 5_000_000
			}
		}
		res = d.Observe(Input{Time: t0.Add(time.Duration(i) * time.Second), Ports: stationPorts(), Flows: flows,
			Complete: true, Stations: st, FDB: fdbSet{}})
	}
	var found bool
	for _, f := range res.Active {
		if f.Bridge != "br-int" || f.InPort != "tapvm1" || f.DstMAC != stationMAC {
			continue
		}
		found = true
		for _, v := range f.Victims {
			if v.Port == "tapvm3" {
				t.Errorf("the station's own port is charged: %+v", f.Victims)
			}
		}
		if len(f.Victims) != 1 || f.Victims[0].Port != "tapvm2" {
			t.Errorf("victims = %+v, want tapvm2", f.Victims)
		}
	}
	if !found {
		t.Fatalf("no active flood to the station: %+v", res.Active)
	}
	if res.Leaked[PortKey{Bridge: "br-int", Port: "tapvm3"}] != 0 {
		t.Error("leak charged to the station")
	}
}
