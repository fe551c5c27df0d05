package netdev

import (
	"strconv"
	"strings"
	"testing"
)

// fakeHost is a device map for a hypervisor with the wirings
// VMDevices has to tell apart. Indexes repeat across namespaces on
// purpose.
func fakeHost() map[string]Device {
	devs := map[string]Device{}
	add := func(ns, name string, index int, kind string, master, peer int) {
		devs[Key(ns, name)] = Device{Name: name, Index: index, Netns: ns, Kind: kind, MasterIndex: master, PeerIndex: peer}
	}
	add("", "lo", 1, "", 0, 0)
	add("", "ovs-system", 2, "openvswitch", 0, 0)
	// Hybrid plug: tap1 → qbr1 → qvb1 ⇄ qvo1 → OVS.
	add("", "qbr1", 10, "bridge", 0, 0)
	add("", "qvb1", 11, "veth", 10, 12)
	add("", "qvo1", 12, "veth", 2, 11)
	add("", "tap1", 13, "tun", 10, 0)
	// A tap directly on OVS (firewall driver openvswitch).
	add("", "tap2", 20, "tun", 0, 0)
	// A veth whose peer is in a VM namespace (the lab): PeerIndex unknown.
	add("", "tapvm1", 21, "veth", 0, 0)
	// A veth pair with the peer in no bridge.
	add("", "vethA", 30, "veth", 0, 31)
	add("", "vethB", 31, "veth", 0, 30)
	// A veth pair whose peer is an OVS port too (enslaved to the datapath).
	add("", "qvo5", 50, "veth", 2, 51)
	add("", "qvb5", 51, "veth", 2, 50)
	// A bridge with a tap among other ports.
	add("", "qbr6", 60, "bridge", 0, 0)
	add("", "qvb6", 61, "veth", 60, 62)
	add("", "qvo6", 62, "veth", 0, 61)
	add("", "vnet6", 63, "tun", 60, 0)
	add("", "tap6", 64, "tun", 60, 0)
	// A bridge without tap: first other port by name.
	add("", "qbr7", 70, "bridge", 0, 0)
	add("", "qvb7", 71, "veth", 70, 72)
	add("", "qvo7", 72, "veth", 0, 71)
	add("", "vnet7b", 73, "tun", 70, 0)
	add("", "vnet7a", 74, "tun", 70, 0)
	// Two taps: first by name.
	add("", "qbr8", 80, "bridge", 0, 0)
	add("", "qvb8", 81, "veth", 80, 82)
	add("", "qvo8", 82, "veth", 0, 81)
	add("", "tap8b", 83, "tun", 80, 0)
	add("", "tap8a", 84, "tun", 80, 0)
	// A bridge holding nothing but the peer.
	add("", "qbr9", 90, "bridge", 0, 0)
	add("", "qvb9", 91, "veth", 90, 92)
	add("", "qvo9", 92, "veth", 0, 91)
	// The same indexes in another namespace, with its own hybrid plug.
	add("ns1", "lo", 1, "", 0, 0)
	add("ns1", "brx", 10, "bridge", 0, 0)
	add("ns1", "vy", 11, "veth", 10, 12)
	add("ns1", "vx", 12, "veth", 0, 11)
	add("ns1", "tapx", 13, "tun", 10, 0)
	add("ns1", "qr-1", 14, "tun", 0, 0)
	return devs
}

func TestVMDevices(t *testing.T) {
	devs := fakeHost()
	tests := []struct {
		port, want string
	}{
		{"qvo1", "tap1"},
		{"tap2", "tap2"},
		{"tapvm1", "tapvm1"},
		{"vethA", "vethA"},
		{"qvo5", "qvo5"},
		{"qvo6", "tap6"},
		{"qvo7", "vnet7a"},
		{"qvo8", "tap8a"},
		{"qvo9", "qvo9"},
		{"qbr1", "qbr1"},
		{"nosuch", "nosuch"},
		{"ns1/vx", "ns1/tapx"},
		{"ns1/qr-1", "ns1/qr-1"},
	}
	all := NewVMDevices(devs) // one VMDevices for every port, in order
	for _, tt := range tests {
		t.Run(tt.port, func(t *testing.T) {
			if r := all.Resolve(tt.port); r != tt.want {
				t.Errorf("Resolve(%q) = %q, want %q", tt.port, r, tt.want)
			}
			if r := resolveVM(devs, tt.port); r != tt.want {
				t.Errorf("Resolve(%q) by a fresh VMDevices = %q, want %q", tt.port, r, tt.want)
			}
		})
	}
	t.Run("nil map", func(t *testing.T) {
		if got := NewVMDevices(nil).Resolve("qvo1"); got != "qvo1" {
			t.Errorf("got %q", got)
		}
	})
}

func TestKey(t *testing.T) {
	tests := []struct{ ns, name, key string }{
		{"", "tap1", "tap1"},
		{"qrouter-1234", "qr-ab", "qrouter-1234/qr-ab"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := Key(tt.ns, tt.name); got != tt.key {
				t.Errorf("Key = %q, want %q", got, tt.key)
			}
		})
	}
}

func TestFind(t *testing.T) {
	devs := fakeHost()
	devs["ns2/qr-2"] = Device{Name: "qr-2", Netns: "ns2", Index: 2}
	devs["ns3/qr-2"] = Device{Name: "qr-2", Netns: "ns3", Index: 2}
	tests := []struct {
		name, wantNs string
		ok           bool
	}{
		{"lo", "", true},      // agent's namespace wins
		{"qr-1", "ns1", true}, // only in ns1
		{"qr-2", "", false},   // ambiguous
		{"nosuch", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := Find(devs, tt.name)
			if ok != tt.ok || (ok && (d.Name != tt.name || d.Netns != tt.wantNs)) {
				t.Errorf("Find(%q) = %+v, %v", tt.name, d, ok)
			}
		})
	}
}

// resolveVM resolves one port by a VMDevices of its own.
func resolveVM(devs map[string]Device, port string) string {
	return NewVMDevices(devs).Resolve(port)
}

// BenchmarkVMDevices resolves 500 OVS ports among 1,000 devices:
// taps plugged straight into OVS (no index needed) and the hybrid plug
// (qvo veths whose peers sit in qbr bridges).
func BenchmarkVMDevices(b *testing.B) {
	for _, hybrid := range []bool{false, true} {
		devs := map[string]Device{}
		var ports []string
		for i := range 500 {
			n := strconv.Itoa(i)
			if !hybrid {
				devs["tap"+n] = Device{Name: "tap" + n, Index: 10 + i, Kind: "tun"}
				devs["lo"+n] = Device{Name: "lo" + n, Index: 1000 + i}
				ports = append(ports, "tap"+n)
				continue
			}
			base := 10 + 4*i
			devs["qbr"+n] = Device{Name: "qbr" + n, Index: base, Kind: "bridge"}
			devs["tap"+n] = Device{Name: "tap" + n, Index: base + 1, Kind: "tun", MasterIndex: base}
			devs["qvb"+n] = Device{Name: "qvb" + n, Index: base + 2, Kind: "veth", MasterIndex: base, PeerIndex: base + 3}
			devs["qvo"+n] = Device{Name: "qvo" + n, Index: base + 3, Kind: "veth", PeerIndex: base + 2}
			ports = append(ports, "qvo"+n)
		}
		b.Run(map[bool]string{false: "taps", true: "hybrid"}[hybrid], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := NewVMDevices(devs)
				for _, p := range ports {
					r.Resolve(p)
				}
				if want := strings.Replace(ports[7], "qvo", "tap", 1); r.Resolve(ports[7]) != want {
					b.Fatalf("%s resolves to %q, want %q", ports[7], r.Resolve(ports[7]), want)
				}
			}
		})
	}
}
