package unixctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// frameReader splits a byte stream into JSON objects. OVS does not frame
// its JSON-RPC messages, so the end of a reply is found by tracking
// nesting outside strings. Bytes after a complete object stay buffered
// for the next call.
type frameReader struct {
	r          io.Reader
	buf        []byte
	start, end int
}

const readChunk = 64 << 10

func (f *frameReader) reset(r io.Reader) {
	f.r = r
	f.start, f.end = 0, 0
	// Drop a buffer a previous huge reply left behind.
	if cap(f.buf) > 4*readChunk {
		f.buf = nil
	}
}

// next returns the next JSON object in the stream, at most max bytes
// long, and how many bytes of it had been received when an error ended
// the read (0 when the peer closed before replying). The returned slice
// is valid until the next call.
func (f *frameReader) next(max int) (frame []byte, received int, err error) {
	// Skip whitespace between messages.
	i := f.start
	depth := 0
	inStr := false
	began := false
	idle := 0
	for {
		for i < f.end {
			if inStr {
				// Jump to the next quote; it closes the string unless an
				// odd number of backslashes precedes it.
				j := bytes.IndexByte(f.buf[i:f.end], '"')
				if j < 0 {
					i = f.end
					break
				}
				q := i + j
				k := q - 1
				for k >= f.start && f.buf[k] == '\\' {
					k--
				}
				i = q + 1
				if (q-1-k)%2 == 0 {
					inStr = false
				}
				continue
			}
			b := f.buf[i]
			i++
			if !began {
				switch b {
				case ' ', '\t', '\r', '\n':
					f.start = i
					continue
				case '{':
					began = true
					depth = 1
					continue
				default:
					return nil, i - f.start, fmt.Errorf("%w: expected a JSON object, got %q", ErrProtocol, b)
				}
			}
			switch b {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					frame = f.buf[f.start:i]
					f.start = i
					if len(frame) > max {
						return nil, len(frame), ErrReplyTooLarge
					}
					return frame, len(frame), nil
				}
			}
		}
		if began && i-f.start > max {
			return nil, i - f.start, ErrReplyTooLarge
		}
		// Need more input: compact, grow, read.
		if f.start > 0 {
			n := copy(f.buf, f.buf[f.start:f.end])
			i -= f.start
			f.end = n
			f.start = 0
		}
		if f.end == len(f.buf) {
			size := 2 * len(f.buf)
			if size < readChunk {
				size = readChunk
			}
			if limit := max + readChunk; size > limit {
				size = limit
			}
			if size <= len(f.buf) {
				return nil, f.end, ErrReplyTooLarge
			}
			nb := make([]byte, size)
			copy(nb, f.buf[:f.end])
			f.buf = nb
		}
		n, err := f.r.Read(f.buf[f.end:])
		f.end += n
		if n == 0 && err == nil {
			if idle++; idle > 100 {
				err = io.ErrNoProgress
			}
		}
		if err != nil && n == 0 {
			partial := f.end - f.start
			if errors.Is(err, io.EOF) && partial > 0 {
				err = io.ErrUnexpectedEOF
			}
			if !began {
				partial = 0
			}
			return nil, partial, err
		}
	}
}

// reply is a decoded JSON-RPC reply.
type reply struct {
	hasID    bool
	id       uint64
	rawID    string
	result   string
	hasError bool
	errMsg   string
}

// decodeReply decodes one reply object. Replies are parsed by hand
// because a reply can be megabytes of one escaped string (a flow dump)
// and encoding/json validates and unescapes it byte by byte several
// times; anything unusual falls back to encoding/json.
func decodeReply(b []byte) (reply, error) {
	if r, ok := fastDecode(b); ok {
		return r, nil
	}
	return slowDecode(b)
}

func slowDecode(b []byte) (reply, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return reply{}, err
	}
	var r reply
	if raw, ok := m["id"]; ok {
		r.rawID = string(raw)
		if id, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
			r.hasID, r.id = true, id
		}
	} else {
		r.rawID = "(none)"
	}
	r.result = rawText(m["result"])
	if raw, ok := m["error"]; ok && string(raw) != "null" {
		r.hasError = true
		r.errMsg = rawText(raw)
	}
	return r, nil
}

// rawText returns a JSON string's value, "" for null or absent, and other
// JSON values as their text (newer OVS can reply with JSON objects).
func rawText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

// fastDecode handles the shape OVS sends: one flat object whose values
// are strings, null or unsigned integers. ok is false for anything else.
func fastDecode(b []byte) (r reply, ok bool) {
	p := parser{b: b}
	if !p.consume('{') {
		return r, false
	}
	if p.consume('}') {
		r.rawID = "(none)"
		p.ws()
		return r, p.i == len(p.b)
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return r, false
		}
		p.ws()
		if p.i >= len(p.b) {
			return r, false
		}
		switch c := p.b[p.i]; {
		case c == '"':
			v, ok := p.str()
			if !ok {
				return r, false
			}
			switch key {
			case "result":
				r.result = v
			case "error":
				r.hasError, r.errMsg = true, v
			case "id":
				return r, false // string ids are not ours
			}
		case c == 'n':
			if !bytes.HasPrefix(p.b[p.i:], []byte("null")) {
				return r, false
			}
			p.i += 4
			if key == "id" {
				r.rawID = "null"
			}
		case c >= '0' && c <= '9':
			j := p.i
			for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
				j++
			}
			if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
				return r, false
			}
			num := string(p.b[p.i:j])
			p.i = j
			n, err := strconv.ParseUint(num, 10, 64)
			if err != nil || (len(num) > 1 && num[0] == '0') {
				return r, false
			}
			switch key {
			case "id":
				r.hasID, r.id, r.rawID = true, n, num
			case "result", "error":
				return r, false
			}
		default:
			return r, false
		}
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			p.ws()
			if !r.hasID && r.rawID == "" {
				r.rawID = "(none)"
			}
			return r, p.i == len(p.b)
		}
		return r, false
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) consume(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str parses a JSON string starting at the next non-space byte.
func (p *parser) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	// Find the closing quote, checking that there is nothing encoding/json
	// would treat differently (control bytes, invalid UTF-8).
	var sb strings.Builder
	plain := true
	seg := start
	ascii := true
	for p.i < len(p.b) {
		// Skip the bytes that need no attention (nearly all of them).
		b, i := p.b, p.i
		for i < len(b) && !strSpecial[b[i]] {
			i++
		}
		p.i = i
		if p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			chunk := p.b[seg:p.i]
			if !ascii && !utf8.Valid(chunk) {
				return "", false
			}
			p.i++
			if plain {
				return string(chunk), true
			}
			sb.Write(chunk)
			return sb.String(), true
		case c == '\\':
			chunk := p.b[seg:p.i]
			if !ascii && !utf8.Valid(chunk) {
				return "", false
			}
			if plain {
				plain = false
				sb.Grow(len(p.b) - start)
			}
			sb.Write(chunk)
			ascii = true
			if !p.escape(&sb) {
				return "", false
			}
			seg = p.i
		case c < 0x20:
			return "", false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			p.i++
		}
	}
	return "", false
}

// strSpecial marks the bytes a JSON string scan must stop at: the
// closing quote, escapes, control bytes (invalid raw) and non-ASCII bytes
// (UTF-8 to validate).
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\'
	}
	return t
}()

// escape decodes the escape sequence at p.i (a backslash) into sb.
func (p *parser) escape(sb *strings.Builder) bool {
	if p.i+1 >= len(p.b) {
		return false
	}
	c := p.b[p.i+1]
	p.i += 2
	switch c {
	case '"', '\\', '/':
		sb.WriteByte(c)
	case 'b':
		sb.WriteByte('\b')
	case 'f':
		sb.WriteByte('\f')
	case 'n':
		sb.WriteByte('\n')
	case 'r':
		sb.WriteByte('\r')
	case 't':
		sb.WriteByte('\t')
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return false
		}
		if utf16.IsSurrogate(r) {
			// A valid pair combines; anything else is U+FFFD, as in
			// encoding/json.
			if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
				save := p.i
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return false
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					sb.WriteRune(dec)
					return true
				}
				p.i = save
			}
			r = utf8.RuneError
		}
		sb.WriteRune(r)
	default:
		return false
	}
	return true
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}
