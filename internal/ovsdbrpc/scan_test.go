package ovsdbrpc

import "testing"

// A malformed container is an error, wherever it breaks.
func TestEachRejectsMalformed(t *testing.T) {
	nop := func([]byte) error { return nil }
	nopMember := func(_, _ []byte) error { return nil }
	for _, in := range []string{`[1 2]`, `[1,`, `[`, `{}`, `"x"`} {
		if err := eachElem([]byte(in), nop); err == nil {
			t.Errorf("eachElem(%s): no error", in)
		}
	}
	for _, in := range []string{`{"a":1 "b":2}`, `{"a":1,`, `{"a" 1}`, `{1:2}`, `{`, `[]`} {
		if err := eachMember([]byte(in), nopMember); err == nil {
			t.Errorf("eachMember(%s): no error", in)
		}
	}
	for _, in := range []string{`[]`, ` [ 1 , [2] , {"a":3} ] `} {
		if err := eachElem([]byte(in), nop); err != nil {
			t.Errorf("eachElem(%s): %v", in, err)
		}
	}
	for _, in := range []string{`{}`, ` { "a" : 1 , "b" : [2] } `} {
		if err := eachMember([]byte(in), nopMember); err != nil {
			t.Errorf("eachMember(%s): %v", in, err)
		}
	}
}
