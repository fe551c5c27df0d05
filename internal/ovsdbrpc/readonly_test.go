package ovsdbrpc

import (
	"encoding/json"
	"go/ast"
	"go/token"
	"strconv"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/srccheck"
)

func TestSelectJSON(t *testing.T) {
	tests := []struct {
		name    string
		op      Select
		want    string
		wantErr bool
	}{
		{
			name: "columns",
			op:   Select{Table: "Bridge", Columns: []string{"_uuid", "name"}},
			want: `{"op":"select","table":"Bridge","where":[],"columns":["_uuid","name"]}`,
		},
		{
			name: "where",
			op:   Select{Table: "Database", Columns: []string{"schema"}, Where: []Condition{{"name", "==", "Open_vSwitch"}}},
			want: `{"op":"select","table":"Database","where":[["name","==","Open_vSwitch"]],"columns":["schema"]}`,
		},
		{
			name: "uuid",
			op:   Select{Table: "Port_Binding", Columns: []string{"mac"}, Where: []Condition{{"chassis", "==", UUIDValue("1dec")}}},
			want: `{"op":"select","table":"Port_Binding","where":[["chassis","==",["uuid","1dec"]]],"columns":["mac"]}`,
		},
		{name: "no columns", op: Select{Table: "Interface"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.op)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("marshalled %s, want an error", b)
				}
				return
			}
			if err != nil || string(b) != tt.want {
				t.Fatalf("got %s, %v; want %s", b, err, tt.want)
			}
		})
	}
	if b, err := SelectParams("Open_vSwitch", Select{Table: "Bridge", Columns: []string{"name"}}); err != nil ||
		string(b) != `["Open_vSwitch",{"op":"select","table":"Bridge","where":[],"columns":["name"]}]` {
		t.Errorf("SelectParams = %s, %v", b, err)
	}
	if _, err := SelectParams("Open_vSwitch"); err == nil {
		t.Error("SelectParams without ops worked")
	}
}

// TestReadOnlySource checks the package's source: the methods it may send
// are string constants in readonly.go only; call, the one sender of
// requests, is given methodTransact only in Select, whose params come from
// SelectParams; echo is never a request; no mutating op name appears.
func TestReadOnlySource(t *testing.T) {
	fset, decls := srccheck.Decls(t)
	allowed := map[string]bool{"list_dbs": true, "get_schema": true, "transact": true, "echo": true}
	mutating := map[string]bool{"insert": true, "update": true, "mutate": true, "delete": true,
		"commit": true, "abort": true, "wait": true, "assert": true, "lock": true, "steal": true,
		"monitor": true, "monitor_cond": true, "transact": true}
	calls := map[string]int{}
	for _, d := range decls {
		if gd, ok := d.Decl.(*ast.GenDecl); ok && gd.Tok == token.CONST && d.File == "readonly.go" {
			continue // the method set
		}
		ast.Inspect(d.Decl, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "call" || len(n.Args) < 2 || d.Func == nil {
					return true
				}
				m, _ := n.Args[1].(*ast.Ident)
				if m == nil {
					t.Errorf("%s: call with a computed method", fset.Position(n.Pos()))
					return true
				}
				calls[d.Func.Name.Name+":"+m.Name]++
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					return true
				}
				v, err := strconv.Unquote(n.Value)
				if err == nil && (mutating[v] || allowed[v]) {
					t.Errorf("%s: string %q outside the method set", fset.Position(n.Pos()), v)
				}
			}
			return true
		})
	}
	want := map[string]int{"ListDBs:methodListDBs": 1, "GetSchema:methodGetSchema": 1, "Select:methodTransact": 1}
	for k, n := range calls {
		if want[k] != n {
			t.Errorf("call site %s seen %d times; the only ones allowed are %v", k, n, want)
		}
	}
	for k := range want {
		if calls[k] == 0 {
			t.Errorf("call site %s not found: the test no longer sees the senders", k)
		}
	}
}
