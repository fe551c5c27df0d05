package netdev

import (
	"context"
	"slices"
	"testing"
)

// FillDevices refills the caller's map: it holds what Devices returns,
// and nothing of what it held before (a device deleted since the last
// read, or anything the caller left in it).
func TestNetnsFillDevices(t *testing.T) {
	needRoot(t)
	const ns = "nd-fd-a"
	addNetns(t, ns)
	ipBatch(t, ns, []string{"link add fdX type veth peer name fdY", "link add fdZ type bridge"})
	var r *NetlinkReader
	if err := inNetns(ns, func() (err error) { r, err = NewNetlinkReader(Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	devs := map[string]Device{"stale": {Name: "stale"}}
	steps := []struct {
		name    string
		ip      []string
		present []string
		gone    []string
	}{
		{"first read", nil, []string{"lo", "fdX", "fdY", "fdZ"}, []string{"stale"}},
		{"bridge deleted", []string{"link del fdZ"}, []string{"lo", "fdX", "fdY"}, []string{"fdZ"}},
		{"veth pair deleted, bridge added", []string{"link del fdX", "link add fdW type bridge"}, []string{"lo", "fdW"}, []string{"fdX", "fdY", "fdZ"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.ip != nil {
				ipBatch(t, ns, s.ip)
			}
			if err := r.FillDevices(ctx, devs); err != nil {
				t.Fatal(err)
			}
			want, err := r.Devices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, wantKeys := keys(devs), keys(want)
			slices.Sort(got)
			slices.Sort(wantKeys)
			if !slices.Equal(got, wantKeys) {
				t.Errorf("FillDevices holds %v, Devices returns %v", got, wantKeys)
			}
			for _, n := range s.present {
				if _, ok := devs[n]; !ok {
					t.Errorf("%s missing from %v", n, keys(devs))
				}
			}
			for _, n := range s.gone {
				if _, ok := devs[n]; ok {
					t.Errorf("%s lingers in %v", n, keys(devs))
				}
			}
		})
	}
}
