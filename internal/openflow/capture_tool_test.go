//go:build capture

package openflow

// Refresh the captures with (as root):
//
//	OPENFLOW_CAPTURE=1 go test -tags capture -run TestLabCapture ./internal/openflow/
//
// It is behind a build tag because it rewrites testdata rather than testing
// anything; the replay tests check what it captured.

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// TestLabCapture refreshes testdata from the lab's Open vSwitch. It only
// runs with OPENFLOW_CAPTURE=1 (as root):
//
//	OPENFLOW_CAPTURE=1 go test ./internal/openflow/ -run LabCapture -v
func TestLabCapture(t *testing.T) {
	l := labtest.Up(t, "of1")
	flows := filepath.Join(l.Base, "extra.flows")
	if err := os.WriteFile(flows, []byte(extraFlows), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Ofctl("add-flows", "br-int", flows); err != nil {
		t.Fatal(out, err)
	}
	l.MustRun("flood", "1", "1M")
	if err := os.MkdirAll(captureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sock := filepath.Join(l.RunDir, "br-int.mgmt")
	dial := func(v uint8) (*Conn, *recorder) {
		t.Helper()
		rec := &recorder{}
		c, err := Dial(ctx, sock, Options{Versions: []uint8{v}, trace: rec.trace})
		if err != nil {
			t.Fatal(err)
		}
		return c, rec
	}

	c, rec := dial(Version13)
	writeCapture(t, "hello-default.bin", rec.take(typeHello))
	if _, err := c.TableStats(ctx); err != nil {
		t.Fatal(err)
	}
	writeCapture(t, "of13-table-stats.bin", rec.take(typeMultipart))
	if _, err := c.FlowStats(ctx, FlowFilter{}); err != nil {
		t.Fatal(err)
	}
	writeCapture(t, "of13-flow-stats.bin", rec.take(typeMultipart))
	// ovs-ofctl's view of the same rules, for the decoder tests to compare
	// with (no traffic runs between the captures, so counters agree).
	dump, err := l.Ofctl("dump-flows", "br-int")
	if err != nil {
		t.Fatal(dump, err)
	}
	writeCapture(t, "ofctl-dump-flows.txt", []byte(dump))
	// A flow statistics request with an OpenFlow 1.0 match type, which
	// OpenFlow 1.3 rejects with an error.
	_, err = c.roundTrip(ctx, func(xid uint32) []byte {
		m := c.codec.flowStatsRequestMsg(xid, FlowFilter{})
		m[c.codec.statsHeader+33] = 0 // match type OFPMT_STANDARD instead of OXM
		return m
	})
	if err == nil {
		t.Fatal("bad match type accepted")
	}
	writeCapture(t, "of13-error.bin", rec.take(typeError))
	c.Close()

	for _, v := range []uint8{Version10, Version14, Version15} {
		c, rec := dial(v)
		if _, err := c.TableStats(ctx); err != nil {
			t.Fatal(err)
		}
		writeCapture(t, fmt.Sprintf("of1%d-table-stats.bin", v-1), rec.take(c.codec.statsReply))
		if _, err := c.FlowStats(ctx, FlowFilter{}); err != nil {
			t.Fatal(err)
		}
		writeCapture(t, fmt.Sprintf("of1%d-flow-stats.bin", v-1), rec.take(c.codec.statsReply))
		c.Close()
	}

	// A reply Open vSwitch splits into several parts with the MORE flag.
	var many strings.Builder
	for i := 0; i < 1200; i++ {
		fmt.Fprintf(&many, "table=120,priority=%d,ip,nw_src=10.1.%d.%d,actions=output:1\n", 100+i%7, i/256, i%256)
	}
	if err := os.WriteFile(flows, []byte(many.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Ofctl("add-flows", "br-int", flows); err != nil {
		t.Fatal(out, err)
	}
	c, rec = dial(Version13)
	got, err := c.FlowStats(ctx, FlowFilter{OneTable: true, TableID: 120})
	if err != nil || len(got) != 1200 {
		t.Fatalf("table 120 has %d rules, want 1200 (%v)", len(got), err)
	}
	parts := rec.take(typeMultipart)
	writeCapture(t, "of13-flow-stats-multipart.bin.gz", parts)
	c.Close()

	for _, p := range []struct{ protocols, file string }{
		{"OpenFlow14", "hello-of14.bin"},
		{"OpenFlow11,OpenFlow12", "hello-of11-of12.bin"},
	} {
		if out, err := l.Vsctl("set", "bridge", "br-int", "protocols="+p.protocols); err != nil {
			t.Fatal(out, err)
		}
		rec := &recorder{}
		waitFor(t, func() error {
			rec.take(0)
			c, err := Dial(ctx, sock, Options{trace: rec.trace})
			if err == nil {
				c.Close()
			}
			if err != nil && !strings.Contains(err.Error(), "protocols") {
				return err
			}
			return nil
		})
		writeCapture(t, p.file, rec.take(typeHello))
	}
}

// extraFlows are Neutron-like rules in table 100 that exercise decoding:
// NORMAL in write-actions, behind clone() and resubmit, next to actions
// that are Open vSwitch extensions (check_pkt_larger), and NXM/ONF match fields.
const extraFlows = `table=100,priority=5,actions=write_actions(NORMAL)
table=100,priority=6,actions=clone(NORMAL)
table=100,priority=7,ct_state=+trk+est,reg5=0x5,ip,actions=resubmit(,94)
table=100,priority=8,ip,actions=ct(commit,zone=NXM_NX_REG6[0..15]),NORMAL
table=100,priority=9,conj_id=7,ip,actions=load:0x1->NXM_NX_REG5[],NORMAL
table=100,priority=10,ip,nw_src=10.0.0.0/8,actions=conjunction(7,1/2)
table=100,priority=11,actions=learn(table=101,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),NORMAL
table=100,priority=12,ip,actions=check_pkt_larger(1500)->NXM_NX_REG0[0],NORMAL
table=100,priority=13,dl_vlan=10,actions=strip_vlan,output:1
table=100,priority=14,tcp,tcp_flags=+syn,actions=NORMAL
table=100,priority=17,actions=mod_dl_src:02:00:00:00:00:99,NORMAL
table=100,priority=18,ct_mark=0x1/0x1,actions=drop
table=100,priority=19,actions=goto_table:101
table=100,priority=21,metadata=0x5/0xff,actions=NORMAL
table=100,priority=24,ipv6,ipv6_label=5,actions=drop
table=100,priority=25,arp,arp_tpa=10.0.0.1,actions=NORMAL
table=100,priority=26,actions=resubmit(,81),NORMAL
table=100,priority=27,in_port=3,dl_src=02:00:00:00:00:03/ff:ff:ff:00:00:00,actions=NORMAL
`

// recorder collects the messages a Conn receives.
type recorder struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (r *recorder) trace(out bool, msg []byte) {
	if out {
		return
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, append([]byte(nil), msg...))
	r.mu.Unlock()
}

// take returns and forgets the recorded messages of type typ.
func (r *recorder) take(typ uint8) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []byte
	for _, m := range r.msgs {
		if m[1] == typ {
			out = append(out, m...)
		}
	}
	r.msgs = nil
	return out
}

func writeCapture(t *testing.T, name string, b []byte) {
	t.Helper()
	if len(b) == 0 {
		t.Fatalf("%s: nothing captured", name)
	}
	if strings.HasSuffix(name, ".gz") {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	if err := os.WriteFile(filepath.Join(captureDir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", name, len(b))
}
