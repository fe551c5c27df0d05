//go:build !linux

package linuxbridge

import (
	"context"
	"errors"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

var errUnsupported = errors.New("linuxbridge: Linux bridges exist on Linux only")

// ErrObserverUnsupported wraps every failure to observe frames.
var ErrObserverUnsupported = errUnsupported

// DefaultMaxEntries bounds the kernel's counter map (Linux only).
const DefaultMaxEntries = 16384

// Observer is unavailable off Linux.
type Observer struct{}

// NewObserver fails off Linux.
func NewObserver(string, int) (*Observer, error) { return nil, errUnsupported }

// Sync fails off Linux.
func (*Observer) Sync(map[int]bool) error { return errUnsupported }

// Counts fails off Linux.
func (*Observer) Counts() ([]Count, error) { return nil, errUnsupported }

// Attached is 0 off Linux.
func (*Observer) Attached() int { return 0 }

// Close does nothing.
func (*Observer) Close() error { return nil }

// NewDeviceReaderIn fails off Linux.
func NewDeviceReaderIn(string) (*netdev.NetlinkReader, error) { return nil, errUnsupported }

// NetlinkReader is unavailable off Linux.
type NetlinkReader struct{}

// NewNetlinkReader fails off Linux.
func NewNetlinkReader(string, DeviceReader) (*NetlinkReader, error) { return nil, errUnsupported }

// Read fails off Linux.
func (*NetlinkReader) Read(context.Context) (Topology, error) { return Topology{}, errUnsupported }

// Close does nothing.
func (*NetlinkReader) Close() error { return nil }
