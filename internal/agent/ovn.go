package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovn"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// ovnSource reads, from the OVN Southbound that ovn-controller on this host
// uses (Open_vSwitch external_ids:ovn-remote, read by the ovsdb source),
// the logical ports bound to this chassis: their MACs, whether their
// addresses include "unknown", whether port security is on. One select
// bounded by the chassis per poll; the chassis record and the logical
// switches' names are cached. On a host without ovn-remote it reads nothing.
type ovnSource struct {
	deadline time.Duration
	open     func(remote string) (ovn.Reader, error)

	remote   string
	r        ovn.Reader
	chassis  ovn.Chassis
	switches map[string]string // datapath UUID -> logical switch name
}

// ovnView is what the ovn source read in a poll.
type ovnView struct {
	r ovn.Reader
	// bridge is ovn-controller's integration bridge.
	bridge string
	// ports are this chassis' port bindings by logical port name.
	ports    map[string]ovn.PortBinding
	switches map[string]string
	// children are the trunk sub-ports by parent logical port and tag.
	children map[string]map[int]string
}

// NewOVN returns the "ovn" source; open connects to a Southbound address
// (ovn.NewClient in production, a replay in tests).
func NewOVN(open func(remote string) (ovn.Reader, error), deadline time.Duration) Source {
	return &ovnSource{open: open, deadline: deadline}
}

func (s *ovnSource) Name() string           { return state.SourceOVN }
func (s *ovnSource) Timeout() time.Duration { return s.deadline }

func (s *ovnSource) Read(ctx context.Context, p *Poll) error {
	if p.ovsdb == nil || p.ovsdb.OVNRemote == "" {
		s.reset("")
		return nil // not an OVN chassis (or OVSDB never read): nothing to read
	}
	t := p.ovsdb
	if t.OVNRemote != s.remote || s.r == nil {
		s.reset(t.OVNRemote)
		r, err := s.open(t.OVNRemote)
		if err != nil {
			return fmt.Errorf("external_ids:ovn-remote %q: %w", t.OVNRemote, err)
		}
		s.r = r
	}
	if t.SystemID == "" {
		return errors.New("external_ids:ovn-remote is set but external_ids:system-id is not: ovn-controller cannot have registered this chassis")
	}
	if s.chassis.Name != t.SystemID {
		ch, err := s.r.Chassis(ctx, t.SystemID)
		if err != nil {
			return err
		}
		s.chassis = ch
	}
	ports, err := s.r.PortBindings(ctx, s.chassis.UUID)
	if err != nil {
		s.chassis = ovn.Chassis{} // re-registered chassis get a new row: look again
		return err
	}
	v := &ovnView{r: s.r, bridge: t.OVNBridge, ports: make(map[string]ovn.PortBinding, len(ports)), switches: s.switches}
	if v.bridge == "" {
		v.bridge = "br-int"
	}
	v.children = map[string]map[int]string{}
	for _, pb := range ports {
		v.ports[pb.LogicalPort] = pb
		if pb.ParentPort != "" {
			if v.children[pb.ParentPort] == nil {
				v.children[pb.ParentPort] = map[int]string{}
			}
			v.children[pb.ParentPort][pb.Tag] = pb.LogicalPort
		}
		if _, ok := s.switches[pb.Datapath]; !ok {
			name, err := s.r.DatapathName(ctx, pb.Datapath)
			if err != nil {
				return err
			}
			s.switches[pb.Datapath] = name
		}
	}
	p.ovn = v
	return nil
}

func (s *ovnSource) reset(remote string) {
	if s.r != nil {
		_ = s.r.Close()
	}
	s.r, s.remote, s.chassis, s.switches = nil, remote, ovn.Chassis{}, map[string]string{}
}

// joinOverlay attaches tunnel endpoints and OVN logical ports to the
// poll's ports.
func (a *Agent) joinOverlay(p *Poll) {
	for i := range p.ports {
		port := &p.ports[i]
		port.Tunnel = a.tunnels.portTunnel(port.Name)
		if p.ovn == nil || port.IfaceID == "" {
			continue
		}
		pb, ok := p.ovn.ports[port.IfaceID]
		if !ok {
			continue
		}
		port.OVN = &state.OVNPort{LogicalPort: pb.LogicalPort, Switch: p.ovn.switches[pb.Datapath], MACs: pb.MACs(),
			Unknown: pb.Unknown, PortSecurity: len(pb.PortSecurity) > 0, ParentPort: pb.ParentPort, Tag: pb.Tag,
			Children: p.ovn.children[pb.LogicalPort]}
		// a VM port owns its sub-ports' MACs: it receives their frames
		for _, child := range port.OVN.Children {
			port.OVN.MACs = append(port.OVN.MACs, p.ovn.ports[child].MACs()...)
		}
	}
}

// logicalFlow looks up the OVN logical flow behind the trace step that
// sent a frame entering at inPort to a multicast group.
func (v *ovnView) logicalFlow(ctx context.Context, tr ovs.Trace, inIfaceID string) (ovs.TraceStep, *state.LogicalFlow, error) {
	step, q, ok := ovn.MulticastStep(tr.Steps)
	if !ok {
		return ovs.TraceStep{}, nil, nil
	}
	if pb, ok := v.ports[inIfaceID]; ok {
		q.Datapath = pb.Datapath
	}
	flows, err := v.r.LogicalFlows(ctx, q)
	if err != nil || len(flows) == 0 {
		return step, nil, err
	}
	f := flows[0]
	lf := &state.LogicalFlow{UUID: f.UUID, Pipeline: f.Pipeline, TableID: f.TableID, Stage: f.Stage,
		Priority: f.Priority, Match: f.Match, Actions: f.Actions}
	if q.Datapath != "" {
		unknown, err := v.r.UnknownPorts(ctx, q.Datapath)
		if err != nil {
			return step, lf, err
		}
		for _, pb := range unknown {
			lf.UnknownPorts = append(lf.UnknownPorts, pb.LogicalPort)
		}
	}
	return step, lf, nil
}

// ovnLookup returns what traces need to name OVN logical flows; nil on a
// host without OVN.
func (a *Agent) ovnLookup(p *Poll) *ovnLookup {
	if p.ovn == nil {
		return nil
	}
	l := &ovnLookup{view: p.ovn, ifaceID: map[string]string{}}
	for _, port := range p.ports {
		if port.IfaceID != "" {
			l.ifaceID[port.Name] = port.IfaceID
		}
	}
	return l
}
