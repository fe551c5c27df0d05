package loop

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
)

func stationFlows(t *testing.T, prefix string) Flows {
	t.Helper()
	p := ports(t, "station-dpif-show.txt")
	var c Counter
	c.Flows(dump(t, prefix+"-dpctl-dump-flows-m.1.txt"), p)
	return c.Flows(dump(t, prefix+"-dpctl-dump-flows-m.2.txt"), p)
}

func TestStationFloods(t *testing.T) {
	station := mac(t, "91:92:ac:18:04:c8")
	cases := []struct {
		name     string
		prefix   string
		attached []PortMAC
		stations []Station
		floods   []StationFlood // Packets and Bytes checked for > 0 only
	}{
		{
			name:     "attached group-bit MAC",
			prefix:   "station",
			attached: []PortMAC{{Bridge: "br-int", Port: "tapvm3", MAC: station}},
			stations: []Station{{Bridge: "br-int", Port: "tapvm3", MAC: station, Why: "attached-mac"}},
			floods: []StationFlood{
				{Bridge: "br-int", InPort: "tapvm1", Dst: station, Victims: []string{"br-int", "int-ex1", "tapvm2"}},
				{Bridge: "br-ex", InPort: "ex-int1", Dst: station, Victims: []string{"br-ex", "ext"}},
			},
		},
		{
			// Without the attached MAC, the station is found by the
			// frames it sends from its group-bit MAC (the lab's station
			// sent a few at the start; their megaflows may have expired
			// by the second read, so only the first dump is used).
			name:     "twin: traffic to a learned unicast MAC",
			prefix:   "station-twin",
			attached: []PortMAC{{Bridge: "br-int", Port: "tapvm3", MAC: mac(t, "02:00:00:00:00:03")}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flows := stationFlows(t, tc.prefix)
			st := FindStations(tc.attached, flows)
			got := st.List()
			for i := range got {
				got[i].MAC = station // compared below by string
			}
			if len(got) != len(tc.stations) {
				t.Fatalf("stations = %+v, want %+v", st.List(), tc.stations)
			}
			floods := StationFloods(flows, st)
			if len(floods) != len(tc.floods) {
				t.Fatalf("floods = %+v, want %d", floods, len(tc.floods))
			}
			for i, f := range floods {
				w := tc.floods[i]
				if f.Bridge != w.Bridge || f.InPort != w.InPort || f.Dst.String() != w.Dst.String() || !reflect.DeepEqual(f.Victims, w.Victims) {
					t.Errorf("flood %d = %s %s -> %s victims %v, want %s %s -> %s victims %v",
						i, f.Bridge, f.InPort, f.Dst, f.Victims, w.Bridge, w.InPort, w.Dst, w.Victims)
				}
				if f.Packets == 0 || f.Bytes == 0 {
					t.Errorf("flood %d carried nothing", i)
				}
				for _, v := range f.Victims {
					if v == "tapvm3" {
						t.Errorf("the station's own port is charged a copy")
					}
				}
			}
			// A flood to a station is never counted as broadcast.
			for _, c := range Broadcast(flows, st) {
				if c.Packets > 0 && c.Port == "tapvm1" {
					t.Errorf("station traffic counted as broadcast: %+v", c)
				}
			}
		})
	}
}

func TestFindStationsBySource(t *testing.T) {
	p := ports(t, "station-dpif-show.txt")
	var c Counter
	c.Flows(dump(t, "station-dpctl-dump-flows-m.1.txt"), p) // prime
	// The first dump holds the megaflow of the station's own frames
	// (eth(src=91:92:ac:18:04:c8) in_port(tapvm3)); its counters do not
	// matter for finding the station.
	m := dump(t, "station-dpctl-dump-flows-m.1.txt")
	flows := Flows{Ports: p}
	for i := range m.Flows {
		flows.Dump = append(flows.Dump, FlowOf(&m.Flows[i]))
		flows.Deltas = append(flows.Deltas, Delta{Counted: true})
	}
	vms := []PortMAC{{Bridge: "br-int", Port: "tapvm1", MAC: mac(t, "02:00:00:00:00:01")},
		{Bridge: "br-int", Port: "tapvm3", MAC: mac(t, "02:00:00:00:00:03")}}
	st := FindStations(vms, flows)
	if via := st.Via("br-ex", mac(t, "91:92:ac:18:04:c8")); via != "ex-int1" {
		t.Errorf("br-ex reaches the station via %q, want ex-int1", via)
	}
	got := st.List()
	if len(got) != 1 || got[0].Port != "tapvm3" || got[0].Why != "source" || got[0].MAC.String() != "91:92:ac:18:04:c8" {
		t.Errorf("stations by source = %+v", got)
	}
}

func TestBroadcastByPort(t *testing.T) {
	c := loadCapture(t, "loop")
	got := map[string]bool{}
	for _, b := range Broadcast(c.flows, Stations{}) {
		if b.Packets < 100 {
			continue
		}
		got[b.Bridge+"/"+b.Port] = true
	}
	want := map[string]bool{"br-int/int-ex1": true, "br-int/int-ex2": true, "br-ex/ex-int1": true, "br-ex/ex-int2": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("storming ports = %v, want %v", got, want)
	}
}

// TestFirstDumpCountsNothing: the first dump a Counter sees has no
// interval, so no check reads it, not even for the senders of group-bit
// MACs; the next dump of the same megaflows is read.
func TestFirstDumpCountsNothing(t *testing.T) {
	p := ports(t, "station-dpif-show.txt")
	var c Counter
	m := dump(t, "station-dpctl-dump-flows-m.1.txt")
	first := c.Flows(m, p)
	if st := FindStations(nil, first); len(st.List()) != 0 {
		t.Errorf("first dump: stations %+v", st.List())
	}
	if b := Broadcast(first, Stations{}); len(b) != 0 {
		t.Errorf("first dump: broadcast %+v", b)
	}
	if st := FindStations(nil, c.Flows(m, p)); len(st.List()) != 1 {
		t.Errorf("second dump: stations %+v, want the one sending from 91:92:ac:18:04:c8", st.List())
	}
}

// A station seen sending through a VM port and through another port (its
// frames coming back over a patch or uplink) is named by the VM port,
// whichever megaflow comes first in the dump.
func TestFindStationsPrefersVMPort(t *testing.T) {
	var p Ports
	p.Add("br-int", "tapvm3", 3)
	p.Add("br-int", "int-ex1", 4)
	station := mac(t, "91:92:ac:18:04:c8")
	vms := []PortMAC{{Bridge: "br-int", Port: "tapvm3", MAC: mac(t, "02:00:00:00:00:03")}}
	for _, order := range [][]string{{"tapvm3", "int-ex1"}, {"int-ex1", "tapvm3"}} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			flows := Flows{Ports: p}
			for _, in := range order {
				flows.Dump = append(flows.Dump, detect.Flow{InPort: in, Src: station, Dst: mac(t, "02:00:00:00:00:01")})
				flows.Deltas = append(flows.Deltas, Delta{Packets: 1, Counted: true})
			}
			got := FindStations(vms, flows).List()
			if len(got) != 1 || got[0].Port != "tapvm3" || got[0].Why != "source" {
				t.Errorf("stations = %+v, want the one behind tapvm3", got)
			}
		})
	}
}
