package agent

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// netlinkSource reads every device's counters over rtnetlink (in other
// network namespaces too with --netns.walk).
type netlinkSource struct {
	r        netdev.Reader
	deadline time.Duration
	netns    *NetnsErrors
	// devs is the last poll's devices, refilled by the next poll when r
	// is a netdev.Filler: nothing keeps a poll's device map past the
	// poll (ports copy their device's counters and name).
	devs map[string]netdev.Device
}

// NewNetlink returns the "netlink" source reading through r. netns, if
// not nil, is where r reports namespaces it could not read (its
// Report method is r's netdev.Options.OnNetnsError).
func NewNetlink(r netdev.Reader, deadline time.Duration, netns *NetnsErrors) Source {
	return &netlinkSource{r: r, deadline: deadline, netns: netns}
}

func (s *netlinkSource) Name() string           { return state.SourceNetlink }
func (s *netlinkSource) Timeout() time.Duration { return s.deadline }

func (s *netlinkSource) Read(ctx context.Context, p *Poll) error {
	devs, err := s.read(ctx)
	if err == nil {
		s.netns.settle(p.log)
		p.netlink = devs
	}
	return err
}

// read returns the devices, in the map of the last poll when it can.
func (s *netlinkSource) read(ctx context.Context) (map[string]netdev.Device, error) {
	f, ok := s.r.(netdev.Filler)
	if !ok {
		return s.r.Devices(ctx)
	}
	if s.devs == nil {
		s.devs = map[string]netdev.Device{}
	}
	if err := f.FillDevices(ctx, s.devs); err != nil {
		return nil, err
	}
	return s.devs, nil
}

// NetnsErrors collects the namespaces a netlink walk could not read, so
// they are logged once per namespace per change instead of vanishing
// (a namespace that cannot be read hides its ports' counters).
type NetnsErrors struct {
	mu   sync.Mutex
	now  map[string]string // this walk: namespace -> error
	last map[string]string // logged state
}

// Report is a netdev.Options.OnNetnsError: it records that ns could not
// be read in the walk under way.
func (n *NetnsErrors) Report(ns string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.now == nil {
		n.now = map[string]string{}
	}
	n.now[ns] = err.Error()
}

// settle logs the namespaces whose state changed since the last walk.
func (n *NetnsErrors) settle(log *zap.Logger) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for ns, msg := range n.now {
		if n.last[ns] != msg {
			log.Warn("network namespace unreadable: its devices' counters are missing",
				zap.String("netns", ns), zap.String("error", msg))
		}
	}
	for ns := range n.last {
		if _, still := n.now[ns]; !still {
			log.Info("network namespace readable again (or gone)", zap.String("netns", ns))
		}
	}
	n.last, n.now = n.now, nil
}
