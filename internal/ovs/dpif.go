package ovs

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// NoDPPort is DPPort.DPPort for a port with no datapath port (a patch
// port); it is OVS's own ODPP_NONE.
const NoDPPort = math.MaxUint32

// LocalOFPort is the OpenFlow port number of a bridge's internal port
// (OFPP_LOCAL, printed as LOCAL by most commands).
const LocalOFPort = 65534

// Datapath is one datapath in the reply to dpif/show, with the bridges
// (ofprotos) it backs.
type Datapath struct {
	// Name is type@name, e.g. "netdev@ovs-netdev" or "system@ovs-system".
	Name string
	// Hit and Missed count packets that matched a megaflow and packets
	// that went to an upcall.
	Hit, Missed uint64
	Bridges     []DPBridge
}

// DPBridge is a bridge in dpif/show.
type DPBridge struct {
	Name  string
	Ports []DPPort
}

// DPPort is one port of a bridge in dpif/show.
type DPPort struct {
	Name string
	// OFPort is the OpenFlow port number (LocalOFPort for the bridge's
	// own port).
	OFPort uint32
	// DPPort is the datapath port number, the one dpctl/dump-flows prints
	// without -m; NoDPPort for patch ports, which exist only in OpenFlow.
	DPPort uint32
	// Type is the netdev type: "system", "tap", "internal", "patch",
	// "vxlan", "geneve", "dpdk", ...
	Type string
	// Config is the rest of the parenthesised text after the type, e.g.
	// "remote_ip=192.0.2.2" or "peer=patch-int"; "" when there is none.
	Config string
}

// ParseDpifShow parses the reply to dpif/show: each datapath with its
// lookup counters, each bridge it backs, and each bridge port as
// "name ofport/dpport: (type[: config])":
//
//	netdev@ovs-netdev: hit:22404 missed:4
//	  br-int:
//	    br-int 65534/1: (tap)
//	    patch-tun 7/none: (patch: peer=patch-int)
//	    tapvm1 1/2: (system)
//	  br-tun:
//	    vxlan0 1/9: (vxlan: remote_ip=192.0.2.2)
func ParseDpifShow(text string) ([]Datapath, error) {
	var dps []Datapath
	skipped := 0
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		switch ind := indentOf(line); {
		case ind == 0:
			name, counters, ok := strings.Cut(t, ": ")
			if !ok || !strings.Contains(name, "@") {
				skipped++
				continue
			}
			dp := Datapath{Name: name}
			dp.Hit, dp.Missed = dpifCounters(counters)
			dps = append(dps, dp)
		case ind == 2 && strings.HasSuffix(t, ":") && len(dps) > 0:
			dp := &dps[len(dps)-1]
			dp.Bridges = append(dp.Bridges, DPBridge{Name: t[:len(t)-1]})
		case ind >= 4 && len(dps) > 0 && len(dps[len(dps)-1].Bridges) > 0:
			p, ok := parseDPPort(t)
			if !ok {
				skipped++
				continue
			}
			dp := &dps[len(dps)-1]
			br := &dp.Bridges[len(dp.Bridges)-1]
			br.Ports = append(br.Ports, p)
		default:
			skipped++
		}
	}
	if len(dps) == 0 {
		if skipped > 0 {
			return nil, fmt.Errorf("dpif/show: no datapath in reply (%d lines not understood)", skipped)
		}
		return nil, nil
	}
	return dps, nil
}

// dpifCounters reads a datapath line's "hit:22404 missed:4"; a counter
// missing or not a number reads as 0.
func dpifCounters(counters string) (hit, missed uint64) {
	for _, kv := range strings.Fields(counters) {
		k, v, _ := strings.Cut(kv, ":")
		n, ok := parseDec(v)
		if !ok {
			continue
		}
		switch k {
		case "hit":
			hit = n
		case "missed":
			missed = n
		}
	}
	return hit, missed
}

// dpifReuse remembers the last dpif/show reply parsed in full and its
// parse. Ports come and go rarely, while the datapaths' hit and missed
// counters change on every poll: a reply that differs from the last only
// in those counters reuses the parse (and the caller, seeing the same
// bridges, what it derived from them) instead of building every bridge
// and port again. Safe for concurrent use.
type dpifReuse struct {
	mu   sync.Mutex
	text string     // the last reply parsed in full (a copy)
	dps  []Datapath // its parse, never modified once stored
}

// parse is ParseDpifShow(text) for a text that may be a view of a buffer
// overwritten once parse returns: what it keeps is copied. The bridges of
// the datapaths it returns may be those of the previous call.
func (r *dpifReuse) parse(text string) ([]Datapath, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dps != nil && sameDpifTopology(r.text, text) {
		// A fresh top level: the counters are this reply's.
		dps := slices.Clone(r.dps)
		i := 0
		for rest := text; rest != "" && i < len(dps); {
			var line string
			line, rest = cutLine(rest)
			if name, counters, ok := dpifDatapathLine(line); ok && strings.Contains(name, "@") {
				dps[i].Hit, dps[i].Missed = dpifCounters(counters)
				i++
			}
		}
		return dps, nil
	}
	text = strings.Clone(text)
	dps, err := ParseDpifShow(text)
	if err != nil || dps == nil {
		r.text, r.dps = "", nil
		return dps, err
	}
	r.text, r.dps = text, dps
	return slices.Clone(dps), nil
}

// dpifDatapathLine splits a datapath line of dpif/show,
// "netdev@ovs-netdev: hit:22404 missed:4", as ParseDpifShow does: ok is
// false for any other line.
func dpifDatapathLine(line string) (name, counters string, ok bool) {
	if indentOf(line) != 0 {
		return "", "", false
	}
	return strings.Cut(strings.TrimSpace(line), ": ")
}

// sameDpifTopology says whether two dpif/show replies parse to the same
// datapaths, bridges and ports: they are equal line by line, except for
// the counters of the datapath lines. The equal stretches, every port
// line of a steady reply, are compared in blocks; only the lines where
// the replies differ are cut and looked at.
func sameDpifTopology(a, b string) bool {
	for {
		n := commonPrefix(a, b)
		if n == len(a) && n == len(b) {
			return true
		}
		// The lines before this one are equal in both.
		start := strings.LastIndexByte(a[:n], '\n') + 1
		a, b = a[start:], b[start:]
		if a == "" || b == "" {
			return a == "" && b == ""
		}
		var la, lb string
		la, a = cutLine(a)
		lb, b = cutLine(b)
		if !sameDpifLine(la, lb) {
			return false
		}
	}
}

// sameDpifLine says whether two lines of dpif/show parse alike: two
// datapath lines of one datapath, whatever their counters, or two equal
// lines of any other kind.
func sameDpifLine(la, lb string) bool {
	na, _, dpa := dpifDatapathLine(la)
	nb, _, dpb := dpifDatapathLine(lb)
	return dpa == dpb && (!dpa || na == nb) && (dpa || la == lb)
}

// commonPrefix returns the length of the longest common prefix of a and
// b, comparing 64 bytes at a time while it can.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i+64 <= n && a[i:i+64] == b[i:i+64] {
		i += 64
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// parseDPPort parses "tapvm1 1/2: (system)" or "patch-tun 7/none: (patch:
// peer=patch-int)".
func parseDPPort(t string) (DPPort, bool) {
	name, rest, ok := strings.Cut(t, " ")
	if !ok {
		return DPPort{}, false
	}
	nums, desc, ok := strings.Cut(rest, ":")
	if !ok {
		return DPPort{}, false
	}
	of, dp, ok := strings.Cut(nums, "/")
	ofn, ok1 := parseDec(of)
	if !ok || !ok1 || ofn > math.MaxUint32 {
		return DPPort{}, false
	}
	p := DPPort{Name: name, OFPort: uint32(ofn), DPPort: NoDPPort}
	if dp != "none" {
		n, ok := parseDec(dp)
		if !ok || n >= NoDPPort {
			return DPPort{}, false
		}
		p.DPPort = uint32(n)
	}
	p.Type, p.Config = parseTypeConfig(strings.TrimSpace(desc))
	return p, true
}

// parseTypeConfig splits "(vxlan: remote_ip=192.0.2.2)" into "vxlan" and
// "remote_ip=192.0.2.2".
func parseTypeConfig(s string) (typ, config string) {
	s, ok := strings.CutPrefix(s, "(")
	if !ok {
		return "", s
	}
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[:i]
	}
	typ, config, _ = strings.Cut(s, ":")
	return strings.TrimSpace(typ), strings.TrimSpace(config)
}

// DatapathStats is the parsed reply to dpctl/show for one datapath.
type DatapathStats struct {
	// Name is type@name, e.g. "netdev@ovs-netdev".
	Name string
	// Hit, Missed and Lost count packets that matched a megaflow, went to
	// an upcall, and were dropped before reaching userspace.
	Hit, Missed, Lost uint64
	// Flows is the number of megaflows in the datapath: what a
	// dpctl/dump-flows would return, so callers check it before dumping.
	Flows int
	Ports []DatapathPort
	// Skipped counts lines that were not understood.
	Skipped int
	// Counters are the per-port packet counters by port name, from
	// dpctl/show -s (see ParsePortCounters); nil when the reply has none.
	Counters map[string]PortCounters
}

// DatapathPort is one port of a datapath in dpctl/show.
type DatapathPort struct {
	// Number is the datapath port number.
	Number uint32
	Name   string
	// Type is the netdev type in parentheses ("tap", "vxlan"); "" when
	// none is printed, which means a system device.
	Type string
	// Config is what follows the type inside the parentheses, e.g.
	// "packet_type=ptap".
	Config string
}

// ParseDpctlShow parses the reply to "dpctl/show [dp]":
//
//	netdev@ovs-netdev:
//	  lookups: hit:22351 missed:4 lost:0
//	  flows: 2
//	  port 0: ovs-netdev (tap)
//	  port 2: tapvm1
//	  port 9: vxlan_sys_4789 (vxlan: packet_type=ptap)
//
// The kernel datapath adds "masks:" and "caches:" lines and -s adds
// per-port counters; those are recognized and ignored.
func ParseDpctlShow(text string) ([]DatapathStats, error) {
	return parseDpctlShow(text, nil)
}

// parseDpctlShow is ParseDpctlShow that also hands every line to
// counters, when not nil, and then lists no ports: the counters have
// their names and numbers.
func parseDpctlShow(text string, counters *counterReader) ([]DatapathStats, error) {
	var dps []DatapathStats
	orphans := 0
	lines := dpctlLines{listPorts: counters == nil}
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		ind := indentOf(line)
		if counters != nil {
			counters.line(ind, t)
		}
		if ind == 0 {
			if name, ok := strings.CutSuffix(t, ":"); ok && strings.Contains(name, "@") && !strings.Contains(name, " ") {
				dps = append(dps, DatapathStats{Name: name})
				lines.ports = 0
				// Sized for the usual reply of one datapath: growing the
				// ports or counters of 500 costs twice what they take.
				if len(dps) == 1 && strings.Contains(rest, "\n  port ") {
					n := 0
					if counters != nil {
						n = counters.hint
					}
					if n <= 0 {
						n = countPortLines(rest)
					}
					if lines.listPorts {
						dps[0].Ports = make([]DatapathPort, 0, n)
					} else {
						counters.size = n
					}
				}
			} else {
				orphans++
			}
			continue
		}
		if len(dps) == 0 {
			orphans++
			continue
		}
		dp := &dps[len(dps)-1]
		if !lines.parse(dp, ind, t) {
			dp.Skipped++
		}
	}
	if len(dps) == 0 {
		if orphans > 0 {
			return nil, fmt.Errorf("dpctl/show: no datapath in reply (%d lines not understood)", orphans)
		}
		return nil, nil
	}
	dps[0].Skipped += orphans
	return dps, nil
}

// countPortLines is strings.Count(s, "\n  port "), the port lines of a
// dpctl/show reply after its first line. It looks for newlines only:
// strings.Count stops at every newline of the 100 kB reply with -s and
// compares there, twice as slow.
func countPortLines(s string) int {
	n := 0
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return n
		}
		s = s[i+1:]
		if strings.HasPrefix(s, "  port ") {
			n++
		}
	}
}

// dpctlLines is where parseDpctlShow is in the datapath being read.
type dpctlLines struct {
	listPorts bool // append the ports to DatapathStats.Ports
	ports     int  // port lines read so far
}

// parse reads one line of datapath dp (not its first): it reports
// whether the line was understood.
func (l *dpctlLines) parse(dp *DatapathStats, ind int, t string) bool {
	// Most lines of a reply with -s are counters: they are told by their
	// start before the line is cut.
	if ind >= 4 && len(t) >= 3 && (t[:3] == "RX " || t[:3] == "TX ") {
		return l.ports > 0 // -s counters of the port above
	}
	key, val, _ := strings.Cut(t, ":")
	if ind >= 4 && key == "collisions" {
		return l.ports > 0
	}
	if val != "" && val[0] != ' ' {
		return false // OVS prints "key: value"
	}
	val = strings.TrimSpace(val)
	switch {
	case key == "lookups":
		for _, kv := range strings.Fields(val) {
			k, v, _ := strings.Cut(kv, ":")
			n, ok := parseDec(v)
			if !ok {
				return false
			}
			switch k {
			case "hit":
				dp.Hit = n
			case "missed":
				dp.Missed = n
			case "lost":
				dp.Lost = n
			}
		}
		return true
	case key == "flows":
		n, ok := parseDec(val)
		if !ok || n > math.MaxInt32 {
			return false
		}
		dp.Flows = int(n)
		return true
	case strings.HasPrefix(key, "port "):
		// "port 9: vxlan_sys_4789 (vxlan: packet_type=ptap)"
		n, ok := parseDec(key[len("port "):])
		if !ok || n > math.MaxUint32 || val == "" {
			return false
		}
		l.ports++
		if !l.listPorts {
			return true
		}
		p := DatapathPort{Number: uint32(n)}
		name, desc, _ := strings.Cut(val, " ")
		p.Name = name
		p.Type, p.Config = parseTypeConfig(strings.TrimSpace(desc))
		dp.Ports = append(dp.Ports, p)
		return true
	case key == "masks", key == "cache", key == "caches", key == "masks-cache":
		return true
	}
	return false
}

// ParseDumpDPs parses the reply to dpctl/dump-dps, one datapath per line:
//
//	netdev@ovs-netdev
//	system@ovs-system
func ParseDumpDPs(text string) ([]string, error) {
	var dps []string
	bad := 0
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if typ, name, ok := strings.Cut(t, "@"); !ok || typ == "" || name == "" || strings.ContainsAny(t, " \t") {
			bad++
			continue
		}
		dps = append(dps, t)
	}
	if len(dps) == 0 && bad > 0 {
		return nil, errors.New("dpctl/dump-dps: no datapath names in reply")
	}
	return dps, nil
}
