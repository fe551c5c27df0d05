package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// TunnelEnd is the far end of a tunnel port.
type TunnelEnd struct {
	Type     string `json:"type"`
	RemoteIP string `json:"remote_ip"`
	Key      string `json:"key"`
}

// OVNPort is the OVN logical switch port behind an OVS port.
type OVNPort struct {
	LogicalPort string `json:"logical_port"`
	Switch      string `json:"logical_switch,omitempty"`
	// Unknown is true when the port's addresses include "unknown".
	Unknown      bool `json:"addresses_unknown"`
	PortSecurity bool `json:"port_security"`
	// Child is the trunk sub-port the flood's frames came from (their VLAN
	// tag is its tag); set only on a flood's in_port.
	Child string `json:"child_port,omitempty"`
}

// LogicalFlow is the OVN logical flow that sent a frame to a multicast group.
type LogicalFlow struct {
	UUID     string `json:"uuid"`
	Stage    string `json:"stage"`
	Pipeline string `json:"pipeline"`
	TableID  int    `json:"table_id"`
	Priority int    `json:"priority"`
	Match    string `json:"match"`
	Actions  string `json:"actions"`
	// UnknownPorts are the switch's ports with "unknown" addresses, on
	// every chassis.
	UnknownPorts []string `json:"unknown_ports,omitempty"`
}

func endpointOf(name string, p state.Port) Endpoint {
	e := Endpoint{Port: name, IfaceID: p.IfaceID, VMUUID: p.VMUUID, MAC: p.AttachedMAC}
	if t := p.Tunnel; t != nil {
		e.Tunnel = &TunnelEnd{Type: t.Type, RemoteIP: t.RemoteIP, Key: t.Key}
	}
	if o := p.OVN; o != nil {
		e.OVN = &OVNPort{LogicalPort: o.LogicalPort, Switch: o.Switch, Unknown: o.Unknown, PortSecurity: o.PortSecurity}
	}
	return e
}

// withChild names the trunk sub-port of in_port whose tag the flood's
// frames carried.
func withChild(e Endpoint, p state.Port, vlan int) Endpoint {
	if p.OVN == nil || vlan <= 0 {
		return e
	}
	if child, ok := p.OVN.Children[vlan]; ok {
		o := *e.OVN
		o.Child = child
		e.OVN = &o
	}
	return e
}

func logicalFlow(l *state.LogicalFlow) *LogicalFlow {
	if l == nil {
		return nil
	}
	return &LogicalFlow{UUID: l.UUID, Stage: l.Stage, Pipeline: l.Pipeline, TableID: l.TableID, Priority: l.Priority,
		Match: l.Match, Actions: l.Actions, UnknownPorts: l.UnknownPorts}
}

// overlayWho names what is behind a tunnel or OVN port.
func (e Endpoint) overlayWho() []string {
	var parts []string
	if t := e.Tunnel; t != nil {
		parts = append(parts, fmt.Sprintf("%s tunnel to %s", t.Type, t.RemoteIP))
	}
	if o := e.OVN; o != nil {
		s := "OVN port " + o.LogicalPort
		if o.Switch != "" {
			s += " on " + o.Switch
		}
		if o.Unknown {
			s += `, addresses include "unknown"`
		}
		if !o.PortSecurity {
			s += ", port security off"
		}
		if o.Child != "" {
			s += ", from its sub-port " + o.Child
		}
		parts = append(parts, s)
	}
	return parts
}

// writeLogicalFlow writes the OVN logical flow that flooded, instead of the
// OpenFlow path (ovn-controller's pipeline is dozens of tables long).
func writeLogicalFlow(w io.Writer, bridge string, r *Rule) {
	l := r.Logical
	fmt.Fprintf(w, "  flooded by: OVN logical flow %s, stage %s (%s table %d), priority %d\n", l.UUID, l.Stage, l.Pipeline, l.TableID, l.Priority)
	fmt.Fprintf(w, "    match=(%s) actions=(%s)\n", l.Match, l.Actions)
	fmt.Fprintf(w, "    (OpenFlow table %d cookie %s on %s; ovn-sbctl lflow-list shows it)\n", r.Table, r.Cookie, bridge)
}

// overlayFix is the advice for floods on OVN and tunnel overlays; ok is
// false for other floods.
func overlayFix(f Flood) (string, bool) {
	if f.Rule != nil && f.Rule.Logical != nil || anyOVN(f.Victims) {
		return ovnFix(f), true
	}
	if t := f.InPort.Tunnel; t != nil {
		return "the flood arrives from the " + t.Type + " tunnel " + f.InPort.Port + " (remote " + t.RemoteIP + "): the host there sends " +
			f.DstMAC + " to every tunnel because it does not know where that MAC lives. Fix it on that host (run check there); " +
			"with Neutron's OVS agent, l2population (with arp_responder) gives br-tun a flow per remote MAC instead of flooding table 22.", true
	}
	return "", false
}

func anyOVN(victims []Victim) bool {
	for _, v := range victims {
		if v.OVN != nil {
			return true
		}
	}
	return false
}

// ovnFix names the logical ports that take frames for MACs nobody owns.
func ovnFix(f Flood) string {
	var unknown, open []string
	for _, v := range f.Victims {
		if o := v.OVN; o != nil {
			if o.Unknown {
				unknown = append(unknown, o.LogicalPort)
			} else if !o.PortSecurity {
				open = append(open, o.LogicalPort)
			}
		}
	}
	if f.Rule != nil && f.Rule.Logical != nil && len(f.Rule.Logical.UnknownPorts) > 0 {
		unknown = f.Rule.Logical.UnknownPorts // the whole switch's, other chassis' included
	}
	var b strings.Builder
	b.WriteString("OVN delivers frames for " + f.DstMAC + ", which no logical port owns, to the ports whose addresses include \"unknown\"")
	if len(unknown) > 0 {
		b.WriteString(" (here " + strings.Join(unknown, ", ") + ")")
	}
	b.WriteString(". Give each port its real addresses and turn port security on: ovn-nbctl lsp-set-addresses <port> \"<mac> <ip>\" and " +
		"ovn-nbctl lsp-set-port-security <port> \"<mac> <ip>\" (Neutron: enable port security on the port, and put extra MACs in allowed-address-pairs).")
	if len(open) > 0 {
		b.WriteString(" Port security is off on " + strings.Join(open, ", ") + ".")
	}
	b.WriteString(" If " + f.DstMAC + " is a real host behind one of these ports, add it to that port's addresses (or a static MAC binding) so OVN forwards to it alone.")
	return b.String()
}
