package openflow

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex decodes hex with spaces between groups, as the layouts are read.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Action and instruction lists built from the OpenFlow layouts, with the
// Nicira extension header (type 0xffff, vendor 0x00002320) for clone.
const (
	output13Normal = "0000 0010 fffffffa ffff 000000000000"
	output13Port1  = "0000 0010 00000001 ffff 000000000000"
	output10Normal = "0000 0008 fffa ffff"
	setField13     = "0019 0010 80000606 020000000001 0000"
	clone13Normal  = "ffff 0020 00002320 002a 000000000000 " + output13Normal
)

func TestActionsNormal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint8
		actions string
		want    bool
		err     bool
	}{
		{"output NORMAL", Version13, output13Normal, true, false},
		{"output port 1", Version13, output13Port1, false, false},
		{"NORMAL after an unknown action", Version13, setField13 + output13Normal, true, false},
		{"NORMAL inside clone only", Version13, clone13Normal, false, false},
		{"OpenFlow 1.0 output NORMAL", Version10, output10Normal, true, false},
		{"OpenFlow 1.0 layout on 1.3", Version13, output10Normal, false, false},
		{"empty", Version15, "", false, false},
		{"length zero", Version13, "0000 0000 fffffffa", false, true},
		{"length overruns", Version13, "0000 0018 fffffffa ffff 000000000000", false, true},
		{"stray bytes", Version13, output13Normal + "0000", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := actionsNormal(tc.version, unhex(t, tc.actions))
			if (err == nil && got != tc.want) || (err != nil) != tc.err {
				t.Errorf("actionsNormal = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("error %v does not wrap errMalformed", err)
			}
		})
	}
}

func TestInstructionsNormal(t *testing.T) {
	for _, tc := range []struct {
		name         string
		instructions string
		want         bool
		err          bool
	}{
		{"apply-actions", "0004 0018 00000000 " + output13Normal, true, false},
		{"write-actions", "0003 0018 00000000 " + output13Normal, true, false},
		{"clear-actions then apply", "0005 0008 00000000 0004 0018 00000000 " + output13Normal, true, false},
		{"goto-table", "0001 0008 65000000", false, false},
		{"unknown instruction holding NORMAL bytes", "0099 0018 00000000 " + output13Normal, false, false},
		{"apply-actions of another port", "0004 0018 00000000 " + output13Port1, false, false},
		{"broken action inside", "0004 0010 00000000 0000 0000 00000000", false, true},
		{"instruction overruns", "0004 0040 00000000 " + output13Normal, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := instructionsNormal(Version13, unhex(t, tc.instructions))
			if (err == nil && got != tc.want) || (err != nil) != tc.err {
				t.Errorf("instructionsNormal = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestAppendOXMs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint8
		oxms    string
		want    string
	}{
		{"in_port", Version13, "80000004 00000006", "in_port=6"},
		{"masked in_port in hex", Version13, "80000108 00000006 000000ff", "in_port=0x6/0xff"},
		{"MAC with mask", Version13, "8000090c 020000000000 ffffff000000", "eth_src=02:00:00:00:00:00/ff:ff:ff:00:00:00"},
		{"IPv6", Version13, "80003410 fe800000000000000000000000000001", "ipv6_src=fe80::1"},
		{"IPv4-mapped IPv6", Version13, "80003410 00000000000000000000ffff0a000001", "ipv6_src=10.0.0.1"},
		{"NXM in_port", Version13, "00000002 0003", "in_port=3"},
		{"ct_label", Version13, "0001d810 00000000000000000000000000000abc", "ct_label=0xabc"},
		{"ct_nw_src", Version13, "0001f004 0a000001", "ct_nw_src=10.0.0.1"},
		{"ip_frag keeps both digits", Version13, "00013401 01", "ip_frag=0x01"},
		{"variable tun_metadata", Version13, "00015004 00000005", "tun_metadata0=0x00000005"},
		{"ONF tcp_flags", Version13, "ffff5406 4f4e4600 0012", "ovs_tcp_flags=0x12"},
		{"other experimenter", Version13, "ffff5406 00002320 0012", "oxm_ffff_42=0x000023200012"},
		{"OpenFlow 1.5 tcp_flags as wire bytes", Version15, "80005504 0002 0002", "tcp_flags=0x0002/0x0002"},
		{"tcp_flags unknown to 1.3", Version13, "80005402 0002", "oxm_8000_42=0x0002"},
		{"packet register", Version15, "80010310 0000000000000005 00000000ffffffff", "xreg1=0x0000000000000005/0x00000000ffffffff"},
		{"wrong size", Version13, "80000003 000006", "oxm_8000_0=0x000006"},
		{"unknown class", Version13, "00030004 01020304", "oxm_0003_0=0x01020304"},
		{"truncated field", Version13, "80000a02 0800 80000004 0000", "eth_type=0x800,?"},
		{"stray bytes", Version13, "80000a02 0800 00", "eth_type=0x800,?"},
		{"empty", Version13, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendOXMs(nil, tc.version, unhex(t, tc.oxms))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorNames(t *testing.T) {
	for _, tc := range []struct {
		version uint8
		msg     string
		want    string
	}{
		{Version13, "04010014 00000001 0004 0001 deadbeef", "OpenFlow error BadMatchErrorMsg (type 4, code 1)"},
		{Version10, "0101000c 00000001 0003 0000", "OpenFlow error FlowModFailedErrorMsg (type 3, code 0)"},
		{Version14, "0501000c 00000001 0011 0002", "OpenFlow error BundleFailedErrorMsg (type 17, code 2)"},
		{Version13, "0401000c 00000001 0011 0002", "OpenFlow error ErrorMsg (type 17, code 2)"},
		{Version15, "06010010 00000001 ffff 0005 00002320", "OpenFlow error ExperimenterErrorMsg (type 65535, code 5)"},
		{Version13, "0401000a 00000001 0004", "undecodable OpenFlow error message: malformed OpenFlow message: 10 bytes"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := decodeError(codecs[tc.version], unhex(t, tc.msg)).Error(); got != tc.want {
				t.Errorf("got %q", got)
			}
		})
	}
}

// TestRequestsParse checks each request against the fixed sizes of the
// OpenFlow layouts and its own header length.
func TestRequestsParse(t *testing.T) {
	for v, c := range codecs {
		for name, tc := range map[string]struct {
			msg  []byte
			typ  uint8
			size int
		}{
			"hello":       {c.helloMsg(), typeHello, map[bool]int{true: 8, false: 16}[v == Version10]},
			"echo":        {c.echoRequestMsg(3, []byte("abc")), typeEchoRequest, 11},
			"table stats": {c.tableStatsRequestMsg(4), c.statsRequest, c.statsHeader},
			"flow stats":  {c.flowStatsRequestMsg(5, FlowFilter{OutPort: PortNormal}), c.statsRequest, 56},
		} {
			t.Run(VersionName(v)+"/"+name, func(t *testing.T) {
				m := tc.msg
				if len(m) != tc.size || int(be.Uint16(m[2:])) != len(m) || m[0] != v || m[1] != tc.typ {
					t.Errorf("%x: want version %d type %d, %d bytes", m, v, tc.typ, tc.size)
				}
			})
		}
	}
}
