package agent

import (
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
)

// Config tunes the poller. DefaultConfig holds every default; the flags
// and New take them from there.
type Config struct {
	// Bridges limits the agent to these bridges; empty means all.
	Bridges []string
	// Interval between polls.
	Interval time.Duration
	// MaxFlows is the datapath flow count above which the agent stops
	// dumping all megaflows and dumps only the busiest ports' flows.
	MaxFlows int
	// BoundedPorts is how many ports the bounded strategy dumps per poll.
	BoundedPorts int
	// NormalRulesInterval is the minimum time between reads of the NORMAL
	// rules' counters (a filtered OpenFlow flow-stats request); the agent
	// stretches it so that a read costs vswitchd at most 1% of its time.
	NormalRulesInterval time.Duration
	// TopologyRefresh is the longest the agent keeps OVSDB topology
	// without re-reading it (it re-reads at once when cur_cfg changes).
	TopologyRefresh time.Duration
	// Trace enables ofproto/trace of each new flood to find the NORMAL rule.
	Trace bool
	// RetireAfter is how long the counters of a port that is gone are
	// still exported (and remembered) before they are dropped.
	RetireAfter time.Duration
	// MaxVLANsPerPort caps the vlan label values of the flood counters of
	// one in_port; further VLANs are summed under vlan="other".
	MaxVLANsPerPort int
	// Detect tunes the flood detector.
	Detect detect.Config
	// Gate tunes when megaflows are dumped (gate.go).
	Gate GateConfig
	// AfterPoll, when set, runs after each poll of Run once its snapshot
	// is published, on the poll loop (the binary times its garbage
	// collection there).
	AfterPoll func()
}

// DefaultConfig returns the defaults behind the flags. It is the one
// place they are written.
func DefaultConfig() Config {
	return Config{
		Interval:            5 * time.Second,
		MaxFlows:            20000,
		BoundedPorts:        1,
		NormalRulesInterval: 5 * time.Second,
		TopologyRefresh:     5 * time.Minute,
		Trace:               true,
		RetireAfter:         10 * time.Minute,
		MaxVLANsPerPort:     16,
		Detect:              detect.DefaultConfig(),
		Gate:                DefaultGateConfig(),
	}
}

// withDefaults fills the fields left zero with DefaultConfig's values.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	orDefault(&c.Interval, def.Interval)
	orDefault(&c.MaxFlows, def.MaxFlows)
	orDefault(&c.BoundedPorts, def.BoundedPorts)
	orDefault(&c.NormalRulesInterval, def.NormalRulesInterval)
	orDefault(&c.TopologyRefresh, def.TopologyRefresh)
	orDefault(&c.RetireAfter, def.RetireAfter)
	orDefault(&c.MaxVLANsPerPort, def.MaxVLANsPerPort)
	c.Gate = c.Gate.withDefaults()
	return c
}

func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// wanted says whether bridge is one the agent watches.
func (c *Config) wanted(bridge string) bool {
	if len(c.Bridges) == 0 {
		return true
	}
	for _, b := range c.Bridges {
		if b == bridge {
			return true
		}
	}
	return false
}
