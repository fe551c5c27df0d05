package loop

import (
	"strings"
	"testing"
	"time"
)

func TestAdviceFromLoopCapture(t *testing.T) {
	c := loadCapture(t, "loop")
	local := strings.Fields(read(t, "loop-br-ex-link.txt"))[2]
	ev := Assess(c.input(t, "br-ex", mac(t, local)), nil, DefaultConfig)
	st := State{Evidence: ev, Active: true, LoopPorts: ev.Ports, Since: time.Unix(0, 0)}
	why := Why(st)
	for _, want := range []string{"MAC moves/s", "02:00:00:00:00:01 enters through ex-int1 and ex-int2", "own MAC " + local + " is learned on ex-int1"} {
		if !strings.Contains(why, want) {
			t.Errorf("Why = %q, want %q in it", why, want)
		}
	}
	fix := strings.Join(Fix("br-ex", st.LoopPorts, st.Self), "\n")
	for _, want := range []string{"ex-int1, ex-int2", "rstp_enable=true", "in_port=ex-int1,dl_src=" + local + ",actions=drop"} {
		if !strings.Contains(fix, want) {
			t.Errorf("Fix = %q, want %q in it", fix, want)
		}
	}
	if fix := strings.Join(Fix("br-int", []string{"int-ex1", "int-ex2"}, nil), "\n"); strings.Contains(fix, "dl_src") {
		t.Errorf("no own MAC seen, yet a drop rule for it: %q", fix)
	}
}

func TestAdviceStationAndPressure(t *testing.T) {
	s := Station{Bridge: "br-int", Port: "tapvm3", MAC: mac(t, "91:92:ac:18:04:c8"), Why: "attached-mac"}
	if w := StationWhy(s); !strings.Contains(w, "tapvm3 on br-int has MAC 91:92:ac:18:04:c8 (its attached-mac) with the group bit set") {
		t.Errorf("StationWhy = %q", w)
	}
	if f := StationFix(s); !strings.Contains(f, "dl_dst=91:92:ac:18:04:c8,actions=output:tapvm3") {
		t.Errorf("StationFix = %q", f)
	}
	if w := PressureWhy("br-int", 64, 64, "tapvm1", 62); !strings.Contains(w, "holds 64 of 64 entries; port tapvm1 holds 62") {
		t.Errorf("PressureWhy = %q", w)
	}
	if f := PressureFix("br-int", "tapvm1"); !strings.Contains(f, "mac-table-size") || !strings.Contains(f, "tapvm1") {
		t.Errorf("PressureFix = %q", f)
	}
}
