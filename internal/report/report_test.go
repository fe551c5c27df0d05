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

// noBridgeRead is a host where OVS cannot be read and the linuxbridge
// source is up but found no Linux bridge: nothing was diagnosed.
func noBridgeRead() *state.Snapshot {
	s := snapshot(false, false)
	s.Sources[state.SourceLinuxBridge] = state.SourceStatus{Up: true}
	s.Bridges = nil
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
		{"no OVS, no Linux bridge to read", noBridgeRead(), "unreadable", ExitUnreadable, []string{"SOURCE DOWN unixctl"}},
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
	cases := []struct {
		name          string
		before, after state.FDB
		learned       uint64
		moved         uint64
		note          string
	}{
		{"counts over the window", state.FDB{Learned: 10, Moved: 100}, state.FDB{Learned: 15, Moved: 5100, Max: 8192},
			5, 5000, "L2 loop"},
		{"a total that restarted (bridge re-created) counts from its restart", state.FDB{Learned: 900, Moved: 7},
			state.FDB{Learned: 40, Moved: 2, Max: 8192}, 40, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first, last := snapshot(false, true), snapshot(false, true)
			first.Bridges[0].FDB, last.Bridges[0].FDB = &tc.before, &tc.after
			last.Time = first.Time.Add(3 * time.Second)
			b := Build(first, last).Bridges[0]
			if b.Learned != tc.learned || b.Moved != tc.moved || b.Over != "3s" {
				t.Errorf("churn = %+v, want learned %d moved %d over 3s", b, tc.learned, tc.moved)
			}
			if (tc.note == "") != (b.Note == "") || !strings.Contains(b.Note, tc.note) {
				t.Errorf("note = %q, want %q", b.Note, tc.note)
			}
		})
	}
}

func TestLeaksAndCookies(t *testing.T) {
	s := snapshot(true, true)
	s.Detect.Ratios = []detect.Ratio{
		{PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm2"}, Ratio: 0.6, Leaked: 60, Received: 100},
		{PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm3"}, Ratio: 0.9, Leaked: 90, Received: 100},
		{PortKey: detect.PortKey{Bridge: "br-int", Port: "tapvm4"}, Ratio: 0.4, Leaked: 40, Received: 100},
	}
	s.Bridges[0].NormalRules = []state.Rule{{Table: 94, Priority: 1, Cookie: 0, Packets: 5}}
	r := Build(s, s)
	var got []string
	for _, l := range r.Leaks {
		got = append(got, l.Port)
	}
	if strings.Join(got, ",") != "tapvm3,tapvm2" {
		t.Errorf("leaks = %v, want tapvm3,tapvm2 (half or more, worst first)", got)
	}
	if c := r.Bridges[0].Normal[0].Cookie; c != "0x0" {
		t.Errorf("normal rule cookie = %q, want 0x0 as ovs-ofctl prints it", c)
	}
	if c := r.Floods[0].Rule.Cookie; c != "0xe4fc1a92d440c578" {
		t.Errorf("flood rule cookie = %q", c)
	}
	if v := r.Floods[0].Victims[0]; v.LeakRatio != 0.6 || v.BytesPerSecond != 2_500_000 {
		t.Errorf("victim = %+v, want leak 0.6 at 2500000 B/s", v)
	}
}

// TestLinuxBridgeHost: a host without OVS whose Linux bridge floods is
// diagnosed (not "unreadable"), with the Linux-bridge fix, and its bridge
// row shows no OVS-only columns.
func TestLinuxBridgeHost(t *testing.T) {
	s := snapshot(false, false)
	s.Sources[state.SourceLinuxBridge] = state.SourceStatus{Up: true}
	s.Bridges = []state.Bridge{{Name: "br0", DatapathType: linuxBridge, FDB: &state.FDB{Entries: 3}, LearningOff: []string{"uplink"}}}
	s.Ports = []state.Port{{Bridge: "br0", Name: "vnet1", AttachedMAC: "02:00:00:00:01:01"}, {Bridge: "br0", Name: "vnet2"}}
	k := detect.FloodKey{Bridge: "br0", InPort: "vnet1", VLAN: 0, DstMAC: "02:00:00:00:01:64"}
	s.Detect = detect.Result{PollSeconds: 1, Active: []detect.Flood{{FloodKey: k, ByteRate: 2_500_000, PacketRate: 1700,
		Victims: []detect.Victim{{Port: "vnet2", Bytes: 2_500_000}}}}}
	r := Build(s, s)
	if r.Status != "flooding" || r.ExitCode() != ExitFlooding {
		t.Fatalf("status %s exit %d, want flooding", r.Status, r.ExitCode())
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SOURCE DOWN unixctl", "br0     vnet1", "bridge link set dev uplink learning on",
		"bridge fdb add 02:00:00:00:01:64 dev uplink master static", "Linux bridge; learning off on uplink"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "3/0") {
		t.Errorf("Linux bridge shown with an OVS table size:\n%s", buf.String())
	}
	s.Sources[state.SourceLinuxBridge] = state.SourceStatus{Up: false, Err: "needs CAP_BPF"}
	if r := Build(s, s); r.Status != "unreadable" {
		t.Errorf("neither OVS nor Linux bridges readable: status %s", r.Status)
	}
}
