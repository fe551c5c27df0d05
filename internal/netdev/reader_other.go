//go:build !linux

package netdev

import (
	"context"
	"errors"
)

// errUnsupported is returned on systems without rtnetlink.
var errUnsupported = errors.New("netdev: netlink device counters need Linux")

// NetlinkReader is the Reader of a live host; it only works on Linux.
type NetlinkReader struct{}

var _ Filler = (*NetlinkReader)(nil)

// NewNetlinkReader fails: there is no rtnetlink here.
func NewNetlinkReader(Options) (*NetlinkReader, error) { return nil, errUnsupported }

// Devices implements Reader.
func (*NetlinkReader) Devices(context.Context) (map[string]Device, error) {
	return nil, errUnsupported
}

// FillDevices implements Filler.
func (*NetlinkReader) FillDevices(context.Context, map[string]Device) error { return errUnsupported }

// Close releases nothing.
func (*NetlinkReader) Close() error { return nil }
