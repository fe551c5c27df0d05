package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/linuxbridge"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// DatapathLinuxBridge is the DatapathType of the bridges this source adds
// (OVS's are "system" or "netdev"), so that the report and collectors can
// tell a Linux bridge from an OVS one.
const DatapathLinuxBridge = "linuxbridge"

// linuxbridgeSource watches Linux bridges (libvirt, Neutron linuxbridge,
// provider bridges) that OVS does not own: bridges, ports and FDB from
// rtnetlink, flooded frames from an eBPF counter on each port's egress.
// It adds them to the poll like OVS's, so the detector, collectors and
// check treat them the same way. It reads after the OVS sources, whose
// ports tell it which bridges OVS owns (a hybrid-plug qbr).
type linuxbridgeSource struct {
	w        *linuxbridge.Watcher
	deadline time.Duration
	poll     *Poll // the poll under way, whose OVS port names the watcher may ask for
}

// NewLinuxBridge returns the "linuxbridge" source polling through w,
// whose WatchOptions.OVSPorts must be nil (the source fills it).
func NewLinuxBridge(r linuxbridge.Reader, open func() (linuxbridge.FrameCounter, error), o linuxbridge.WatchOptions, deadline time.Duration) Source {
	s := &linuxbridgeSource{deadline: deadline}
	// Listed only when asked: a host without Linux bridges never needs it.
	o.OVSPorts = func() map[string]bool { return ovsPortNames(s.poll) }
	s.w = linuxbridge.NewWatcher(o, r, open)
	return s
}

func (s *linuxbridgeSource) Name() string           { return state.SourceLinuxBridge }
func (s *linuxbridgeSource) Timeout() time.Duration { return s.deadline }

// Close detaches the frame counter from every port.
func (s *linuxbridgeSource) Close() error { return s.w.Close() }

func (s *linuxbridgeSource) Read(ctx context.Context, p *Poll) error {
	s.poll = p
	res, err := s.w.Poll(ctx)
	s.poll = nil
	if err != nil {
		return err
	}
	topo := res.Topology
	names := make(map[int]string, len(topo.Bridges))
	for _, b := range topo.Bridges {
		names[b.Index] = b.Name
		p.AddBridge(lbBridge(b, topo))
	}
	for _, port := range topo.Ports {
		p.AddPort(lbPort(p, names[port.MasterIndex], port, res.VMs[port.Name], topo))
		if p.observed != nil {
			p.observed[port.Name] = true // every port's frames are counted
		}
	}
	for _, st := range res.Streams {
		// Every stream goes to the detector, so that its counters stay
		// known; only copies of an unlearned destination from a known
		// entry port can make it a flood (frames flooded before the
		// destination was learned cannot).
		f := detect.Flow{Key: "linuxbridge/" + st.Key, InPort: st.InPort, Src: st.Src[:], Dst: st.Dst[:],
			Packets: st.Packets, Bytes: st.Bytes}
		if !st.Learned && st.InPort != "" {
			for _, o := range st.Outputs {
				f.Outputs = append(f.Outputs, detect.Output{Port: o, VLAN: -1})
			}
		}
		p.AddFlows(f)
	}
	if res.FrameErr != nil {
		return fmt.Errorf("linuxbridge: %w", res.FrameErr)
	}
	return nil
}

// ovsPortNames lists every OVS port the OVS sources read this poll (all
// bridges, not only --ovs.bridge's: ownership is about the host).
func ovsPortNames(p *Poll) map[string]bool {
	out := map[string]bool{}
	if p == nil {
		return out
	}
	if p.ovsdb != nil {
		for _, b := range p.ovsdb.Bridges {
			out[b.Name] = true
			for _, port := range b.Ports {
				out[port.Name] = true
			}
		}
	}
	if p.unixctl != nil {
		for name := range p.unixctl.ports {
			out[name] = true
		}
	}
	return out
}

// lbBridge is a Linux bridge as the snapshot holds bridges. A Linux
// bridge keeps no learning counters, so its FDB carries only the entry
// counts.
func lbBridge(b linuxbridge.Bridge, t linuxbridge.Topology) state.Bridge {
	fdb := &state.FDB{}
	for _, e := range t.FDB {
		if e.MasterIndex != b.Index || e.Local {
			continue
		}
		fdb.Entries++
		if e.Static {
			fdb.Static++
		}
	}
	return state.Bridge{Name: b.Name, DatapathType: DatapathLinuxBridge, FDB: fdb, MACAgingTime: b.AgeingSeconds,
		LearningOff: learningOff(b, t)}
}

// learningOff lists the bridge's ports that do not learn, for the fix.
func learningOff(b linuxbridge.Bridge, t linuxbridge.Topology) []string {
	var out []string
	for _, p := range t.PortsOf(b.Index) {
		if !p.Learning {
			out = append(out, p.Name)
		}
	}
	return out
}

// lbPort is a Linux bridge port as the snapshot holds ports. The VM's
// identity comes from libvirt (name, UUID, MAC) or Neutron's naming (the
// port ID's first characters as iface_id); a port that leads to a VM with
// neither (a tap or vnet device, a veth named so) gets the one MAC the
// bridge learned on it as attached_mac, so that copies it receives count
// as leaks. Uplinks (NICs, bonds, VLAN and VXLAN devices, other veths)
// get no identity: the unknown destination may be behind them.
func lbPort(p *Poll, bridge string, port linuxbridge.Port, vm linuxbridge.VM, t linuxbridge.Topology) state.Port {
	sp := state.Port{Bridge: p.intern(bridge), Name: p.intern(port.Name), OFPort: port.No, VLAN: -1,
		Type: p.intern(DatapathLinuxBridge), Device: p.intern(port.Name), IfaceID: vm.NeutronPortPrefix, VMUUID: vm.UUID}
	if port.PVID > 0 {
		sp.VLAN = port.PVID
	}
	switch {
	case !vm.MAC.IsZero():
		sp.AttachedMAC = vm.MAC.String()
	case vm.NeutronPortPrefix != "" || leadsToVM(port):
		sp.AttachedMAC = learnedMAC(port, t)
	}
	c, _ := p.counters.group(groupKey{kind: "lb", bridge: bridge, name: port.Name}, p.Time).counters(port.Counters)
	sp.Counters = &c
	return sp
}

// leadsToVM says whether a bridge port is a VM's: a tun/tap device, or a
// device named the way libvirt (vnetN) or Nova/Neutron (tap…) name them.
func leadsToVM(port linuxbridge.Port) bool {
	if port.Kind == "tun" || strings.HasPrefix(port.Name, "tap") {
		return true
	}
	n, ok := strings.CutPrefix(port.Name, "vnet")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// learnedMAC returns the one MAC learned (not local) on port, "" if none
// or several.
func learnedMAC(port linuxbridge.Port, t linuxbridge.Topology) string {
	var found linuxbridge.MAC
	n := 0
	for _, e := range t.FDB {
		if e.PortIndex == port.Index && !e.Local && found != e.MAC {
			found = e.MAC
			n++
		}
	}
	if n != 1 {
		return ""
	}
	return found.String()
}

// Values of --linuxbridge.enabled.
const (
	// LinuxBridgeAuto watches Linux bridges with at least three ports
	// that OVS does not own; nothing is loaded while there are none.
	LinuxBridgeAuto = "auto"
	// LinuxBridgeOn watches every Linux bridge OVS does not own, whatever
	// its size, and reports a missing privilege even before one exists.
	LinuxBridgeOn = "true"
	// LinuxBridgeOff does not wire the source.
	LinuxBridgeOff = "false"
)

// LinuxBridgeOptions configure the linuxbridge source.
type LinuxBridgeOptions struct {
	// Enabled is LinuxBridgeAuto, LinuxBridgeOn or LinuxBridgeOff
	// (--linuxbridge.enabled); empty is off (DefaultSourceOptions and the
	// flag say auto).
	Enabled string
	// Bridges, if set, are the only bridges watched (--linuxbridge.bridge).
	Bridges []string
	// LibvirtDir holds libvirt's runtime domain XML
	// (--linuxbridge.libvirt-dir).
	LibvirtDir string
	// Netns is the network namespace (under /run/netns) the bridges live
	// in; "" for the agent's own.
	Netns string
}

// watchOptions turns the options into the watcher's.
func (o LinuxBridgeOptions) watchOptions() linuxbridge.WatchOptions {
	w := linuxbridge.WatchOptions{Bridges: o.Bridges, LibvirtDir: o.LibvirtDir}
	if o.Enabled == LinuxBridgeOn {
		w.MinPorts, w.Require = 1, true
	}
	return w
}

// withLinuxBridge appends the linuxbridge source to sources unless it is
// disabled. Device counters come from the netlink source's reader (nil
// if it could not be opened: the source then reports that), or from a
// reader of their own namespace when the bridges live in o.Netns.
func withLinuxBridge(sources []Source, closers []func() error, o LinuxBridgeOptions, devs *netdev.NetlinkReader, deadline time.Duration) ([]Source, []func() error) {
	if o.Enabled != LinuxBridgeAuto && o.Enabled != LinuxBridgeOn {
		return sources, closers
	}
	var r linuxbridge.Reader = failingBridges{fmt.Errorf("linuxbridge: no netlink device reader")}
	if o.Netns != "" { // the bridges live elsewhere: read devices there
		if d, err := linuxbridge.NewDeviceReaderIn(o.Netns); err != nil {
			r, devs = failingBridges{err}, nil
		} else {
			devs, closers = d, append(closers, d.Close)
		}
	}
	if devs != nil {
		if nr, err := linuxbridge.NewNetlinkReader(o.Netns, devs); err != nil {
			r = failingBridges{err}
		} else {
			r, closers = nr, append(closers, nr.Close)
		}
	}
	src := NewLinuxBridge(r, func() (linuxbridge.FrameCounter, error) {
		obs, err := linuxbridge.NewObserver(o.Netns, 0)
		if err != nil {
			return nil, err
		}
		return obs, nil
	}, o.watchOptions(), deadline)
	return append(sources, src), append(closers, src.(*linuxbridgeSource).Close)
}

// failingBridges stands in for a bridge reader that could not be opened.
type failingBridges struct{ err error }

func (f failingBridges) Read(context.Context) (linuxbridge.Topology, error) {
	return linuxbridge.Topology{}, f.err
}
