package gctune

import "testing"

func TestGCPacer(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name string
		// allocation totals and heaps at the end of successive polls
		polls []heapFigures
		want  []bool // collected after each poll
	}{
		{"room to spare: never", []heapFigures{
			{allocs: 2 * mb, objects: 8 * mb, goal: 20 * mb},
			{allocs: 4 * mb, objects: 10 * mb, goal: 20 * mb},
			{allocs: 6 * mb, objects: 12 * mb, goal: 20 * mb},
		}, []bool{false, false, false}},
		{"the next interval would reach the goal: now", []heapFigures{
			{allocs: 2 * mb, objects: 8 * mb, goal: 16 * mb},
			{allocs: 6 * mb, objects: 12 * mb, goal: 16 * mb}, // 12 + 4 + 1 >= 16
			{allocs: 7 * mb, objects: 9 * mb, goal: 16 * mb},  // a quiet interval: 9 + 1 + 0.25 < 16
		}, []bool{false, true, false}},
		{"first poll: everything since start counts", []heapFigures{
			{allocs: 30 * mb, objects: 6 * mb, goal: 24 * mb},
		}, []bool{true}},
		{"at the goal with nothing allocated", []heapFigures{
			{allocs: 0, objects: 16 * mb, goal: 16 * mb},
		}, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, collected := 0, false
			g := Pacer{read: func() heapFigures { return tt.polls[i] }, collect: func() { collected = true }}
			for i = range tt.polls {
				collected = false
				g.AfterPoll()
				if collected != tt.want[i] {
					t.Errorf("poll %d (%+v): collected %v, want %v", i, tt.polls[i], collected, tt.want[i])
				}
			}
		})
	}
}

// The runtime's figures are there (a renamed metric would read 0 and
// silently turn the pacer into a collection after every poll).
func TestReadHeapFigures(t *testing.T) {
	f := readHeapFigures()
	if f.allocs == 0 || f.objects == 0 || f.goal == 0 {
		t.Fatalf("heap figures %+v: a runtime metric is missing", f)
	}
}
