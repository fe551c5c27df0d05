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
	i, more, err := openContainer(b, '[', ']', "an array")
	for more && err == nil {
		var end int
		if end, err = skipValue(b, i); err != nil {
			return err
		}
		if err := fn(trimSpace(b[i:end])); err != nil {
			return err
		}
		i, more, err = nextInContainer(b, end, ']', "an array")
	}
	return err
}

// eachMember calls fn with the raw (quoted) name and the value of every
// member of the JSON object b.
func eachMember(b []byte, fn func(name, value []byte) error) error {
	i, more, err := openContainer(b, '{', '}', "an object")
	for more && err == nil {
		if i >= len(b) || b[i] != '"' {
			return errors.New("object member without a name")
		}
		var nameEnd, end int
		if nameEnd, err = skipString(b, i); err != nil {
			return err
		}
		name := b[i:nameEnd]
		i = skipSpace(b, nameEnd)
		if i >= len(b) || b[i] != ':' {
			return errors.New("object member without a value")
		}
		start := skipSpace(b, i+1)
		if end, err = skipValue(b, start); err != nil {
			return err
		}
		if err := fn(name, b[start:end]); err != nil {
			return err
		}
		i, more, err = nextInContainer(b, end, '}', "an object")
	}
	return err
}

// openContainer checks that b opens with opener (an array or an object,
// what) and returns where its first element starts; more is false when
// closer follows at once.
func openContainer(b []byte, opener, closer byte, what string) (i int, more bool, err error) {
	i = skipSpace(b, 0)
	if i >= len(b) || b[i] != opener {
		return 0, false, fmt.Errorf("got %s, want %s", short(b), what)
	}
	i = skipSpace(b, i+1)
	return i, i >= len(b) || b[i] != closer, nil
}

// nextInContainer reads what follows an element ending at end: a comma
// (more is true and i is where the next element starts) or closer.
func nextInContainer(b []byte, end int, closer byte, what string) (i int, more bool, err error) {
	i = skipSpace(b, end)
	if i >= len(b) {
		return 0, false, errTruncated
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), true, nil
	case closer:
		return i, false, nil
	}
	return 0, false, fmt.Errorf("unexpected %q in %s", b[i], what)
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
