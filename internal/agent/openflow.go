package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/openflow"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// OpenFlowReader reads OpenFlow statistics per bridge; *openflow.Pool
// implements it.
type OpenFlowReader interface {
	TableStats(ctx context.Context, bridge string) ([]openflow.TableStats, error)
	NormalRules(ctx context.Context, bridge string) ([]openflow.Flow, error)
}

// openflowSource reads table statistics every poll and the counters of
// the rules whose actions include NORMAL at a slower cadence, over each
// bridge's OpenFlow management socket. It reads the bridges the unixctl
// source found, or OVSDB's when vswitchd is down, so it is wired after
// them.
type openflowSource struct {
	r        OpenFlowReader
	deadline time.Duration
	normal   map[string]normalRules
	// groups remembers the tables' counters (see groupMemo).
	groups groupMemo
}

// normalRules is a bridge's last NORMAL rules read and when to read again.
type normalRules struct {
	rules []state.Rule
	next  time.Time
}

// openflowView is one poll's reading of OpenFlow, by bridge.
type openflowView struct {
	tables map[string][]state.Table
	rules  map[string][]state.Rule
}

// NewOpenFlow returns the "openflow" source reading through r.
func NewOpenFlow(r OpenFlowReader, deadline time.Duration) Source {
	return &openflowSource{r: r, deadline: deadline, normal: map[string]normalRules{}}
}

func (s *openflowSource) Name() string           { return state.SourceOpenFlow }
func (s *openflowSource) Timeout() time.Duration { return s.deadline }

func (s *openflowSource) Read(ctx context.Context, p *Poll) error {
	v := &openflowView{tables: map[string][]state.Table{}, rules: map[string][]state.Rule{}}
	p.openflow = v
	var errs []error
	n := 0 // tables looked up so far, in order
	for _, br := range ovsBridgeNames(p) {
		ts, err := s.r.TableStats(ctx, br)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", br, err))
			continue
		}
		tables := make([]state.Table, 0, len(ts))
		for _, t := range ts {
			g := p.counters.groupAt(&s.groups, n, groupKey{kind: "of", bridge: br, id: int(t.TableID)}, p.Time)
			n++
			lookups, _ := g.add(0, t.LookupCount)
			matches, _ := g.add(1, t.MatchedCount)
			tables = append(tables, state.Table{ID: t.TableID, Rules: t.ActiveCount, Lookups: lookups, Matches: matches})
		}
		v.tables[br] = tables
		if err := s.readNormal(ctx, p, br); err != nil {
			errs = append(errs, err)
		}
		v.rules[br] = keepNormal(p, br, s.normal[br].rules)
	}
	return errors.Join(errs...)
}

// readNormal re-reads a bridge's NORMAL rules when due, keeping
// vswitchd's share for them at or below 1% of its time.
func (s *openflowSource) readNormal(ctx context.Context, p *Poll, br string) error {
	if p.Time.Before(s.normal[br].next) {
		return nil
	}
	start := time.Now()
	flows, err := s.r.NormalRules(ctx, br)
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s: flow stats: %w", br, err)
	}
	rules := make([]state.Rule, 0, len(flows))
	for _, f := range flows {
		rules = append(rules, state.Rule{Table: f.TableID, Priority: f.Priority, Cookie: f.Cookie,
			Packets: f.PacketCount, Bytes: f.ByteCount, Match: f.Match})
	}
	sortRules(rules)
	wait := max(p.cfg.NormalRulesInterval, 100*took)
	s.normal[br] = normalRules{rules: rules, next: p.Time.Add(wait)}
	return nil
}

// keepNormal passes NORMAL rule counters through the accumulator so a rule
// re-installed with fresh counters does not make the series go backwards.
func keepNormal(p *Poll, br string, rules []state.Rule) []state.Rule {
	out := make([]state.Rule, len(rules))
	for i, r := range rules {
		k := fmt.Sprintf("normal/%s/%d/%d/%x/%s", br, r.Table, r.Priority, r.Cookie, r.Match)
		r.Packets = p.counter(k+"/p", r.Packets)
		r.Bytes = p.counter(k+"/b", r.Bytes)
		out[i] = r
	}
	return out
}

func sortRules(rules []state.Rule) {
	sort.Slice(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if a.Cookie != b.Cookie {
			return a.Cookie < b.Cookie
		}
		return a.Match < b.Match
	})
}
