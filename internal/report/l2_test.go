package report

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/loop"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func l2Snapshot(r *loop.Report, active ...detect.Flood) *state.Snapshot {
	return &state.Snapshot{Time: time.Unix(1_795_227_087, 0), OVSVersion: "3.1.0",
		Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: true}}, L2: r,
		Detect: detect.Result{Active: active}}
}

func TestL2Report(t *testing.T) {
	station := net.HardwareAddr{0x91, 0x92, 0xac, 0x18, 0x04, 0xc8}
	loopState := loop.State{Evidence: loop.Evidence{Bridge: "br-ex", MovesPerSec: 830, BroadcastPPS: 3320, Storm: true,
		Flaps: []loop.Flap{{MAC: "02:00:00:00:00:01", Ports: []string{"ex-int1", "ex-int2"}}},
		Self:  &loop.SelfMAC{MAC: "76:e9:59:84:9b:41", Port: "ex-int1"}}, Active: true, LoopPorts: []string{"ex-int1", "ex-int2"}}
	cases := []struct {
		name   string
		snap   *state.Snapshot
		exit   int
		want   []string
		absent []string
	}{
		{"loop", l2Snapshot(&loop.Report{Loops: []loop.BridgeState{{Bridge: "br-ex", State: loopState}}}), ExitFlooding,
			[]string{"STATUS: 0 unknown-unicast flood(s), 1 L2 loop(s)", "L2 LOOP on br-ex through ex-int1, ex-int2",
				"02:00:00:00:00:01 enters through ex-int1 and ex-int2", "own MAC 76:e9:59:84:9b:41 is learned on ex-int1",
				"fix: remove the second path", "rstp_enable=true", "in_port=ex-int1,dl_src=76:e9:59:84:9b:41,actions=drop"}, nil},
		{"station flood", l2Snapshot(&loop.Report{Stations: []loop.Station{{Bridge: "br-int", Port: "tapvm3", MAC: station, Why: "attached-mac"}}},
			detect.Flood{FloodKey: detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", DstMAC: station.String()},
				Victims: []detect.Victim{{Port: "tapvm2"}}}), ExitFlooding,
			[]string{"STATUS: 1 unknown-unicast flood(s)", "STATION tapvm3 on br-int, MAC 91:92:ac:18:04:c8",
				"fix: tapvm3 on br-int has MAC 91:92:ac:18:04:c8 (its attached-mac) with the group bit set",
				"dl_dst=91:92:ac:18:04:c8,actions=output:tapvm3"}, []string{"L2 LOOP", "explicitly_egress_direct"}},
		{"full table, no flood", l2Snapshot(&loop.Report{Tables: []loop.Table{{Bridge: "br-int", Entries: 64, Max: 64,
			PerPort: map[string]int{"tapvm1": 62, "tapvm2": 1, "uplink": 1}, Top: "tapvm1", TopEntries: 62}}}), ExitClean,
			[]string{"STATUS: no unknown-unicast flood detected", "MAC TABLE br-int 64/64, filled by tapvm1 (62 entries)",
				"entries by port: tapvm1 62, tapvm2 1, uplink 1", "mac-table-size"}, []string{"L2 LOOP", "STATION"}},
		{"calm", l2Snapshot(&loop.Report{}), ExitClean, nil, []string{"L2 LOOP", "STATION", "MAC TABLE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(nil, tc.snap)
			var buf bytes.Buffer
			if err := r.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if r.ExitCode() != tc.exit {
				t.Errorf("exit %d, want %d", r.ExitCode(), tc.exit)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}
