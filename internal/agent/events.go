package agent

import (
	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/detect"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// logEvents writes one line when a flood starts and one when it ends, so
// floods show in log pipelines too.
func (a *Agent) logEvents(events []detect.Event, snap *state.Snapshot) {
	for _, e := range events {
		f := e.Flood
		victims := make([]string, 0, len(f.Victims))
		for _, v := range f.Victims {
			victims = append(victims, v.Port)
		}
		fields := []zap.Field{
			zap.String("bridge", f.Bridge), zap.String("in_port", f.InPort),
			zap.Int("vlan", f.VLAN), zap.String("dst_mac", f.DstMAC),
			zap.Strings("victims", victims),
		}
		if p, ok := snap.PortByName(f.InPort); ok {
			fields = append(fields, zap.String("iface_id", p.IfaceID), zap.String("vm_uuid", p.VMUUID))
		}
		switch e.Kind {
		case detect.FloodStarted:
			a.log.Warn("unknown-unicast flood started", append(fields,
				zap.Float64("bytes_per_second", f.ByteRate), zap.Float64("packets_per_second", f.PacketRate))...)
		case detect.FloodEnded:
			a.log.Info("unknown-unicast flood ended", append(fields,
				zap.Duration("duration", e.Duration), zap.Uint64("bytes_flooded", f.Bytes), zap.Uint64("bytes_leaked", e.Leaked))...)
		}
	}
}
