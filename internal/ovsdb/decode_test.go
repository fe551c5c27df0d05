package ovsdb

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// The raw values below are copied from ovsdb-server 3.1 replies captured in
// the lab (testdata/ovs-3.1/select-*.json), except where a case says it is
// a form RFC 7047 allows that 3.1 happens not to write.
func TestDecodeValues(t *testing.T) {
	str := func(v any) (any, error) { return decodeString(v) }
	optInt := func(v any) (any, error) {
		n, ok, err := decodeOptInt(v)
		if !ok {
			return "unset", err
		}
		return n, err
	}
	reqInt := func(v any) (any, error) { return decodeInt(v) }
	uuid := func(v any) (any, error) { return decodeUUID(v) }
	uuids := func(v any) (any, error) { return decodeUUIDs(v) }
	strs := func(v any) (any, error) { return decodeStrings(v) }
	ints := func(v any) (any, error) { return decodeInts(v) }
	smap := func(v any) (any, error) { return decodeMap(v) }

	tests := []struct {
		name    string
		decode  func(any) (any, error)
		raw     string
		want    any
		wantErr string
	}{
		// Strings: required (Bridge.name, Interface.type) and optional (Bridge.fail_mode, Interface.link_state).
		{"string", str, `"netdev"`, "netdev", ""},
		{"empty string (system interface type)", str, `""`, "", ""},
		{"optional string set", str, `"secure"`, "secure", ""},
		{"optional string unset", str, `["set",[]]`, "", ""},
		{"optional string as one-element set (RFC form)", str, `["set",["up"]]`, "up", ""},
		{"string given a number", str, `10`, nil, "want a string"},
		{"string given two values", str, `["set",["a","b"]]`, nil, "at most one"},
		{"string given a map", str, `["map",[]]`, nil, `want ["set",[...]] or an atom`},
		{"string given null", str, `null`, nil, "null"},

		// Integers: Port.tag, Interface.ofport (optional), Open_vSwitch.cur_cfg (required).
		{"tag", optInt, `10`, int64(10), ""},
		{"tag unset", optInt, `["set",[]]`, "unset", ""},
		{"ofport of a failed interface", optInt, `-1`, int64(-1), ""},
		{"ofport of the LOCAL port", optInt, `65534`, int64(65534), ""},
		{"optional int as one-element set (RFC form)", optInt, `["set",[7]]`, int64(7), ""},
		{"int given a fraction", optInt, `1.5`, "unset", "want an integer"},
		{"int given a string", optInt, `"10"`, "unset", "want an integer"},
		{"cur_cfg", reqInt, `7`, int64(7), ""},
		{"large cur_cfg", reqInt, `4294967296`, int64(4294967296), ""},
		{"required int unset", reqInt, `["set",[]]`, int64(0), "empty set"},

		// UUIDs: _uuid, Port.interfaces, Bridge.ports.
		{"uuid", uuid, `["uuid","70ef6b49-6b7f-4c8d-8278-58e1768a672e"]`, "70ef6b49-6b7f-4c8d-8278-58e1768a672e", ""},
		{"uuid given a string", uuid, `"70ef6b49"`, "", "want [\"uuid\""},
		{"uuid empty", uuid, `["uuid",""]`, "", "want [\"uuid\""},
		{"named-uuid is not a stored uuid", uuid, `["named-uuid","row1"]`, "", "want [\"uuid\""},
		{"one interface", uuids, `["uuid","0123589c-ed82-484c-9a6e-3838170f36ba"]`, []string{"0123589c-ed82-484c-9a6e-3838170f36ba"}, ""},
		{"bond interfaces", uuids, `["set",[["uuid","9e550418-7f50-4a16-939e-771875727b5c"],["uuid","b6c85d8c-7a30-4fe5-9116-58a0905cfdd7"]]]`,
			[]string{"9e550418-7f50-4a16-939e-771875727b5c", "b6c85d8c-7a30-4fe5-9116-58a0905cfdd7"}, ""},
		{"no ports", uuids, `["set",[]]`, []string(nil), ""},
		{"uuid set of strings", uuids, `["set",["9e550418"]]`, []string(nil), "want [\"uuid\""},

		// Sets of strings and integers: Bridge.protocols, Port.trunks.
		{"protocols", strs, `["set",["OpenFlow10","OpenFlow13"]]`, []string{"OpenFlow10", "OpenFlow13"}, ""},
		{"one protocol is a bare atom", strs, `"OpenFlow13"`, []string{"OpenFlow13"}, ""},
		{"no protocols", strs, `["set",[]]`, []string(nil), ""},
		{"trunks", ints, `["set",[10,20]]`, []int{10, 20}, ""},
		{"one trunk is a bare atom", ints, `30`, []int{30}, ""},
		{"no trunks", ints, `["set",[]]`, []int(nil), ""},
		{"trunks of strings", ints, `["set",["10"]]`, []int(nil), "want an integer"},
		{"malformed set", ints, `["set",10]`, []int(nil), `want ["set",[...]]`},

		// Maps: other_config, external_ids, options.
		{"other_config", smap, `["map",[["mac-aging-time","300"],["mac-table-size","50000"]]]`,
			map[string]string{"mac-aging-time": "300", "mac-table-size": "50000"}, ""},
		{"external_ids", smap, `["map",[["attached-mac","02:00:00:00:00:01"],["iface-id","port-vm1"],["iface-status","active"],["vm-uuid","00000000-0000-4000-8000-000000000001"]]]`,
			map[string]string{"attached-mac": "02:00:00:00:00:01", "iface-id": "port-vm1", "iface-status": "active", "vm-uuid": "00000000-0000-4000-8000-000000000001"}, ""},
		{"empty map", smap, `["map",[]]`, map[string]string(nil), ""},
		{"integer-valued map (Interface.statistics) is not ours", smap, `["map",[["rx_bytes",0]]]`, map[string]string(nil), `map value of "rx_bytes"`},
		{"map given a set", smap, `["set",[]]`, map[string]string(nil), `want ["map",[...]]`},
		{"map entry without value", smap, `["map",[["a"]]]`, map[string]string(nil), "want [key,value]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.raw), &v); err != nil {
				t.Fatal(err)
			}
			got, err := tt.decode(v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decode(%s) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode(%s): %v", tt.raw, err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode(%s) = %#v, want %#v", tt.raw, got, tt.want)
			}
		})
	}
}

// rowFromJSON decodes one row as go-openvswitch does (encoding/json into
// interface{} values).
func rowFromJSON(t *testing.T, raw string) map[string]any {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecodeRowErrors(t *testing.T) {
	tests := []struct {
		name    string
		decode  func(map[string]any) error
		raw     string
		wantErr string
	}{
		{
			name:    "ofport not an integer names table, row and column",
			decode:  func(r map[string]any) error { _, err := decodeInterface(r); return err },
			raw:     `{"_uuid":["uuid","718bf26c-278c-4d5a-909b-eb8c0d29354c"],"name":"tapvm1","type":"","ofport":"one","external_ids":["map",[]]}`,
			wantErr: "Interface row tapvm1: column ofport: got \"one\", want an integer",
		},
		{
			name:    "bad uuid",
			decode:  func(r map[string]any) error { _, _, err := decodePort(r); return err },
			raw:     `{"_uuid":"x","name":"p","interfaces":["set",[]],"tag":["set",[]]}`,
			wantErr: "Port row p: column _uuid",
		},
		{
			name:    "missing cur_cfg",
			decode:  func(r map[string]any) error { _, _, err := decodeRoot(r); return err },
			raw:     `{"bridges":["set",[]]}`,
			wantErr: "Open_vSwitch row ?: column cur_cfg: missing",
		},
		{
			name:    "first error wins",
			decode:  func(r map[string]any) error { _, _, err := decodeBridge(r); return err },
			raw:     `{"_uuid":["uuid","963ccff2-9ba2-49da-acae-95129d90ee97"],"name":"br-int","ports":7,"protocols":[1]}`,
			wantErr: "Bridge row br-int: column protocols",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(rowFromJSON(t, tt.raw))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestDecodeCapturedRows decodes the full rows ovsdb-server 3.1 returned for
// a select without columns: every column we read is decoded from its real
// encoding, and the many columns we do not read are ignored.
func TestDecodeCapturedRows(t *testing.T) {
	ifaces := map[string]Interface{}
	for _, r := range loadCaptured(t, "Interface") {
		in, err := decodeInterface(r)
		if err != nil {
			t.Fatal(err)
		}
		ifaces[in.Name] = in
	}
	want := map[string]Interface{
		"tapvm1": {Name: "tapvm1", UUID: "718bf26c-278c-4d5a-909b-eb8c0d29354c", OFPort: 1, MACInUse: "a6:7b:71:ea:96:41",
			IfaceID: "port-vm1", AttachedMAC: "02:00:00:00:00:01", VMUUID: "00000000-0000-4000-8000-000000000001",
			ExternalIDs: map[string]string{"attached-mac": "02:00:00:00:00:01", "iface-id": "port-vm1", "iface-status": "active", "vm-uuid": "00000000-0000-4000-8000-000000000001"},
			AdminState:  "up", LinkState: "up"},
		// vswitchd could not open it: ofport -1, no MAC, no states, an error.
		"ghost": {Name: "ghost", UUID: "f3b71044-0249-4556-9497-362d1b11b119", OFPort: -1, IfaceID: "port-ghost",
			ExternalIDs: map[string]string{"iface-id": "port-ghost"},
			Error:       "could not open network device ghost (No such device)"},
		"int-br-ex": {Name: "int-br-ex", UUID: "a01909e0-92c6-48c3-a9fd-d3dd05f674c0", Type: "patch", OFPort: 7, MACInUse: "e6:5e:5b:72:e6:b6",
			Options: map[string]string{"peer": "phy-br-ex"}, AdminState: "up", LinkState: "up"},
		"br-int": {Name: "br-int", UUID: "0123589c-ed82-484c-9a6e-3838170f36ba", Type: "internal", OFPort: 65534, MACInUse: "f2:cf:3c:96:da:49",
			AdminState: "down", LinkState: "down"},
	}
	for name, w := range want {
		if got := ifaces[name]; !reflect.DeepEqual(got, w) {
			t.Errorf("interface %s:\n got %+v\nwant %+v", name, got, w)
		}
	}
	vx := ifaces["vxlan-0a000002"]
	if vx.Type != "vxlan" || vx.Options["remote_ip"] != "10.0.0.2" || vx.Options["key"] != "flow" {
		t.Errorf("vxlan interface = %+v", vx)
	}
	if len(ifaces) != 17 {
		t.Errorf("decoded %d interfaces, want 17", len(ifaces))
	}
}

// capturedTransaction returns the rows a real server would send for ops,
// flattened in op order as go-openvswitch does: the captured full rows,
// projected on each op's columns.
func capturedTransaction(t testing.TB, ops []selectOp) []ovsdb.Row {
	t.Helper()
	var rows []ovsdb.Row
	for _, op := range ops {
		for _, full := range loadCaptured(t, op.table) {
			r := ovsdb.Row{}
			for _, c := range op.columns {
				v, ok := full[c]
				if !ok {
					t.Fatalf("captured %s has no column %s", op.table, c)
				}
				r[c] = v
			}
			rows = append(rows, r)
		}
	}
	return rows
}
