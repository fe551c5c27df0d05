package ovs

import (
	"context"
	"fmt"
	"strings"
)

// PortCounters are one datapath port's packet counters as the datapath
// itself keeps them (dpctl/show -s), whatever the port's type: taps,
// vhost-user, tunnels, the bridge's LOCAL port. Counters the datapath does
// not keep are printed as "?" and read as 0.
type PortCounters struct {
	// Number is the datapath port number.
	Number uint32
	// RxPackets are packets the datapath received from the port (what
	// entered the switch there).
	RxPackets uint64
	// TxPackets are packets the datapath sent out of the port, and
	// TxDropped those it meant to send but could not (a flood copy to a
	// LOCAL port that is down lands here).
	TxPackets, TxDropped uint64
}

// Outputs is every packet the datapath sent, or tried to send, out of the
// port.
func (c PortCounters) Outputs() uint64 { return c.TxPackets + c.TxDropped }

// ParsePortCounters parses the per-port counters of "dpctl/show -s <dp>",
// one datapath, by port name:
//
//	netdev@ovs-netdev:
//	  lookups: hit:3294 missed:6 lost:0
//	  flows: 2
//	  port 2: tapvm1
//	    RX packets:3270 errors:0 dropped:0 overruns:0 frame:0
//	    TX packets:22 errors:0 dropped:0 aborted:0 carrier:0
//	    collisions:0
//	    RX bytes:4034900 (3.8 MiB)  TX bytes:1747 (1.7 KiB)
//
// The dummy datapath prints "errors:? dropped:?"; a "?" reads as 0. A port
// without counter lines (dpctl/show without -s) is an error: the caller
// asked for counters and would otherwise read zeros.
func ParsePortCounters(text string) (map[string]PortCounters, error) {
	dps, err := ParseDpctlShow(text)
	if err != nil {
		return nil, err
	}
	return portCounters(text, dps, nil)
}

// portCounters is ParsePortCounters for a text already read by
// ParseDpctlShow into dps; names, when not nil, holds copies of the port
// names out of text (see datapathStats).
func portCounters(text string, dps []DatapathStats, names *stringArena) (map[string]PortCounters, error) {
	if len(dps) != 1 {
		return nil, fmt.Errorf("dpctl/show -s: want one datapath in the reply, got %d", len(dps))
	}
	r := counterReader{names: names, size: len(dps[0].Ports)}
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		r.line(indentOf(line), strings.TrimSpace(line))
	}
	return r.result()
}

// counterReader reads the per-port counters of dpctl/show -s one line at
// a time, so that datapathStats reads them in ParseDpctlShow's pass over
// the reply instead of a second one.
type counterReader struct {
	names *stringArena // copies the names out of the reply; nil: none
	size  int          // the ports expected, to size out
	// hint, when above 0, is the ports parseDpctlShow expects instead of
	// counting them first: the last reply's, ports change rarely.
	hint int
	out  map[string]PortCounters
	err  error // the first error; the lines after it are ignored
	name string
	cur  PortCounters
	seen int // counter lines seen for the current port: RX and TX
}

// line reads one line of the reply: ind is its indent, t the line
// without its surrounding spaces.
func (r *counterReader) line(ind int, t string) {
	if r.err != nil {
		return
	}
	switch {
	case ind == 2 && strings.HasPrefix(t, "port "):
		if r.err = r.flush(); r.err != nil {
			return
		}
		num, val, _ := strings.Cut(t[len("port "):], ": ")
		n, ok := parseDec(num)
		pname, _, _ := strings.Cut(val, " ")
		if !ok || n > 1<<32-1 || pname == "" {
			r.err = fmt.Errorf("dpctl/show -s: bad port line %q", t)
			return
		}
		r.name, r.cur, r.seen = pname, PortCounters{Number: uint32(n)}, 0
	case ind >= 4 && r.name != "" && strings.HasPrefix(t, "RX packets:"):
		c, err := counterFields(t)
		if err != nil {
			r.err = fmt.Errorf("dpctl/show -s: port %s: %w", r.name, err)
			return
		}
		r.cur.RxPackets = c.packets
		r.seen++
	case ind >= 4 && r.name != "" && strings.HasPrefix(t, "TX packets:"):
		c, err := counterFields(t)
		if err != nil {
			r.err = fmt.Errorf("dpctl/show -s: port %s: %w", r.name, err)
			return
		}
		r.cur.TxPackets, r.cur.TxDropped = c.packets, c.dropped
		r.seen++
	}
}

// flush stores the counters of the port read so far.
func (r *counterReader) flush() error {
	if r.name == "" {
		return nil
	}
	if r.seen != 2 {
		return fmt.Errorf("dpctl/show -s: port %s has no RX/TX packets lines (was -s given?)", r.name)
	}
	name := r.name
	if r.names != nil {
		name = r.names.keep(name)
	}
	if r.out == nil {
		r.out = make(map[string]PortCounters, r.size)
	}
	r.out[name] = r.cur
	return nil
}

// result returns the counters by port name once every line was read.
func (r *counterReader) result() (map[string]PortCounters, error) {
	if r.err == nil {
		r.err = r.flush()
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.out == nil {
		r.out = make(map[string]PortCounters, r.size)
	}
	return r.out, nil
}

// lineCounters are the counters of one RX or TX line that the agent uses.
type lineCounters struct{ packets, dropped uint64 }

// counterFields reads "TX packets:22 errors:0 dropped:0 aborted:? ...",
// "?" as 0. Every counter must be "name:number" or "name:?". It runs for
// two lines of every port of every poll: it allocates nothing.
func counterFields(t string) (lineCounters, error) {
	var c lineCounters
	for i, rest := 0, t; ; i++ {
		var kv string
		if kv, rest = nextField(rest); kv == "" {
			break
		}
		if i == 0 {
			continue // "RX", "TX"
		}
		// By hand: a call to strings.Cut per counter is most of the cost.
		colon := 0
		for colon < len(kv) && kv[colon] != ':' {
			colon++
		}
		if colon == len(kv) {
			return lineCounters{}, fmt.Errorf("bad counter %q in %q", kv, t)
		}
		k, v := kv[:colon], kv[colon+1:]
		if v == "?" {
			continue
		}
		n, ok := parseDec(v)
		if !ok {
			return lineCounters{}, fmt.Errorf("bad counter %q in %q", kv, t)
		}
		switch k {
		case "packets":
			c.packets = n
		case "dropped":
			c.dropped = n
		}
	}
	return c, nil
}

// nextField splits s at its first run of spaces and tabs, as
// strings.Fields does, without a slice: field is "" when s is blank.
func nextField(s string) (field, rest string) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	return s[i:j], s[j:]
}

// ReadPortCounters reads one datapath's per-port counters over c
// (dpctl/show -s <dp>): about 2.5 ms of ovs-vswitchd's main thread for
// 500 ports, whatever the megaflow count.
func ReadPortCounters(ctx context.Context, c Caller, dp string) (DatapathStats, map[string]PortCounters, error) {
	out, err := c.Call(ctx, "dpctl/show", "-s", dp)
	if err != nil {
		return DatapathStats{}, nil, err
	}
	dps, err := ParseDpctlShow(out)
	if err != nil {
		return DatapathStats{}, nil, err
	}
	pc, err := portCounters(out, dps, nil)
	if err != nil {
		return DatapathStats{}, nil, err
	}
	if dps[0].Name != dp {
		return DatapathStats{}, nil, fmt.Errorf("dpctl/show -s %s: reply is about %s", dp, dps[0].Name)
	}
	return dps[0], pc, nil
}
