package netdevtest

import (
	"context"
	"errors"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/netdev"
)

func TestFake(t *testing.T) {
	ctx := context.Background()
	f := NewFake(map[string]netdev.Device{"tap1": {Name: "tap1", Index: 3, Counters: netdev.Counters{TxBytes: 100}}})
	got, err := f.Devices(ctx)
	if err != nil || got["tap1"].Counters.TxBytes != 100 {
		t.Fatalf("Devices = %v, %v", got, err)
	}
	got["tap1"] = netdev.Device{} // callers own the result
	f.Add("tap1", netdev.Counters{TxBytes: 50, TxPackets: 1})
	f.Add("nosuch", netdev.Counters{TxBytes: 1})
	got, _ = f.Devices(ctx)
	if c := got["tap1"].Counters; c.TxBytes != 150 || c.TxPackets != 1 {
		t.Errorf("after Add: %+v", c)
	}
	if len(got) != 1 {
		t.Errorf("Add created a device: %v", got)
	}
	boom := errors.New("boom")
	f.SetError(boom)
	if _, err := f.Devices(ctx); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	f.SetError(nil)
	f.Set(nil)
	if got, err := (&Fake{}).Devices(ctx); err != nil || got == nil || len(got) != 0 {
		t.Errorf("zero Fake: %v, %v", got, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Devices(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: %v", err)
	}
}
