// Package report turns snapshots into the operator's diagnosis: what is
// flooding, from which port and VM, to which MAC, which VMs receive the
// copies, through which OpenFlow rule, and what to change. The check
// command prints it as a table or JSON; the landing page renders it as HTML.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/counter"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Exit codes of the check command: nothing floods, a flood is found, OVS
// cannot be read.
const (
	ExitClean      = 0
	ExitFlooding   = 1
	ExitUnreadable = 2
)

// Report is the diagnosis of one host.
type Report struct {
	Host       string    `json:"host"`
	Time       time.Time `json:"time"`
	OVSVersion string    `json:"ovs_version,omitempty"`
	// Status is "flooding", "clean" or "unreadable".
	Status  string   `json:"status"`
	Sources []Source `json:"sources"`
	Floods  []Flood  `json:"floods"`
	Bridges []Bridge `json:"bridges"`
	// Leaks lists endpoint ports whose received traffic was mostly copies.
	Leaks []Leak `json:"leaks"`
	// Loops, Stations and FDBPressure are L2 loops, ports with a
	// group-bit MAC and MAC tables under pressure (see l2.go).
	Loops       []Loop        `json:"loops"`
	Stations    []Station     `json:"stations"`
	FDBPressure []FDBPressure `json:"fdb_pressure"`
}

// Source is one source's health.
type Source struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// Endpoint names a port and who is behind it.
type Endpoint struct {
	Port    string `json:"port"`
	IfaceID string `json:"iface_id,omitempty"`
	VMUUID  string `json:"vm_uuid,omitempty"`
	MAC     string `json:"mac,omitempty"`
	// Tunnel is set on a tunnel port: the host at its other end.
	Tunnel *TunnelEnd `json:"tunnel,omitempty"`
	// OVN is set on a port bound to an OVN logical switch port.
	OVN *OVNPort `json:"ovn,omitempty"`
}

// Victim is a port that receives a flood's copies.
type Victim struct {
	Endpoint
	BytesPerSecond float64 `json:"bytes_per_second"`
	// LeakRatio is the share of the port's received traffic that was
	// flood copies over the detection window (-1 when unknown).
	LeakRatio float64 `json:"leak_ratio"`
}

// Rule is the OpenFlow rule that flooded, from ofproto/trace.
type Rule struct {
	Table    int      `json:"table"`
	Priority int      `json:"priority"`
	Cookie   string   `json:"cookie"`
	Match    string   `json:"match,omitempty"`
	Path     []string `json:"path,omitempty"`
	Flow     string   `json:"traced_flow,omitempty"`
	// Logical is the OVN logical flow the rule was derived from.
	Logical *LogicalFlow `json:"ovn_logical_flow,omitempty"`
}

// Flood is one active flood.
type Flood struct {
	Bridge           string   `json:"bridge"`
	InPort           Endpoint `json:"in_port"`
	VLAN             int      `json:"vlan"`
	DstMAC           string   `json:"dst_mac"`
	Since            string   `json:"since"`
	PacketsPerSecond float64  `json:"packets_per_second"`
	BytesPerSecond   float64  `json:"bytes_per_second"`
	Victims          []Victim `json:"victims"`
	Rule             *Rule    `json:"rule,omitempty"`
	Fix              string   `json:"fix"`
}

// Bridge is a bridge's MAC table fill and churn.
type Bridge struct {
	Name       string  `json:"name"`
	FDBEntries uint64  `json:"fdb_entries"`
	FDBMax     uint64  `json:"fdb_max_entries"`
	FDBFill    float64 `json:"fdb_fill"`
	Learned    uint64  `json:"learned"`
	Expired    uint64  `json:"expired"`
	Evicted    uint64  `json:"evicted"`
	Moved      uint64  `json:"moved"`
	// Over is the window the churn counts cover ("" for totals).
	Over string `json:"churn_over,omitempty"`
	// Normal lists the NORMAL rules with their packet counts.
	Normal []NormalRule `json:"normal_rules,omitempty"`
	// Linux is true for a Linux bridge (no NORMAL rules, no learning
	// counters; LearningOff names its ports that do not learn).
	Linux       bool     `json:"linux_bridge,omitempty"`
	LearningOff []string `json:"learning_off,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// NormalRule is an OpenFlow rule whose actions include NORMAL.
type NormalRule struct {
	Table    int    `json:"table"`
	Priority int    `json:"priority"`
	Cookie   string `json:"cookie"`
	Packets  uint64 `json:"packets"`
}

// Leak is an endpoint port receiving flood copies.
type Leak struct {
	Bridge    string  `json:"bridge"`
	Port      string  `json:"port"`
	LeakRatio float64 `json:"leak_ratio"`
	Leaked    uint64  `json:"leaked_bytes"`
}

// Build diagnoses last; first (may be nil or equal to last) gives the
// window for FDB churn.
func Build(first, last *state.Snapshot) Report {
	r := Report{Status: "unreadable"}
	if last == nil {
		return r
	}
	r.Host, r.Time, r.OVSVersion = last.Hostname, last.Time, last.OVSVersion
	for _, name := range state.SourcesOf(last) {
		st := last.Sources[name]
		r.Sources = append(r.Sources, Source{Name: name, Up: st.Up, Error: st.Err})
	}
	r.Leaks = leaks(last.Detect.Ratios)
	r.Loops, r.Stations, r.FDBPressure = l2(last)
	r.Floods = floods(last)
	for i := range r.Floods {
		if fix := stationFix(r.Stations, r.Floods[i].DstMAC); fix != "" {
			r.Floods[i].Fix = fix
		}
	}
	r.Bridges = bridges(first, last)
	switch {
	case !last.Sources[state.SourceUnixctl].Up && !readLinuxBridge(last):
		// Without OVS, a host whose Linux bridges were read is diagnosed;
		// one with none read is not clean, only unread.
		r.Status = "unreadable"
	case len(r.Floods) > 0 || len(r.Loops) > 0:
		r.Status = "flooding"
	default:
		r.Status = "clean"
	}
	return r
}

// readLinuxBridge tells whether s holds at least one Linux bridge read by
// the linuxbridge source (up, and with bridges to watch).
func readLinuxBridge(s *state.Snapshot) bool {
	if !s.Sources[state.SourceLinuxBridge].Up {
		return false
	}
	for _, b := range s.Bridges {
		if b.DatapathType == linuxBridge {
			return true
		}
	}
	return false
}

// leaks lists the endpoint ports that received copies and for which copies
// were at least half of what they received, worst first.
func leaks(ratios []detect.Ratio) []Leak {
	var out []Leak
	for _, x := range ratios {
		if x.Ratio >= 0.5 && x.Leaked > 0 {
			out = append(out, Leak{Bridge: x.Bridge, Port: x.Port, LeakRatio: x.Ratio, Leaked: x.Leaked})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LeakRatio > out[j].LeakRatio })
	return out
}

// floods describes the active floods of last with who is behind each port,
// the rule that flooded and the fix.
func floods(last *state.Snapshot) []Flood {
	ports := make(map[string]state.Port, len(last.Ports))
	for _, p := range last.Ports {
		ports[p.Name] = p
	}
	ratios := make(map[string]float64, len(last.Detect.Ratios))
	for _, x := range last.Detect.Ratios {
		ratios[x.Port] = x.Ratio
	}
	endpoint := func(name string) Endpoint { return endpointOf(name, ports[name]) }
	linux := map[string]state.Bridge{}
	for _, b := range last.Bridges {
		if b.DatapathType == linuxBridge {
			linux[b.Name] = b
		}
	}
	var out []Flood
	for _, f := range last.Detect.Active {
		fl := Flood{Bridge: f.Bridge, InPort: withChild(endpoint(f.InPort), ports[f.InPort], f.VLAN), VLAN: f.VLAN, DstMAC: f.DstMAC,
			PacketsPerSecond: f.PacketRate, BytesPerSecond: f.ByteRate}
		if !f.Since.IsZero() {
			fl.Since = f.Since.UTC().Format(time.RFC3339)
		}
		for _, v := range f.Victims {
			ratio, ok := ratios[v.Port]
			if !ok {
				ratio = -1
			}
			bps := 0.0
			if last.Detect.PollSeconds > 0 {
				bps = float64(v.Bytes) / last.Detect.PollSeconds
			}
			fl.Victims = append(fl.Victims, Victim{Endpoint: endpoint(v.Port), BytesPerSecond: bps, LeakRatio: ratio})
		}
		if ref, ok := last.Rules[f.FloodKey]; ok {
			fl.Rule = &Rule{Table: ref.Table, Priority: ref.Priority, Cookie: label.Cookie(ref.Cookie),
				Match: ref.Match, Path: ref.Path, Flow: ref.Flow, Logical: logicalFlow(ref.Logical)}
		}
		fl.Fix = fix(fl)
		if b, ok := linux[f.Bridge]; ok {
			fl.Fix = linuxFix(fl, b)
		}
		out = append(out, fl)
	}
	return out
}

// bridges describes each bridge's MAC table and NORMAL rules; churn counts
// cover the span from first to last when first is an earlier snapshot.
func bridges(first, last *state.Snapshot) []Bridge {
	var before map[string]*state.FDB
	if first != nil && first != last {
		before = map[string]*state.FDB{}
		for _, b := range first.Bridges {
			before[b.Name] = b.FDB
		}
	}
	var out []Bridge
	for _, b := range last.Bridges {
		br := Bridge{Name: b.Name}
		if b.DatapathType == linuxBridge {
			br.Linux, br.LearningOff = true, b.LearningOff
			if b.FDB != nil {
				br.FDBEntries = b.FDB.Entries
			}
			if len(b.LearningOff) > 0 {
				br.Note = "Linux bridge; learning off on " + strings.Join(b.LearningOff, ", ")
			} else {
				br.Note = "Linux bridge"
			}
			out = append(out, br)
			continue
		}
		if f := b.FDB; f != nil {
			br.FDBEntries, br.FDBMax = f.Entries, f.Max
			if f.Max > 0 {
				br.FDBFill = float64(f.Entries) / float64(f.Max)
			}
			br.Learned, br.Expired, br.Evicted, br.Moved = f.Learned, f.Expired, f.Evicted, f.Moved
			if p := before[b.Name]; p != nil {
				br.Learned, br.Expired = counter.Delta(p.Learned, f.Learned), counter.Delta(p.Expired, f.Expired)
				br.Evicted, br.Moved = counter.Delta(p.Evicted, f.Evicted), counter.Delta(p.Moved, f.Moved)
				br.Over = last.Time.Sub(first.Time).Round(time.Millisecond).String()
			}
			br.Note = fdbNote(br)
		}
		for _, n := range b.NormalRules {
			br.Normal = append(br.Normal, NormalRule{Table: int(n.Table), Priority: int(n.Priority),
				Cookie: label.Cookie(n.Cookie), Packets: n.Packets})
		}
		out = append(out, br)
	}
	return out
}

// fdbNote says what a bridge's MAC table fill and churn point at.
func fdbNote(br Bridge) string {
	switch {
	case br.FDBFill >= 0.9:
		return "MAC table near capacity: raise other_config:mac-table-size"
	case br.Evicted > 0:
		return "MAC table evicting entries"
	case br.Moved > 100:
		return "many MAC moves: look for an L2 loop"
	}
	return ""
}

// fix suggests what to change for a flood.
func fix(f Flood) string {
	if s, ok := overlayFix(f); ok {
		return s
	}
	neutron := f.InPort.IfaceID != ""
	if f.Rule != nil && neutron && (f.Rule.Table == 94 || f.Rule.Table == 71 || f.Rule.Table == 72) {
		return "Neutron OVS firewall driver: egress goes through NORMAL (table " + fmt.Sprint(f.Rule.Table) +
			") while return traffic is output directly, so " + f.DstMAC + " is never learned. Set [AGENT] explicitly_egress_direct = True " +
			"in the Neutron OVS agent (openvswitch_agent.ini) and restart it; check ports with port security disabled too."
	}
	return "br " + f.Bridge + " never learns " + f.DstMAC + " on VLAN " + fmt.Sprint(f.VLAN) +
		": traffic from it must reach this bridge through a NORMAL rule (or add a direct output flow for it). " +
		"Compare ovs-appctl fdb/show " + f.Bridge + " with ofproto/trace of the return path."
}

// linuxBridge is the DatapathType of the Linux bridges the linuxbridge
// source reports.
const linuxBridge = "linuxbridge"

// linuxFix suggests what to change for a flood on a Linux bridge: the
// frames coming back from the destination never teach the bridge where it
// is, because the port they enter by does not learn, or because they come
// back another way (an asymmetric route), or the entry ages out.
func linuxFix(f Flood, b state.Bridge) string {
	uplink, cause := "<uplink>", ""
	if len(b.LearningOff) > 0 {
		uplink = b.LearningOff[0]
		cause = "Learning is off on " + strings.Join(b.LearningOff, ", ") + ": if " + f.DstMAC +
			" is behind it, turn it on (bridge link set dev " + uplink + " learning on). "
	}
	return "Linux bridge " + f.Bridge + " never learns " + f.DstMAC + " on VLAN " + fmt.Sprint(f.VLAN) +
		", so it floods every frame addressed to it to all its ports. " + cause +
		"If replies from " + f.DstMAC + " come back by another path (asymmetric routing), they never enter " + f.Bridge +
		": fix the route, or pin the MAC to the port that leads to it: bridge fdb add " + f.DstMAC + " dev " + uplink +
		" master static" + vlanArg(f.VLAN) + ". Compare bridge fdb show br " + f.Bridge + "."
}

func vlanArg(vlan int) string {
	if vlan > 0 {
		return " vlan " + fmt.Sprint(vlan)
	}
	return ""
}

// ExitCode is the check command's exit status for r.
func (r Report) ExitCode() int {
	switch r.Status {
	case "flooding":
		return ExitFlooding
	case "clean":
		return ExitClean
	default:
		return ExitUnreadable
	}
}

// WriteJSON writes r as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// HumanBytes renders a byte rate for people.
func HumanBytes(bps float64) string {
	bits := bps * 8
	switch {
	case bits >= 1e9:
		return fmt.Sprintf("%.1f Gbit/s", bits/1e9)
	case bits >= 1e6:
		return fmt.Sprintf("%.1f Mbit/s", bits/1e6)
	case bits >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bits/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bits)
}

// Who renders an endpoint with its Neutron port and VM.
func (e Endpoint) Who() string {
	var parts []string
	if e.IfaceID != "" {
		parts = append(parts, "neutron port "+e.IfaceID)
	}
	if e.VMUUID != "" {
		parts = append(parts, "vm "+e.VMUUID)
	}
	parts = append(parts, e.overlayWho()...)
	if len(parts) == 0 {
		return e.Port
	}
	return e.Port + " (" + strings.Join(parts, ", ") + ")"
}

// WriteTable writes r for people.
func (r Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "host %s  ovs %s  %s\n", r.Host, r.OVSVersion, r.Time.UTC().Format(time.RFC3339))
	for _, s := range r.Sources {
		if !s.Up {
			fmt.Fprintf(ew, "SOURCE DOWN %-9s %s\n", s.Name, s.Error)
		}
	}
	fmt.Fprintln(ew)
	switch r.Status {
	case "unreadable":
		fmt.Fprintln(ew, "STATUS: cannot read ovs-vswitchd (see SOURCE DOWN above)")
	case "clean":
		fmt.Fprintln(ew, "STATUS: no unknown-unicast flood detected")
	default:
		fmt.Fprintf(ew, "STATUS: %d unknown-unicast flood(s)", len(r.Floods))
		if len(r.Loops) > 0 {
			fmt.Fprintf(ew, ", %d L2 loop(s)", len(r.Loops))
		}
		fmt.Fprintln(ew)
	}
	if len(r.Floods) > 0 {
		fmt.Fprintln(ew)
		writeFloodTable(ew, r.Floods)
		for _, f := range r.Floods {
			writeFloodDetail(ew, f)
		}
	}
	writeL2(ew, r)
	if len(r.Bridges) > 0 {
		fmt.Fprintln(ew)
		writeBridgeTable(ew, r.Bridges)
	}
	return ew.err
}

// writeFloodTable writes one line per flood.
func writeFloodTable(w io.Writer, floods []Flood) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BRIDGE\tIN_PORT\tVM\tVLAN\tDST_MAC\tRATE\tPPS\tVICTIMS")
	for _, f := range floods {
		var v []string
		for _, x := range f.Victims {
			s := x.Port
			if x.LeakRatio >= 0 {
				s += fmt.Sprintf("(leak %.0f%%)", 100*x.LeakRatio)
			}
			v = append(v, s)
		}
		vm := f.InPort.VMUUID
		if vm == "" {
			vm = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%.0f\t%s\n", f.Bridge, f.InPort.Port, vm, f.VLAN, f.DstMAC,
			HumanBytes(f.BytesPerSecond), f.PacketsPerSecond, strings.Join(v, " "))
	}
	_ = tw.Flush()
}

// writeFloodDetail writes a flood's rule path, victims and fix.
func writeFloodDetail(w io.Writer, f Flood) {
	fmt.Fprintf(w, "\nflood %s -> %s on %s VLAN %d\n", f.InPort.Who(), f.DstMAC, f.Bridge, f.VLAN)
	if f.Rule != nil && f.Rule.Logical != nil {
		writeLogicalFlow(w, f.Bridge, f.Rule)
	} else if f.Rule != nil {
		why := "no learned MAC for destination"
		if m, err := net.ParseMAC(f.DstMAC); err == nil && m[0]&1 == 1 {
			why = "group-bit destination: always flooded"
		}
		fmt.Fprintf(w, "  flooded by: table %d priority %d cookie %s actions=NORMAL (%s)\n", f.Rule.Table, f.Rule.Priority, f.Rule.Cookie, why)
		fmt.Fprintf(w, "  path (ofproto/trace %s %s):\n", f.Bridge, f.Rule.Flow)
		for _, p := range f.Rule.Path {
			fmt.Fprintf(w, "    %s\n", p)
		}
	}
	for _, x := range f.Victims {
		fmt.Fprintf(w, "  victim %s: %s of copies", x.Who(), HumanBytes(x.BytesPerSecond))
		if x.LeakRatio >= 0 {
			fmt.Fprintf(w, ", %.0f%% of what it received", 100*x.LeakRatio)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  fix: %s\n", f.Fix)
}

// writeBridgeTable writes one line per bridge: MAC table fill and churn.
func writeBridgeTable(w io.Writer, bridges []Bridge) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BRIDGE\tFDB\tFILL\tLEARNED\tEXPIRED\tEVICTED\tMOVED\tOVER\tNOTE")
	for _, b := range bridges {
		over := b.Over
		if over == "" {
			over = "total"
		}
		if b.Linux {
			// The kernel keeps entries only: no size limit, no counters.
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\t-\t-\t%s\n", b.Name, b.FDBEntries, b.Note)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%.1f%%\t%d\t%d\t%d\t%d\t%s\t%s\n", b.Name, b.FDBEntries, b.FDBMax, 100*b.FDBFill,
			b.Learned, b.Expired, b.Evicted, b.Moved, over, b.Note)
	}
	_ = tw.Flush()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
