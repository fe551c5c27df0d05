package ovs

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// FDBEntry is one entry of a bridge's MAC learning table.
type FDBEntry struct {
	// Port is the OpenFlow port number as printed ("1"), or "LOCAL" for
	// the bridge's internal port.
	Port string
	// VLAN is the VLAN the MAC was learned in (0 for untagged).
	VLAN uint16
	MAC  net.HardwareAddr
	// Age is the seconds since the MAC was last seen, -1 for a static
	// entry.
	Age int
	// Static is true for entries added with fdb/add, which never age.
	Static bool
}

// FDBTable is the parsed reply to fdb/show.
type FDBTable struct {
	Entries []FDBEntry
	// Skipped counts lines that were not understood.
	Skipped int
}

const fdbHeader = " port  VLAN  MAC                Age"

// fdbMinLine is the length of the shortest entry line fdb/show prints,
// "%5s  %4d  ETH_ADDR_FMT  %3d\n": "    1    10  02:00:00:00:00:01    1\n".
const fdbMinLine = 36

// ParseFDBShow parses the reply to "fdb/show <bridge>": a header, then one
// line per entry with the OpenFlow port (a number or LOCAL), the VLAN, the
// MAC and the age in seconds or "static":
//
//	 port  VLAN  MAC                Age
//	    1    10  02:00:00:00:00:01    1
//	    2    10  02:aa:00:00:00:01  static
//	LOCAL     0  3a:66:7e:2c:5a:4d    1
func ParseFDBShow(text string) (FDBTable, error) {
	var t FDBTable
	header := false
	// Preallocate for the entries the text can hold (a line is at least
	// fdbMinLine bytes), not for its line count: a reply of blank lines
	// must not cost more than the entries it could have held.
	t.Entries = make([]FDBEntry, 0, min(strings.Count(text, "\n"), len(text)/fdbMinLine))
	// One backing array for all MACs: the table can hold 50,000 entries.
	macs := make([]byte, 0, 6*cap(t.Entries))
	var f [5]string
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.TrimRight(line, " ") == fdbHeader {
			header = true
			continue
		}
		if fields(line, f[:]) != 4 {
			t.Skipped++
			continue
		}
		vlan, ok1 := parseDec(f[1])
		if len(macs)+6 > cap(macs) {
			macs = make([]byte, 0, 6*64)
		}
		mac := macs[len(macs) : len(macs)+6 : len(macs)+6]
		ok2 := parseMACInto(f[2], mac)
		if !ok1 || !ok2 || vlan > 4095 {
			t.Skipped++
			continue
		}
		macs = macs[:len(macs)+6]
		e := FDBEntry{Port: f[0], VLAN: uint16(vlan), MAC: net.HardwareAddr(mac)}
		if f[3] == "static" {
			e.Age, e.Static = -1, true
		} else if age, ok := parseDec(f[3]); ok && age <= 1<<31-1 {
			e.Age = int(age)
		} else {
			t.Skipped++
			continue
		}
		t.Entries = append(t.Entries, e)
	}
	if !header && len(t.Entries) == 0 {
		return FDBTable{}, errors.New("fdb/show: no MAC table in reply")
	}
	return t, nil
}

// FDBStats is the parsed reply to fdb/stats-show: the size of a bridge's
// MAC learning table and its lifetime counters.
type FDBStats struct {
	// Bridge is the bridge the statistics are for.
	Bridge string
	// Entries and MaxEntries are the current and maximum table size
	// (other_config:mac-table-size).
	Entries, MaxEntries uint64
	// StaticEntries is the number of entries added with fdb/add.
	StaticEntries uint64
	// Learned, Expired, Evicted and Moved count, since vswitchd started,
	// MACs learned, aged out, evicted from a full table, and moved from
	// one port to another.
	Learned, Expired, Evicted, Moved uint64
	// Skipped counts lines that were not understood.
	Skipped int
}

// ParseFDBStats parses the reply to "fdb/stats-show <bridge>":
//
//	Statistics for bridge "br-int":
//	  Current/maximum MAC entries in the table: 1/8192
//	  Current static MAC entries in the table : 0
//	  Total number of learned MAC entries     : 1
//	  Total number of expired MAC entries     : 0
//	  Total number of evicted MAC entries     : 0
//	  Total number of port moved MAC entries  : 0
func ParseFDBStats(text string) (FDBStats, error) {
	var s FDBStats
	found := 0
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if b, ok := strings.CutPrefix(t, "Statistics for bridge \""); ok && strings.HasSuffix(b, "\":") {
			s.Bridge = b[:len(b)-2]
			continue
		}
		i := strings.LastIndexByte(t, ':')
		if i < 0 {
			s.Skipped++
			continue
		}
		label, val := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:])
		var dst *uint64
		switch label {
		case "Current/maximum MAC entries in the table":
			cur, max, ok := strings.Cut(val, "/")
			n1, ok1 := parseDec(cur)
			n2, ok2 := parseDec(max)
			if !ok || !ok1 || !ok2 {
				s.Skipped++
				continue
			}
			s.Entries, s.MaxEntries = n1, n2
			found++
			continue
		case "Current static MAC entries in the table":
			dst = &s.StaticEntries
		case "Total number of learned MAC entries":
			dst = &s.Learned
		case "Total number of expired MAC entries":
			dst = &s.Expired
		case "Total number of evicted MAC entries":
			dst = &s.Evicted
		case "Total number of port moved MAC entries":
			dst = &s.Moved
		default:
			s.Skipped++
			continue
		}
		n, ok := parseDec(val)
		if !ok {
			s.Skipped++
			continue
		}
		*dst = n
		found++
	}
	if found == 0 {
		return FDBStats{}, fmt.Errorf("fdb/stats-show: no statistics in reply (%d lines not understood)", s.Skipped)
	}
	return s, nil
}
