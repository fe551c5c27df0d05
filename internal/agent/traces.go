package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/label"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// maxTraceBackoff caps the wait before retrying a failed ofproto/trace.
const maxTraceBackoff = 5 * time.Minute

// traceRetention is how long a flood's trace is kept after it was last
// among the reported floods: with more floods than --flood.max-reported
// at similar rates, the reported set changes from poll to poll, and a
// flood coming back would otherwise be traced again each time.
// maxTraceEntries bounds what is kept (the floods last reported longest
// ago go first).
const (
	traceRetention  = 10 * time.Minute
	maxTraceEntries = 1024
)

// traceCache remembers, per active flood, the rule ofproto/trace named.
// A trace costs vswitchd about as much as one upcall, so each flood is
// traced once (and kept traceRetention after it was last reported); a
// trace that failed (vswitchd busy or restarting, a reply that did not
// parse) is retried with a doubling wait instead of being remembered as
// "no rule".
type traceCache struct {
	first   time.Duration // wait after the first failure
	entries map[detect.FloodKey]*traceEntry
}

type traceEntry struct {
	ref      state.RuleRef
	done     bool // ref is the trace's answer (Table -1: no NORMAL flood)
	failures int
	retryAt  time.Time
	reported time.Time // when the flood was last among the reported ones
}

func newTraceCache(first time.Duration) *traceCache {
	return &traceCache{first: first, entries: map[detect.FloodKey]*traceEntry{}}
}

// trace traces every active flood that has no answer yet and is due.
func (c *traceCache) trace(ctx context.Context, v ovs.Vswitchd, ov *ovnLookup, active []detect.Flood, now time.Time, log *zap.Logger) {
	for _, f := range active {
		e := c.entries[f.FloodKey]
		if e == nil {
			e = &traceEntry{}
			c.entries[f.FloodKey] = e
		}
		if e.done || now.Before(e.retryAt) {
			continue
		}
		flow := traceFlow(f)
		tr, err := v.Trace(ctx, f.Bridge, flow)
		if err != nil {
			e.failures++
			wait := min(c.first<<min(e.failures-1, 16), maxTraceBackoff)
			e.retryAt = now.Add(wait)
			log.Debug("trace failed, will retry", zap.String("in_port", f.InPort), zap.String("dst_mac", f.DstMAC),
				zap.Int("failures", e.failures), zap.Duration("retry_in", wait), zap.Error(err))
			continue
		}
		e.ref, e.done = traceRef(tr), true
		e.ref.Bridge, e.ref.Flow = f.Bridge, flow
		if ov != nil && ov.view != nil && f.Bridge == ov.view.bridge {
			// OVN floods without NORMAL: the rule is the logical flow that
			// sent the frame to a multicast group.
			step, lf, err := ov.view.logicalFlow(ctx, tr, ov.ifaceID[f.InPort])
			if err != nil {
				log.Debug("OVN logical flow lookup failed", zap.String("in_port", f.InPort), zap.Error(err))
			}
			if step.Cookie != 0 {
				e.ref.Table, e.ref.Priority, e.ref.Cookie, e.ref.Match = step.Table, step.Priority, step.Cookie, step.Match
				e.ref.Logical = lf
			}
		}
	}
}

// ovnLookup gives traces what they need to name OVN's logical flows.
type ovnLookup struct {
	view    *ovnView
	ifaceID map[string]string // OVS port name -> iface-id (logical port)
}

// keep stamps the reported floods' entries and forgets those last
// reported traceRetention ago or more, and the oldest beyond
// maxTraceEntries.
func (c *traceCache) keep(active []detect.Flood, now time.Time) {
	for _, f := range active {
		if e := c.entries[f.FloodKey]; e != nil {
			e.reported = now
		}
	}
	for k, e := range c.entries {
		if now.Sub(e.reported) >= traceRetention {
			delete(c.entries, k)
		}
	}
	if over := len(c.entries) - maxTraceEntries; over > 0 {
		c.dropOldest(over)
	}
}

// dropOldest forgets the n entries last reported longest ago.
func (c *traceCache) dropOldest(n int) {
	keys := make([]detect.FloodKey, 0, len(c.entries))
	for k := range c.entries {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y detect.FloodKey) int {
		return c.entries[x].reported.Compare(c.entries[y].reported)
	})
	for _, k := range keys[:n] {
		delete(c.entries, k)
	}
}

// rules returns the flooding rule of each active flood that has one.
func (c *traceCache) rules(active []detect.Flood) map[detect.FloodKey]state.RuleRef {
	out := make(map[detect.FloodKey]state.RuleRef, len(active))
	for _, f := range active {
		if e := c.entries[f.FloodKey]; e != nil && e.done && e.ref.Table >= 0 {
			out[f.FloodKey] = e.ref
		}
	}
	return out
}

// traceFlow is the ofproto/trace flow used for a flood.
func traceFlow(f detect.Flood) string {
	flow := "in_port=" + f.InPort
	if f.SrcMAC != "" {
		flow += ",dl_src=" + f.SrcMAC
	}
	return flow + ",dl_dst=" + f.DstMAC
}

// traceRef finds the rule whose NORMAL action flooded in a trace; Table is
// -1 when the trace shows no NORMAL flood.
func traceRef(tr ovs.Trace) state.RuleRef {
	ref := state.RuleRef{Table: -1}
	for _, s := range tr.Steps {
		ref.Path = append(ref.Path, fmt.Sprintf("%s table %d priority %d cookie %s %s", s.Bridge, s.Table, s.Priority, label.Cookie(s.Cookie), s.Match))
	}
	if tr.Flooded && tr.FloodStep != nil {
		ref.Table, ref.Priority, ref.Cookie, ref.Match = tr.FloodStep.Table, tr.FloodStep.Priority, tr.FloodStep.Cookie, tr.FloodStep.Match
	}
	return ref
}
