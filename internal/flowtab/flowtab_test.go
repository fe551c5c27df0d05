package flowtab

import (
	"fmt"
	"testing"
)

// A value follows its key whatever the order of the dumps: the guess from
// the last walk's order is only a shortcut.
func TestVisitKeepsValuesAcrossOrders(t *testing.T) {
	walks := []struct {
		name string
		keys []string
	}{
		{"first dump", []string{"a", "b", "c"}},
		{"same order", []string{"a", "b", "c"}},
		{"reversed", []string{"c", "b", "a"}},
		{"one new in the middle, one twice", []string{"a", "d", "a", "c"}},
	}
	var tab Table[int]
	count := map[string]int{}
	for _, w := range walks {
		t.Run(w.name, func(t *testing.T) {
			tab.Walk()
			for _, k := range w.keys {
				v, known := tab.Visit(k)
				if known != (count[k] > 0) {
					t.Errorf("Visit(%q) known = %v, want %v", k, known, count[k] > 0)
				}
				if *v != count[k] {
					t.Errorf("Visit(%q) = %d, want %d", k, *v, count[k])
				}
				count[k]++
				*v = count[k]
			}
		})
	}
	for k, n := range count {
		if v, ok := tab.Get(k); !ok || *v != n {
			t.Errorf("Get(%q) = %v, %v; want %d", k, v, ok, n)
		}
	}
}

// Retain drops exactly what keep rejects, a dropped key comes back new,
// and after a burst has gone the table shrinks and keeps what is left.
func TestRetainDropsAndShrinks(t *testing.T) {
	var tab Table[int]
	tab.Walk()
	for i := range 5000 {
		v, _ := tab.Visit(fmt.Sprint(i))
		*v = i
	}
	tab.Retain(func(v *int) bool { return *v%1000 == 0 })
	if tab.Len() != 5 {
		t.Fatalf("Len = %d after dropping all but 5, want 5", tab.Len())
	}
	if tab.Slots() > 16 {
		t.Errorf("%d slots for 5 values after the burst, want it shrunk", tab.Slots())
	}
	for i := range 5000 {
		v, ok := tab.Get(fmt.Sprint(i))
		if want := i%1000 == 0; ok != want || (ok && *v != i) {
			t.Fatalf("Get(%d) = %v, %v; want held %v", i, v, ok, want)
		}
	}
	tab.Walk()
	if v, known := tab.Visit("1"); known || *v != 0 {
		t.Errorf("a dropped key came back as %d, known %v; want new and zero", *v, known)
	}
}
