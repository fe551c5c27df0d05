package ovs

import (
	"context"
	"errors"
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
