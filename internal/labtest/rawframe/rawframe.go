// Package rawframe writes hand-built Ethernet frames onto a lab VM's device
// through an AF_PACKET socket: one ARP request to start a broadcast storm,
// or frames from random source MACs at a steady rate to fill a bridge's MAC
// table. The lab machines have neither ping nor a packet generator, and the
// frames a MAC-flooding VM sends cannot be produced by a normal socket.
package rawframe

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// Broadcast is the all-ones destination MAC.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ARPRequest returns a "who-has target tell src" ARP request frame from
// srcMAC, sent to the broadcast address.
func ARPRequest(srcMAC net.HardwareAddr, srcIP, target net.IP) []byte {
	f := make([]byte, 0, 42)
	f = append(f, Broadcast...)
	f = append(f, srcMAC...)
	f = append(f, 0x08, 0x06)       // ethertype ARP
	f = append(f, 0, 1, 0x08, 0x00) // hardware Ethernet, protocol IPv4
	f = append(f, 6, 4, 0, 1)       // sizes, opcode request
	f = append(f, srcMAC...)
	f = append(f, srcIP.To4()...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	f = append(f, target.To4()...)
	return f
}

// UDPFrame returns an Ethernet/IPv4/UDP frame with a payload of n zero
// bytes, a valid IP header checksum and no UDP checksum.
func UDPFrame(src, dst net.HardwareAddr, srcIP, dstIP net.IP, n int) []byte {
	f := make([]byte, 14+20+8+n)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	ip[8] = 64 // TTL
	ip[9] = 17 // UDP
	copy(ip[12:16], srcIP.To4())
	copy(ip[16:20], dstIP.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9)           // discard
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n)) // length
	return f
}

// RandomMAC returns a random locally administered unicast MAC.
func RandomMAC() (net.HardwareAddr, error) {
	m := make(net.HardwareAddr, 6)
	if _, err := rand.Read(m); err != nil {
		return nil, fmt.Errorf("random MAC: %w", err)
	}
	m[0] = m[0]&0xfc | 0x02
	return m, nil
}

// Sender writes frames onto one device.
type Sender struct {
	// MAC is the device's own address.
	MAC net.HardwareAddr
	fd  int
	sa  unix.SockaddrLinklayer
}

// Open opens an AF_PACKET socket bound to dev in network namespace ns
// ("" for the current one). The socket stays in that namespace after the
// thread switches back.
func Open(ns, dev string) (*Sender, error) {
	var s *Sender
	open := func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return fmt.Errorf("device %s: %w", dev, err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket (needs root): %w", err)
		}
		s = &Sender{MAC: ifi.HardwareAddr, fd: fd, sa: unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}}
		return nil
	}
	if ns == "" {
		return s, open()
	}
	if err := labtest.InNetns(ns, open); err != nil {
		return nil, err
	}
	return s, nil
}

// Send writes one frame.
func (s *Sender) Send(frame []byte) error {
	if err := unix.Sendto(s.fd, frame, 0, &s.sa); err != nil {
		return fmt.Errorf("send frame: %w", err)
	}
	return nil
}

// Close closes the socket.
func (s *Sender) Close() error { return unix.Close(s.fd) }

// Paced sends next(i) for i = 0, 1, ... at rate frames per second for d,
// and returns how many frames it sent. It paces in 10 ms batches, so the
// rate holds without a timer per frame.
func (s *Sender) Paced(rate int, d time.Duration, next func(i int) ([]byte, error)) (int, error) {
	if rate <= 0 {
		return 0, errors.New("rate must be positive")
	}
	start := time.Now()
	sent := 0
	for {
		el := time.Since(start)
		if el >= d {
			return sent, nil
		}
		due := int(el.Seconds() * float64(rate))
		for ; sent <= due; sent++ {
			f, err := next(sent)
			if err != nil {
				return sent, err
			}
			if err := s.Send(f); err != nil {
				return sent, err
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
