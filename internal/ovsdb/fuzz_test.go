package ovsdb

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// topologyReply renders the reply ovsdb-server 3.1 sends to the topology
// transaction, from the rows captured in testdata: what frameConn reads and
// go-openvswitch then decodes.
func topologyReply(tb testing.TB, id string) []byte {
	tb.Helper()
	ops, err := planTopology(nil)
	if err != nil {
		tb.Fatal(err)
	}
	var result []map[string][]ovsdb.Row
	for _, op := range ops {
		result = append(result, map[string][]ovsdb.Row{"rows": capturedTransaction(tb, []selectOp{op})})
	}
	b, err := json.Marshal(map[string]any{"id": id, "result": result, "error": nil})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzDecodeReply runs a server message through what the client does with
// it: the connection's check (stray and malformed messages), the
// transaction's rows, and the topology decoder. Nothing may panic, and a
// decoded topology keeps its order.
func FuzzDecodeReply(f *testing.F) {
	reply := topologyReply(f, "3")
	f.Add(reply)
	f.Add(topologyReply(f, "echo"))
	f.Add([]byte(strings.Replace(string(reply), `"error":null`, `"error":null,"id":"4"`, 1)))
	f.Add([]byte(strings.Replace(string(reply), `"id":"3"`, `"id":null`, 1)))
	f.Add([]byte(`{"id":null,"method":"update","params":[null,{}]}`))
	f.Add([]byte(`{"id":"2","result":[{"rows":[]}],"error":null}`))
	// The small reply to CurCfg's select, from the captured root row.
	curCfg, err := readCurCfg.plan(nil)
	if err != nil {
		f.Fatal(err)
	}
	small, err := json.Marshal(map[string]any{"id": "5", "result": []map[string][]ovsdb.Row{{"rows": capturedTransaction(f, []selectOp{curCfg})}}, "error": nil})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	ops, err := planTopology(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || len(data) == 0 || data[0] != '{' {
			return // frameConn fails the connection on these before checkMessage
		}
		keep, err := checkMessage(data)
		if err != nil || !keep {
			return
		}
		var resp struct {
			Result []struct {
				Rows []ovsdb.Row `json:"rows"`
			} `json:"result"`
		}
		if json.Unmarshal(data, &resp) != nil {
			return
		}
		var rows []ovsdb.Row
		for _, r := range resp.Result {
			rows = append(rows, r.Rows...)
		}
		topo, err := buildTopology(ops, rows)
		if err != nil {
			return
		}
		if !slices.IsSortedFunc(topo.Bridges, func(a, b Bridge) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("bridges out of order: %v", bridgeNames(topo))
		}
		for _, b := range topo.Bridges {
			if b.UUID == "" {
				t.Fatalf("bridge %q without uuid", b.Name)
			}
		}
	})
}

// TestCapturedReplyDecodes keeps the fuzz seed honest: the reply built from
// the captured rows passes the connection check and decodes to the
// captured topology.
func TestCapturedReplyDecodes(t *testing.T) {
	reply := topologyReply(t, "3")
	if keep, err := checkMessage(reply); err != nil || !keep {
		t.Fatalf("checkMessage = %v, %v; want kept", keep, err)
	}
	var resp struct {
		Result []struct {
			Rows []ovsdb.Row `json:"rows"`
		} `json:"result"`
	}
	if err := json.Unmarshal(reply, &resp); err != nil {
		t.Fatal(err)
	}
	var rows []ovsdb.Row
	for _, r := range resp.Result {
		rows = append(rows, r.Rows...)
	}
	ops, err := planTopology(nil)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := buildTopology(ops, rows)
	if err != nil {
		t.Fatal(err)
	}
	checkCapturedTopology(t, topo)
	tests := []struct {
		name    string
		msg     string
		keep    bool
		wantErr string
	}{
		{"string id", `{"id":"1","result":[],"error":null}`, true, ""},
		{"echo request", `{"id":"echo","method":"echo","params":[]}`, true, ""},
		{"null id", `{"id":null,"result":[],"error":null}`, false, ""},
		{"missing id", `{"result":[],"error":null}`, false, ""},
		{"numeric id", `{"id":1,"result":[],"error":null}`, false, ""},
		{"notification", `{"id":null,"method":"update","params":[null,{}]}`, false, ""},
		{"duplicate id", `{"id":"1","id":"2","result":[]}`, false, `duplicate key "id"`},
		{"duplicate nested key is fine", `{"id":"1","result":[{"a":1,"a":2}]}`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, err := checkMessage([]byte(tt.msg))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || keep != tt.keep {
				t.Fatalf("checkMessage = %v, %v; want %v", keep, err, tt.keep)
			}
		})
	}
}
