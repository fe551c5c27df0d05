package agent

import (
	"sort"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// boundedScheduler picks the ports whose flows the bounded strategy dumps
// each poll. Every filtered dump still makes vswitchd walk all megaflows,
// so only n ports are dumped per poll, in turn: the ports of active floods
// first, then the ports that sent the most in the last poll (a flooding VM
// is a sender).
type boundedScheduler struct {
	turn int
}

// pick returns at most n ports of dp to dump this poll. flooding lists the
// in_ports of active floods; sent is what each port's VM sent last poll.
func (b *boundedScheduler) pick(dp ovs.Datapath, n int, flooding []string, sent map[string]uint64) []string {
	type rate struct {
		name string
		sent uint64
	}
	var rs []rate
	for _, br := range dp.Bridges {
		for _, p := range br.Ports {
			rs = append(rs, rate{p.Name, sent[p.Name]})
		}
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].sent != rs[j].sent {
			return rs[i].sent > rs[j].sent
		}
		return rs[i].name < rs[j].name
	})
	seen := map[string]bool{}
	var cands []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	for _, p := range flooding {
		add(p)
	}
	for _, r := range rs {
		if len(cands) >= len(flooding)+4*n {
			break
		}
		add(r.name)
	}
	n = min(n, len(cands))
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, cands[(b.turn*n+i)%len(cands)])
	}
	b.turn++
	return out
}
