package ovs

import (
	"strconv"
	"strings"
)

// cutLine returns the first line of s (without its newline, and without a
// trailing carriage return) and the rest of s.
func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		line, rest = s, ""
	} else {
		line, rest = s[:i], s[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// indentOf returns the number of leading spaces of line.
func indentOf(line string) int {
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	return i
}

// parseDec parses an unsigned decimal number the way OVS prints one
// (%PRIu64: digits only, no sign, no leading zeros).
func parseDec(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseHex parses hexadecimal digits (no prefix, no sign, no underscores).
func parseHex(s string) (uint64, bool) {
	if s == "" || len(s) > 16 || s[0] == '+' || s[0] == '-' || strings.ContainsRune(s, '_') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil
}

// parseNum parses a decimal number or a 0x-prefixed hexadecimal one, as
// OVS prints with %#x ("0" and "0x2").
func parseNum(s string) (uint64, bool) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return parseHex(s[2:])
	}
	return parseDec(s)
}

// hexValue maps a hexadecimal digit to its value and any other byte to
// 0x10, so that a MAC is decoded with lookups and one test at the end
// instead of a range test per digit: a dump has two MACs per flow.
var hexValue = func() (t [256]byte) {
	for c := range t {
		t[c] = 0x10
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c], t[c-'a'+'A'] = byte(c-'a'+10), byte(c-'a'+10)
	}
	return t
}()

// parseMACInto parses the form OVS prints (ETH_ADDR_FMT,
// "02:00:00:00:00:01") into dst, which must have room for 6 bytes.
func parseMACInto(s string, dst []byte) bool {
	if len(s) != 17 || len(dst) < 6 {
		return false
	}
	if s[2] != ':' || s[5] != ':' || s[8] != ':' || s[11] != ':' || s[14] != ':' {
		return false
	}
	var bad byte
	for i := range 6 {
		hi, lo := hexValue[s[3*i]], hexValue[s[3*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad < 16
}

// fields splits s on runs of spaces into at most len(dst) fields, returning
// how many it found; it reports more than len(dst) as len(dst)+1. It does
// not allocate.
func fields(s string, dst []string) int {
	n := 0
	for {
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			s = s[1:]
		}
		if s == "" {
			return n
		}
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		if n == len(dst) {
			return n + 1
		}
		dst[n] = s[:i]
		n++
		s = s[i:]
	}
}
