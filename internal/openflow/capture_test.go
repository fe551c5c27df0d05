package openflow

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// captureDir holds raw OpenFlow messages captured from the lab's Open
// vSwitch 3.1 by TestLabCapture: each file is one or more whole messages
// back to back, exactly as read from br-int.mgmt (".gz" files compressed).
const captureDir = "testdata/ovs-3.1"

// loadCapture returns the messages of a capture file.
func loadCapture(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	var msgs [][]byte
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		m, err := readMsg(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// extraFlows are Neutron-like rules in table 100 that exercise decoding:
// NORMAL in write-actions, behind clone() and resubmit, next to actions
// goloxi does not know (check_pkt_larger), and NXM/ONF match fields.
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
