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
// ParseDpctlShow into dps; keep, when not nil, copies the port names out
// of text (see datapathStats).
func portCounters(text string, dps []DatapathStats, keep func(string) string) (map[string]PortCounters, error) {
	if len(dps) != 1 {
		return nil, fmt.Errorf("dpctl/show -s: want one datapath in the reply, got %d", len(dps))
	}
	out := make(map[string]PortCounters, len(dps[0].Ports))
	var name string
	var cur PortCounters
	seen := 0 // counter lines seen for the current port: RX and TX
	flush := func() error {
		if name == "" {
			return nil
		}
		if seen != 2 {
			return fmt.Errorf("dpctl/show -s: port %s has no RX/TX packets lines (was -s given?)", name)
		}
		if keep != nil {
			name = keep(name)
		}
		out[name] = cur
		return nil
	}
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		ind := indentOf(line)
		switch {
		case ind == 2 && strings.HasPrefix(t, "port "):
			if err := flush(); err != nil {
				return nil, err
			}
			num, val, _ := strings.Cut(t[len("port "):], ": ")
			n, ok := parseDec(num)
			pname, _, _ := strings.Cut(val, " ")
			if !ok || n > 1<<32-1 || pname == "" {
				return nil, fmt.Errorf("dpctl/show -s: bad port line %q", t)
			}
			name, cur, seen = pname, PortCounters{Number: uint32(n)}, 0
		case ind >= 4 && name != "" && strings.HasPrefix(t, "RX packets:"):
			c, err := counterFields(t)
			if err != nil {
				return nil, fmt.Errorf("dpctl/show -s: port %s: %w", name, err)
			}
			cur.RxPackets = c.packets
			seen++
		case ind >= 4 && name != "" && strings.HasPrefix(t, "TX packets:"):
			c, err := counterFields(t)
			if err != nil {
				return nil, fmt.Errorf("dpctl/show -s: port %s: %w", name, err)
			}
			cur.TxPackets, cur.TxDropped = c.packets, c.dropped
			seen++
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
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
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return lineCounters{}, fmt.Errorf("bad counter %q in %q", kv, t)
		}
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
