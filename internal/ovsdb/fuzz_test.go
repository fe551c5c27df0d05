package ovsdb

import (
	"slices"
	"strings"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// FuzzDecodeTopology runs a transact result through the topology decoder.
// Nothing may panic, and a decoded topology keeps its order.
func FuzzDecodeTopology(f *testing.F) {
	ops, err := planTopology(nil)
	if err != nil {
		f.Fatal(err)
	}
	result := capturedResult(f, ops)
	f.Add(result)
	f.Add(readCapturedResult(f, "unknown-column"))
	f.Add([]byte(`[{"rows":[]},{"rows":[]},{"rows":[]},{"rows":[{"cur_cfg":1,"bridges":["set",[]]}]}]`))
	f.Add([]byte(strings.Replace(string(result), `"rows"`, `"error":"x","rows"`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := decodeTopology(ops, data)
		if err != nil {
			return
		}
		if !slices.IsSortedFunc(topo.Bridges, func(a, b Bridge) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("bridges out of order: %v", bridgeNames(topo))
		}
		for _, b := range topo.Bridges {
			if b.UUID == "" {
				t.Fatalf("bridge %q without uuid", b.Name)
			}
		}
	})
}

// TestCapturedResultDecodes keeps the fuzz seed honest: the result built
// from the captured rows decodes to the captured topology.
func TestCapturedResultDecodes(t *testing.T) {
	ops, err := planTopology(nil)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := decodeTopology(ops, capturedResult(t, ops))
	if err != nil {
		t.Fatal(err)
	}
	checkCapturedTopology(t, topo)
	curCfg, err := readCurCfg.plan(nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []int64
	err = ovsdbrpc.DecodeResult(capturedResult(t, []ovsdbrpc.Select{curCfg}), []ovsdbrpc.Select{curCfg},
		func(_ int, r ovsdbrpc.Row) error {
			cfg, err := decodeCurCfg(r)
			cfgs = append(cfgs, cfg)
			return err
		})
	if err != nil || len(cfgs) != 1 || cfgs[0] != 17 {
		t.Fatalf("cur_cfg = %v, %v; want [17]", cfgs, err)
	}
}
