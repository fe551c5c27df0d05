package agent

import "strings"

// interner keeps one copy of each port name. Parsers return substrings of
// OVS's reply (a megaflow dump is megabytes); a name kept across polls in
// the detector's memory would otherwise pin a whole reply per poll.
type interner map[string]string

func (in interner) get(s string) string {
	if s == "" { // most outputs name no tunnel
		return ""
	}
	if v, ok := in[s]; ok {
		return v
	}
	if len(in) > 1<<16 { // names are bounded by ports; this is a safety valve
		clear(in)
	}
	c := strings.Clone(s)
	in[c] = c
	return c
}
