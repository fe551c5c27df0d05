package agent

import (
	"context"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// ovsdbSource reads bridges, ports and interfaces (with their
// Neutron/Nova identity) from OVSDB, re-reading only on change.
type ovsdbSource struct {
	r        ovsdb.Reader
	deadline time.Duration
	request  time.Duration // --ovs.timeout, for each request
	cache    topologyCache
}

// NewOVSDB returns the "ovsdb" source reading through r. Each request is
// bounded by request (--ovs.timeout), the whole read by deadline.
func NewOVSDB(r ovsdb.Reader, deadline, request time.Duration) Source {
	return &ovsdbSource{r: r, deadline: deadline, request: request}
}

func (s *ovsdbSource) Name() string           { return state.SourceOVSDB }
func (s *ovsdbSource) Timeout() time.Duration { return s.deadline }

func (s *ovsdbSource) Read(ctx context.Context, p *Poll) error {
	// The last topology stands in while OVSDB is down: identity changes
	// rarely, and ports keep their Neutron/Nova labels meanwhile.
	p.ovsdb = s.cache.topo
	rctx, cancel := context.WithTimeout(ctx, s.request)
	cfg, err := s.r.CurCfg(rctx)
	cancel()
	if err != nil {
		return err
	}
	if s.cache.fresh(cfg, p.Time, p.cfg.TopologyRefresh) {
		return nil
	}
	rctx, cancel = context.WithTimeout(ctx, s.request)
	t, err := s.r.Topology(rctx)
	cancel()
	if err != nil {
		return err
	}
	s.cache.set(t, cfg, p.Time)
	p.ovsdb = s.cache.topo
	return nil
}
