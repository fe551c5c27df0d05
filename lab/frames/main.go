// Command frames sends hand-built frames from a lab VM (lab/loop.sh):
//
//	frames -netns NS -arp 10.0.0.200 -src-ip 10.0.0.1       one broadcast ARP request
//	frames -netns NS -udp -dst MAC -dst-ip IP -rate 1000    UDP frames at a steady rate
//	frames -netns NS -udp -random-src -rate 2000            ... each from a new random source MAC
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest/rawframe"
)

type options struct {
	ns, dev, arp, srcIP, src, dst, dstIP string
	udp, randomSrc                       bool
	rate, size                           int
	seconds                              float64
}

func main() {
	var o options
	flag.StringVar(&o.ns, "netns", "", "network namespace of the VM")
	flag.StringVar(&o.dev, "dev", "eth0", "device to send on")
	flag.StringVar(&o.arp, "arp", "", "send one ARP request for this IP")
	flag.StringVar(&o.srcIP, "src-ip", "10.0.0.1", "sender IP")
	flag.BoolVar(&o.udp, "udp", false, "send UDP frames at -rate for -seconds")
	flag.StringVar(&o.src, "src", "", "source MAC of the UDP frames (default: the device's)")
	flag.BoolVar(&o.randomSrc, "random-src", false, "a new random source MAC for every UDP frame")
	flag.StringVar(&o.dst, "dst", "02:00:00:00:00:64", "destination MAC of the UDP frames")
	flag.StringVar(&o.dstIP, "dst-ip", "10.0.0.100", "destination IP of the UDP frames")
	flag.IntVar(&o.rate, "rate", 2000, "UDP frames per second")
	flag.IntVar(&o.size, "size", 18, "UDP payload bytes")
	flag.Float64Var(&o.seconds, "seconds", 10, "UDP duration")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "frames:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	s, err := rawframe.Open(o.ns, o.dev)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	if o.arp != "" {
		return s.Send(rawframe.ARPRequest(s.MAC, net.ParseIP(o.srcIP), net.ParseIP(o.arp)))
	}
	if !o.udp {
		return errors.New("say -arp IP or -udp")
	}
	dst, err := net.ParseMAC(o.dst)
	if err != nil {
		return fmt.Errorf("-dst: %w", err)
	}
	src := s.MAC
	if o.src != "" {
		if src, err = net.ParseMAC(o.src); err != nil {
			return fmt.Errorf("-src: %w", err)
		}
	}
	srcIP, dstIP := net.ParseIP(o.srcIP), net.ParseIP(o.dstIP)
	fixed := rawframe.UDPFrame(src, dst, srcIP, dstIP, o.size)
	n, err := s.Paced(o.rate, time.Duration(o.seconds*float64(time.Second)), func(int) ([]byte, error) {
		if !o.randomSrc {
			return fixed, nil
		}
		m, err := rawframe.RandomMAC()
		if err != nil {
			return nil, err
		}
		return rawframe.UDPFrame(m, dst, srcIP, dstIP, o.size), nil
	})
	fmt.Printf("sent %d frames\n", n)
	return err
}
