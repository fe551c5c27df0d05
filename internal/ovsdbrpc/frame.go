package ovsdbrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Buffer sizes of a frameReader. A poll's small replies (cur_cfg, echo)
// fit in minBuffer; a topology reply grows the buffer, which is kept while
// such replies keep coming and given back after shrinkAfter messages in a
// row have used less than a quarter of it.
const (
	minBuffer   = 4 << 10
	keepBuffer  = 64 << 10
	shrinkAfter = 16
)

// ErrNotObject is the cause recorded when the peer sends JSON that is not
// a JSON-RPC message (an object).
var ErrNotObject = errors.New("peer sent a JSON value that is not a JSON-RPC object (is this an OVSDB server?)")

// frameReader cuts the byte stream from the server into whole JSON
// messages, in one buffer reused from message to message.
type frameReader struct {
	r     io.Reader
	buf   []byte
	start int // first unread byte of buf
	end   int // end of the bytes read
	last  int // size of the message returned last
	small int // messages in a row that used less than a quarter of buf
	max   int // largest message accepted, MaxMessage when 0
}

// next returns the next message, valid until the following call.
func (f *frameReader) next() ([]byte, error) {
	f.release()
	scanned, depth, inString, escaped := 0, 0, false, false
	for {
		b := f.buf[f.start:f.end]
		for ; scanned < len(b); scanned++ {
			ch := b[scanned]
			switch {
			case inString:
				switch {
				case escaped:
					escaped = false
				case ch == '\\':
					escaped = true
				case ch == '"':
					inString = false
				}
			case depth == 0 && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'):
				f.start++ // whitespace between messages
				b = b[1:]
				scanned--
			case depth == 0 && ch != '{':
				return nil, notObject(ch)
			case ch == '"':
				inString = true
			case ch == '{' || ch == '[':
				depth++
			case ch == '}' || ch == ']':
				depth--
				if depth == 0 {
					msg := b[:scanned+1]
					f.start += scanned + 1
					f.last = len(msg)
					return msg, checkMessage(msg)
				}
			}
		}
		if err := f.fill(scanned); err != nil {
			return nil, err
		}
	}
}

// checkMessage rejects what is not one valid JSON object.
func checkMessage(msg []byte) error {
	if msg[0] != '{' {
		return ErrNotObject
	}
	if !json.Valid(msg) {
		var v any
		if err := json.Unmarshal(msg, &v); err != nil {
			return fmt.Errorf("ovsdb-server sent invalid JSON: %w", err)
		}
		return errors.New("ovsdb-server sent invalid JSON")
	}
	return nil
}

func notObject(ch byte) error {
	if ch == '[' || ch == '"' || ch == '-' || (ch >= '0' && ch <= '9') || ch == 't' || ch == 'f' || ch == 'n' {
		return ErrNotObject
	}
	return fmt.Errorf("invalid character %q looking for the beginning of a JSON-RPC message (is this an OVSDB server?)", ch)
}

// fill reads more bytes, keeping the pending ones (pending of them
// already scanned), growing the buffer when full.
func (f *frameReader) fill(pending int) error {
	limit := f.max
	if limit == 0 {
		limit = MaxMessage
	}
	if pending >= limit {
		return fmt.Errorf("ovsdb-server sent a message over %d bytes", limit)
	}
	if f.start > 0 && f.end == len(f.buf) {
		n := copy(f.buf, f.buf[f.start:f.end])
		f.start, f.end = 0, n
	}
	if f.end == len(f.buf) {
		size := max(2*len(f.buf), minBuffer)
		grown := make([]byte, size)
		f.end = copy(grown, f.buf[f.start:f.end])
		f.start = 0
		f.buf = grown
	}
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// release runs before the next message is read: the last one is no longer
// in use. A buffer much bigger than the messages it has been holding lately
// is given back.
func (f *frameReader) release() {
	if f.start == f.end {
		f.start, f.end = 0, 0
	}
	if len(f.buf) <= keepBuffer || f.last >= len(f.buf)/4 {
		f.small = 0
		return
	}
	f.small++
	if f.small < shrinkAfter {
		return
	}
	f.small = 0
	smaller := make([]byte, max(keepBuffer, 2*(f.end-f.start)))
	f.end = copy(smaller, f.buf[f.start:f.end])
	f.start = 0
	f.buf = smaller
}
