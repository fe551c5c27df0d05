// Package srccheck reads a package's own source for the tests that hold
// it to what it may do, such as the OVSDB readers' read-only guarantee:
// each test walks the declarations of its package's non-test files and
// fails on a call or a literal that should not be there.
package srccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Decl is one top-level declaration of a non-test file.
type Decl struct {
	// File is the file's name, relative to the package directory.
	File string
	ast.Decl
	// Func is the declaration as a function, nil for any other kind.
	Func *ast.FuncDecl
}

// Decls parses the non-test .go files of the current directory (the
// package under test) and returns their declarations in file order, with
// the file set that positions them.
func Decls(tb testing.TB) (*token.FileSet, []Decl) {
	tb.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		tb.Fatal(err)
	}
	fset := token.NewFileSet()
	var decls []Decl
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, _ := d.(*ast.FuncDecl)
			decls = append(decls, Decl{File: f, Decl: d, Func: fn})
		}
	}
	if len(decls) == 0 {
		tb.Fatal("no declarations in the package's source: run from its directory")
	}
	return fset, decls
}
