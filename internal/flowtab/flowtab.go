// Package flowtab keeps a value per megaflow across polls: the detector's
// and the loop counter's memory of what each megaflow counted. It runs
// every poll over thousands of megaflows, so the values live in one array
// indexed by a map from key to slot: a poll looks each megaflow up once
// and walks the array, not the map, to forget. A datapath lists its
// megaflows in the same order from one dump to the next, so each is first
// compared with the one that followed its predecessor last time, and
// looked up by key only when that is another megaflow.
package flowtab

// Table holds a V per megaflow key. The zero Table is empty and ready.
type Table[V any] = Keyed[string, V]

// Keyed is a Table whose megaflow keys are of type K. With a fixed-size
// key and a value without pointers (a counter keyed by the agent's 16-byte
// megaflow identity), the whole table holds no pointer, and the garbage
// collector never marks it: it stays live from poll to poll.
type Keyed[K comparable, V any] struct {
	slots map[K]int32
	rows  []row[K, V]
	head  int32   // slot of the first megaflow of the last walk, -1 if none
	free  []int32 // slots of dropped megaflows, for the next new ones
	prev  int32   // slot of the megaflow visited last in this walk, -1 before the first
}

type row[K comparable, V any] struct {
	key  K
	used bool  // false for a free slot
	next int32 // slot of the megaflow that followed this one in the last walk, -1 if none
	val  V
}

func (t *Keyed[K, V]) init() {
	if t.slots == nil {
		t.slots, t.head = map[K]int32{}, -1
	}
}

// Walk starts the walk of a new dump: the next Visit is its first megaflow.
func (t *Keyed[K, V]) Walk() {
	t.init()
	t.prev = -1
}

// Visit returns the value of key, the next megaflow of the dump being
// walked, adding it with V's zero value when new; known says whether it
// was held already.
func (t *Keyed[K, V]) Visit(key K) (v *V, known bool) {
	slot, ok := t.find(key)
	if !ok {
		slot = t.alloc(key)
	}
	if t.prev < 0 {
		t.head = slot
	} else {
		t.rows[t.prev].next = slot
	}
	t.prev = slot
	return &t.rows[slot].val, ok
}

// Get returns the value of key, if held.
func (t *Keyed[K, V]) Get(key K) (*V, bool) {
	slot, ok := t.slots[key]
	if !ok {
		return nil, false
	}
	return &t.rows[slot].val, true
}

// Retain drops every megaflow whose value keep rejects, then moves the
// rest into a right-sized array and map once most slots are free: after a
// burst of megaflows (a MAC flood) has gone, the memory shrinks back.
func (t *Keyed[K, V]) Retain(keep func(v *V) bool) {
	for i := range t.rows {
		if r := &t.rows[i]; r.used && !keep(&r.val) {
			delete(t.slots, r.key)
			*r = row[K, V]{next: -1}
			t.free = append(t.free, int32(i))
		}
	}
	t.compact()
}

// Len returns how many megaflows are held.
func (t *Keyed[K, V]) Len() int { return len(t.slots) }

// Slots returns how many slots the table has, free ones included: what
// its memory is sized for.
func (t *Keyed[K, V]) Slots() int { return len(t.rows) }

// find returns the slot of key, trying first the one that followed the
// megaflow visited last (the head of the last walk for the first).
func (t *Keyed[K, V]) find(key K) (int32, bool) {
	guess := t.head
	if t.prev >= 0 {
		guess = t.rows[t.prev].next
	}
	if guess >= 0 && int(guess) < len(t.rows) && t.rows[guess].used && t.rows[guess].key == key {
		return guess, true
	}
	slot, ok := t.slots[key]
	return slot, ok
}

// alloc returns a new slot for key, its value zero.
func (t *Keyed[K, V]) alloc(key K) int32 {
	var slot int32
	if n := len(t.free); n > 0 {
		slot, t.free = t.free[n-1], t.free[:n-1]
	} else {
		slot = int32(len(t.rows))
		t.rows = append(t.rows, row[K, V]{})
	}
	t.rows[slot] = row[K, V]{key: key, used: true, next: -1}
	t.slots[key] = slot
	return slot
}

func (t *Keyed[K, V]) compact() {
	if len(t.rows) < 1024 || len(t.slots) > len(t.rows)/4 {
		return
	}
	rows := make([]row[K, V], 0, 2*len(t.slots))
	slots := make(map[K]int32, 2*len(t.slots))
	for i := range t.rows {
		if t.rows[i].used {
			slots[t.rows[i].key] = int32(len(rows))
			rows = append(rows, t.rows[i])
		}
	}
	for i := range rows {
		rows[i].next = -1 // the slots moved
	}
	t.rows, t.slots, t.free, t.head = rows, slots, nil, -1
}
