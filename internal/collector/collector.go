// Package collector exposes the latest published snapshot as Prometheus
// metrics. It never talks to OVS: the poller reads OVS on its own fixed
// cadence (detection needs it, independent of scrape intervals) and a scrape
// only turns the latest snapshot into const metrics.
package collector

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Collector turns state snapshots into metrics.
type Collector struct {
	store *state.Store

	floodPackets, floodBytes, leakedBytes   *prometheus.Desc
	floodActive, floodRateBytes, floodRateP *prometheus.Desc
	floodRule, floodVictim, leakRatio       *prometheus.Desc

	fdbEntries, fdbMax, fdbStatic                    *prometheus.Desc
	fdbLearned, fdbExpired, fdbEvicted, fdbMoved     *prometheus.Desc
	fdbTableSize, fdbAgingTime                       *prometheus.Desc
	tableLookups, tableMatches, tableRules           *prometheus.Desc
	normalPackets, normalBytes                       *prometheus.Desc
	portInfo                                         *prometheus.Desc
	rxBytes, txBytes, rxPackets, txPackets, rxDrops  *prometheus.Desc
	txDrops                                          *prometheus.Desc
	dpFlows, dpBounded, dpHit, dpMissed              *prometheus.Desc
	sourceUp, pollDuration, lastPoll, ovsVersionInfo *prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// New returns a Collector reading from store.
func New(store *state.Store) *Collector {
	flood := []string{"bridge", "in_port", "vlan"}
	active := []string{"bridge", "in_port", "vlan", "dst_mac"}
	br := []string{"bridge"}
	tbl := []string{"bridge", "table"}
	iface := []string{"bridge", "port", "device"}
	return &Collector{
		store: store,
		floodPackets: desc("ovs_flood_unknown_unicast_packets_total",
			"Unicast packets OVS delivered to more than one port because the destination MAC was not learned, by the port where they entered.", flood...),
		floodBytes: desc("ovs_flood_unknown_unicast_bytes_total",
			"Bytes of unicast frames OVS delivered to more than one port because the destination MAC was not learned.", flood...),
		leakedBytes: desc("ovs_flood_leaked_bytes_total",
			"Bytes delivered to this endpoint port as copies of flooded frames addressed to some other MAC.", "bridge", "port"),
		floodActive: desc("ovs_flood_active",
			"1 while a sustained unknown-unicast flood to dst_mac is detected; absent otherwise. At most --flood.max-reported series per bridge, worst first. Detection runs on the agent's own poll cadence (--poll.interval), not at scrape time.", active...),
		floodRateBytes: desc("ovs_flood_rate_bytes",
			"Current flooded bytes per second of an active flood (same series as ovs_flood_active).", active...),
		floodRateP: desc("ovs_flood_rate_packets",
			"Current flooded packets per second of an active flood (same series as ovs_flood_active).", active...),
		floodRule: desc("ovs_flood_rule_info",
			"The OpenFlow rule whose NORMAL action floods an active flood, as found by ofproto/trace.", "bridge", "in_port", "vlan", "dst_mac", "table", "priority", "cookie"),
		floodVictim: desc("ovs_flood_victim_rate_bytes",
			"Bytes per second of an active flood copied to a victim port.", "bridge", "in_port", "vlan", "dst_mac", "port"),
		leakRatio: desc("ovs_flood_leak_ratio",
			"Share (0-1) of what the device behind this endpoint port delivered to its VM over the detection window that was copies of other hosts' flooded unicast.", "bridge", "port"),

		fdbEntries:   desc("ovs_fdb_entries", "MAC entries currently in the bridge's MAC learning table.", br...),
		fdbMax:       desc("ovs_fdb_max_entries", "Maximum MAC entries of the bridge's MAC learning table (other_config:mac-table-size).", br...),
		fdbStatic:    desc("ovs_fdb_static_entries", "Static MAC entries in the bridge's MAC learning table.", br...),
		fdbLearned:   desc("ovs_fdb_learned_total", "MAC entries learned by the bridge.", br...),
		fdbExpired:   desc("ovs_fdb_expired_total", "MAC entries expired after mac-aging-time.", br...),
		fdbEvicted:   desc("ovs_fdb_evicted_total", "MAC entries evicted because the table was full.", br...),
		fdbMoved:     desc("ovs_fdb_moved_total", "MAC entries relearned on another port (MAC moves; a storm of them means an L2 loop).", br...),
		fdbTableSize: desc("ovs_fdb_config_table_size", "Configured other_config:mac-table-size (OVS default 8192 when unset).", br...),
		fdbAgingTime: desc("ovs_fdb_config_aging_seconds", "Configured other_config:mac-aging-time (OVS default 300 when unset).", br...),

		tableLookups: desc("ovs_openflow_table_lookups_total", "Packets looked up in this OpenFlow table.", tbl...),
		tableMatches: desc("ovs_openflow_table_matches_total", "Packets that matched a rule in this OpenFlow table.", tbl...),
		tableRules:   desc("ovs_openflow_table_rules", "Active rules in this OpenFlow table.", tbl...),
		normalPackets: desc("ovs_openflow_normal_rule_packets_total",
			"Packets that hit an OpenFlow rule whose actions include NORMAL (MAC learning switch).", "bridge", "table", "priority", "cookie"),
		normalBytes: desc("ovs_openflow_normal_rule_bytes_total",
			"Bytes that hit an OpenFlow rule whose actions include NORMAL.", "bridge", "table", "priority", "cookie"),

		portInfo: desc("ovs_port_info",
			"OVS port identity, for joining flood series to Neutron ports and Nova instances. device is the VM-facing device (the tap behind a qbr bridge for hybrid plugs).",
			"bridge", "port", "ofport", "vlan", "device", "iface_id", "attached_mac", "vm_uuid"),
		rxBytes:   desc("ovs_interface_receive_bytes_total", "Bytes received by the device (its own view).", iface...),
		txBytes:   desc("ovs_interface_transmit_bytes_total", "Bytes transmitted by the device (on a VM tap: what the VM received).", iface...),
		rxPackets: desc("ovs_interface_receive_packets_total", "Packets received by the device.", iface...),
		txPackets: desc("ovs_interface_transmit_packets_total", "Packets transmitted by the device.", iface...),
		rxDrops:   desc("ovs_interface_receive_drops_total", "Received packets dropped by the device.", iface...),
		txDrops:   desc("ovs_interface_transmit_drops_total", "Transmitted packets dropped by the device.", iface...),

		dpFlows:   desc("ovs_datapath_flows", "Megaflows installed in the datapath.", "datapath"),
		dpHit:     desc("ovs_datapath_lookups_hit_total", "Datapath packets that hit an installed megaflow.", "datapath"),
		dpMissed:  desc("ovs_datapath_lookups_missed_total", "Datapath packets that missed and went to ovs-vswitchd (upcalls).", "datapath"),
		dpBounded: desc("ovs_flood_exporter_megaflow_dump_bounded", "1 when the datapath has more megaflows than --dpctl.max-flows and the agent reads it with its bounded strategy.", "datapath"),

		sourceUp:       desc("ovs_flood_exporter_source_up", "1 if the source was read successfully in the last poll.", "source"),
		pollDuration:   desc("ovs_flood_exporter_poll_duration_seconds", "Time spent reading the source in the last poll.", "source"),
		lastPoll:       desc("ovs_flood_exporter_last_poll_timestamp_seconds", "When the last poll finished (the agent polls on its own cadence, --poll.interval)."),
		ovsVersionInfo: desc("ovs_flood_exporter_ovs_info", "The ovs-vswitchd version the agent talks to.", "version"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.floodPackets, c.floodBytes, c.leakedBytes, c.floodActive, c.floodRateBytes, c.floodRateP,
		c.floodRule, c.floodVictim, c.leakRatio,
		c.fdbEntries, c.fdbMax, c.fdbStatic, c.fdbLearned, c.fdbExpired, c.fdbEvicted, c.fdbMoved,
		c.fdbTableSize, c.fdbAgingTime,
		c.tableLookups, c.tableMatches, c.tableRules, c.normalPackets, c.normalBytes,
		c.portInfo, c.rxBytes, c.txBytes, c.rxPackets, c.txPackets, c.rxDrops, c.txDrops,
		c.dpFlows, c.dpHit, c.dpMissed, c.dpBounded,
		c.sourceUp, c.pollDuration, c.lastPoll, c.ovsVersionInfo,
	} {
		ch <- d
	}
}

// VLANLabel renders a VLAN ID as a label value ("" for none, "other" for
// the VLANs summed beyond the agent's per-port cap).
func VLANLabel(v int) string {
	if v < 0 {
		return ""
	}
	if v == state.VLANOther {
		return "other"
	}
	return strconv.Itoa(v)
}

// CookieLabel renders an OpenFlow cookie as ovs-ofctl prints it.
func CookieLabel(c uint64) string { return fmt.Sprintf("%#x", c) }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.store.Load()
	if s == nil {
		for _, src := range state.Sources {
			ch <- prometheus.MustNewConstMetric(c.sourceUp, prometheus.GaugeValue, 0, src)
		}
		return
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}

	for k, v := range s.Detect.Flooded {
		vl := VLANLabel(k.VLAN)
		counter(c.floodPackets, v.Packets, k.Bridge, k.InPort, vl)
		counter(c.floodBytes, v.Bytes, k.Bridge, k.InPort, vl)
	}
	for k, v := range s.Detect.Leaked {
		counter(c.leakedBytes, v, k.Bridge, k.Port)
	}
	for _, f := range s.Detect.Active {
		l := []string{f.Bridge, f.InPort, VLANLabel(f.VLAN), f.DstMAC}
		gauge(c.floodActive, 1, l...)
		gauge(c.floodRateBytes, f.ByteRate, l...)
		gauge(c.floodRateP, f.PacketRate, l...)
		if r, ok := s.Rules[f.FloodKey]; ok {
			gauge(c.floodRule, 1, append(l, strconv.Itoa(r.Table), strconv.Itoa(r.Priority), CookieLabel(r.Cookie))...)
		}
		if dt := s.Detect.PollSeconds; dt > 0 {
			for _, v := range f.Victims {
				gauge(c.floodVictim, float64(v.Bytes)/dt, append(l, v.Port)...)
			}
		}
	}
	for _, r := range s.Detect.Ratios {
		gauge(c.leakRatio, r.Ratio, r.Bridge, r.Port)
	}

	for _, b := range s.Bridges {
		if f := b.FDB; f != nil {
			gauge(c.fdbEntries, float64(f.Entries), b.Name)
			gauge(c.fdbMax, float64(f.Max), b.Name)
			gauge(c.fdbStatic, float64(f.Static), b.Name)
			counter(c.fdbLearned, f.Learned, b.Name)
			counter(c.fdbExpired, f.Expired, b.Name)
			counter(c.fdbEvicted, f.Evicted, b.Name)
			counter(c.fdbMoved, f.Moved, b.Name)
		}
		size, aging := b.MACTableSize, b.MACAgingTime
		if size <= 0 {
			size = 8192
		}
		if aging <= 0 {
			aging = 300
		}
		gauge(c.fdbTableSize, float64(size), b.Name)
		gauge(c.fdbAgingTime, float64(aging), b.Name)
		for _, t := range b.Tables {
			if t.Rules == 0 && t.Lookups == 0 {
				continue // OVS reports ~255 tables; only used ones matter
			}
			id := strconv.Itoa(int(t.ID))
			counter(c.tableLookups, t.Lookups, b.Name, id)
			counter(c.tableMatches, t.Matches, b.Name, id)
			gauge(c.tableRules, float64(t.Rules), b.Name, id)
		}
		seen := map[string]bool{}
		for _, r := range b.NormalRules {
			l := []string{b.Name, strconv.Itoa(int(r.Table)), strconv.Itoa(int(r.Priority)), CookieLabel(r.Cookie)}
			key := fmt.Sprint(l)
			if seen[key] {
				continue // same table/priority/cookie, different match: first wins (labels must be unique)
			}
			seen[key] = true
			counter(c.normalPackets, r.Packets, l...)
			counter(c.normalBytes, r.Bytes, l...)
		}
	}

	for _, p := range s.Ports {
		of := ""
		if p.OFPort >= 0 {
			of = strconv.Itoa(p.OFPort)
		}
		gauge(c.portInfo, 1, p.Bridge, p.Name, of, VLANLabel(p.VLAN), p.Device, p.IfaceID, p.AttachedMAC, p.VMUUID)
		if k := p.Counters; k != nil {
			l := []string{p.Bridge, p.Name, p.Device}
			counter(c.rxBytes, k.RxBytes, l...)
			counter(c.txBytes, k.TxBytes, l...)
			counter(c.rxPackets, k.RxPackets, l...)
			counter(c.txPackets, k.TxPackets, l...)
			counter(c.rxDrops, k.RxDropped, l...)
			counter(c.txDrops, k.TxDropped, l...)
		}
	}

	for _, d := range s.Datapaths {
		gauge(c.dpFlows, float64(d.Flows), d.Name)
		counter(c.dpHit, d.Hit, d.Name)
		counter(c.dpMissed, d.Missed, d.Name)
		b := 0.0
		if d.Bounded {
			b = 1
		}
		gauge(c.dpBounded, b, d.Name)
	}

	for _, src := range state.Sources {
		st := s.Sources[src]
		up := 0.0
		if st.Up {
			up = 1
		}
		gauge(c.sourceUp, up, src)
		gauge(c.pollDuration, st.Duration.Seconds(), src)
	}
	gauge(c.lastPoll, float64(s.Time.UnixNano())/1e9)
	if s.OVSVersion != "" {
		gauge(c.ovsVersionInfo, 1, s.OVSVersion)
	}
}
