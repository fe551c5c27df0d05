package netdev

import (
	"encoding/binary"
	"errors"
	"testing"
)

// attr encodes one netlink attribute, padded to 4 bytes.
func attr(typ uint16, payload []byte) []byte {
	b := make([]byte, sizeofRtAttr, align4(sizeofRtAttr+len(payload)))
	binary.NativeEndian.PutUint16(b[0:2], uint16(sizeofRtAttr+len(payload)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, payload...)
	return b[:cap(b)]
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// ifinfomsg encodes struct ifinfomsg for ifindex.
func ifinfomsg(index int32) []byte {
	b := make([]byte, sizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	return b
}

// stats64 encodes a struct rtnl_link_stats64 of n u64 fields, field i
// holding base+i.
func stats64(n int, base uint64) []byte {
	var b []byte
	for i := range n {
		b = binary.NativeEndian.AppendUint64(b, base+uint64(i))
	}
	return b
}

// wantStats is what stats64(_, base) decodes to.
func wantStats(base uint64) Counters {
	return Counters{RxPackets: base, TxPackets: base + 1, RxBytes: base + 2, TxBytes: base + 3, RxDropped: base + 6, TxDropped: base + 7}
}

func TestParseLinkMsg(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    linkMsg
		wantErr bool
	}{
		{
			name: "veth in a bridge with stats",
			in: cat(ifinfomsg(7),
				attr(iflaIfname, []byte("qvbX\x00")),
				attr(iflaMaster, u32(5)),
				attr(iflaLink, u32(8)),
				attr(99, []byte{1, 2, 3}), // unknown, skipped
				attr(iflaLinkinfo|0x8000, cat(attr(iflaInfoKind, []byte("veth\x00")), attr(2, []byte("data")))),
				attr(iflaStats64, stats64(26, 100))),
			want: linkMsg{index: 7, name: "qvbX", kind: "veth", master: 5, link: 8, stats: true, counters: wantStats(100)},
		},
		{
			name: "veth with peer in another namespace",
			in: cat(ifinfomsg(3),
				attr(iflaIfname, []byte("tapvm1\x00")),
				attr(iflaLink, u32(2)),
				attr(iflaLinkNetnsid, u32(0)),
				attr(iflaLinkinfo, attr(iflaInfoKind, []byte("veth\x00")))),
			want: linkMsg{index: 3, name: "tapvm1", kind: "veth", link: 2, linkNsid: true},
		},
		{
			name: "old kernel: 24-field stats, name without NUL",
			in:   cat(ifinfomsg(1), attr(iflaIfname, []byte("lo")), attr(iflaStats64, stats64(24, 0))),
			want: linkMsg{index: 1, name: "lo", stats: true, counters: wantStats(0)},
		},
		{
			name:    "short ifinfomsg",
			in:      make([]byte, 10),
			wantErr: true,
		},
		{
			name:    "short stats",
			in:      cat(ifinfomsg(1), attr(iflaStats64, stats64(4, 0))),
			wantErr: true,
		},
		{
			name:    "attribute longer than the message",
			in:      cat(ifinfomsg(1), []byte{200, 0, 3, 0, 'x', 0, 0, 0}),
			wantErr: true,
		},
		{
			name:    "short IFLA_MASTER",
			in:      cat(ifinfomsg(1), attr(iflaMaster, []byte{1, 0})),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLinkMsg(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errShort) {
					t.Fatalf("err = %v, want errShort", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatsMsg(t *testing.T) {
	hdr := func(index uint32) []byte {
		b := make([]byte, sizeofIfStatsMsg)
		binary.NativeEndian.PutUint32(b[4:8], index)
		binary.NativeEndian.PutUint32(b[8:12], 1)
		return b
	}
	tests := []struct {
		name      string
		in        []byte
		wantIndex int
		want      Counters
		wantOK    bool
		wantErr   bool
	}{
		{
			name:      "padded stats",
			in:        cat(hdr(42), attr(0, nil), attr(iflaStatsLink64, stats64(26, 1000))),
			wantIndex: 42, want: wantStats(1000), wantOK: true,
		},
		{
			name:      "no stats attribute",
			in:        cat(hdr(3), attr(2, []byte{0, 0, 0, 0})),
			wantIndex: 3,
		},
		{name: "short header", in: make([]byte, 8), wantErr: true},
		{name: "short stats", in: cat(hdr(3), attr(iflaStatsLink64, stats64(3, 0))), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, got, ok, err := parseStatsMsg(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errShort) {
					t.Fatalf("err = %v, want errShort", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if idx != tt.wantIndex || ok != tt.wantOK || got != tt.want {
				t.Errorf("got %d %v %+v, want %d %v %+v", idx, ok, got, tt.wantIndex, tt.wantOK, tt.want)
			}
		})
	}
}

func TestWalkMsgs(t *testing.T) {
	msg := func(typ, flags uint16, seq uint32, payload []byte) []byte {
		b := make([]byte, sizeofNlMsghdr, align4(sizeofNlMsghdr+len(payload)))
		binary.NativeEndian.PutUint32(b[0:4], uint32(sizeofNlMsghdr+len(payload)))
		binary.NativeEndian.PutUint16(b[4:6], typ)
		binary.NativeEndian.PutUint16(b[6:8], flags)
		binary.NativeEndian.PutUint32(b[8:12], seq)
		binary.NativeEndian.PutUint32(b[12:16], 77)
		b = append(b, payload...)
		return b[:cap(b)]
	}
	tests := []struct {
		name     string
		in       []byte
		stopAt   int // f returns false on this message (1-based), 0 never
		wantTyps []uint16
		wantErr  bool
	}{
		{
			name:     "dump then done",
			in:       cat(msg(rtmNewLink, nlmFMulti, 5, []byte("abcde")), msg(rtmNewLink, nlmFMulti, 5, nil), msg(nlmsgDone, nlmFMulti, 5, u32(0))),
			wantTyps: []uint16{rtmNewLink, rtmNewLink, nlmsgDone},
		},
		{
			name:     "stop early",
			in:       cat(msg(rtmNewLink, 0, 1, nil), msg(rtmNewLink, 0, 1, nil)),
			stopAt:   1,
			wantTyps: []uint16{rtmNewLink},
		},
		{name: "trailing bytes shorter than a header are ignored", in: msg(rtmNewLink, 0, 1, nil)[:12]},
		{name: "length below the header", in: []byte{8, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: true},
		{name: "length beyond the datagram", in: []byte{100, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var typs []uint16
			err := walkMsgs(tt.in, func(m nlMsg) (bool, error) {
				typs = append(typs, m.typ)
				if m.pid != 77 {
					t.Errorf("pid = %d", m.pid)
				}
				return len(typs) != tt.stopAt, nil
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(typs) != len(tt.wantTyps) {
				t.Fatalf("types %v, want %v", typs, tt.wantTyps)
			}
			for i := range typs {
				if typs[i] != tt.wantTyps[i] {
					t.Fatalf("types %v, want %v", typs, tt.wantTyps)
				}
			}
		})
	}
}
