package unixctl

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// frameReader splits a byte stream into JSON objects. OVS does not frame
// its JSON-RPC messages, so the end of a reply is found by tracking
// nesting outside strings. Bytes after a complete object stay buffered
// for the next call.
type frameReader struct {
	r          io.Reader
	buf        []byte
	start, end int // the unread bytes: buf[start:end]

	// Scan state of the object being framed, which starts at buf[start].
	pos   int  // next byte to look at
	depth int  // nesting of {} and [] outside strings
	inStr bool // pos is inside a string
	began bool // the opening '{' was seen
	idle  int  // reads in a row that returned nothing
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
func (f *frameReader) next(limit int) (frame []byte, received int, err error) {
	f.pos, f.depth, f.inStr, f.began, f.idle = f.start, 0, false, false, 0
	for {
		frame, done, err := f.scan()
		if err != nil {
			return nil, f.pos - f.start, err
		}
		if done {
			if len(frame) > limit {
				return nil, len(frame), ErrReplyTooLarge
			}
			return frame, len(frame), nil
		}
		if f.began && f.pos-f.start > limit {
			return nil, f.pos - f.start, ErrReplyTooLarge
		}
		if err := f.fill(limit); err != nil {
			partial := f.end - f.start
			if errors.Is(err, io.EOF) && partial > 0 {
				err = io.ErrUnexpectedEOF
			}
			if !f.began {
				partial = 0
			}
			return nil, partial, err
		}
	}
}

// scan advances over the buffered bytes. done is true when the object is
// complete: frame is then the object and the reader is positioned after it.
func (f *frameReader) scan() (frame []byte, done bool, err error) {
	for f.pos < f.end {
		if f.inStr {
			f.skipString()
			continue
		}
		b := f.buf[f.pos]
		f.pos++
		if !f.began {
			switch b {
			case ' ', '\t', '\r', '\n': // whitespace between messages
				f.start = f.pos
			case '{':
				f.began, f.depth = true, 1
			default:
				return nil, false, fmt.Errorf("%w: expected a JSON object, got %q", ErrProtocol, b)
			}
			continue
		}
		switch b {
		case '"':
			f.inStr = true
		case '{', '[':
			f.depth++
		case '}', ']':
			f.depth--
			if f.depth == 0 {
				frame = f.buf[f.start:f.pos]
				f.start = f.pos
				return frame, true, nil
			}
		}
	}
	return nil, false, nil
}

// skipString moves pos past the closing quote of the string it is in, or
// to the end of the buffered bytes. A quote closes the string unless an
// odd number of backslashes precedes it.
func (f *frameReader) skipString() {
	j := bytes.IndexByte(f.buf[f.pos:f.end], '"')
	if j < 0 {
		f.pos = f.end
		return
	}
	q := f.pos + j
	k := q - 1
	for k >= f.start && f.buf[k] == '\\' {
		k--
	}
	f.pos = q + 1
	if (q-1-k)%2 == 0 {
		f.inStr = false
	}
}

// fill reads more input, first moving the unread bytes to the front of the
// buffer and growing it (up to limit plus one read) when it is full.
func (f *frameReader) fill(limit int) error {
	if f.start > 0 {
		n := copy(f.buf, f.buf[f.start:f.end])
		f.pos -= f.start
		f.end = n
		f.start = 0
	}
	if f.end == len(f.buf) {
		size := min(max(2*len(f.buf), readChunk), limit+readChunk)
		if size <= len(f.buf) {
			return ErrReplyTooLarge
		}
		nb := make([]byte, size)
		copy(nb, f.buf[:f.end])
		f.buf = nb
	}
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		if f.idle++; f.idle > 100 {
			return io.ErrNoProgress
		}
	}
	return err
}

// reply is a decoded JSON-RPC reply.
type reply struct {
	hasID    bool
	id       uint64
	rawID    string
	result   string
	hasError bool
	errMsg   string
	// view is the result when it was decoded in place (decodeReply with
	// inPlace): a slice of the frame itself, result is then "".
	view []byte
	// overwritten is true once an escaped result was decoded in place:
	// the frame is no longer what was received.
	overwritten bool
}

// decodeReply decodes one reply object. Replies are parsed by hand
// because a reply can be megabytes of one escaped string (a flow dump)
// and encoding/json validates and unescapes it byte by byte several
// times; anything unusual falls back to encoding/json.
//
// With inPlace the result is decoded over its own bytes in b (a JSON
// string's value is never longer than its encoding) and returned as
// r.view: a megabyte reply read every poll then costs no allocation and
// one pass. b is overwritten, so a reply that turns out unusual after an
// escaped result was decoded cannot fall back: it is an error (OVS sends
// nothing of the kind).
func decodeReply(b []byte, inPlace bool) (reply, error) {
	r, ok := fastDecode(b, inPlace)
	if ok {
		return r, nil
	}
	if r.overwritten {
		return reply{}, errors.New("reply is not in the form OVS sends, and its result was already decoded in place")
	}
	r, err := slowDecode(b)
	if err == nil && inPlace {
		r.view, r.result = []byte(r.result), ""
	}
	return r, err
}

func slowDecode(b []byte) (reply, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return reply{}, err
	}
	if key, dup := duplicateKey(b); dup {
		return reply{}, fmt.Errorf("duplicate key %q in reply", key)
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

// duplicateKey reports a member name that occurs twice in the top-level
// object b, which must be valid JSON. encoding/json keeps the last one and
// the fast path cannot know which one the sender meant: such a reply is
// rejected on both paths.
func duplicateKey(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // '{'
		return "", false
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
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
// are strings, null or unsigned integers, each key once. ok is false for
// anything else.
func fastDecode(b []byte, inPlace bool) (r reply, ok bool) {
	p := parser{b: b, inPlace: inPlace, quote: -1, backslash: -1}
	if !p.consume('{') {
		return r, false
	}
	if p.consume('}') {
		r.rawID = "(none)"
		p.ws()
		return r, p.i == len(p.b)
	}
	var seen [4]string // OVS sends three members; more go to the slow path
	for nseen := 0; ; nseen++ {
		key, ok := p.str()
		if !ok || !p.consume(':') || nseen == len(seen) || slices.Contains(seen[:nseen], key) {
			return r, false
		}
		seen[nseen] = key
		p.ws()
		if !p.member(key, &r) {
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

// member parses the value of member key into r: a string (result, error),
// null, or an unsigned integer (id). It returns false for any other value.
func (p *parser) member(key string, r *reply) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"' && key == "result" && p.inPlace:
		v, _, ok := p.strBytes(decodeInPlace)
		// Only an escape makes the decode write: an escape-free value is
		// a view of the frame as received, and so is a string that failed
		// before its first escape.
		r.overwritten = p.wrote
		if !ok {
			return false
		}
		r.view = v
	case c == '"':
		v, ok := p.str()
		if !ok {
			return false
		}
		switch key {
		case "result":
			r.result = v
		case "error":
			r.hasError, r.errMsg = true, v
		case "id":
			return false // string ids are not ours
		}
	case c == 'n':
		if !bytes.HasPrefix(p.b[p.i:], []byte("null")) {
			return false
		}
		p.i += 4
		if key == "id" {
			r.rawID = "null"
		}
	case c >= '0' && c <= '9':
		n, num, ok := p.uint()
		if !ok {
			return false
		}
		switch key {
		case "id":
			r.hasID, r.id, r.rawID = true, n, num
		case "result", "error":
			return false
		}
	default:
		return false
	}
	return true
}

// uint parses an unsigned JSON integer without leading zeros, fraction or
// exponent, returning it and its text.
func (p *parser) uint() (uint64, string, bool) {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return 0, "", false
	}
	num := string(p.b[p.i:j])
	p.i = j
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (len(num) > 1 && num[0] == '0') {
		return 0, "", false
	}
	return n, num, true
}

type parser struct {
	b []byte
	i int
	// quote and backslash are the offsets of the first '"' and '\\' in b
	// at or after where nextSpecial last looked for them (len(b): none),
	// so that each is searched once per string and escape, not per byte.
	quote, backslash int
	inPlace          bool // the result is to be decoded in place (decodeReply)
	wrote            bool // an in-place decode has written over b
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

// strMode says what strBytes does with a string's value.
type strMode int

const (
	decodeNew     strMode = iota // a view of the input, or a new array when escaped
	decodeInPlace                // over the string's own bytes in the input
)

// str parses a JSON string starting at the next non-space byte.
func (p *parser) str() (string, bool) {
	v, fresh, ok := p.strBytes(decodeNew)
	if !ok {
		return "", false
	}
	if fresh {
		// v is a new array nothing else refers to or will write.
		return unsafe.String(unsafe.SliceData(v), len(v)), true
	}
	return string(v), true
}

// strBytes parses a JSON string starting at the next non-space byte and
// returns its value as mode says; fresh is true when the value is an
// array of its own. It checks that there is nothing encoding/json would
// treat differently (control bytes, invalid UTF-8).
func (p *parser) strBytes(mode strMode) (v []byte, fresh, ok bool) {
	if !p.consume('"') {
		return nil, false, false
	}
	start := p.i
	var dst []byte
	plain := true
	seg := start
	ascii := true
	for p.i < len(p.b) {
		// Skip the bytes that need no attention (nearly all of them).
		p.i = p.nextSpecial(p.i)
		if p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			chunk := p.b[seg:p.i]
			if !ascii && !utf8.Valid(chunk) {
				return nil, false, false
			}
			p.i++
			if plain {
				return chunk, false, true
			}
			// In place, dst ends at or before seg: append moves the chunk
			// down (memmove).
			return append(dst, chunk...), mode == decodeNew, true
		case c == '\\':
			chunk := p.b[seg:p.i]
			if !ascii && !utf8.Valid(chunk) {
				return nil, false, false
			}
			if plain {
				plain = false
				if mode == decodeInPlace {
					dst, p.wrote = p.b[start:start], true
				} else {
					dst = make([]byte, 0, len(p.b)-start)
				}
			}
			dst = append(dst, chunk...)
			ascii = true
			if p.i+1 < len(p.b) && shortEscape[p.b[p.i+1]] != 0 {
				// "\n" ends every line of a dump: decoded here, not by a call.
				dst = append(dst, shortEscape[p.b[p.i+1]])
				p.i += 2
			} else if dst, ok = p.escape(dst); !ok {
				return nil, false, false
			}
			seg = p.i
		case c < 0x20:
			return nil, false, false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			p.i++
		}
	}
	return nil, false, false
}

// Masks for nextSpecial's word-at-a-time test.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// nextSpecial returns the offset of the first byte at or after i of p.b
// that a JSON string scan must stop at, len(p.b) if none: the closing
// quote, escapes, control bytes (invalid raw) and non-ASCII bytes (UTF-8
// to validate). Quotes and backslashes are found with vectorized searches
// whose results are kept (nothing ahead of p.i is ever written); the bytes
// before them are checked for control and non-ASCII bytes 32 at a
// time. A flow dump is a megabyte of plain ASCII with one escape ("\n")
// per line.
func (p *parser) nextSpecial(i int) int {
	b := p.b
	if p.quote < i {
		p.quote = indexFrom(b, i, '"')
	}
	if p.backslash < i {
		p.backslash = indexFrom(b, i, '\\')
	}
	end := min(p.quote, p.backslash)
	for ; i+32 <= end; i += 32 {
		c := b[i : i+32 : i+32]
		w, v := binary.LittleEndian.Uint64(c), binary.LittleEndian.Uint64(c[8:])
		x, y := binary.LittleEndian.Uint64(c[16:]), binary.LittleEndian.Uint64(c[24:])
		// (x-0x20*ones)&^x sets the high bit of a byte below 0x20 (and
		// maybe of bytes above it); x itself that of a non-ASCII byte.
		if (w|v|x|y|(w-0x20*ones)&^w|(v-0x20*ones)&^v|(x-0x20*ones)&^x|(y-0x20*ones)&^y)&highs != 0 {
			break
		}
	}
	for ; i < end; i++ {
		if c := b[i]; c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return end
}

// indexFrom returns the offset of the first c at or after i of b, len(b)
// if none.
func indexFrom(b []byte, i int, c byte) int {
	if j := bytes.IndexByte(b[i:], c); j >= 0 {
		return i + j
	}
	return len(b)
}

// shortEscape maps the byte after a backslash to what the two decode to,
// for the escapes of one ASCII byte (all but \u); 0 for the others.
var shortEscape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape decodes the escape sequence at p.i (a backslash), appending it
// to dst. It reads the whole sequence before writing, and writes fewer
// bytes than it reads: dst may end in p.b right before it.
func (p *parser) escape(dst []byte) ([]byte, bool) {
	if p.i+1 >= len(p.b) {
		return dst, false
	}
	c := p.b[p.i+1]
	p.i += 2
	var r rune
	switch c {
	case '"', '\\', '/':
		r = rune(c)
	case 'b':
		r = '\b'
	case 'f':
		r = '\f'
	case 'n':
		r = '\n'
	case 'r':
		r = '\r'
	case 't':
		r = '\t'
	case 'u':
		var ok bool
		if r, ok = p.hex4(); !ok {
			return dst, false
		}
		if utf16.IsSurrogate(r) {
			// A valid pair combines; anything else is U+FFFD, as in
			// encoding/json.
			if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
				save := p.i
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return dst, false
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					break
				}
				p.i = save
			}
			r = utf8.RuneError
		}
	default:
		return dst, false
	}
	return utf8.AppendRune(dst, r), true
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
