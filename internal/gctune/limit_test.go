package gctune

import (
	"runtime"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name      string
		floor     int64
		live      uint64
		wantLimit int64
	}{
		{"typical host: the floor", 24 * mib, 8 * mib, 24 * mib},
		{"a transient peak of the live heap: still the floor", 24 * mib, 13 * mib, 24 * mib},
		{"big host: 1.5 times the live heap plus headroom", 24 * mib, 30 * mib, 45*mib + limitHeadroom},
		{"just above the floor", 24 * mib, 14 * mib, 21*mib + limitHeadroom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var set int64
			m := MemoryLimit{floor: tt.floor, live: func() uint64 { return tt.live }, set: func(l int64) int64 { set = l; return 0 }}
			if got := m.adjust(); got != tt.wantLimit || set != tt.wantLimit {
				t.Errorf("limit %d (set %d), want %d", got, set, tt.wantLimit)
			}
		})
	}
	runtime.GC() // the live heap is measured by a GC
	if liveHeap() == 0 {
		t.Error("the runtime reports no live heap")
	}
}
