package ovs

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Megaflow is one datapath flow from dpctl/dump-flows.
type Megaflow struct {
	// UFID is the flow's unique id ("3cf89955-7a92-..."), "" when the
	// dump does not print it (dump-flows without -m).
	UFID string
	// Key is the match text, everything before ", packets:" (after the
	// UFID).
	Key string
	// InPort is the in_port(...) of the key as printed: a port name with
	// -m, the datapath port number without.
	InPort string
	// RecircID is the recirc_id(...) of the key: 0 for packets fresh from
	// a port, the id of a recirc() action otherwise.
	RecircID uint32
	// EthSrc and EthDst are the eth(src=,dst=) of the key; nil when absent
	// or wildcarded (mask all zeros).
	EthSrc, EthDst net.HardwareAddr
	// EthDstMasked is true when dst is printed with a mask that is not
	// all ones: the flow matches more than one destination.
	EthDstMasked bool
	// VLAN is the vid of the outer vlan(...) in the key, -1 when the
	// key matches untagged packets or does not match the tag.
	VLAN int
	// Tunnel is the tunnel(...) of the key: the outer header of a packet
	// that arrived encapsulated (InPort is then a tunnel port such as
	// vxlan_sys_4789 or genev_sys_6081); nil for a packet that did not.
	Tunnel *TunnelKey
	// Packets and Bytes count what the flow matched since it was created
	// (not counting the packet that created it).
	Packets, Bytes uint64
	// Used is how long ago the flow last matched a packet, -1 for never.
	Used time.Duration
	// Outputs are the ports the actions send a copy to, in order.
	Outputs []Output
	// Recirculates is true when the actions contain recirc(...) or
	// tnl_pop(...): the packet's fate continues in another megaflow.
	Recirculates bool
	// Actions is the raw action list.
	Actions string
	// Known is true when the key was not read: FlowParseOptions.Known
	// gave what it says.
	Known bool
}

// Output is one port a megaflow's actions send a copy of the packet to.
type Output struct {
	// Port is the datapath port as printed: a name with -m, a number
	// without; "lb_output(N)" for a balance-tcp bond.
	Port string
	// VLAN is the 802.1Q vid the frame carries at this output (the outer
	// tag), following the key's tag and push_vlan/pop_vlan; -1 when
	// untagged. For a tnl_push output it is the tag of the outer
	// (encapsulating) frame.
	VLAN int
	// Tunnel is true when the copy leaves encapsulated: after
	// set(tunnel(...)) (kernel datapath: Port is the tunnel vport) or
	// tnl_push(...) (userspace datapath: Port is the underlay port).
	Tunnel bool
	// TunnelDst is the remote tunnel endpoint (dst= of tunnel(...), or
	// the outer IP destination of tnl_push's header); "" if not tunneled.
	TunnelDst string
	// TunnelID is the VNI (VXLAN, Geneve) or key (GRE) the copy leaves
	// with: tun_id= of set(tunnel(...)), or vni=/key= of tnl_push's
	// header; 0 when not tunneled or sent without one.
	TunnelID uint64
	// TunnelPort is the tunnel port that encapsulates the copy:
	// tnl_port(...) of tnl_push ("vxlan_sys_4789"), or Port itself after
	// set(tunnel(...)); "" if not tunneled.
	TunnelPort string
}

// TunnelKey is the tunnel(...) field of a megaflow key, e.g. from
// dpctl/dump-flows -m on the userspace datapath after tnl_pop:
//
//	tunnel(tun_id=0x64,src=192.0.2.2,dst=192.0.2.1,ttl=64/0,tp_src=51482/0,tp_dst=4789/0,flags(-df+csum+key))
//
// (ipv6_src=/ipv6_dst= for an IPv6 underlay; geneve({...}) options and
// masks may follow; masks are dropped here.)
type TunnelKey struct {
	// ID is tun_id: the VNI (VXLAN, Geneve) or key (GRE) the packet
	// carried, 0 for none.
	ID uint64
	// Src is the remote endpoint that sent the packet, Dst the local
	// endpoint it was sent to; "" when the key does not match them.
	Src, Dst string
}

// IsUnicastDst reports whether the flow matches exactly one unicast
// destination MAC: the only kind of flow whose flooding is unknown-unicast
// flooding.
func (m *Megaflow) IsUnicastDst() bool {
	return m.EthDst != nil && !m.EthDstMasked && m.EthDst[0]&1 == 0
}

// Megaflows is the parsed reply to dpctl/dump-flows.
type Megaflows struct {
	Flows []Megaflow
	// Skipped counts lines that were not understood.
	Skipped int
	// Truncated is true when the dump held more flows than
	// FlowParseOptions.MaxFlows and some were not kept.
	Truncated bool
	// Dropped counts, by InPort, the flows not kept because of the cap,
	// so that a port whose flows crowd out the others is still reported.
	// nil when nothing was dropped.
	Dropped map[string]int

	outs []Output // the array the last flows' Outputs are carved from, for Release
}

// DefaultMaxFlows is how many megaflows a parsed dump keeps by default:
// above the 10,000 ovs-vswitchd keeps per datapath thread by default
// (other_config:flow-limit is higher only on tuned hosts), and a bound on
// what a parse of a hostile dump costs.
const DefaultMaxFlows = 50000

// FlowParseOptions tunes ParseDumpFlowsWith.
type FlowParseOptions struct {
	// MaxFlows caps the flows kept from one dump; 0 or less means
	// DefaultMaxFlows.
	MaxFlows int
	// Known, when not nil, spares reading again a key that an earlier
	// dump held (a megaflow's key does not change while it lives, and
	// reading one is a third of a line's cost). It is called for each
	// line whose flow would be kept in place, in order, with i the index
	// the flow takes in Flows (a line that turns out to be no flow leaves
	// i to the next) and f holding the line's UFID, Key, Packets, Bytes,
	// Used and Actions.
	// When it knows the key, it sets what the key says (InPort,
	// RecircID, EthSrc, EthDst, EthDstMasked, VLAN, Tunnel; what it
	// leaves unset stays zero, VLAN aside, which it must set) and returns
	// true: the key is not read, f.Known is set and the MACs are copied.
	// When it returns false it must leave f as it was. The actions are
	// read either way.
	Known func(i int, f *Megaflow) bool
}

// minFlowLine is the length of the shortest flow line OVS prints (a
// dump without -m: "recirc_id(0),in_port(2),packet_type(ns=0,id=0),
// eth_type(0x0800),ipv4(frag=no), packets:0, bytes:0, used:never,
// actions:drop" is 110 bytes). It bounds what the parser preallocates for
// a reply of a given size.
const minFlowLine = 100

// ParseDumpFlows parses the reply to "dpctl/dump-flows -m <dp>" or
// "dpctl/dump-flows <dp>". With -m each flow is printed as
//
//	ufid:<uuid>, <key>, packets:<n>, bytes:<n>, used:<secs>s|never[, flags:<tcp>], dp:<dp>, actions:<actions>[, dp-extra-info:<info>]
//
// e.g.
//
//	ufid:3cf89955-7a92-4d8c-a35f-3cdf3b61fb10, skb_priority(0/0),...,recirc_id(0),dp_hash(0/0),in_port(tapvm1),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:64),eth_type(0x0800),..., packets:5617, bytes:6967069, used:0.001s, flags:P., dp:ovs, actions:push_vlan(vid=10,pcp=0),br-int,pop_vlan,tapvm2,tapvm3,uplink, dp-extra-info:miniflow_bits(5,1)
//
// and without -m, with datapath port numbers and without UFID:
//
//	recirc_id(0),in_port(2),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:64),eth_type(0x0800),ipv4(frag=no), packets:5630, bytes:6983215, used:0.001s, flags:P., actions:push_vlan(vid=10,pcp=0),1,pop_vlan,3,4,7
//
// A packet that arrived through a tunnel carries its outer header in the
// key (see TunnelKey), and a copy that leaves through one is encapsulated
// by the actions (see Output):
//
//	ufid:d3cfe82d-…, skb_priority(0/0),tunnel(tun_id=0x64,src=192.0.2.2,dst=192.0.2.1,ttl=64/0,tp_src=36691/0,tp_dst=4789/0,flags(-df+csum+key)),…,recirc_id(0),dp_hash(0/0),in_port(vxlan_sys_4789),…, packets:9, bytes:1066, used:0.672s, dp:ovs, actions:tapvm1, …
//	ufid:c34b939a-…, …,in_port(tapvm1),…, actions:clone(tnl_push(tnl_port(vxlan_sys_4789),header(size=50,type=4,eth(…),ipv4(src=192.0.2.1,dst=192.0.2.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x64)),out_port(br-phys)),phys0),clone(tnl_push(tnl_port(genev_sys_6081),header(…,geneve(vni=0xc8)),out_port(br-phys)),phys0),tapvm2, …
//
// "flow-dump from ..." lines are section headers of the userspace
// datapath (main thread, each PMD thread).
//
// It keeps at most DefaultMaxFlows flows; see ParseDumpFlowsWith.
func ParseDumpFlows(text string) (Megaflows, error) {
	return ParseDumpFlowsWith(text, FlowParseOptions{})
}

// ParseDumpFlowsWith is ParseDumpFlows with options. Past opts.MaxFlows
// flows it keeps parsing, to count what it drops by in_port (Dropped),
// and it prefers the flows a flood detector needs: a flow to one unicast
// destination with several outputs (IsUnicastDst, len(Outputs) > 1)
// replaces the most recently kept other flow. A VM that floods and also
// creates many flows therefore cannot push its flooding flows out of the
// dump.
//
// It is written for speed (no regexps, one allocation for all MACs, the
// flows and their outputs in arrays reused from released dumps) because it runs every poll over up to tens of
// thousands of flows, and preallocates by the flows the text can hold,
// never by its line count.
func ParseDumpFlowsWith(text string, opts FlowParseOptions) (Megaflows, error) {
	maxFlows := opts.MaxFlows
	if maxFlows <= 0 {
		maxFlows = DefaultMaxFlows
	}
	// Lines are counted with one vectorized pass; a text of many short
	// lines is bounded by minFlowLine.
	n := min(strings.Count(text, "\n")+1, len(text)/minFlowLine, maxFlows) + 1
	m := Megaflows{Flows: reusedFlows(n)}
	p := flowParser{
		known: opts.Known,
		macs:  make([]byte, 0, 12*n),
		// Most flows have one output: a few flooding ones with many
		// grow the array once, and the grown one is reused after.
		outs: reusedOutputs(n + n/4),
	}
	// The flow a flood candidate replaces once the cap is reached is the
	// most recently kept other one: the highest index at or below evict
	// that does not hold a candidate (a replaced flow holds one).
	evict, evicting := -1, false
	var spare Megaflow // where a line is parsed when it may not be kept
	headers := 0
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "flow-dump from ") {
			headers++
			continue
		}
		// A flow that will be kept is parsed in its place, not copied
		// there: a Megaflow is 200 bytes.
		f, inPlace := &spare, false
		p.index = -1
		if k := len(m.Flows); k < maxFlows && k < cap(m.Flows) {
			f, inPlace, p.index = &m.Flows[:k+1][k], true, k
		}
		*f = Megaflow{}
		mark := p.mark()
		if !p.parseLine(line, f) {
			*f = Megaflow{}
			p.rollback(mark)
			if strings.TrimSpace(line) != "" {
				m.Skipped++
			}
			continue
		}
		switch {
		case inPlace:
			m.Flows = m.Flows[:len(m.Flows)+1]
		case len(m.Flows) < maxFlows:
			m.Flows = append(m.Flows, *f)
		case floodCandidate(f):
			if !evicting {
				evict, evicting = len(m.Flows)-1, true
			}
			for evict >= 0 && floodCandidate(&m.Flows[evict]) {
				evict--
			}
			if evict < 0 {
				p.rollback(mark)
				m.drop(f.InPort)
				break
			}
			m.drop(m.Flows[evict].InPort)
			m.Flows[evict] = *f
			evict--
		default:
			p.rollback(mark)
			m.drop(f.InPort)
		}
	}
	if len(m.Flows) == 0 && headers == 0 && m.Skipped > 0 {
		return Megaflows{}, fmt.Errorf("dpctl/dump-flows: no flows in reply (%d lines not understood)", m.Skipped)
	}
	m.outs = p.outs
	return m, nil
}

// floodCandidate reports whether f is a flow a flood detector needs,
// which ParseDumpFlowsWith keeps in preference to others past its cap.
func floodCandidate(f *Megaflow) bool {
	return f.IsUnicastDst() && len(f.Outputs) > 1
}

// releasedFlows holds the Flows arrays of released dumps (*[]Megaflow,
// emptied), for the next parse: a dump of 5,000 flows is a megabyte.
var releasedFlows sync.Pool

// releasedOutputs holds the output arrays of released dumps (*[]Output,
// emptied).
var releasedOutputs sync.Pool

// Release hands m's Flows and their Outputs back for a later parse to
// reuse, and empties m. Call it once nothing refers to the flows or
// their outputs any more (their MACs live in memory of their own, which
// Release leaves alone); not calling it is fine.
func (m *Megaflows) Release() {
	if cap(m.outs) > 0 {
		outs := m.outs[:0]
		clear(m.outs) // the reply their strings point into can go
		releasedOutputs.Put(&outs)
	}
	if cap(m.Flows) > 0 {
		flows := m.Flows[:0]
		clear(m.Flows)
		releasedFlows.Put(&flows)
	}
	m.Flows, m.outs = nil, nil
}

// reusedOutputs returns an empty output array for about n outputs, a
// released one when it is close enough in size.
func reusedOutputs(n int) []Output {
	if p, ok := releasedOutputs.Get().(*[]Output); ok && cap(*p) >= n/2 && cap(*p) <= 2*n {
		return (*p)[:0]
	}
	return make([]Output, 0, n)
}

// reusedFlows returns an empty Flows array for n flows, a released one
// when it is large enough.
func reusedFlows(n int) []Megaflow {
	if p, ok := releasedFlows.Get().(*[]Megaflow); ok && cap(*p) >= n && cap(*p) <= 2*n {
		return (*p)[:0]
	}
	return make([]Megaflow, 0, n)
}

// drop counts a flow not kept because of the cap.
func (m *Megaflows) drop(inPort string) {
	if m.Dropped == nil {
		m.Dropped = make(map[string]int)
	}
	if _, ok := m.Dropped[inPort]; !ok {
		inPort = strings.Clone(inPort) // a key outlives the reply it came from
	}
	m.Dropped[inPort]++
	m.Truncated = true
}

// flowParser holds the slabs that the flows' MACs and outputs are carved
// from, so parsing a dump costs a handful of allocations, not several per
// flow.
type flowParser struct {
	macs     []byte
	outs     []Output
	macSlabs int // how many MAC slabs were started
	known    func(i int, f *Megaflow) bool
	index    int // where the line being parsed goes in Flows, -1 if not in place
}

// slabMark is where the slabs ended before a line was parsed.
type slabMark struct{ macs, outs, macSlabs int }

func (p *flowParser) mark() slabMark { return slabMark{len(p.macs), len(p.outs), p.macSlabs} }

// rollback frees what a line that is not kept took from the slabs.
func (p *flowParser) rollback(m slabMark) {
	p.outs = p.outs[:m.outs]
	if p.macSlabs == m.macSlabs {
		p.macs = p.macs[:m.macs]
	} else {
		p.macs = p.macs[:0] // a new slab holding only this line's MACs
	}
}

// keepMAC copies mac into the MAC slab (nil stays nil).
func (p *flowParser) keepMAC(mac net.HardwareAddr) net.HardwareAddr {
	if mac == nil {
		return nil
	}
	b := p.macSlot(len(mac))
	copy(b, mac)
	p.macs = p.macs[:len(p.macs)+len(mac)]
	return net.HardwareAddr(b)
}

// mac parses s into the MAC slab.
func (p *flowParser) mac(s string) (net.HardwareAddr, bool) {
	b := p.macSlot(6)
	if !parseMACInto(s, b) {
		return nil, false
	}
	p.macs = p.macs[:len(p.macs)+6]
	return net.HardwareAddr(b), true
}

// macSlot returns the n bytes past the MAC slab's end, starting a new
// slab when the current one has not that much room left. The caller
// extends the slab over them once they hold a MAC.
func (p *flowParser) macSlot(n int) []byte {
	if len(p.macs)+n > cap(p.macs) {
		p.macs = make([]byte, 0, max(6*1024, n))
		p.macSlabs++
	}
	return p.macs[len(p.macs) : len(p.macs)+n : len(p.macs)+n]
}

func (p *flowParser) parseLine(line string, f *Megaflow) bool {
	rest := line
	if u, ok := strings.CutPrefix(rest, "ufid:"); ok {
		i := strings.IndexByte(u, ',')
		if i < 0 {
			return false
		}
		f.UFID = u[:i]
		rest = strings.TrimLeft(u[i+1:], " ")
	}
	// Spaces are rare in a flow line: search from the space.
	i := strings.Index(rest, " packets:") - 1
	if i < 0 || rest[i] != ',' {
		return false
	}
	f.Key = rest[:i]
	stats := rest[i+2:]

	// Stats: "packets:N, bytes:N, used:Xs, [flags:F, ][dp:D, ]actions:A[, dp-extra-info:I]".
	var ok bool
	if f.Packets, stats, ok = cutNum(stats, "packets:"); !ok {
		return false
	}
	if f.Bytes, stats, ok = cutNum(stats, ", bytes:"); !ok {
		return false
	}
	if stats, ok = strings.CutPrefix(stats, ", used:"); !ok {
		return false
	}
	used := stats
	if j := strings.IndexByte(stats, ','); j >= 0 {
		used, stats = stats[:j], stats[j:]
	} else {
		stats = ""
	}
	if f.Used, ok = parseUsed(used); !ok {
		return false
	}
	// Then flags:, dp:, offloaded: (whatever a version adds) up to actions:.
	for {
		var ok bool
		if stats, ok = strings.CutPrefix(stats, ", "); !ok {
			return false
		}
		if a, ok := strings.CutPrefix(stats, "actions:"); ok {
			if j := strings.Index(a, ", dp-extra-info:"); j >= 0 {
				a = a[:j]
			}
			f.Actions = a
			break
		}
		j := strings.IndexByte(stats, ',')
		if j < 0 {
			return false
		}
		stats = stats[j:]
	}
	switch {
	case p.known != nil && p.index >= 0 && p.known(p.index, f):
		// The MACs are copied so that this dump's flows hold none of an
		// earlier dump's memory.
		f.Known, f.EthSrc, f.EthDst = true, p.keepMAC(f.EthSrc), p.keepMAC(f.EthDst)
	case !p.parseKey(f):
		return false
	}
	start := len(p.outs)
	st := actState{vlan: -1}
	if f.VLAN >= 0 {
		st.push(f.VLAN)
	}
	p.walkActions(f.Actions, &st, f, 0)
	f.Outputs = p.outs[start:len(p.outs):len(p.outs)]
	if len(f.Outputs) == 0 {
		f.Outputs = nil
	}
	return true
}

// cutNum parses prefix followed by a decimal number at the start of s,
// as parseDec would. The digits are summed as they are found: up to 19
// of them cannot overflow, and every line of a dump has two such numbers.
func cutNum(s, prefix string) (n uint64, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, prefix)
	if !ok {
		return 0, "", false
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + uint64(s[i]-'0')
		i++
	}
	if i == 0 || i > 19 || (i > 1 && s[0] == '0') {
		// None, a leading zero, or maybe too large: parseDec decides.
		n, ok = parseDec(s[:i])
	}
	return n, s[i:], ok
}

// parseUsed parses "0.001s" or "never".
func parseUsed(s string) (time.Duration, bool) {
	if s == "never" {
		return -1, true
	}
	s, ok := strings.CutSuffix(s, "s")
	if !ok || s == "" {
		return 0, false
	}
	// Fast path for OVS's "%.3f": whole seconds and milliseconds.
	if whole, frac, ok := strings.Cut(s, "."); ok && len(frac) == 3 {
		w, ok1 := parseDec(whole)
		ms, ok2 := parseDec(strings.TrimLeft(frac, "0"))
		if frac == "000" {
			ms, ok2 = 0, true
		}
		if ok1 && ok2 && w < 1<<32 {
			return time.Duration(w)*time.Second + time.Duration(ms)*time.Millisecond, true
		}
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil || secs < 0 || secs > 1<<32 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// keyField returns the inside of name(...) at the top level of a flow key,
// e.g. keyField(key, "in_port(") for "...,in_port(tapvm1),...", and the
// offset just past it. The pattern is searched whole (one vectorized scan
// seeded on its first byte, which is rare in keys, unlike ','), then
// checked to start an item; this matters at 20k flows per poll.
func keyField(key, pat string) (inner string, end int, ok bool) {
	for off := 0; off < len(key); {
		i := strings.Index(key[off:], pat)
		if i < 0 {
			return "", 0, false
		}
		i += off
		j := i + len(pat) - 1 // the '('
		if i == 0 || key[i-1] == ',' {
			inner, after, ok := parenContent(key[j:])
			return inner, len(key) - len(after), ok
		}
		off = j
	}
	return "", 0, false
}

// parenContent takes s starting with '(' and returns what is inside the
// matching ')' and what follows it.
func parenContent(s string) (inner, after string, ok bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[1:i], s[i+1:], true
			}
		}
	}
	return "", "", false
}

// flatParen is parenContent, faster for the usual s whose first ')' is
// the matching one (nothing nested: recirc_id(0), eth(src=…,dst=…)).
func flatParen(s string) (inner, after string, ok bool) {
	if c := strings.IndexByte(s, ')'); c > 0 && strings.IndexByte(s[1:c], '(') < 0 {
		return s[1:c], s[c+1:], true
	}
	return parenContent(s)
}

// nextItem splits s at the first comma outside parentheses.
func nextItem(s string) (item, rest string) {
	item, rest, _ = nextAction(s)
	return item, rest
}

// nextAction is nextItem that also returns the offset of the item's
// first '(' (-1 for none), which callArgs would search for again.
func nextAction(s string) (item, rest string, open int) {
	depth, open := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !itemByte[c] {
			continue
		}
		switch c {
		case '(':
			if open < 0 {
				open = i
			}
			depth++
		case '{':
			depth++
		case ')', '}':
			depth--
		case ',':
			if depth <= 0 {
				return s[:i], s[i+1:], open
			}
		}
	}
	return s, "", open
}

// itemByte marks the bytes nextAction acts on, so the rest (nearly all:
// port names) cost one lookup.
var itemByte = [256]bool{'(': true, ')': true, '{': true, '}': true, ',': true}

// argValue returns the value of key=value among the top-level
// comma-separated items of s, value including any "/mask".
func argValue(s, key string) (string, bool) {
	for s != "" {
		var item string
		item, s = nextItem(s)
		if v, ok := strings.CutPrefix(item, key); ok && len(v) > 0 && v[0] == '=' {
			return v[1:], true
		}
	}
	return "", false
}

// callArgs splits "name(args)" into name and args; for a bare word args is
// "" and paren false.
func callArgs(item string) (name, args string, paren bool) {
	return callArgsAt(item, strings.IndexByte(item, '('))
}

// callArgsAt is callArgs for an item whose first '(' is at i (-1: none).
func callArgsAt(item string, i int) (name, args string, paren bool) {
	if i < 0 {
		return item, "", false
	}
	inner, _, ok := parenContent(item[i:])
	if !ok {
		inner = item[i+1:]
	}
	return item[:i], inner, true
}

func (p *flowParser) parseKey(f *Megaflow) bool {
	f.VLAN = -1
	key, ok := p.commonKeyHead(f)
	if !ok {
		key, ok = p.parseKeyHead(f)
	}
	if !ok {
		*f = Megaflow{UFID: f.UFID, Key: f.Key, Packets: f.Packets, Bytes: f.Bytes, Used: f.Used, Actions: f.Actions, VLAN: -1}
		key, ok = p.searchKeyHead(f)
		if !ok {
			return false
		}
	}
	if vlan, _, ok := keyField(key, "vlan("); ok {
		if v, ok := argValue(vlan, "vid"); ok {
			v, mask, masked := strings.Cut(v, "/")
			if n, ok := parseNum(v); ok && n < 4096 && (!masked || mask == "0xfff") {
				f.VLAN = int(n)
			}
		}
	}
	return true
}

// keyHead names the fields of a key parseKeyHead reads, in the order OVS
// prints them.
const (
	headTunnel = 1 + iota
	headRecirc
	headInPort
	headEth
)

// parseKeyHead reads tunnel(...), recirc_id(...), in_port(...) and
// eth(...) walking the key's top-level items from the start, which is how
// OVS prints them (a few short items come first: "recirc_id(0),
// in_port(tap1),packet_type(ns=0,id=0),eth(...)"), instead of searching
// the key for each. It returns the rest of the key after the last of
// recirc_id, in_port and eth found. ok is false when they are not in that
// order, each at most once, or an item is not name(...): searchKeyHead
// then reads the key, so keys as OVS prints them read alike either way.
func (p *flowParser) parseKeyHead(f *Megaflow) (rest string, ok bool) {
	key, rest := f.Key, f.Key
	last := 0
	for key != "" {
		open := strings.IndexByte(key, '(')
		if open < 0 || strings.IndexByte(key[:open], ',') >= 0 {
			return "", false // a bare item: not the usual layout
		}
		inner, after, ok := flatParen(key[open:])
		if !ok || (after != "" && after[0] != ',') {
			return "", false
		}
		field := 0
		switch key[:open] {
		case "tunnel":
			field = headTunnel
		case "recirc_id":
			field = headRecirc
		case "in_port":
			field = headInPort
		case "eth":
			field = headEth
		}
		if field != 0 {
			if field <= last || !p.keyHeadField(f, field, inner) {
				return "", false
			}
			last = field
			if field != headTunnel {
				rest = after
			}
			if field == headEth {
				break
			}
		}
		key = strings.TrimPrefix(after, ",")
	}
	return rest, true
}

// commonKeyHead reads the head of the layout nearly every key of a dump
// without -m has, with a few prefix tests:
//
//	recirc_id(<n>),in_port(<port>),packet_type(ns=0,id=0),eth(src=<mac>,dst=<mac>),…
//
// (packet_type optional). It returns what follows eth(...); ok is false,
// with f untouched, for any other layout, which parseKeyHead then reads
// (to the same fields when this one succeeds).
func (p *flowParser) commonKeyHead(f *Megaflow) (rest string, ok bool) {
	// The fields are short: they are scanned byte by byte here, which is
	// cheaper than a call to a vectorized search per field.
	key := f.Key
	if len(key) < 10 || key[:10] != "recirc_id(" {
		return "", false
	}
	key = key[10:]
	i := 0
	for i < len(key) && key[i] != ')' {
		i++
	}
	n, ok := parseNum(key[:i])
	if i == len(key) || !ok || n > 1<<32-1 {
		return "", false
	}
	key = key[i+1:]
	if len(key) < 9 || key[:9] != ",in_port(" {
		return "", false
	}
	key = key[9:]
	i = 0
	for ; i < len(key) && key[i] != ')'; i++ {
		if key[i] == '(' {
			return "", false
		}
	}
	if i == len(key) {
		return "", false
	}
	inPort := key[:i]
	key = key[i+1:]
	if len(key) >= 23 && key[:12] == ",packet_type" && key[12:23] == "(ns=0,id=0)" {
		key = key[23:]
	}
	if len(key) < 5 || key[:5] != ",eth(" {
		return "", false
	}
	key = key[5:]
	// Two exact MACs ("src=…,dst=…", 43 bytes) hold no parenthesis.
	if len(key) > 43 && key[43] == ')' && (len(key) == 44 || key[44] == ',') && p.exactEth(f, key[:43]) {
		f.RecircID, f.InPort = uint32(n), inPort
		return key[44:], true
	}
	i = 0
	for ; i < len(key) && key[i] != ')'; i++ {
		if key[i] == '(' {
			return "", false
		}
	}
	if i == len(key) || (i+1 < len(key) && key[i+1] != ',') {
		return "", false
	}
	f.RecircID, f.InPort = uint32(n), inPort
	p.ethField(f, key[:i])
	return key[i+1:], true
}

// keyHeadField stores one field found by parseKeyHead.
func (p *flowParser) keyHeadField(f *Megaflow, field int, v string) bool {
	switch field {
	case headTunnel:
		f.Tunnel = parseTunnelKey(v)
	case headRecirc:
		n, ok := parseNum(v)
		if !ok || n > 1<<32-1 {
			return false
		}
		f.RecircID = uint32(n)
	case headInPort:
		f.InPort = v
	case headEth:
		p.ethField(f, v)
	}
	return true
}

// ethField stores the src and dst of the inside of a key's eth(...).
func (p *flowParser) ethField(f *Megaflow, eth string) {
	if p.exactEth(f, eth) {
		return
	}
	src, dst, hasSrc, hasDst := ethArgs(eth)
	if hasSrc {
		f.EthSrc, _ = p.maskedMAC(src)
	}
	if hasDst {
		f.EthDst, f.EthDstMasked = p.maskedMAC(dst)
	}
}

// exactEth stores the MACs of eth when it is what nearly every key
// matches, both MACs exactly ("src=02:00:00:00:00:01,dst=02:00:00:00:00:64",
// cut by position); it returns false, f untouched, for anything else.
func (p *flowParser) exactEth(f *Megaflow, eth string) bool {
	if len(eth) != 43 || eth[:4] != "src=" || eth[21:26] != ",dst=" || len(p.macs)+12 > cap(p.macs) {
		return false
	}
	n := len(p.macs)
	b := p.macs[n : n+12 : n+12]
	if !parseMACInto(eth[4:21], b[:6]) || !parseMACInto(eth[26:], b[6:]) {
		return false
	}
	f.EthSrc, f.EthDst = net.HardwareAddr(b[:6:6]), net.HardwareAddr(b[6:])
	p.macs = p.macs[:n+12]
	return true
}

// searchKeyHead is parseKeyHead for keys in another layout: it searches
// each field where the previous one ended.
func (p *flowParser) searchKeyHead(f *Megaflow) (rest string, ok bool) {
	key := f.Key
	// OVS prints key fields in a fixed order (tunnel, recirc_id, in_port,
	// eth, then eth_type/vlan); each search starts where the previous
	// field ended when it was found.
	if v, end, ok := keyField(key, "recirc_id("); ok {
		n, ok := parseNum(v)
		if !ok || n > 1<<32-1 {
			return "", false
		}
		f.RecircID = uint32(n)
		// The tunnel comes before recirc_id: search only there.
		if t, _, ok := keyField(key[:end-len(v)-1], "tunnel("); ok {
			f.Tunnel = parseTunnelKey(t)
		}
		key = key[end:]
	} else if t, _, ok := keyField(key, "tunnel("); ok {
		f.Tunnel = parseTunnelKey(t)
	}
	if v, end, ok := keyField(key, "in_port("); ok {
		f.InPort = v
		key = key[end:]
	}
	if eth, end, ok := keyField(key, "eth("); ok {
		p.ethField(f, eth)
		key = key[end:]
	}
	return key, true
}

// parseTunnelKey reads the inside of a key's tunnel(...) (see TunnelKey).
func parseTunnelKey(t string) *TunnelKey {
	k := &TunnelKey{}
	if v, ok := argValue(t, "tun_id"); ok {
		k.ID, _ = parseNum(unmask(v))
	}
	k.Src, k.Dst = tunnelAddr(t, "src"), tunnelAddr(t, "dst")
	return k
}

// tunnelAddr returns the IPv4 or IPv6 address named dir ("src", "dst") in
// the arguments of tunnel(...), without its mask.
func tunnelAddr(args, dir string) string {
	if v, ok := argValue(args, dir); ok {
		return unmask(v)
	}
	if v, ok := argValue(args, "ipv6_"+dir); ok {
		return unmask(v)
	}
	return ""
}

// unmask drops the "/mask" of a masked value.
func unmask(v string) string {
	v, _, _ = strings.Cut(v, "/")
	return v
}

// ethArgs splits the inside of eth(...): "src=<mac>[/<mask>],dst=<mac>[/<mask>]",
// either part optional. MACs have a fixed width, so the common layouts
// are cut by length rather than scanned.
func ethArgs(eth string) (src, dst string, hasSrc, hasDst bool) {
	rest := eth
	if v, ok := strings.CutPrefix(rest, "src="); ok {
		n := macFieldLen(v)
		src, hasSrc, rest = v[:n], true, v[n:]
		rest = strings.TrimPrefix(rest, ",")
	}
	if v, ok := strings.CutPrefix(rest, "dst="); ok {
		n := macFieldLen(v)
		dst, hasDst, rest = v[:n], true, v[n:]
	}
	if rest != "" {
		// Not the usual layout: fall back to a full split.
		src, hasSrc = argValue(eth, "src")
		dst, hasDst = argValue(eth, "dst")
	}
	return src, dst, hasSrc, hasDst
}

// macFieldLen returns the length of a "mac" or "mac/mask" value at the
// start of s (up to the next comma).
func macFieldLen(s string) int {
	if len(s) >= 35 && s[17] == '/' && (len(s) == 35 || s[35] == ',') {
		return 35
	}
	if len(s) >= 17 && (len(s) == 17 || s[17] == ',') {
		return 17
	}
	if i := strings.IndexByte(s, ','); i >= 0 {
		return i
	}
	return len(s)
}

// maskedMAC parses "mac" or "mac/mask". A mask of all zeros means the
// field is not matched at all (nil); any other mask but all ones makes
// the match partial.
func (p *flowParser) maskedMAC(v string) (mac net.HardwareAddr, partial bool) {
	addr, mask, hasMask := v, "", false
	if len(v) != 17 { // not a bare MAC: look for a mask
		addr, mask, hasMask = strings.Cut(v, "/")
	}
	if hasMask {
		switch mask {
		case "00:00:00:00:00:00":
			return nil, false
		case "ff:ff:ff:ff:ff:ff":
			hasMask = false
		}
	}
	mac, ok := p.mac(addr)
	if !ok {
		return nil, false
	}
	return mac, hasMask
}

// actState is what the actions so far did to the packet: its VLAN tags
// and tunnel encapsulation.
type actState struct {
	tags    [4]int
	ntags   int
	vlan    int // outer vid, -1 if untagged
	tunnel  bool
	tunDst  string
	tunID   uint64
	tunPort string // "" when the output port itself is the tunnel port
}

func (s *actState) push(vid int) {
	if s.ntags == len(s.tags) {
		copy(s.tags[:], s.tags[1:])
		s.ntags--
	}
	s.tags[s.ntags] = vid
	s.ntags++
	s.vlan = vid
}

func (s *actState) pop() {
	if s.ntags > 0 {
		s.ntags--
	}
	s.vlan = -1
	if s.ntags > 0 {
		s.vlan = s.tags[s.ntags-1]
	}
}

// maxActionDepth bounds the nesting of clone()/sample()/check_pkt_len()
// the parser follows, so hostile input cannot recurse without bound.
const maxActionDepth = 16

// walkActions interprets a datapath action list (odp-util's format):
// comma-separated at the top level, nested in parentheses. Bare words are
// output ports except the few argument-less actions; everything inside
// clone(...) (and sample(sample=100.0%,...), which is how OVS spells
// clone on kernels without it, and each branch of check_pkt_len) acts on
// a copy, so the VLAN and tunnel state are restored afterwards.
func (p *flowParser) walkActions(acts string, st *actState, f *Megaflow, depth int) {
	for acts != "" {
		var item string
		var open int
		item, acts, open = nextAction(acts)
		name, args, paren := callArgsAt(item, open)
		switch {
		case !paren:
			p.bareAction(name, st)
		case name == "clone" || name == "sample" || name == "check_pkt_len":
			if depth < maxActionDepth {
				p.nestedActions(name, args, st, f, depth)
			}
		case name == "recirc" || name == "tnl_pop":
			f.Recirculates = true
		case name == "lb_output":
			p.output(item, st)
		default:
			st.apply(name, args)
		}
	}
}

// bareAction handles an action without arguments: an output port unless
// it is one of the few argument-less actions.
func (p *flowParser) bareAction(name string, st *actState) {
	switch name {
	case "", "drop", "pop_eth", "pop_nsh", "ct_clear":
	case "pop_vlan":
		st.pop()
	default:
		p.output(name, st)
	}
}

// nestedActions walks the action lists of clone(...), a 100% sample(...)
// and both branches of check_pkt_len(...), each on a copy of the state.
func (p *flowParser) nestedActions(name, args string, st *actState, f *Megaflow, depth int) {
	walk := func(acts string) {
		saved := *st
		p.walkActions(acts, st, f, depth+1)
		*st = saved
	}
	switch name {
	case "clone":
		walk(args)
	case "sample":
		// Only a 100% sample is a clone; a partial one is telemetry.
		if a, ok := strings.CutPrefix(args, "sample=100.0%,actions("); ok {
			walk(strings.TrimSuffix(a, ")"))
		}
	case "check_pkt_len":
		for a := args; a != ""; {
			var br string
			br, a = nextItem(a)
			if bname, bargs, ok := callArgs(br); ok && (bname == "gt" || bname == "le") {
				walk(bargs)
			}
		}
	}
}

// apply records what push_vlan(...), set(tunnel(...)) and tnl_push(...)
// do to the packet; other actions do not change where or how it leaves.
func (s *actState) apply(name, args string) {
	switch name {
	case "push_vlan":
		vid := 0
		if v, ok := argValue(args, "vid"); ok {
			if n, ok := parseDec(v); ok && n < 4096 {
				vid = int(n)
			}
		}
		s.push(vid)
	case "set":
		// set(tunnel(tun_id=0x64,dst=192.0.2.2,ttl=64,tp_dst=4789,flags(df|key))):
		// the kernel datapath's encapsulation, done by the output vport.
		if what, t, ok := callArgs(args); ok && what == "tunnel" {
			s.tunnel, s.tunPort = true, ""
			s.tunDst = tunnelAddr(t, "dst")
			s.tunID = 0
			if v, ok := argValue(t, "tun_id"); ok {
				s.tunID, _ = parseNum(v)
			}
		}
	case "tnl_push":
		s.tunnel = true
		s.tunDst, s.tunID = tnlPushHeader(args)
		s.tunPort, _, _ = keyField(args, "tnl_port(")
		// The encapsulated frame starts with a fresh Ethernet header.
		s.ntags, s.vlan = 0, -1
	}
}

func (p *flowParser) output(port string, st *actState) {
	o := Output{Port: port, VLAN: st.vlan, Tunnel: st.tunnel, TunnelDst: st.tunDst, TunnelID: st.tunID, TunnelPort: st.tunPort}
	if st.tunnel && o.TunnelPort == "" {
		o.TunnelPort = port
	}
	p.outs = append(p.outs, o)
}

// tnlPushHeader returns the outer IP destination and the VNI or key of
// tnl_push's arguments, as odp-util formats them:
//
//	tnl_port(vxlan_sys_4789),header(size=50,type=4,eth(dst=02:00:00:00:00:92,src=3a:66:7e:2c:5a:4d,dl_type=0x0800),ipv4(src=192.0.2.1,dst=192.0.2.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x64)),out_port(br-phys)
//
// with ipv6(src=…,dst=…,label=…) for an IPv6 underlay and, instead of
// vxlan(…), geneve([oam,][crit,]vni=0xc8[,options(…)]) or
// gre((flags=0x2000,proto=0x6558),key=0x64) (csum= and seq= optional).
func tnlPushHeader(args string) (dst string, id uint64) {
	hdr, _, ok := keyField(args, "header(")
	if !ok {
		return "", 0
	}
	for _, l3 := range [...]string{"ipv4(", "ipv6("} {
		if ip, _, ok := keyField(hdr, l3); ok {
			if v, ok := argValue(ip, "dst"); ok {
				dst = v
				break
			}
		}
	}
	for _, encap := range [...]struct{ field, arg string }{{"vxlan(", "vni"}, {"geneve(", "vni"}, {"gre(", "key"}} {
		if e, _, ok := keyField(hdr, encap.field); ok {
			if v, ok := argValue(e, encap.arg); ok {
				id, _ = parseNum(v)
			}
			break
		}
	}
	return dst, id
}
