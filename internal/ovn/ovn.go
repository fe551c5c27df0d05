// Package ovn reads what the agent needs from OVN's Southbound database:
// the port bindings of this chassis (the MACs each logical port owns, and
// whether its addresses include "unknown"), the chassis record itself, and
// the logical flow behind an OpenFlow cookie that ovn-controller installed.
//
// Access is read-only by construction: the package reads through
// ovsdbrpc, which can only send get_schema, list_dbs, a transact of
// selects and echo replies (see readonly.go). Every select names
// its columns and a where clause that bounds it (this chassis' bindings, one
// logical datapath, one pipeline stage): the Southbound of a large cloud
// holds hundreds of thousands of logical flows and is shared with every
// ovn-controller, so the agent never reads a whole table.
package ovn

import (
	"fmt"
	"strconv"
	"strings"
)

// Chassis is a row of the Southbound Chassis table: one hypervisor or
// gateway running ovn-controller.
type Chassis struct {
	UUID string
	// Name is the chassis' system-id (external_ids:system-id in its
	// Open_vSwitch table).
	Name     string
	Hostname string
}

// PortBinding is a row of the Southbound Port_Binding table: one logical
// port and where it is bound.
type PortBinding struct {
	UUID string
	// LogicalPort is the logical switch port's name (the iface-id of the
	// OVS interface that binds it: a Neutron port UUID under OpenStack).
	LogicalPort string
	// Type is empty for a VM port; "patch", "localnet", "router", … otherwise.
	Type string
	// Datapath is the UUID of the Datapath_Binding (logical switch) the port
	// belongs to; Chassis that of the chassis it is bound to, empty when unbound.
	Datapath, Chassis string
	// ParentPort and Tag are set on a trunk sub-port (a container or VLAN
	// child behind a VM's port): frames tagged Tag on ParentPort's interface
	// belong to this logical port.
	ParentPort string
	Tag        int
	TunnelKey  int64
	// Addresses are the port's MAC/IP entries from the "mac" column, without
	// the keywords; Unknown is true when "unknown" is among them: OVN then
	// delivers to this port every frame whose destination no port owns.
	Addresses []Address
	Unknown   bool
	// PortSecurity are the entries of "port_security"; empty means port
	// security is off.
	PortSecurity []Address
}

// MACs returns the MACs the port owns (addresses and port security).
func (p PortBinding) MACs() []string {
	var macs []string
	seen := map[string]bool{}
	for _, as := range [][]Address{p.Addresses, p.PortSecurity} {
		for _, a := range as {
			if a.MAC != "" && !seen[a.MAC] {
				seen[a.MAC] = true
				macs = append(macs, a.MAC)
			}
		}
	}
	return macs
}

// Address is one entry of a logical port's addresses: a MAC and the IPs
// that go with it.
type Address struct {
	// MAC in the canonical lower-case colon form.
	MAC string
	IPs []string
}

// LogicalFlow is a row of the Southbound Logical_Flow table.
type LogicalFlow struct {
	UUID string
	// Pipeline is "ingress" or "egress"; TableID the stage's number in it
	// and Stage its name (external_ids:stage-name, e.g. "ls_in_l2_unknown").
	Pipeline string
	TableID  int
	Stage    string
	Priority int
	Match    string
	Actions  string
	// Datapath is the logical datapath's UUID; empty for a flow shared by a
	// datapath group.
	Datapath string
}

// Cookie returns the OpenFlow cookie ovn-controller gives the flows it
// installs for f: the first 32 bits of f's UUID.
func (f LogicalFlow) Cookie() (uint32, error) { return CookieOf(f.UUID) }

// CookieOf returns the OpenFlow cookie of the logical flow with the given
// UUID ("fe707b53-a0b3-42a9-82b7-6deabab6dcf4" gives 0xfe707b53).
func CookieOf(uuid string) (uint32, error) {
	head, _, ok := strings.Cut(uuid, "-")
	if !ok || len(head) != 8 {
		return 0, fmt.Errorf("logical flow UUID %q: want 8 hex digits before the first dash", uuid)
	}
	n, err := strconv.ParseUint(head, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("logical flow UUID %q: %w", uuid, err)
	}
	return uint32(n), nil
}

// Stage narrows a logical flow lookup to one table of one pipeline, which
// the caller knows from the OpenFlow table the cookie was found in. The
// zero Stage (Pipeline "") searches every stage.
type Stage struct {
	Pipeline string
	TableID  int
}
