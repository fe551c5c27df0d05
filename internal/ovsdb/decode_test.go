package ovsdb

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

func TestDecodeRowErrors(t *testing.T) {
	tests := []struct {
		name    string
		read    tableRead
		decode  func(ovsdbrpc.Row) error
		raw     string
		wantErr string
	}{
		{
			name:    "ofport not an integer names table, row and column",
			read:    readInterface,
			decode:  func(r ovsdbrpc.Row) error { _, err := decodeInterface(r); return err },
			raw:     `{"_uuid":["uuid","718bf26c-278c-4d5a-909b-eb8c0d29354c"],"name":"tapvm1","type":"","ofport":"one","external_ids":["map",[]]}`,
			wantErr: "Interface row tapvm1: column ofport: got \"one\", want an integer",
		},
		{
			name:    "bad uuid",
			read:    readPort,
			decode:  func(r ovsdbrpc.Row) error { _, err := decodePort(r); return err },
			raw:     `{"_uuid":"x","name":"p","interfaces":["set",[]],"tag":["set",[]]}`,
			wantErr: "Port row p: column _uuid",
		},
		{
			name:    "missing cur_cfg",
			read:    readOpenVSwitch,
			decode:  func(r ovsdbrpc.Row) error { _, err := decodeRoot(r); return err },
			raw:     `{"bridges":["set",[]]}`,
			wantErr: "Open_vSwitch row without cur_cfg",
		},
		{
			name:    "first error wins",
			read:    readBridge,
			decode:  func(r ovsdbrpc.Row) error { _, err := decodeBridge(r); return err },
			raw:     `{"_uuid":["uuid","963ccff2-9ba2-49da-acae-95129d90ee97"],"name":"br-int","ports":7,"protocols":[1]}`,
			wantErr: "Bridge row br-int: column ports: got 7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := tt.read.plan(nil)
			if err != nil {
				t.Fatal(err)
			}
			err = ovsdbrpc.DecodeResult([]byte(`[{"rows":[`+tt.raw+`]}]`), []ovsdbrpc.Select{op},
				func(_ int, r ovsdbrpc.Row) error { return tt.decode(r) })
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
	op, err := readInterface.plan(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ovsdbrpc.DecodeResult(readCapturedResult(t, "Interface"), []ovsdbrpc.Select{op}, func(_ int, r ovsdbrpc.Row) error {
		in, err := decodeInterface(r)
		ifaces[in.Name] = in
		return err
	})
	if err != nil {
		t.Fatal(err)
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

// readCapturedResult returns a transact result as captured from
// ovsdb-server 3.1: the full rows of one table.
func readCapturedResult(t testing.TB, table string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ovs-3.1", "select-"+table+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capturedResult returns the result a real server would send for a
// transact of ops: the captured full rows, projected on each op's columns.
func capturedResult(t testing.TB, ops []ovsdbrpc.Select) []byte {
	t.Helper()
	var result []map[string][]map[string]any
	for _, op := range ops {
		rows := []map[string]any{}
		for _, full := range loadCaptured(t, op.Table) {
			r := map[string]any{}
			for _, c := range op.Columns {
				v, ok := full[c]
				if !ok {
					t.Fatalf("captured %s has no column %s", op.Table, c)
				}
				r[c] = v
			}
			rows = append(rows, r)
		}
		result = append(result, map[string][]map[string]any{"rows": rows})
	}
	b, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeTopology decodes the result of a Topology transaction as Client
// does.
func decodeTopology(ops []ovsdbrpc.Select, result []byte) (Topology, error) {
	var rows topologyRows
	if err := ovsdbrpc.DecodeResult(result, ops, rows.add); err != nil {
		return Topology{}, err
	}
	return rows.build()
}
