package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Loop is an L2 loop through a bridge's ports.
type Loop struct {
	Bridge string   `json:"bridge"`
	Ports  []string `json:"ports"`
	Since  string   `json:"since,omitempty"`
	// MovesPerSecond and BroadcastPerSecond are the bridge's MAC-move and
	// flooded broadcast rates over the last poll.
	MovesPerSecond     float64 `json:"moves_per_second"`
	BroadcastPerSecond float64 `json:"broadcast_per_second"`
	// OwnMACOn is the port the bridge's own MAC was learned on, if any.
	OwnMACOn string   `json:"own_mac_on,omitempty"`
	Why      string   `json:"why"`
	Fix      []string `json:"fix"`
}

// Station is a port whose MAC has the group bit set: all its traffic floods.
type Station struct {
	Bridge string `json:"bridge"`
	Port   string `json:"port"`
	MAC    string `json:"mac"`
	Why    string `json:"why"`
	Fix    string `json:"fix"`
}

// FDBPressure is a MAC table over 80 % full or evicting, with the port
// holding the most entries.
type FDBPressure struct {
	Bridge     string         `json:"bridge"`
	Entries    uint64         `json:"entries"`
	Max        uint64         `json:"max"`
	Top        string         `json:"top_port"`
	TopEntries int            `json:"top_port_entries"`
	PerPort    map[string]int `json:"per_port"`
	Why        string         `json:"why"`
	Fix        string         `json:"fix"`
}

// l2 describes last's loops, stations and MAC tables under pressure.
func l2(last *state.Snapshot) ([]Loop, []Station, []FDBPressure) {
	r := last.L2
	if r == nil {
		return nil, nil, nil
	}
	var loops []Loop
	for _, b := range r.Loops {
		l := Loop{Bridge: b.Bridge, Ports: b.LoopPorts, MovesPerSecond: b.MovesPerSec, BroadcastPerSecond: b.BroadcastPPS,
			Why: loop.Why(b.State), Fix: loop.Fix(b.Bridge, b.LoopPorts, b.Self)}
		if !b.Since.IsZero() {
			l.Since = b.Since.UTC().Format("2006-01-02T15:04:05Z")
		}
		if b.Self != nil {
			l.OwnMACOn = b.Self.Port
		}
		loops = append(loops, l)
	}
	var stations []Station
	for _, s := range r.Stations {
		stations = append(stations, Station{Bridge: s.Bridge, Port: s.Port, MAC: s.MAC.String(),
			Why: loop.StationWhy(s), Fix: loop.StationFix(s)})
	}
	var tables []FDBPressure
	for _, t := range r.Tables {
		tables = append(tables, FDBPressure{Bridge: t.Bridge, Entries: t.Entries, Max: t.Max, Top: t.Top,
			TopEntries: t.TopEntries, PerPort: t.PerPort,
			Why: loop.PressureWhy(t.Bridge, t.Entries, t.Max, t.Top, t.TopEntries), Fix: loop.PressureFix(t.Bridge, t.Top)})
	}
	return loops, stations, tables
}

// stationFix is the fix of a flood addressed to a station, "" when dst is
// no station's MAC.
func stationFix(stations []Station, dst string) string {
	for _, s := range stations {
		if s.MAC == dst {
			return s.Why + ". Fix: " + s.Fix
		}
	}
	return ""
}

// writeL2 writes the loops, stations and MAC tables under pressure.
func writeL2(w io.Writer, r Report) {
	for _, l := range r.Loops {
		fmt.Fprintf(w, "\nL2 LOOP on %s through %s", l.Bridge, strings.Join(l.Ports, ", "))
		if l.Since != "" {
			fmt.Fprintf(w, " (since %s)", l.Since)
		}
		fmt.Fprintf(w, "\n  why: %s\n", l.Why)
		for _, f := range l.Fix {
			fmt.Fprintf(w, "  fix: %s\n", f)
		}
	}
	for _, s := range r.Stations {
		fmt.Fprintf(w, "\nSTATION %s on %s, MAC %s\n  why: %s\n  fix: %s\n", s.Port, s.Bridge, s.MAC, s.Why, s.Fix)
	}
	for _, t := range r.FDBPressure {
		fmt.Fprintf(w, "\nMAC TABLE %s %d/%d, filled by %s (%d entries)\n", t.Bridge, t.Entries, t.Max, t.Top, t.TopEntries)
		ports := make([]string, 0, len(t.PerPort))
		for p := range t.PerPort {
			ports = append(ports, p)
		}
		sort.Slice(ports, func(i, j int) bool {
			if t.PerPort[ports[i]] != t.PerPort[ports[j]] {
				return t.PerPort[ports[i]] > t.PerPort[ports[j]]
			}
			return ports[i] < ports[j]
		})
		var per []string
		for i, p := range ports {
			if i == 5 {
				per = append(per, fmt.Sprintf("%d more ports", len(ports)-5))
				break
			}
			per = append(per, fmt.Sprintf("%s %d", p, t.PerPort[p]))
		}
		fmt.Fprintf(w, "  entries by port: %s\n  why: %s\n  fix: %s\n", strings.Join(per, ", "), t.Why, t.Fix)
	}
}
