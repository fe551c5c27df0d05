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

// funcReplies is replies with CallFunc: the text is copied into a buffer
// that is overwritten once fn returns, as the real client's next read
// would.
type funcReplies struct {
	replies
	calls int
}

func (r *funcReplies) CallFunc(ctx context.Context, fn func([]byte) error, method string, params ...string) error {
	out, err := r.Call(ctx, method, params...)
	if err != nil {
		return err
	}
	r.calls++
	buf := []byte(out)
	defer func() {
		for i := range buf {
			buf[i] = '#'
		}
	}()
	return fn(buf)
}

// VisitFlows sends the filter as dpctl/dump-flows takes it and parses the
// same flows through a plain Caller and through a FuncCaller's buffer.
func TestVisitFlows(t *testing.T) {
	dump := capture(t, "dpctl-dump-flows.seed000-flood.txt")
	want, err := ParseDumpFlows(dump)
	if err != nil {
		t.Fatal(err)
	}
	r := replies{
		"dpctl/dump-flows --names netdev@ovs-netdev":                       dump,
		"dpctl/dump-flows --names netdev@ovs-netdev filter=in_port=tapvm1": dump,
	}
	fr := &funcReplies{replies: r}
	for _, c := range []struct {
		name   string
		caller Caller
	}{{"Call", r}, {"CallFunc", fr}} {
		for _, filter := range []string{"", "in_port=tapvm1"} {
			t.Run(c.name+"/"+filter, func(t *testing.T) {
				var got []string
				err := NewVswitchd(c.caller).VisitFlows(context.Background(), "netdev@ovs-netdev", filter, FlowParseOptions{}, func(m *Megaflows) error {
					for _, f := range m.Flows {
						got = append(got, strings.Clone(f.Key)+" -> "+strings.Clone(f.InPort))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want.Flows) || len(got) == 0 {
					t.Fatalf("%d flows, want %d", len(got), len(want.Flows))
				}
				for i, f := range want.Flows {
					if got[i] != f.Key+" -> "+f.InPort {
						t.Errorf("flow %d: %s, want %s -> %s", i, got[i], f.Key, f.InPort)
					}
				}
			})
		}
	}
	if fr.calls != 2 {
		t.Errorf("CallFunc used %d times, want 2", fr.calls)
	}
	mine := errors.New("stop")
	err = NewVswitchd(fr).VisitFlows(context.Background(), "netdev@ovs-netdev", "", FlowParseOptions{}, func(*Megaflows) error { return mine })
	if err != mine {
		t.Errorf("fn's error came back as %v", err)
	}
	if err := NewVswitchd(fr).VisitFlows(context.Background(), "system@ovs-system", "", FlowParseOptions{}, func(*Megaflows) error { return nil }); err == nil {
		t.Error("no error for a datapath without a reply")
	}
}
