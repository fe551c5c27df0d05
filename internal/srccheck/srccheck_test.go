package srccheck

import "testing"

// The package reads itself: its one function, and not this test file.
func TestDecls(t *testing.T) {
	_, decls := Decls(t)
	var funcs []string
	for _, d := range decls {
		if d.File != "srccheck.go" {
			t.Errorf("declaration from %s", d.File)
		}
		if d.Func != nil {
			funcs = append(funcs, d.Func.Name.Name)
		}
	}
	if len(funcs) != 1 || funcs[0] != "Decls" {
		t.Errorf("functions %v, want [Decls]", funcs)
	}
}
