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

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseMACInto parses the form OVS prints (ETH_ADDR_FMT,
// "02:00:00:00:00:01") into dst, which must have room for 6 bytes.
func parseMACInto(s string, dst []byte) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[3*i-1] != ':' {
			return false
		}
		hi, ok1 := hexNibble(s[3*i])
		lo, ok2 := hexNibble(s[3*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
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
