package ovs

import (
	"fmt"
	"strings"
)

// Trace is the parsed reply to "ofproto/trace <bridge> <flow>": which
// OpenFlow rules the flow went through and what the datapath does with it.
type Trace struct {
	// Flow is the flow as OVS completed it ("Flow: ...").
	Flow string
	// Bridges are the bridges the trace went through, in order of first
	// appearance (a patch port leads into a second bridge).
	Bridges []string
	// Steps are the OpenFlow rules hit, in order.
	Steps []TraceStep
	// Flooded is true when a NORMAL action flooded because the
	// destination MAC was not learned, in this trace or (for the
	// top-level Trace) any of its Resumed sections.
	Flooded bool
	// FloodStep is the rule whose NORMAL flooded (the first one, if
	// several did); nil when nothing flooded.
	FloodStep *TraceStep
	// FinalFlow is the flow after the actions' changes ("unchanged" when
	// there were none).
	FinalFlow string
	// Megaflow is the datapath flow key the translation produced.
	Megaflow string
	// DatapathActions is the datapath action list ("drop" when none).
	DatapathActions string
	// Resume is, for a section in Resumed, its header, e.g.
	// "recirc(0x1) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)".
	Resume string
	// Resumed are the sections that follow a recirculation (conntrack,
	// tunnel decapsulation), each a trace of its own.
	Resumed []Trace
	// Skipped counts lines that were not understood.
	Skipped int
}

// TraceStep is one OpenFlow rule in a trace.
type TraceStep struct {
	// Bridge is the bridge whose table holds the rule.
	Bridge string
	// Depth is 0 for steps of the traced packet and more for nested
	// translations (e.g. the underlay bridge a native tunnel sends the
	// encapsulated packet through).
	Depth int
	Table int
	// Priority is the rule's priority, -1 when no rule matched ("No
	// match.").
	Priority int
	Cookie   uint64
	// Match is the rule's match ("" for a catch-all rule).
	Match string
	// Actions are the rule's action lines as printed, e.g. "resubmit(,94)",
	// "NORMAL", "output:6".
	Actions []string
	// Notes are the "-> ..." explanation lines under the actions, without
	// the arrow, e.g. "no learned MAC for destination, flooding".
	Notes []string
}

const floodNote = "no learned MAC for destination, flooding"

// ParseTrace parses the reply to ofproto/trace:
//
//	Flow: in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,dl_type=0x0000
//
//	bridge("br-int")
//	----------------
//	 0. priority 10
//	    resubmit(,94)
//	94. priority 1, cookie 0xe4fc1a92d440c578
//	    NORMAL
//	     -> no learned MAC for destination, flooding
//
//	Final flow: unchanged
//	Megaflow: recirc_id=0,eth,in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:64,dl_type=0x0000
//	Datapath actions: push_vlan(vid=10,pcp=0),1,pop_vlan,3,4,7
//
// Rule lines are "<table>. [<match>, ]priority <n>[, cookie 0x<hex>]" or
// "<table>. No match."; the lines indented under them are its actions and
// "-> " notes. Nested translations are indented further, with their own
// bridge("...") header. After a recirculation (ct(), tnl_pop) the trace
// continues in sections introduced by
//
//	===============================================================================
//	recirc(0x1) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)
//	===============================================================================
//
// which are returned in Resumed.
func ParseTrace(text string) (Trace, error) {
	var (
		top      Trace
		cur      = &top
		p        traceParser
		inHeader bool // between the two ==== lines of a resume header
	)
	recognized := 0
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		ind := indentOf(line)
		switch {
		case strings.Trim(t, "=") == "":
			if !inHeader {
				p.finish(cur)
				top.Resumed = append(top.Resumed, Trace{})
				cur = &top.Resumed[len(top.Resumed)-1]
				p = traceParser{}
			}
			inHeader = !inHeader
			recognized++
		case inHeader:
			cur.Resume = t
		case strings.Trim(t, "-") == "":
			// underline of bridge("...")
		case ind == 0 && strings.HasPrefix(t, "Flow: "):
			cur.Flow = t[len("Flow: "):]
			recognized++
		case ind == 0 && strings.HasPrefix(t, "Final flow: "):
			cur.FinalFlow = t[len("Final flow: "):]
		case ind == 0 && strings.HasPrefix(t, "Megaflow: "):
			cur.Megaflow = t[len("Megaflow: "):]
			recognized++
		case ind == 0 && strings.HasPrefix(t, "Datapath actions: "):
			cur.DatapathActions = t[len("Datapath actions: "):]
			recognized++
		case len(t) >= len(`bridge("")`) && strings.HasPrefix(t, `bridge("`) && strings.HasSuffix(t, `")`):
			p.bridge(cur, ind, t[len(`bridge("`):len(t)-2])
			recognized++
		default:
			if step, ok := parseStepHeader(t); ok {
				p.step(cur, ind, step)
				recognized++
				continue
			}
			if ind == 0 || !p.line(cur, ind, t) {
				cur.Skipped++
			}
		}
	}
	p.finish(cur)
	if recognized == 0 {
		return Trace{}, fmt.Errorf("ofproto/trace: no trace in reply (%d lines not understood)", top.Skipped)
	}
	top.summarize()
	return top, nil
}

// summarize adds up the Resumed sections into the top-level trace.
func (top *Trace) summarize() {
	seen := make(map[string]bool, len(top.Bridges))
	for _, b := range top.Bridges {
		seen[b] = true
	}
	for i := range top.Resumed {
		r := &top.Resumed[i]
		top.Skipped += r.Skipped
		for _, b := range r.Bridges {
			if !seen[b] {
				seen[b] = true
				top.Bridges = append(top.Bridges, b)
			}
		}
		if r.Flooded && !top.Flooded {
			top.Flooded, top.FloodStep = true, r.FloodStep
		}
	}
}

// traceParser tracks the nesting of one trace section: which bridge and
// which rule each indentation level belongs to.
type traceParser struct {
	bridges []levelName // open bridge("...") headers
	steps   []levelStep // open rule lines
	flood   int         // index+1 of the first flooding step
	// seen holds the section's Bridges, so that a reply naming thousands
	// of bridges costs a lookup per line, not a scan.
	seen map[string]bool
}

type levelName struct {
	indent int
	name   string
}

type levelStep struct {
	level int // indentation rounded down to a multiple of 4
	index int // into Trace.Steps
}

func (p *traceParser) bridge(tr *Trace, ind int, name string) {
	for len(p.bridges) > 0 && p.bridges[len(p.bridges)-1].indent >= ind {
		p.bridges = p.bridges[:len(p.bridges)-1]
	}
	p.bridges = append(p.bridges, levelName{ind, name})
	if !p.seen[name] {
		if p.seen == nil {
			p.seen = make(map[string]bool)
		}
		p.seen[name] = true
		tr.Bridges = append(tr.Bridges, name)
	}
}

func (p *traceParser) step(tr *Trace, ind int, s TraceStep) {
	// Rule lines right-align the table number ("%2d."): " 0." and "94."
	// are the same level.
	level := ind / 4 * 4
	for len(p.bridges) > 0 && p.bridges[len(p.bridges)-1].indent > ind {
		p.bridges = p.bridges[:len(p.bridges)-1]
	}
	for len(p.steps) > 0 && p.steps[len(p.steps)-1].level >= level {
		p.steps = p.steps[:len(p.steps)-1]
	}
	if len(p.bridges) > 0 {
		s.Bridge = p.bridges[len(p.bridges)-1].name
	}
	s.Depth = len(p.steps)
	tr.Steps = append(tr.Steps, s)
	p.steps = append(p.steps, levelStep{level, len(tr.Steps) - 1})
}

// line files an indented action or note line under the rule it belongs
// to; lines outside any rule ("thaw", "Resuming from table 94") are
// accepted and dropped.
func (p *traceParser) line(tr *Trace, ind int, t string) bool {
	for len(p.bridges) > 0 && p.bridges[len(p.bridges)-1].indent >= ind {
		p.bridges = p.bridges[:len(p.bridges)-1]
	}
	for len(p.steps) > 0 && p.steps[len(p.steps)-1].level >= ind {
		p.steps = p.steps[:len(p.steps)-1]
	}
	if len(p.steps) == 0 {
		return true
	}
	idx := p.steps[len(p.steps)-1].index
	s := &tr.Steps[idx]
	if note, ok := strings.CutPrefix(t, "->"); ok {
		note = strings.TrimSpace(note)
		s.Notes = append(s.Notes, note)
		if note == floodNote && p.flood == 0 {
			p.flood = idx + 1
		}
		return true
	}
	s.Actions = append(s.Actions, t)
	return true
}

// finish sets the flood fields once Steps will no longer move.
func (p *traceParser) finish(tr *Trace) {
	if p.flood > 0 {
		tr.Flooded = true
		tr.FloodStep = &tr.Steps[p.flood-1]
	}
}

// parseStepHeader parses "94. in_port=1,dl_dst=02:00:00:00:00:64, priority
// 12, cookie 0xe4fc1a92d440c579", " 0. priority 10" or " 5. No match.".
func parseStepHeader(t string) (TraceStep, bool) {
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 || i > 3 || !strings.HasPrefix(t[i:], ". ") {
		return TraceStep{}, false
	}
	table, ok := parseDec(t[:i])
	if !ok || table > 255 {
		return TraceStep{}, false
	}
	s := TraceStep{Table: int(table)}
	rest := t[i+2:]
	if rest == "No match." {
		s.Priority = -1
		return s, true
	}
	var prio string
	if r, ok := strings.CutPrefix(rest, "priority "); ok {
		prio = r
	} else if j := strings.LastIndex(rest, ", priority "); j >= 0 {
		s.Match = rest[:j]
		prio = rest[j+len(", priority "):]
	} else {
		return TraceStep{}, false
	}
	prio, tail, _ := strings.Cut(prio, ", ")
	n, ok := parseDec(prio)
	if !ok || n > 65535 {
		return TraceStep{}, false
	}
	s.Priority = int(n)
	for tail != "" {
		var item string
		item, tail, _ = strings.Cut(tail, ", ")
		if c, ok := strings.CutPrefix(item, "cookie 0x"); ok {
			if v, ok := parseHex(c); ok {
				s.Cookie = v
			}
		}
	}
	return s, true
}
