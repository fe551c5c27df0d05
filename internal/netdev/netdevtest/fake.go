// Package netdevtest holds a fake netdev.Reader for tests of packages that
// consume device counters. The release binary does not import it.
package netdevtest

import (
	"context"
	"maps"
	"sync"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

// Fake is a netdev.Reader serving a device map set by a test, for packages that
// consume device counters. The zero value serves no devices.
type Fake struct {
	mu   sync.Mutex
	devs map[string]netdev.Device
	err  error
}

var _ netdev.Filler = (*Fake)(nil)

// NewFake returns a Fake serving devs (keyed as netdev.Reader.Devices documents).
func NewFake(devs map[string]netdev.Device) *Fake {
	f := &Fake{}
	f.Set(devs)
	return f
}

// Set replaces the devices served from the next call on; devs is copied.
func (f *Fake) Set(devs map[string]netdev.Device) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devs = maps.Clone(devs)
}

// Add adds d to the counters of the device key, as traffic between two
// polls would; it does nothing if there is no such device.
func (f *Fake) Add(key string, d netdev.Counters) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dev, ok := f.devs[key]
	if !ok {
		return
	}
	c := &dev.Counters
	c.RxBytes += d.RxBytes
	c.RxPackets += d.RxPackets
	c.RxDropped += d.RxDropped
	c.TxBytes += d.TxBytes
	c.TxPackets += d.TxPackets
	c.TxDropped += d.TxDropped
	f.devs[key] = dev
}

// SetError makes Devices fail with err (nil to stop failing).
func (f *Fake) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Devices implements netdev.Reader: a copy of the current map, or the error set
// with SetError.
func (f *Fake) Devices(ctx context.Context) (map[string]netdev.Device, error) {
	out := map[string]netdev.Device{}
	if err := f.FillDevices(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// FillDevices implements netdev.Filler: devs holds the current devices, or
// the error set with SetError is returned.
func (f *Fake) FillDevices(ctx context.Context, devs map[string]netdev.Device) error {
	clear(devs)
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	maps.Copy(devs, f.devs)
	return nil
}
