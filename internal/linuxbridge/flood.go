package linuxbridge

import "sort"

// Stream is the traffic from one source MAC to one unicast destination
// MAC through one bridge that some port transmitted without having the
// destination: the Linux-bridge counterpart of a flooded megaflow.
// Packets and Bytes are cumulative and monotonic for as long as the
// stream is tracked (a stream dropped and seen again starts over, which
// consumers treat as a counter reset).
type Stream struct {
	// Key is stable across polls: "bridge/src>dst".
	Key    string
	Bridge string
	// InPort is the port the frames entered by: where the FDB learned the
	// source MAC, else the one flooding port that sent no copy (a port
	// with learning off), else "".
	InPort string
	// VLAN is the bridge VLAN (0 without VLAN filtering).
	VLAN     int
	Src, Dst MAC
	// Packets and Bytes count the frames once (the most any one port
	// transmitted), not once per copy.
	Packets, Bytes uint64
	// Outputs are the ports that transmitted copies of the stream since
	// the previous poll, sorted; none when it was quiet.
	Outputs []string
	// Learned is true when the bridge's FDB has the destination (on the
	// stream's VLAN) at this poll: frames sent before it was learned, not
	// a flood going on.
	Learned bool
}

// egressKey identifies one kernel counter.
type egressKey struct {
	ifindex  int
	dst, src MAC
}

type counter struct{ packets, bytes uint64 }

type streamKey struct {
	bridge   int
	src, dst MAC
}

type streamState struct {
	packets, bytes uint64
	inPort         string // as of the last poll with copies
	vlan           int
}

// Classifier turns the observer's cumulative per-port counters into
// streams, poll after poll. Its memory is bounded by the kernel map: it
// keeps one counter per kernel entry and one total per stream whose
// entries are still in the map.
type Classifier struct {
	prev    map[egressKey]counter
	streams map[streamKey]*streamState
}

// NewClassifier returns a Classifier with no history. Counters are taken
// to start at zero (the observer's map is created empty with it).
func NewClassifier() *Classifier {
	return &Classifier{prev: make(map[egressKey]counter), streams: make(map[streamKey]*streamState)}
}

// portMACs says which destinations a port may legitimately receive: those
// the FDB learned (or was given) on it, and the MACs of the VM behind it.
type portMACs map[int]map[MAC]bool

func (p portMACs) add(port int, m MAC) {
	s := p[port]
	if s == nil {
		s = make(map[MAC]bool)
		p[port] = s
	}
	s[m] = true
}

// Update takes the topology and counters of one poll and returns the
// streams that some port transmitted without owning their destination,
// for as long as the kernel keeps their counters (those quiet since the
// previous poll have no Outputs). owned maps port names to the MACs of the VM
// behind them (from libvirt's domain XML), which count as the port's own
// even when the FDB has aged them out.
func (c *Classifier) Update(t Topology, counts []Count, owned map[string][]MAC) []Stream {
	ix := newIndex(t, owned)
	now, live := c.deltas(ix, counts)
	for sk := range c.streams {
		if !live[sk] {
			delete(c.streams, sk)
		}
	}
	for sk, a := range now {
		if len(a.outputs) == 0 {
			continue
		}
		st := c.streams[sk]
		if st == nil {
			st = &streamState{}
			c.streams[sk] = st
		}
		st.packets += a.delta.packets
		st.bytes += a.delta.bytes
		st.inPort, st.vlan = inPort(t, ix.ports, ix.learned[sk.bridge], sk, a.sent)
	}
	// Every tracked stream is returned each poll, quiet or not, so that
	// consumers keying on Stream.Key see steady totals rather than a
	// stream vanishing and coming back.
	out := make([]Stream, 0, len(c.streams))
	for sk, st := range c.streams {
		out = append(out, ix.stream(sk, now[sk], st))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// index is one poll's topology indexed for classification.
type index struct {
	ports   map[int]Port
	bridges map[int]Bridge
	mine    portMACs
	learned map[int]map[fdbKey]int // bridge → (mac, vlan) → port
}

func newIndex(t Topology, owned map[string][]MAC) *index {
	ix := &index{
		ports:   make(map[int]Port, len(t.Ports)),
		bridges: make(map[int]Bridge, len(t.Bridges)),
		mine:    make(portMACs),
		learned: make(map[int]map[fdbKey]int),
	}
	for _, p := range t.Ports {
		ix.ports[p.Index] = p
		for _, m := range owned[p.Name] {
			ix.mine.add(p.Index, m)
		}
	}
	for _, b := range t.Bridges {
		ix.bridges[b.Index] = b
	}
	for _, e := range t.FDB {
		ix.mine.add(e.PortIndex, e.MAC)
		m := ix.learned[e.MasterIndex]
		if m == nil {
			m = make(map[fdbKey]int)
			ix.learned[e.MasterIndex] = m
		}
		m[fdbKey{e.MAC, e.VLAN}] = e.PortIndex
	}
	return ix
}

// agg is one stream's traffic since the previous poll.
type agg struct {
	delta   counter
	outputs []int // ports that received copies
	sent    []int // every port that transmitted the stream
}

// deltas takes the counters' increase since the previous poll by stream,
// and returns which streams still have unowned entries in the kernel map.
func (c *Classifier) deltas(ix *index, counts []Count) (map[streamKey]*agg, map[streamKey]bool) {
	now := make(map[streamKey]*agg)
	live := make(map[streamKey]bool)
	seen := make(map[egressKey]counter, len(counts))
	for _, k := range counts {
		ek := egressKey{k.Ifindex, k.Dst, k.Src}
		cur := counter{k.Packets, k.Bytes}
		seen[ek] = cur
		port, ok := ix.ports[k.Ifindex]
		if !ok || !k.Dst.Unicast() {
			continue
		}
		sk := streamKey{port.MasterIndex, k.Src, k.Dst}
		own := ix.mine[k.Ifindex][k.Dst]
		if !own {
			live[sk] = true
		}
		// An entry seen for the first time was created since the previous
		// poll (the map is the observer's own, counting since it was
		// loaded), so all of it is new; a decrease is a re-created entry.
		d := cur
		if prev, had := c.prev[ek]; had && cur.packets >= prev.packets && cur.bytes >= prev.bytes {
			d = counter{cur.packets - prev.packets, cur.bytes - prev.bytes}
		}
		if d.packets == 0 {
			continue
		}
		a := now[sk]
		if a == nil {
			a = &agg{}
			now[sk] = a
		}
		a.sent = append(a.sent, k.Ifindex)
		if own {
			continue // a delivery the port was due
		}
		a.outputs = append(a.outputs, k.Ifindex)
		if d.packets > a.delta.packets {
			a.delta = d
		}
	}
	c.prev = seen
	return now, live
}

func (ix *index) stream(sk streamKey, a *agg, st *streamState) Stream {
	br := ix.bridges[sk.bridge]
	s := Stream{
		Key:     br.Name + "/" + sk.src.String() + ">" + sk.dst.String(),
		Bridge:  br.Name,
		InPort:  st.inPort,
		VLAN:    st.vlan,
		Src:     sk.src,
		Dst:     sk.dst,
		Packets: st.packets,
		Bytes:   st.bytes,
	}
	_, s.Learned = ix.learned[sk.bridge][fdbKey{sk.dst, s.VLAN}]
	if a != nil {
		for _, o := range a.outputs {
			s.Outputs = append(s.Outputs, ix.ports[o].Name)
		}
		sort.Strings(s.Outputs)
	}
	return s
}

type fdbKey struct {
	mac  MAC
	vlan int
}

// inPort names where a stream entered and its VLAN: the port the FDB
// learned the source on; failing that, the one port of the bridge with
// unicast flooding on that transmitted no copy (the bridge never sends a
// frame back where it came from).
func inPort(t Topology, byIndex map[int]Port, learned map[fdbKey]int, sk streamKey, sent []int) (string, int) {
	var (
		best    Port
		found   bool
		vlanHit int
	)
	for k, idx := range learned {
		if k.mac != sk.src {
			continue
		}
		if p, ok := byIndex[idx]; ok && (!found || k.vlan < vlanHit) {
			best, found, vlanHit = p, true, k.vlan
		}
	}
	if found {
		return best.Name, vlanHit
	}
	sentBy := make(map[int]bool, len(sent))
	for _, o := range sent {
		sentBy[o] = true
	}
	var silent []Port
	for _, p := range t.PortsOf(sk.bridge) {
		if p.UnicastFlood && !sentBy[p.Index] {
			silent = append(silent, p)
		}
	}
	if len(silent) == 1 {
		return silent[0].Name, silent[0].PVID
	}
	return "", 0
}
