package unixctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func TestDecodeReply(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want reply
	}{
		{"result", `{"id":3,"result":"a\nb","error":null}`, reply{hasID: true, id: 3, rawID: "3", result: "a\nb"}},
		{"error", `{"error":"no such bridge\n","id":4,"result":null}`, reply{hasID: true, id: 4, rawID: "4", hasError: true, errMsg: "no such bridge\n"}},
		{"spaces", " { \"id\" : 5 , \"result\" : \"x\" } ", reply{hasID: true, id: 5, rawID: "5", result: "x"}},
		{"escapes", `{"id":1,"result":"\"q\" \\ \/ \t \u00e9 \ud83d\ude00 \ud800x"}`, reply{hasID: true, id: 1, rawID: "1", result: "\"q\" \\ / \t é 😀 \ufffdx"}},
		{"json result", `{"id":1,"result":{"a":[1,2]},"error":null}`, reply{hasID: true, id: 1, rawID: "1", result: `{"a":[1,2]}`}},
		{"string id", `{"id":"1","result":"x"}`, reply{rawID: `"1"`, result: "x"}},
		{"no id", `{"result":"x"}`, reply{rawID: "(none)", result: "x"}},
		{"null id", `{"id":null,"result":"x"}`, reply{rawID: "null", result: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeReply([]byte(tt.in), false)
			if err != nil {
				t.Fatal(err)
			}
			if !sameReply(got, tt.want) {
				t.Errorf("decodeReply = %+v, want %+v", got, tt.want)
			}
			// In place: the same reply, its result over the frame's bytes.
			frame := []byte(tt.in)
			got, err = decodeReply(frame, true)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.view) != tt.want.result || got.result != "" {
				t.Errorf("in place: view %q result %q, want %q", got.view, got.result, tt.want.result)
			}
			got.view, got.result = nil, tt.want.result
			if !sameReply(got, tt.want) {
				t.Errorf("in place: decodeReply = %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{
		`{"id":1,"result":"unterminated}`,
		`{"id":1,"result":"x","result":"y"}`,
		`{"id":1,"id":2,"result":"x"}`,
		`{"id":1,"result":{"a":1},"result":"y"}`,
		`{"id":1,"a":1,"b":2,"c":3,"a":4}`,
	} {
		for _, inPlace := range []bool{false, true} {
			if r, err := decodeReply([]byte(bad), inPlace); err == nil {
				t.Errorf("decodeReply(%s, %v) = %+v, want an error", bad, inPlace, r)
			}
		}
	}
}

// sameReply compares replies on what Call returns.
func sameReply(a, b reply) bool {
	return a.hasID == b.hasID && a.id == b.id && a.rawID == b.rawID && a.result == b.result &&
		a.hasError == b.hasError && a.errMsg == b.errMsg && string(a.view) == string(b.view)
}

// A result followed by a member the fast path refuses (a string id):
// unescaped, the frame is still as received and encoding/json decodes it;
// escaped, it was overwritten in place and the reply is refused.
func TestDecodeInPlaceOfAnUnusualReply(t *testing.T) {
	r, err := decodeReply([]byte(`{"result":"plain text","id":"7","x":1}`), true)
	if err != nil || string(r.view) != "plain text" || r.rawID != `"7"` {
		t.Fatalf("unescaped: view %q rawID %s err %v, want the fallback's decode", r.view, r.rawID, err)
	}
	if r, err := decodeReply([]byte(`{"result":"a\nb","id":"7","x":1}`), true); err == nil {
		t.Fatalf("escaped: %+v, want an error", r)
	}
	// Invalid UTF-8 before any escape: nothing was written, and
	// encoding/json decodes it (with U+FFFD) as Call would.
	r, err = decodeReply([]byte("{\"id\":1,\"result\":\"a\xffb\\nc\"}"), true)
	if err != nil || string(r.view) != "a\ufffdb\nc" {
		t.Fatalf("invalid UTF-8: view %q err %v, want the fallback's decode", r.view, err)
	}
}

func TestFrameReader(t *testing.T) {
	in := " {\"id\":1,\"result\":\"} \\\" {\"}\n{\"id\":2,\"result\":\"\\\\\",\"error\":null}{\"id\":3}"
	f := frameReader{}
	f.reset(iotest.OneByteReader(strings.NewReader(in)))
	want := []string{"{\"id\":1,\"result\":\"} \\\" {\"}", "{\"id\":2,\"result\":\"\\\\\",\"error\":null}", "{\"id\":3}"}
	for _, w := range want {
		got, _, err := f.next(1 << 20)
		if err != nil || string(got) != w {
			t.Fatalf("next = %q, %v; want %q", got, err, w)
		}
	}
	if _, n, err := f.next(1 << 20); err != io.EOF || n != 0 {
		t.Fatalf("at end: n=%d err=%v, want 0, EOF", n, err)
	}
}

// FuzzDecodeReply checks the hand-written decoder against encoding/json.
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{
		`{"id":3,"result":"a\nb","error":null}`,
		`{"error":"no such bridge\n","id":4,"result":null}`,
		`{"id":1,"result":"\"q\" \\ \/ \t \u00e9 \ud83d\ude00 \ud800x \udc00\u0041"}`,
		`{"id":18446744073709551615,"result":""}`,
		`{"id":01,"result":"x"}`,
		`{"id":1,"result":"x","result":"y"}`,
		"{\"id\":1,\"result\":\"\xff\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := fastDecode([]byte(s), false)
		slow, err := slowDecode([]byte(s))
		// In place, through decodeReply: the view must be what
		// encoding/json decodes, whichever path took it. It may refuse
		// what encoding/json takes only when the fast path does too.
		inPlace, ierr := decodeReply([]byte(s), true)
		switch {
		case ierr == nil && err != nil:
			t.Fatalf("in place accepted %q that encoding/json rejects: %v", s, err)
		case ierr == nil && string(inPlace.view) != slow.result:
			t.Fatalf("in place %q: view %q, encoding/json %q", s, inPlace.view, slow.result)
		case ierr != nil && err == nil && ok:
			t.Fatalf("in place refused %q that the fast path takes: %v", s, ierr)
		}
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast path accepted %q that encoding/json rejects: %v", s, err)
		}
		if fast.result != slow.result || fast.hasError != slow.hasError || fast.errMsg != slow.errMsg ||
			fast.hasID != slow.hasID || fast.id != slow.id {
			t.Fatalf("decode %q:\nfast %+v\nslow %+v", s, fast, slow)
		}
	})
}

// FuzzFrameReader checks that a valid JSON object is framed exactly,
// however the bytes arrive.
func FuzzFrameReader(f *testing.F) {
	f.Add(`{"id":1,"result":"} \" {","error":null}`)
	f.Add(`{"a":[{"b":"\\"}],"c":"\\\""}`)
	f.Add("\f{\"id\":1}")
	f.Fuzz(func(t *testing.T, s string) {
		// Only JSON's own whitespace may surround the object: TrimSpace
		// would also strip \f and \v, which the reader rightly rejects.
		obj := strings.Trim(s, " \t\r\n")
		if !json.Valid([]byte(obj)) || !strings.HasPrefix(obj, "{") {
			fr := frameReader{}
			fr.reset(iotest.OneByteReader(strings.NewReader(s)))
			fr.next(1 << 16) // must not panic or hang
			return
		}
		fr := frameReader{}
		fr.reset(iotest.HalfReader(strings.NewReader(s + "\n" + s)))
		for range 2 {
			got, _, err := fr.next(1 << 20)
			if err != nil {
				if errors.Is(err, ErrReplyTooLarge) {
					return
				}
				t.Fatalf("next(%q): %v", s, err)
			}
			if !bytes.Equal(got, []byte(obj)) {
				t.Fatalf("next(%q) = %q", s, got)
			}
		}
	})
}

func TestAppendRequest(t *testing.T) {
	got := string(appendRequest(nil, 7, "ofproto/trace", []string{"br-int", `in_port=1,dl_dst="x"` + "\n\\é"}))
	want := `{"method":"ofproto/trace","params":["br-int","in_port=1,dl_dst=\"x\"\n\\é"],"id":7}`
	if got != want {
		t.Fatalf("appendRequest = %s, want %s", got, want)
	}
	var req struct {
		Method string
		Params []string
		ID     int
	}
	if err := json.Unmarshal([]byte(got), &req); err != nil || req.Params[1] != "in_port=1,dl_dst=\"x\"\n\\é" {
		t.Fatalf("round trip: %+v, %v", req, err)
	}
}

// BenchmarkDecodeReply decodes a 2.5 MB reply (a dump of ~5,000 megaflows)
// with the hand-written decoder; BenchmarkDecodeReplyStdlib is the
// encoding/json baseline it replaces.
func BenchmarkDecodeReply(b *testing.B) {
	msg := bigReply()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if r, err := decodeReply(msg, false); err != nil || len(r.result) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReplyInPlace is what CallFunc does: no allocation.
func BenchmarkDecodeReplyInPlace(b *testing.B) {
	msg := bigReply()
	frame := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		copy(frame, msg)
		if r, err := decodeReply(frame, true); err != nil || len(r.view) == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeReplyStdlib(b *testing.B) {
	msg := bigReply()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if r, err := slowDecode(msg); err != nil || len(r.result) == 0 {
			b.Fatal(err)
		}
	}
}

func bigReply() []byte {
	line := "ufid:3cf89955-7a92-4d8c-a35f-3cdf3b61fb10, skb_priority(0/0),skb_mark(0/0),ct_state(0/0),ct_zone(0/0),ct_mark(0/0),ct_label(0/0),recirc_id(0),dp_hash(0/0),in_port(tapvm1),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:64),eth_type(0x0800),ipv4(src=10.0.10.1/0.0.0.0,dst=10.0.10.100/0.0.0.0,proto=6/0,tos=0/0,ttl=64/0,frag=no),tcp(src=56730/0,dst=5201/0),tcp_flags(0/0), packets:5617, bytes:6967069, used:0.001s, flags:P., dp:ovs, actions:push_vlan(vid=10,pcp=0),br-int,pop_vlan,tapvm2,tapvm3,uplink, dp-extra-info:miniflow_bits(5,1)\n"
	b, _ := json.Marshal(map[string]any{"id": 1, "result": strings.Repeat(line, 5000), "error": nil})
	return b
}

// strSpecial marks the bytes nextSpecial must stop at: the closing
// quote, escapes, control bytes and non-ASCII bytes.
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\'
	}
	return t
}()

// nextSpecial finds the first byte the string scan must stop at,
// wherever it lies in a word, and again and again as the scan moves on
// past quotes, backslashes and the bytes it caches the search of.
func TestNextSpecial(t *testing.T) {
	first := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if strSpecial[b[i]] {
				return i
			}
		}
		return len(b)
	}
	for c := range 256 {
		for at := range 40 {
			b := []byte(strings.Repeat("a", 40))
			b[at] = byte(c)
			p := parser{b: b, quote: -1, backslash: -1}
			if got, want := p.nextSpecial(0), first(b, 0); got != want {
				t.Fatalf("byte %#x at %d: stopped at %d, want %d", c, at, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	specials := []byte{'"', '\\', 0, '\n', 0x1f, 0x80, 0xc3, 0xff}
	for range 2000 {
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(26))
			if rng.IntN(20) == 0 {
				b[i] = specials[rng.IntN(len(specials))]
			}
		}
		p := parser{b: b, quote: -1, backslash: -1}
		for i := 0; i <= len(b); i += 1 + rng.IntN(30) {
			if got, want := p.nextSpecial(i), first(b, i); got != want {
				t.Fatalf("%q from %d: stopped at %d, want %d", b, i, got, want)
			}
		}
	}
}
