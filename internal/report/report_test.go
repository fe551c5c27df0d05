package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func snapshot(flooding, unixctlUp bool) *state.Snapshot {
	s := &state.Snapshot{
		Time: time.Unix(1_795_227_087, 0), Hostname: "hv1", OVSVersion: "3.1.0",
		Sources: map[string]state.SourceStatus{
			state.SourceUnixctl: {Up: unixctlUp, Err: map[bool]string{true: "", false: "ovs-vswitchd is not running or --ovs.rundir is wrong"}[unixctlUp]},
			state.SourceOVSDB:   {Up: true}, state.SourceNetlink: {Up: true}, state.SourceOpenFlow: {Up: true},
		},
		Ports: []state.Port{
			{Bridge: "br-int", Name: "tapvm1", IfaceID: "port-vm1", VMUUID: "vm-1"},
			{Bridge: "br-int", Name: "tapvm2", IfaceID: "port-vm2", VMUUID: "vm-2"},
		},
		Bridges: []state.Bridge{{Name: "br-int", FDB: &state.FDB{Entries: 7500, Max: 8192, Moved: 3}}},
	}
	if flooding {
		k := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"}
		s.Detect = detect.Result{
			PollSeconds: 5,
			Active:      []detect.Flood{{FloodKey: k, ByteRate: 2_500_000, PacketRate: 2000, Victims: []detect.Victim{{Port: "tapvm2", Bytes: 12_500_000}}}},
			Ratios:      []detect.Ratio{{PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm2"}, Ratio: 0.97, Leaked: 100, Received: 103}},
		}
		s.Rules = map[detect.FloodKey]state.RuleRef{k: {Table: 94, Priority: 1, Cookie: 0xe4fc1a92d440c578, Path: []string{"br-int table 94 priority 1"}}}
	}
	return s
}

func TestBuild(t *testing.T) {
	cases := []struct {
		name      string
		snap      *state.Snapshot
		status    string
		exit      int
		wantTable []string
	}{
		{"flooding", snapshot(true, true), "flooding", ExitFlooding, []string{
			"tapvm1", "02:00:00:00:00:64", "20.0 Mbit/s", "tapvm2(leak 97%)", "table 94 priority 1 cookie 0xe4fc1a92d440c578",
			"explicitly_egress_direct", "vm vm-1", "raise other_config:mac-table-size"}},
		{"clean", snapshot(false, true), "clean", ExitClean, []string{"no unknown-unicast flood detected", "7500/8192"}},
		{"unreadable", snapshot(false, false), "unreadable", ExitUnreadable, []string{"SOURCE DOWN unixctl", "--ovs.rundir"}},
		{"before the first poll", nil, "unreadable", ExitUnreadable, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(tc.snap, tc.snap)
			if r.Status != tc.status || r.ExitCode() != tc.exit {
				t.Errorf("status %s exit %d, want %s %d", r.Status, r.ExitCode(), tc.status, tc.exit)
			}
			var buf bytes.Buffer
			if err := r.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantTable {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("table lacks %q:\n%s", w, buf.String())
				}
			}
			buf.Reset()
			if err := r.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if back.Status != r.Status || len(back.Floods) != len(r.Floods) {
				t.Errorf("JSON round trip: %+v", back)
			}
		})
	}
}

func TestChurnOverWindow(t *testing.T) {
	first, last := snapshot(false, true), snapshot(false, true)
	first.Bridges[0].FDB = &state.FDB{Learned: 10, Moved: 100}
	last.Bridges[0].FDB = &state.FDB{Learned: 15, Moved: 5100, Max: 8192}
	last.Time = first.Time.Add(3 * time.Second)
	b := Build(first, last).Bridges[0]
	if b.Learned != 5 || b.Moved != 5000 || b.Over != "3s" || !strings.Contains(b.Note, "L2 loop") {
		t.Errorf("churn = %+v", b)
	}
}
