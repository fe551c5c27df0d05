package loop

import (
	"fmt"
	"strings"
)

// Why says, in one sentence, what shows a loop on a bridge.
func Why(st State) string {
	var parts []string
	if st.Storm {
		parts = append(parts, fmt.Sprintf("%.0f MAC moves/s and %.0f broadcast frames/s", st.MovesPerSec, st.BroadcastPPS))
	}
	for i, f := range st.Flaps {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more MACs", len(st.Flaps)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s enters through %s", f.MAC, strings.Join(f.Ports, " and ")))
	}
	if st.Self != nil {
		parts = append(parts, fmt.Sprintf("the bridge's own MAC %s is learned on %s: its own frames come back from outside", st.Self.MAC, st.Self.Port))
	}
	return strings.Join(parts, "; ")
}

// Fix returns the remedies for a loop on bridge through ports, in the
// order to try them.
func Fix(bridge string, ports []string, self *SelfMAC) []string {
	fixes := []string{
		fmt.Sprintf("remove the second path: only one of %s may lead to the same network", strings.Join(ports, ", ")),
		fmt.Sprintf("or enable RSTP on the bridges joined twice (ovs-vsctl set bridge %s rstp_enable=true, and on its peer); this works only for bridges that forward with NORMAL", bridge),
	}
	if self != nil {
		fixes = append(fixes, fmt.Sprintf("or drop the bridge's own MAC arriving from outside: ovs-ofctl add-flow %s \"priority=100,in_port=%s,dl_src=%s,actions=drop\" (for pure OpenFlow bridges, drop broadcasts on the port that sends them back)",
			bridge, self.Port, self.MAC))
	}
	return fixes
}

// StationWhy says why a station's traffic is flooded.
func StationWhy(s Station) string {
	how := "its attached-mac"
	if s.Why == "source" {
		how = "the source MAC of the frames it sends"
	}
	return fmt.Sprintf("%s on %s has MAC %s (%s) with the group bit set: a switch floods every frame addressed to it, so all traffic to %s is copied to every other port of its network",
		s.Port, s.Bridge, s.MAC, how, s.Port)
}

// StationFix says what to change for a station.
func StationFix(s Station) string {
	return fmt.Sprintf("give the port a unicast MAC (first octet even), or forward its MAC explicitly: ovs-ofctl add-flow %s \"priority=100,dl_dst=%s,actions=output:%s\"",
		s.Bridge, s.MAC, s.Port)
}

// PressureWhy says which port fills a bridge's MAC table.
func PressureWhy(bridge string, entries, max uint64, port string, held int) string {
	return fmt.Sprintf("%s's MAC table holds %d of %d entries; port %s holds %d of them: a VM sending from many source MACs evicts every other port's entries and creates one megaflow per MAC",
		bridge, entries, max, port, held)
}

// PressureFix says what to change when one port fills a MAC table.
func PressureFix(bridge, port string) string {
	return fmt.Sprintf("stop %s sending from foreign MACs (Neutron port security, or a rule admitting only its attached MAC as source), or raise the limit: ovs-vsctl set bridge %s other_config:mac-table-size=50000",
		port, bridge)
}
