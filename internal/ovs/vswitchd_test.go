package ovs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// replies is a Caller answering from a map keyed by the command line.
type replies map[string]string

func (r replies) Call(_ context.Context, method string, params ...string) (string, error) {
	key := strings.Join(append([]string{method}, params...), " ")
	if out, ok := r[key]; ok {
		return out, nil
	}
	return "", errors.New("no reply for " + key)
}

func TestDatapathShowWrongDP(t *testing.T) {
	f := replies{"dpctl/show -s system@ovs-system": capture(t, "dpctl-show.txt")}
	_, err := NewVswitchd(f).DatapathShow(context.Background(), "system@ovs-system")
	if err == nil || !strings.Contains(err.Error(), "reply is about netdev@ovs-netdev") {
		t.Fatalf("err = %v", err)
	}
}

// The parsers' errors pass through Vswitchd.
func TestVswitchdParseError(t *testing.T) {
	f := replies{"fdb/stats-show br-int": "bogus\n"}
	if _, err := NewVswitchd(f).FDBStats(context.Background(), "br-int"); err == nil {
		t.Fatal("no error for a bogus reply")
	}
}

// TestDumpFlowsThroughCache checks that successive whole dumps of two
// datapaths, each through its own cache, read what a fresh parse reads,
// also after a failed dump dropped a datapath's cache.
func TestDumpFlowsThroughCache(t *testing.T) {
	netdev, system := capture(t, "dpctl-dump-flows.seed000-flood.txt"), capture(t, "dpctl-dump-flows.vxlan.txt")
	r := replies{}
	v := NewVswitchd(r)
	ctx := context.Background()
	for i, step := range []struct{ netdev, system string }{
		{netdev, system}, {regrown(netdev, 3), regrown(system, 4)}, {"", regrown(system, 5)}, {regrown(netdev, 9), system},
	} {
		for dp, text := range map[string]string{"netdev@ovs-netdev": step.netdev, "system@ovs-system": step.system} {
			key := "dpctl/dump-flows --names " + dp
			delete(r, key)
			if text != "" {
				r[key] = text
			}
			got, gotErr := v.DumpFlows(ctx, dp)
			if text == "" {
				if gotErr == nil {
					t.Fatalf("step %d: %s: no error without a reply", i, dp)
				}
				continue
			}
			want, wantErr := ParseDumpFlows(text)
			sameDump(t, fmt.Sprintf("step %d, %s", i, dp), got, want, gotErr, wantErr)
			if c := v.(vswitchd).caches.byDP[dp]; c == nil {
				t.Errorf("step %d: %s: no cache", i, dp)
			} else if c.Len() != len(want.Flows) {
				t.Errorf("step %d: %s: the cache holds %d lines, the dump %d flows", i, dp, c.Len(), len(want.Flows))
			}
		}
	}
}
