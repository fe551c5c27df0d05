package ovsdbrpc

import (
	"errors"
	"fmt"
)

// The functions here walk JSON that json.Valid has accepted, finding where
// values begin and end without decoding them, so that a reply's rows can
// be read in place. They still check every index: bytes that are not valid
// JSON give an error, never a panic.

var errTruncated = errors.New("truncated JSON value")

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value starting at i.
func skipValue(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, errTruncated
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errTruncated
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != ']' && b[j] != '}' &&
			b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("unexpected %q", b[i])
		}
		return j, nil
	}
}

// skipString returns the index just after the string starting at i.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errTruncated
}

// eachElem calls fn with every element of the JSON array b.
func eachElem(b []byte, fn func(elem []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return fmt.Errorf("got %s, want an array", short(b))
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for {
		end, err := skipValue(b, i)
		if err != nil {
			return err
		}
		if err := fn(trimSpace(b[i:end])); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errTruncated
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return nil
		default:
			return fmt.Errorf("unexpected %q in an array", b[i])
		}
	}
}

// eachMember calls fn with the raw (quoted) name and the value of every
// member of the JSON object b.
func eachMember(b []byte, fn func(name, value []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("got %s, want an object", short(b))
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errors.New("object member without a name")
		}
		nameEnd, err := skipString(b, i)
		if err != nil {
			return err
		}
		name := b[i:nameEnd]
		i = skipSpace(b, nameEnd)
		if i >= len(b) || b[i] != ':' {
			return errors.New("object member without a value")
		}
		start := skipSpace(b, i+1)
		end, err := skipValue(b, start)
		if err != nil {
			return err
		}
		if err := fn(name, b[start:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errTruncated
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("unexpected %q in an object", b[i])
		}
	}
}

func trimSpace(b []byte) []byte {
	i := skipSpace(b, 0)
	j := len(b)
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\n' || b[j-1] == '\r') {
		j--
	}
	return b[i:j]
}

// isNull reports whether b is the JSON literal null.
func isNull(b []byte) bool { return string(trimSpace(b)) == "null" }

// short renders JSON for an error message, cut so that a huge value cannot
// flood the log.
func short(b []byte) string {
	const maxLen = 80
	if len(b) > maxLen {
		return string(b[:maxLen]) + "…"
	}
	return string(b)
}
