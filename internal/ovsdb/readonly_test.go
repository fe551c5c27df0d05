package ovsdb

import (
	"go/ast"
	"go/token"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/srccheck"
)

// TestReadOnlyWire drives every code path that talks to the server (dial,
// schema check, Topology, CurCfg, reconnects after restarts, a failing
// schema) and checks every message the fake server received: only list_dbs,
// transact and echo, and every transact op a select naming its columns.
func TestReadOnlyWire(t *testing.T) {
	s := newFakeServer(t)
	c := dialFake(t, s)
	for range 2 {
		if _, err := c.Topology(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CurCfg(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		s.restart()
	}
	s.set(func() { s.dropColumn("Bridge", "ports") })
	s.restart()
	if _, err := c.Topology(ctxT(t)); err == nil {
		t.Fatal("Topology without Bridge.ports worked")
	}

	reqs := s.recorded()
	methods, ops := transactOps(t, reqs)
	if len(ops) < 10 {
		t.Fatalf("only %d ops recorded in %d messages: the test did not exercise the client", len(ops), len(reqs))
	}
	for _, m := range methods {
		if m != "list_dbs" && m != "transact" && m != "echo" {
			t.Errorf("sent method %q", m)
		}
	}
	allowed := []string{"columns", "op", "table", "where"}
	for _, op := range ops {
		if op["op"] != "select" {
			t.Errorf("sent op %v", op)
		}
		var keys []string
		for k := range op {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !reflect.DeepEqual(keys, allowed) {
			t.Errorf("op has members %v, want %v", keys, allowed)
		}
		if cols, _ := op["columns"].([]any); len(cols) == 0 {
			t.Errorf("select without columns: %v", op)
		}
	}
}

// TestReadOnlySource checks the package's source: the connection's
// Select is called in selectRows only, no other method of it sends a
// request, and no mutating op name appears.
func TestReadOnlySource(t *testing.T) {
	fset, decls := srccheck.Decls(t)
	transactCalls := 0
	mutating := map[string]bool{"insert": true, "update": true, "mutate": true, "delete": true,
		"commit": true, "abort": true, "wait": true, "assert": true, "lock": true, "steal": true, "transact": true}
	for _, d := range decls {
		ast.Inspect(d.Decl, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				switch n.Sel.Name {
				case "Select":
					if id, ok := n.X.(*ast.Ident); ok && id.Name == "ovsdbrpc" {
						return true // the op type
					}
					transactCalls++
					if d.Func == nil || d.Func.Name.Name != "selectRows" {
						t.Errorf("%s: Select used outside selectRows", fset.Position(n.Pos()))
					}
				case "SelectParams", "DecodeResult":
					t.Errorf("%s: ovsdbrpc.%s used; read through selectRows", fset.Position(n.Pos()), n.Sel.Name)
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if v, err := strconv.Unquote(n.Value); err == nil && mutating[v] {
						t.Errorf("%s: string %q in the package", fset.Position(n.Pos()), v)
					}
				}
			}
			return true
		})
	}
	if transactCalls != 1 {
		t.Errorf("Select called %d times, want once (in selectRows)", transactCalls)
	}
}
