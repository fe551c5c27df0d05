package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestRoutes(t *testing.T) {
	store := &state.Store{}
	opts := Options{Logger: zap.NewNop(), SlogLogger: slog.New(slog.DiscardHandler)}
	h := Handler(store, prometheus.NewRegistry(), opts)

	if code, _ := get(t, h, "/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("ready before the first poll: %d", code)
	}
	if code, body := get(t, h, "/"); code != 200 || !strings.Contains(body, "Waiting for the first poll") {
		t.Errorf("landing before the first poll: %d", code)
	}

	k := detect.FloodKey{Bridge: "br-int", InPort: "tapvm1", VLAN: 10, DstMAC: "02:00:00:00:00:64"}
	store.Publish(&state.Snapshot{
		Time:    time.Now(),
		Sources: map[string]state.SourceStatus{state.SourceUnixctl: {Up: true}, state.SourceOVSDB: {Up: false, Err: "permission denied <script>"}},
		Ports: []state.Port{{Bridge: "br-int", Name: "tapvm1", VMUUID: "vm-1"}, {Bridge: "br-int", Name: "tapvm2"},
			{Bridge: "br-tun", Name: "vx2", Tunnel: &state.Tunnel{Type: "vxlan", RemoteIP: "172.31.0.2", Key: "flow"}}},
		Detect: detect.Result{PollSeconds: 1,
			Flooded: map[detect.CounterKey]detect.Counter{{Bridge: "br-int", InPort: "trunk1", VLAN: state.VLANOther}: {Packets: 3, Bytes: 300}},
			Active: []detect.Flood{{FloodKey: k, ByteRate: 1e6,
				Victims: []detect.Victim{{Port: "tapvm2", Bytes: 1e6}, {Port: "vx2", Bytes: 1e6}}}}},
	})
	cases := []struct {
		path string
		code int
		want []string
		not  []string
	}{
		{"/", 200, []string{`class="flooding"`, `<td class="in-port">tapvm1`, `<span class="victim">tapvm2`, "VM vm-1", `<span class="victim">vx2 (vxlan to 172.31.0.2)`, "permission denied &lt;script&gt;"}, []string{"<script>"}},
		{"/api/report", 200, []string{`"status": "flooding"`, `"dst_mac": "02:00:00:00:00:64"`}, nil},
		{"/metrics", 200, []string{`ovs_flood_active{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 1`,
			`ovs_flood_unknown_unicast_bytes_total{bridge="br-int",in_port="trunk1",vlan="other"} 300`}, nil},
		{"/-/healthy", 200, []string{"ok"}, nil},
		{"/-/ready", 200, []string{"ok"}, nil},
		{"/debug/pprof/", 404, nil, nil},
		{"/nope", 404, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, h, tc.path)
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(body, w) {
					t.Errorf("body contains %q (not escaped?)", w)
				}
			}
		})
	}
	opts.Pprof = true
	if code, _ := get(t, Handler(store, prometheus.NewRegistry(), opts), "/debug/pprof/"); code != 200 {
		t.Errorf("pprof enabled: %d", code)
	}
}
