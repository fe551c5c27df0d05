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
