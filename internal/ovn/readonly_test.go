package ovn

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReadOnlySource checks the package's source: the connection's
// Select is called in Client.selectRows only, no JSON-RPC method or
// mutating op name is spelled here, and no other ovsdbrpc sender is used.
func TestReadOnlySource(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	selects := 0
	forbidden := map[string]bool{"insert": true, "update": true, "mutate": true, "delete": true,
		"commit": true, "abort": true, "wait": true, "assert": true, "lock": true, "steal": true,
		"transact": true, "monitor": true, "monitor_cond": true, "echo": true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			fn, _ := decl.(*ast.FuncDecl)
			ast.Inspect(decl, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if id, ok := n.X.(*ast.Ident); ok && id.Name == "ovsdbrpc" {
						return true // types and helpers of the package, not a connection
					}
					if n.Sel.Name == "Select" {
						selects++
						if fn == nil || fn.Name.Name != "selectRows" || fn.Recv == nil {
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
	}
	if selects != 1 {
		t.Errorf("Select called %d times, want once (in Client.selectRows)", selects)
	}
}
