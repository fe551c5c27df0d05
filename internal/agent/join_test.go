package agent

import (
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// TestOVSPortsFollowTheirInputs: the port list is copied from the last
// poll's while OVSDB's topology and vswitchd's ports stay the same, and
// listed again when either changes; no two polls share the list.
func TestOVSPortsFollowTheirInputs(t *testing.T) {
	a := New(DefaultConfig(), nil, nil, &state.Store{})
	view := func(id uint64, names ...string) *unixctlView {
		v := &unixctlView{ports: map[string]*ovs.DPPort{}, portBr: map[string]string{}, topoID: id}
		for i, n := range names {
			v.ports[n], v.portBr[n] = &ovs.DPPort{Name: n, OFPort: uint32(i + 1), Type: "system"}, "br-int"
		}
		return v
	}
	names := func(ports []state.Port) []string {
		var out []string
		for _, p := range ports {
			out = append(out, p.Name)
		}
		return out
	}
	topo := ovnTopology("")
	steps := []struct {
		name string
		poll *Poll
		want []string
	}{
		{"first", &Poll{ovsdb: topo, unixctl: view(101, "tapvm1", "tapx")}, []string{"tapvm1", "tapvm2", "tapx"}},
		{"same inputs", &Poll{ovsdb: topo, unixctl: view(101, "tapvm1", "tapx")}, []string{"tapvm1", "tapvm2", "tapx"}},
		{"vswitchd's ports changed", &Poll{ovsdb: topo, unixctl: view(102, "tapvm1", "tapa", "tapz")},
			[]string{"tapa", "tapvm1", "tapvm2", "tapz"}},
		{"topology changed", &Poll{ovsdb: ovnTopology(""), unixctl: view(102, "tapvm1", "tapa", "tapz")},
			[]string{"tapa", "tapvm1", "tapvm2", "tapz"}},
		{"view without an id", &Poll{ovsdb: topo, unixctl: view(0, "tapb")}, []string{"tapb", "tapvm1", "tapvm2"}},
		{"OVSDB only", &Poll{ovsdb: topo}, []string{"tapvm1", "tapvm2"}},
		{"nothing", &Poll{}, nil},
	}
	var last []state.Port
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.poll.cfg, s.poll.log, s.poll.names = &a.cfg, zap.NewNop(), interner{}
			got := a.ovsPorts(s.poll)
			if g := names(got); !slices.Equal(g, s.want) {
				t.Errorf("ports %v, want %v", g, s.want)
			}
			if len(got) > 0 && len(last) > 0 && &got[0] == &last[0] {
				t.Error("two polls share their port list")
			}
			for i := range got {
				got[i].Name = "scribbled" // a poll's list is its own
			}
			last = got
		})
	}
}
