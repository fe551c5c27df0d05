package counter

import "testing"

func TestDelta(t *testing.T) {
	cases := []struct {
		name            string
		prev, cur, want uint64
	}{
		{"unchanged", 10, 10, 0},
		{"grew", 10, 25, 15},
		{"restarted from zero", 1000, 40, 40},
		{"restarted to zero", 1000, 0, 0},
		{"from zero", 0, 7, 7},
		{"top of the range", 1, ^uint64(0), ^uint64(0) - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Delta(tc.prev, tc.cur); got != tc.want {
				t.Errorf("Delta(%d, %d) = %d, want %d", tc.prev, tc.cur, got, tc.want)
			}
		})
	}
}

func TestAccumulator(t *testing.T) {
	a := NewAccumulator()
	steps := []struct {
		name string
		key  string
		cur  uint64
		want uint64
	}{
		{"first reading is taken whole", "dp/hit", 100, 100},
		{"growth adds", "dp/hit", 150, 150},
		{"a restart adds what counted since", "dp/hit", 30, 180},
		{"other keys are independent", "dp/missed", 5, 5},
		{"growth after a restart", "dp/hit", 40, 190},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := a.Add(s.key, s.cur); got != s.want {
				t.Errorf("Add(%s, %d) = %d, want %d", s.key, s.cur, got, s.want)
			}
		})
	}
	a.Sweep()
	if got := a.Add("dp/hit", 50); got != 200 {
		t.Fatalf("Add(dp/hit, 50) = %d, want 200", got)
	}
	a.Sweep()
	if a.Len() != 1 {
		t.Fatalf("after a sweep without dp/missed: %d keys, want 1", a.Len())
	}
	if got := a.Add("dp/missed", 9); got != 9 {
		t.Errorf("a swept key starts a new total: got %d, want 9", got)
	}
	if got := a.Add("dp/hit", 60); got != 210 {
		t.Errorf("kept key lost its total: got %d, want 200", got)
	}
}

func TestAdd(t *testing.T) {
	top := ^uint64(0)
	cases := []struct {
		name           string
		total, n, want uint64
	}{
		{"adds", 5, 7, 12},
		{"zero", 5, 0, 5},
		{"up to the top", top - 1, 1, top},
		{"held at the top", top - 1, 5, top},
		{"top stays", top, top, top},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Add(tc.total, tc.n); got != tc.want {
				t.Errorf("Add(%d, %d) = %d, want %d", tc.total, tc.n, got, tc.want)
			}
		})
	}
}
