package agent

import (
	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdb"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/tunnel"
)

// tunnelResolver turns the datapath's view of encapsulated traffic into
// OVS tunnel ports: a megaflow entering from vxlan_sys_4789 with
// tunnel(src=172.31.0.1,…) gets in_port "vx1", and a tnl_push copy to
// 172.31.0.2 becomes an output to "vx2". Its table is rebuilt when the
// OVSDB topology changes; a miss keeps the datapath name and is logged
// once with reason tunnel_unresolved, never guessed.
type tunnelResolver struct {
	topo   *ovsdb.Topology
	table  *tunnel.Table
	byName map[string]tunnel.Port
	logged map[string]bool
}

// update rebuilds the table from p's topology when it changed, logging
// once each tunnel port whose options cannot be used.
func (r *tunnelResolver) update(p *Poll) {
	if p.ovsdb == nil || p.ovsdb == r.topo {
		return
	}
	r.topo = p.ovsdb
	r.byName = map[string]tunnel.Port{}
	var ports []tunnel.Port
	for _, b := range p.ovsdb.Bridges {
		for _, port := range b.Ports {
			for _, i := range port.Interfaces {
				if !tunnel.IsTunnel(i.Type) {
					continue
				}
				tp, err := tunnel.FromOptions(b.Name, port.Name, i.Type, i.Options)
				if err != nil {
					r.once(p.log, "bad/"+port.Name+err.Error(), "tunnel port unusable", zap.String("reason", "tunnel_options"),
						zap.Error(err))
					continue
				}
				if len(tp.Unknown) > 0 {
					r.once(p.log, "opt/"+port.Name, "tunnel port has options OVS does not document (ignored by OVS)",
						zap.String("bridge", b.Name), zap.String("port", port.Name), zap.Strings("options", tp.Unknown))
				}
				ports = append(ports, tp)
				r.byName[port.Name] = tp
			}
		}
	}
	r.table = tunnel.NewTable(ports)
}

func (r *tunnelResolver) once(log *zap.Logger, key, msg string, fields ...zap.Field) {
	if r.logged == nil {
		r.logged = map[string]bool{}
	}
	if r.logged[key] || len(r.logged) > 1000 {
		return
	}
	r.logged[key] = true
	log.Warn(msg, fields...)
}

// resolve rewrites p's flows in place: tunnel in_ports and tunnel copies
// become the OVS tunnel ports that own them. Only a flow that came through
// a tunnel has its in_port rewritten: the next poll's knownKeys takes the
// in_port of any other flow from its slot.
func (r *tunnelResolver) resolve(p *Poll) {
	r.update(p)
	if r.table == nil {
		return
	}
	for i := range p.flows {
		f := &p.flows[i]
		if f.TunnelSrc != "" {
			if tp, reason, ok := r.table.Ingress(f.InPort, f.TunnelSrc, f.TunnelDst, f.TunnelID); ok {
				f.InPort = tp.Name
			} else {
				r.once(p.log, "in/"+f.InPort+"/"+f.TunnelSrc, "tunnel traffic matches no OVS tunnel port",
					zap.String("reason", "tunnel_unresolved"), zap.String("in_port", f.InPort), zap.String("detail", reason))
			}
		}
		for j := range f.Outputs {
			o := &f.Outputs[j]
			if o.TunnelDev == "" {
				continue
			}
			if tp, reason, ok := r.table.Egress(o.TunnelDev, o.Tunnel, o.TunnelID); ok {
				o.Port = tp.Name
			} else {
				r.once(p.log, "out/"+o.TunnelDev+"/"+o.Tunnel, "tunnel copy matches no OVS tunnel port",
					zap.String("reason", "tunnel_unresolved"), zap.String("device", o.TunnelDev), zap.String("detail", reason))
			}
		}
	}
}

// portTunnel returns the state of a tunnel port, nil for other ports.
func (r *tunnelResolver) portTunnel(name string) *state.Tunnel {
	tp, ok := r.byName[name]
	if !ok {
		return nil
	}
	return &state.Tunnel{Type: tp.Type, LocalIP: tp.LocalIP, RemoteIP: tp.RemoteIP, Key: tp.Key()}
}
