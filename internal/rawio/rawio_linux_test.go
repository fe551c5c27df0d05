package rawio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns the two ends of a connected Unix stream socket, each
// closed when the test ends.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Both the plain connection and the raw one must behave the same in
// every case: the raw one is only a cheaper way of making the calls.
func wraps() map[string]func(net.Conn) net.Conn {
	return map[string]func(net.Conn) net.Conn{
		"plain": func(c net.Conn) net.Conn { return c },
		"raw":   Conn,
	}
}

func TestConnIsRaw(t *testing.T) {
	c, _ := pair(t)
	if !IsRaw(Conn(c)) || IsRaw(c) {
		t.Fatalf("IsRaw(Conn(%T)) = %v, IsRaw of the plain one = %v", c, IsRaw(Conn(c)), IsRaw(c))
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if got := Conn(p1); got != p1 {
		t.Fatalf("Conn(net.Pipe) = %T, want the pipe itself", got)
	}
}

// A transfer far larger than the socket buffers makes both ends meet
// EAGAIN and wait on the poller many times.
func TestConnLargeTransfer(t *testing.T) {
	for name, wrap := range wraps() {
		t.Run(name, func(t *testing.T) {
			c, s := pair(t)
			rc, rs := wrap(c), wrap(s)
			want := make([]byte, 8<<20)
			for i := range want {
				want[i] = byte(i * 7)
			}
			errc := make(chan error, 1)
			go func() {
				n, err := rs.Write(want)
				if err == nil && n != len(want) {
					err = errors.New("short write")
				}
				rs.Close()
				errc <- err
			}()
			got, err := io.ReadAll(rc) // reads until io.EOF
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("received %d bytes, not the %d sent", len(got), len(want))
			}
		})
	}
}

func TestConnErrors(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, c, s net.Conn) error
		is   error
	}{
		{"read deadline", func(t *testing.T, c, _ net.Conn) error {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := c.Read(make([]byte, 16))
			return err
		}, os.ErrDeadlineExceeded},
		{"deadline in the past interrupts a waiting read", func(t *testing.T, c, _ net.Conn) error {
			time.AfterFunc(50*time.Millisecond, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
			_, err := c.Read(make([]byte, 16))
			return err
		}, os.ErrDeadlineExceeded},
		{"peer closed", func(t *testing.T, c, s net.Conn) error {
			s.Close()
			_, err := c.Read(make([]byte, 16))
			return err
		}, io.EOF},
		{"write to a closed peer", func(t *testing.T, c, s net.Conn) error {
			s.Close()
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_, err = c.Write(make([]byte, 64<<10))
			}
			return err
		}, syscall.EPIPE},
		{"read after close", func(t *testing.T, c, _ net.Conn) error {
			c.Close()
			_, err := c.Read(make([]byte, 16))
			return err
		}, net.ErrClosed},
		{"write deadline on a full buffer", func(t *testing.T, c, _ net.Conn) error {
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := c.Write(make([]byte, 16<<20)) // nobody reads
			return err
		}, os.ErrDeadlineExceeded},
	}
	for _, tc := range cases {
		for name, wrap := range wraps() {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				c, s := pair(t)
				err := tc.run(t, wrap(c), wrap(s))
				if !errors.Is(err, tc.is) {
					t.Fatalf("error %v, want one that is %v", err, tc.is)
				}
			})
		}
	}
}

func TestConnKeepsData(t *testing.T) {
	c, s := pair(t)
	rc, rs := Conn(c), Conn(s)
	if n, err := rc.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	if _, err := rs.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	var got []byte
	for len(got) < 5 {
		n, err := rc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
}

// TestNetlinkDump lists the links of the test's own namespace through a
// real NETLINK_ROUTE dump sent and read with SendNetlink and Recv, and
// compares the count with the standard library's.
func TestNetlinkDump(t *testing.T) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Skipf("no netlink socket here: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	if _, err := Recv(fd, buf, 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Recv on an empty socket: %v, want EAGAIN", err)
	}
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETLINK)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1)
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	if err := SendNetlink(fd, req); err != nil {
		t.Fatal(err)
	}
	links := 0
	for done := false; !done; {
		n, err := Recv(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, 1000); err != nil && err != unix.EINTR {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				done = true
			case unix.NLMSG_ERROR:
				t.Fatalf("netlink error in the dump")
			case unix.RTM_NEWLINK:
				links++
			}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if links != len(ifs) || links == 0 {
		t.Fatalf("dump listed %d links, net.Interfaces %d", links, len(ifs))
	}
	if err := SendNetlink(fd, nil); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("SendNetlink(nil): %v, want EINVAL", err)
	}
}
