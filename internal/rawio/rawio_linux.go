package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn returns c with Read and Write issued as raw system calls on its
// non-blocking descriptor. A connection that exposes no descriptor (a
// test's net.Pipe) is returned as it is. Deadlines, Close and the
// addresses are c's own.
func Conn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &conn{Conn: c, rc: rc}
}

// IsRaw reports whether c is a connection Conn made raw, for the tests
// of the clients that must keep using one.
func IsRaw(c net.Conn) bool {
	_, ok := c.(*conn)
	return ok
}

type conn struct {
	net.Conn
	rc syscall.RawConn
}

// Read reads like net.Conn's Read: io.EOF once the peer has closed.
func (c *conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n     int
		errno syscall.Errno
	)
	// The function runs again each time the poller reports the socket
	// readable, until it returns true.
	err := c.rc.Read(func(fd uintptr) bool {
		n, errno = retry(func() (uintptr, syscall.Errno) {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			return r, e
		})
		return errno != unix.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, opError("read", c.Conn, errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, as net.Conn's Write does, waiting for room in
// the socket's buffer when it is full.
func (c *conn) Write(b []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(b) {
			var n int
			n, errno = retry(func() (uintptr, syscall.Errno) {
				r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[done])), uintptr(len(b)-done))
				return r, e
			})
			if errno != 0 {
				return errno != unix.EAGAIN
			}
			done += n
		}
		return true
	})
	switch {
	case err != nil:
		return done, err
	case errno != 0:
		return done, opError("write", c.Conn, errno)
	}
	return done, nil
}

// retry runs call again while it is interrupted by a signal.
func retry(call func() (uintptr, syscall.Errno)) (int, syscall.Errno) {
	for {
		r, e := call()
		if e != unix.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(r), 0
		}
	}
}

func opError(op string, c net.Conn, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}

// Recv receives one datagram into b from the non-blocking socket fd:
// recvfrom(2) with flags, issued raw and retried when a signal
// interrupts it. It returns unix.EAGAIN when nothing is queued; the
// caller waits (poll(2)) and calls again. Pass
// unix.MSG_DONTWAIT unless fd is known to be non-blocking: a raw call
// that blocks holds the runtime's only processor until it returns.
func Recv(fd int, b []byte, flags int) (int, error) {
	if len(b) == 0 {
		return 0, unix.EINVAL
	}
	n, errno := retry(func() (uintptr, syscall.Errno) {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags), 0, 0)
		return r, e
	})
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// SendNetlink sends the request b to the kernel on the non-blocking
// netlink socket fd: sendto(2), issued raw. The kernel takes a request
// at once or fails it (unix.EAGAIN when the socket's buffer is full).
func SendNetlink(fd int, b []byte) error {
	if len(b) == 0 {
		return unix.EINVAL
	}
	to := unix.RawSockaddrNetlink{Family: unix.AF_NETLINK}
	_, errno := retry(func() (uintptr, syscall.Errno) {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&to)), unix.SizeofSockaddrNetlink)
		return r, e
	})
	if errno != 0 {
		return errno
	}
	return nil
}
