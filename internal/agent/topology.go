package agent

import (
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
)

// topologyCache keeps the OVSDB topology between reads: it is re-read when
// OVS's configuration sequence number (cur_cfg) changes or when it is
// older than the refresh period, and kept while OVSDB is down so ports keep
// their identity.
type topologyCache struct {
	topo *ovsdb.Topology
	at   time.Time
	cfg  int64
}

// fresh says whether the cached topology can stand for cur_cfg at now.
func (c *topologyCache) fresh(curCfg int64, now time.Time, refresh time.Duration) bool {
	return c.topo != nil && curCfg == c.cfg && now.Sub(c.at) < refresh
}

func (c *topologyCache) set(t ovsdb.Topology, curCfg int64, now time.Time) {
	c.topo, c.cfg, c.at = &t, curCfg, now
}
