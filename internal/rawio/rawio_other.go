//go:build !linux

package rawio

import "net"

// Conn returns c: raw system calls are used on Linux only.
func Conn(c net.Conn) net.Conn { return c }

// IsRaw reports false: raw system calls are used on Linux only.
func IsRaw(net.Conn) bool { return false }
