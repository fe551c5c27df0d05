package netdev

import (
	"context"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// BenchmarkNetnsDevices1000 compares, in a namespace holding 1000 taps
// (a busy hypervisor), a Devices poll with netlink.LinkList and with the
// raw dumps the reader is built from.
//
//	go test ./internal/netdev/ -run XXX -bench Netns -benchmem
func BenchmarkNetnsDevices1000(b *testing.B) {
	needRoot(b)
	const (
		ns = "nd-bench"
		n  = 1000
	)
	addNetns(b, ns)
	lines := make([]string, 0, 2*n)
	for i := range n {
		lines = append(lines, fmt.Sprintf("tuntap add tap%d mode tap", i))
	}
	for i := range n {
		lines = append(lines, fmt.Sprintf("link set tap%d up", i))
	}
	ipBatch(b, ns, lines)
	ctx := context.Background()
	want := n + 1 // and lo

	// The reader is created on a thread inside ns, so ns is its own
	// namespace, as for an agent on a hypervisor.
	var r *NetlinkReader
	if err := inNetns(ns, func() (err error) { r, err = NewNetlinkReader(Options{}); return err }); err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.Run("Devices", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			devs, err := r.Devices(ctx)
			if err != nil || len(devs) != want {
				b.Fatal(err, len(devs))
			}
		}
	})
	b.Run("Devices/topology-every-poll", func(b *testing.B) {
		// What a poll costs while links keep changing (or on kernels
		// without RTM_GETSTATS, roughly).
		var r *NetlinkReader
		if err := inNetns(ns, func() (err error) { r, err = NewNetlinkReader(Options{}); return err }); err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		r.self.sub.Close()
		r.self.sub = nil
		b.ReportAllocs()
		for b.Loop() {
			devs, err := r.Devices(ctx)
			if err != nil || len(devs) != want {
				b.Fatal(err, len(devs))
			}
		}
	})

	h, err := netns.GetFromName(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.Run("LinkList", func(b *testing.B) {
		nh, err := netlink.NewHandleAt(h)
		if err != nil {
			b.Fatal(err)
		}
		defer nh.Close()
		b.ReportAllocs()
		for b.Loop() {
			links, err := nh.LinkList()
			if err != nil || len(links) != want {
				b.Fatal(err, len(links))
			}
		}
	})
	c, err := dialAt(h)
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	for _, bc := range []struct {
		name string
		dump func() (int, error)
	}{
		{"RTM_GETSTATS", func() (int, error) {
			k := 0
			return k, c.getStats(ctx, func(int, Counters) error { k++; return nil })
		}},
		{"RTM_GETLINK", func() (int, error) {
			k := 0
			return k, c.getLink(ctx, func(linkMsg) error { k++; return nil })
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, err := bc.dump()
				if err != nil || k != want {
					b.Fatal(err, k)
				}
			}
		})
	}
}
