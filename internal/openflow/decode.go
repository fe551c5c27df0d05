package openflow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errMalformed marks messages whose framing or fields are broken.
var errMalformed = errors.New("malformed OpenFlow message")

var be = binary.BigEndian

// statsHeader reads the fixed header of a statistics reply:
//
//	OpenFlow 1.0 ofp_stats_reply:      version:1 type:1(17) length:2 xid:4 stats_type:2 flags:2 body
//	OpenFlow 1.1+ ofp_multipart_reply: version:1 type:1(19) length:2 xid:4 stats_type:2 flags:2 pad:4 body
//
// and returns the statistics type, the flags and the body.
func statsHeader(c *codec, msg []byte) (statsType, flags uint16, body []byte, err error) {
	if len(msg) < c.statsHeader || int(be.Uint16(msg[2:4])) != len(msg) {
		return 0, 0, nil, fmt.Errorf("%w: statistics reply of %d bytes", errMalformed, len(msg))
	}
	if msg[0] != c.version || msg[1] != c.statsReply {
		return 0, 0, nil, fmt.Errorf("%w: version %d type %d, want a version %d statistics reply", errMalformed, msg[0], msg[1], c.version)
	}
	return be.Uint16(msg[8:10]), be.Uint16(msg[10:12]), msg[c.statsHeader:], nil
}

// decodeTableStats decodes one OFPMP_TABLE_STATS reply message, a body of
// fixed-size entries:
//
//	OpenFlow 1.0:  table_id:1 pad:3 name:32 wildcards:4 max_entries:4 active_count:4 lookup_count:8 matched_count:8
//	OpenFlow 1.1+: table_id:1 pad:3 active_count:4 lookup_count:8 matched_count:8
func decodeTableStats(c *codec, msg []byte) ([]TableStats, error) {
	st, _, body, err := statsHeader(c, msg)
	if err != nil {
		return nil, err
	}
	if st != statsTable {
		return nil, fmt.Errorf("%w: statistics type %d in answer to a table statistics request", errMalformed, st)
	}
	if len(body)%c.tableEntry != 0 {
		return nil, fmt.Errorf("%w: table statistics body of %d bytes is not a whole number of %d-byte entries",
			errMalformed, len(body), c.tableEntry)
	}
	// The counters sit at the end of the entry in every version.
	counters := c.tableEntry - 20
	out := make([]TableStats, 0, len(body)/c.tableEntry)
	for ; len(body) > 0; body = body[c.tableEntry:] {
		e := body[:c.tableEntry:c.tableEntry]
		out = append(out, TableStats{
			TableID:      e[0],
			ActiveCount:  be.Uint32(e[counters:]),
			LookupCount:  be.Uint64(e[counters+4:]),
			MatchedCount: be.Uint64(e[counters+12:]),
		})
	}
	return out, nil
}

// decodeFlowStats decodes one OFPMP_FLOW reply message, a body of
// ofp_flow_stats entries that each start with their length:2. The match
// renderings of all entries share one string, so a reply costs a handful
// of allocations whatever its size.
func decodeFlowStats(c *codec, msg []byte) ([]Flow, error) {
	st, _, body, err := statsHeader(c, msg)
	if err != nil {
		return nil, err
	}
	if st != statsFlow {
		return nil, fmt.Errorf("%w: statistics type %d in answer to a flow statistics request", errMalformed, st)
	}
	n, err := countEntries(body)
	if err != nil {
		return nil, err
	}
	flows := make([]Flow, 0, n)
	ends := make([]int, 0, n) // where each entry's match ends in matches
	matches := make([]byte, 0, len(body)/2)
	for len(body) > 0 {
		size := int(be.Uint16(body))
		f, m, err := c.flowEntry(body[:size:size], matches)
		if err != nil {
			return nil, fmt.Errorf("flow entry %d: %w", len(flows), err)
		}
		flows, matches = append(flows, f), m
		ends = append(ends, len(matches))
		body = body[size:]
	}
	all, start := string(matches), 0
	for i, end := range ends {
		flows[i].Match = all[start:end]
		start = end
	}
	return flows, nil
}

// countEntries checks the framing of a list of flow statistics entries
// and counts them.
func countEntries(body []byte) (int, error) {
	n := 0
	for len(body) > 0 {
		if len(body) < 2 {
			return 0, fmt.Errorf("%w: %d trailing bytes after flow entries", errMalformed, len(body))
		}
		size := int(be.Uint16(body))
		if size < 8 || size > len(body) {
			return 0, fmt.Errorf("%w: flow entry length %d with %d bytes left", errMalformed, size, len(body))
		}
		body = body[size:]
		n++
	}
	return n, nil
}

func align8(n int) int { return (n + 7) &^ 7 }

// flowEntry10 decodes an OpenFlow 1.0 ofp_flow_stats:
//
//	length:2 table_id:1 pad:1 match:40 duration_sec:4 duration_nsec:4
//	priority:2 idle_timeout:2 hard_timeout:2 pad:6 cookie:8
//	packet_count:8 byte_count:8 actions
func flowEntry10(raw, match []byte) (Flow, []byte, error) {
	const fixed = 88
	if len(raw) < fixed {
		return Flow{}, match, fmt.Errorf("%w: flow entry of %d bytes", errMalformed, len(raw))
	}
	f := Flow{
		TableID:     raw[2],
		DurationSec: be.Uint32(raw[44:]),
		Priority:    be.Uint16(raw[52:]),
		Cookie:      be.Uint64(raw[64:]),
		PacketCount: be.Uint64(raw[72:]),
		ByteCount:   be.Uint64(raw[80:]),
	}
	var err error
	f.Normal, err = actionsNormal(Version10, raw[fixed:])
	return f, appendMatch10(match, raw[4:44]), err
}

// flowEntry13 returns the decoder of an OpenFlow 1.3 or 1.4 ofp_flow_stats:
//
//	length:2 table_id:1 pad:1 duration_sec:4 duration_nsec:4 priority:2
//	idle_timeout:2 hard_timeout:2 flags:2 pad:4 cookie:8 packet_count:8
//	byte_count:8 match{type:2 length:2 oxm_fields pad-to-8} instructions
//
// (OpenFlow 1.4 names two of the padding bytes importance.)
func flowEntry13(version uint8) func(raw, match []byte) (Flow, []byte, error) {
	return func(raw, match []byte) (Flow, []byte, error) {
		const fixed = 48
		oxms, rest, err := cutMatch(raw, fixed)
		if err != nil {
			return Flow{}, match, err
		}
		f := Flow{
			TableID:     raw[2],
			DurationSec: be.Uint32(raw[4:]),
			Priority:    be.Uint16(raw[12:]),
			Cookie:      be.Uint64(raw[24:]),
			PacketCount: be.Uint64(raw[32:]),
			ByteCount:   be.Uint64(raw[40:]),
		}
		f.Normal, err = instructionsNormal(version, rest)
		return f, appendOXMs(match, version, oxms), err
	}
}

// flowEntry15 decodes an OpenFlow 1.5 ofp_flow_stats:
//
//	length:2 pad:2 table_id:1 reason:1 priority:2 idle_timeout:2
//	hard_timeout:2 flags:2 importance:2 cookie:8
//	match{type:2 length:2 oxm_fields pad-to-8}
//	stats{reserved:2 length:2 oxs_fields pad-to-8} instructions
//
// The duration and the counters are OXS fields of the stats part.
func flowEntry15(raw, match []byte) (Flow, []byte, error) {
	const fixed = 24
	oxms, rest, err := cutMatch(raw, fixed)
	if err != nil {
		return Flow{}, match, err
	}
	if len(rest) < 8 {
		return Flow{}, match, fmt.Errorf("%w: no statistics in a flow entry of %d bytes", errMalformed, len(raw))
	}
	slen := int(be.Uint16(rest[2:]))
	if slen < 4 || align8(slen) > len(rest) {
		return Flow{}, match, fmt.Errorf("%w: stats length %d in a flow entry of %d bytes", errMalformed, slen, len(raw))
	}
	f := Flow{TableID: raw[4], Priority: be.Uint16(raw[6:]), Cookie: be.Uint64(raw[16:])}
	if err := oxsCounters(rest[4:slen], &f); err != nil {
		return Flow{}, match, err
	}
	f.Normal, err = instructionsNormal(Version15, rest[align8(slen):])
	return f, appendOXMs(match, Version15, oxms), err
}

// cutMatch splits a flow entry at the ofp_match that follows its fixed
// part of the given size, match{type:2 length:2 oxm_fields pad-to-8},
// into the match's OXM fields and what follows the padded match.
func cutMatch(raw []byte, fixed int) (oxms, rest []byte, err error) {
	if len(raw) < fixed+8 {
		return nil, nil, fmt.Errorf("%w: flow entry of %d bytes", errMalformed, len(raw))
	}
	mlen := int(be.Uint16(raw[fixed+2:]))
	if mlen < 4 || fixed+align8(mlen) > len(raw) {
		return nil, nil, fmt.Errorf("%w: match length %d in a flow entry of %d bytes", errMalformed, mlen, len(raw))
	}
	return raw[fixed+4 : fixed+mlen : fixed+mlen], raw[fixed+align8(mlen):], nil
}

// oxsCounters reads the OpenFlow 1.5 OXS statistics of a flow entry, TLVs of
//
//	class:16(0x8002 OFPXSC_OPENFLOW_BASIC) field:7 hasmask:1 length:8 value
//
// with field 0 duration (sec<<32|nsec), 4 packet_count and 5 byte_count;
// other fields (idle_time, flow_count) and other classes are skipped.
func oxsCounters(b []byte, f *Flow) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("%w: %d stray bytes in flow statistics", errMalformed, len(b))
		}
		h := be.Uint32(b)
		n := 4 + int(h&0xff)
		if n > len(b) {
			return fmt.Errorf("%w: OXS field of %d bytes with %d left", errMalformed, n, len(b))
		}
		if h>>16 == 0x8002 && n == 12 {
			v := be.Uint64(b[4:])
			switch (h >> 9) & 0x7f {
			case 0:
				f.DurationSec = uint32(v >> 32)
			case 4:
				f.PacketCount = v
			case 5:
				f.ByteCount = v
			}
		}
		b = b[n:]
	}
	return nil
}

// walkTLVs calls fn for each element of a list of OpenFlow actions or
// instructions, which share the framing type:2 length:2 body, with lengths
// of at least 8 bytes (both are padded to 8-byte multiples).
func walkTLVs(b []byte, fn func(typ uint16, el []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("%w: %d stray bytes in an action list", errMalformed, len(b))
		}
		n := int(be.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			return fmt.Errorf("%w: element length %d with %d bytes left", errMalformed, n, len(b))
		}
		if err := fn(be.Uint16(b), b[:n:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Instruction types that carry an action list: type:2 length:2 pad:4 actions.
const (
	instructionWriteActions = 3 // OFPIT_WRITE_ACTIONS
	instructionApplyActions = 4 // OFPIT_APPLY_ACTIONS
)

// instructionsNormal reports whether an apply-actions or write-actions
// instruction of an OpenFlow 1.1+ instruction list outputs to NORMAL.
// Other instructions (goto-table, meters, experimenter ones) cannot.
func instructionsNormal(version uint8, b []byte) (bool, error) {
	normal := false
	err := walkTLVs(b, func(typ uint16, el []byte) error {
		if typ != instructionWriteActions && typ != instructionApplyActions {
			return nil
		}
		n, err := actionsNormal(version, el[8:])
		normal = normal || n
		return err
	})
	return normal, err
}

// actionsNormal reports whether an action list contains output:NORMAL
// itself, as an OFPAT_OUTPUT action
//
//	OpenFlow 1.0:  type:2=0 length:2=8 port:2 max_len:2
//	OpenFlow 1.1+: type:2=0 length:2=16 port:4 max_len:2 pad:6
//
// Every other action is skipped unread, so actions unknown here (Nicira
// extensions newer than this code, say) cost nothing; nested lists
// (clone) and resubmits are deliberately not followed.
func actionsNormal(version uint8, b []byte) (bool, error) {
	normal := false
	err := walkTLVs(b, func(typ uint16, el []byte) error {
		switch {
		case typ != 0:
		case version == Version10 && len(el) == 8:
			normal = normal || be.Uint16(el[4:]) == port10(PortNormal)
		case version != Version10 && len(el) == 16:
			normal = normal || be.Uint32(el[4:]) == PortNormal
		}
		return nil
	})
	return normal, err
}

// decodeError turns an OpenFlow ERROR message into an *Error:
//
//	header:8 type:2 code:2 data
//
// (for the experimenter type 0xffff, code is the experimenter's exp_code).
func decodeError(c *codec, msg []byte) error {
	if len(msg) < 12 {
		return fmt.Errorf("undecodable OpenFlow error message: %w: %d bytes", errMalformed, len(msg))
	}
	e := &Error{Type: be.Uint16(msg[8:]), Code: be.Uint16(msg[10:])}
	e.Name = errorName(c.version, e.Type)
	return e
}

// errorTypes10 and errorTypes are the names of the ofp_error_type values
// of OpenFlow 1.0 and of 1.3 and later (1.3 defines the first 14).
var (
	errorTypes10 = []string{"HelloFailed", "BadRequest", "BadAction", "FlowModFailed", "PortModFailed", "QueueOpFailed"}
	errorTypes   = []string{"HelloFailed", "BadRequest", "BadAction", "BadInstruction", "BadMatch", "FlowModFailed",
		"GroupModFailed", "PortModFailed", "TableModFailed", "QueueOpFailed", "SwitchConfigFailed",
		"RoleRequestFailed", "MeterModFailed", "TableFeaturesFailed",
		"BadProperty", "AsyncConfigFailed", "FlowMonitorFailed", "BundleFailed"}
)

// errorName names an error type as in "BadRequestErrorMsg".
func errorName(version uint8, typ uint16) string {
	names := errorTypes
	switch version {
	case Version10:
		names = errorTypes10
	case Version13:
		names = errorTypes[:14]
	}
	switch {
	case int(typ) < len(names):
		return names[typ] + "ErrorMsg"
	case typ == 0xffff && version != Version10:
		return "ExperimenterErrorMsg"
	}
	return "ErrorMsg"
}

// helloVersions returns the versions a HELLO offers as a bitmap (bit n set
// for wire version n): its version-bitmap element when present, otherwise
// every version up to the one in the header. The elements are
//
//	type:2 length:2 body pad-to-8, version bitmap: type 1, body bitmaps:4...
//
// Open vSwitch sends the bitmap unless it allows every version from 1.0
// up, even when its highest version predates the element
// (protocols=OpenFlow11,OpenFlow12 gives a version 3 HELLO with a bitmap).
func helloVersions(msg []byte) uint32 {
	if len(msg) == 0 {
		return 0
	}
	v := min(msg[0], 31)
	all := uint32(1)<<(v+1) - 2
	for b := msg[min(8, len(msg)):]; len(b) >= 4; {
		typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return all
		}
		if typ == helloElemVersionBitmap && n >= 8 {
			return be.Uint32(b[4:])
		}
		b = b[min(align8(n), len(b)):]
	}
	return all
}
