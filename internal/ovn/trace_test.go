package ovn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

func TestMulticastStepCaptured(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		floods bool
	}{{"unknown2", true}, {"unknown1", true}, {"secure", false}} {
		t.Run(tc.mode, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "ovs", "testdata", "ovs-3.1", "ovn-"+tc.mode+"-ch1.ofproto-trace.txt"))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := ovs.ParseTrace(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Flooded {
				t.Fatal("OVN's trace shows no NORMAL flood; the NORMAL rule finder must not fire on it")
			}
			step, q, ok := MulticastStep(tr.Steps)
			if ok != tc.floods {
				t.Fatalf("MulticastStep ok = %v, want %v", ok, tc.floods)
			}
			if !ok {
				return
			}
			// ls_in_l2_unknown is stage 26 of OVN 23.03's ingress pipeline (lflow-list)
			if step.Table != 34 || q.Pipeline != "ingress" || q.TableID != 26 || uint64(q.Cookie) != step.Cookie {
				t.Errorf("step table %d cookie %#x, query %+v", step.Table, step.Cookie, q)
			}
		})
	}
}

func TestSetsMulticastOutport(t *testing.T) {
	for a, want := range map[string]bool{
		"set_field:0x8001->reg15": true, "load:0x8000->NXM_NX_REG15[]": true, "set_field:0x2->reg15": false,
		"set_field:0x8001->reg14": false, "set_field:zz->reg15": false, "output:3": false,
	} {
		if got := setsMulticastOutport([]string{a}); got != want {
			t.Errorf("%q: %v, want %v", a, got, want)
		}
	}
}
