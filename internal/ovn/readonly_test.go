package ovn

import (
	"go/ast"
	"go/token"
	"strconv"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/srccheck"
)

// TestReadOnlySource checks the package's source: the connection's
// Select is called in Client.selectRows only, no JSON-RPC method or
// mutating op name is spelled here, and no other ovsdbrpc sender is used.
func TestReadOnlySource(t *testing.T) {
	fset, decls := srccheck.Decls(t)
	selects := 0
	forbidden := map[string]bool{"insert": true, "update": true, "mutate": true, "delete": true,
		"commit": true, "abort": true, "wait": true, "assert": true, "lock": true, "steal": true,
		"transact": true, "monitor": true, "monitor_cond": true, "echo": true}
	for _, d := range decls {
		ast.Inspect(d.Decl, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "ovsdbrpc" {
					return true // types and helpers of the package, not a connection
				}
				if n.Sel.Name == "Select" {
					selects++
					if d.Func == nil || d.Func.Name.Name != "selectRows" || d.Func.Recv == nil {
						t.Errorf("%s: Select called outside Client.selectRows", fset.Position(n.Pos()))
					}
				}
			case *ast.BasicLit:
				if v, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && forbidden[v] {
					t.Errorf("%s: string %q in the package", fset.Position(n.Pos()), v)
				}
			}
			return true
		})
	}
	if selects != 1 {
		t.Errorf("Select called %d times, want once (in Client.selectRows)", selects)
	}
}
