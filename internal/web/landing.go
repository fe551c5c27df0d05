package web

import (
	"fmt"
	"html/template"
	"io"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
)

type landingData struct {
	Report      report.Report
	MetricsPath string
	Ready       bool
}

var landing = template.Must(template.New("landing").Funcs(template.FuncMap{
	"rate": report.HumanBytes,
	"pct":  func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<title>ovs-flood-exporter{{with .Report.Host}} on {{.}}{{end}}</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}
.flooding{color:#fff;background:#b00020;padding:.2em .5em}
.clean{color:#fff;background:#2e7d32;padding:.2em .5em}
.unreadable{color:#fff;background:#e65100;padding:.2em .5em}
.down{color:#b00020;font-weight:bold}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>ovs-flood-exporter</h1>
<p>Host <b>{{.Report.Host}}</b>{{with .Report.OVSVersion}}, Open vSwitch {{.}}{{end}}.
{{if .Ready}}Last poll {{.Report.Time.UTC.Format "2006-01-02 15:04:05 UTC"}}.{{else}}Waiting for the first poll.{{end}}
Links: <a href="{{.MetricsPath}}">metrics</a>, <a href="/api/report">JSON report</a>,
<a href="https://github.com/ovs-flood-exporter/ovs-flood-exporter/blob/main/docs/runbook.md">runbook</a>,
<a href="https://github.com/ovs-flood-exporter/ovs-flood-exporter#readme">docs</a>.</p>
<p id="status">Status: <span class="{{.Report.Status}}">{{.Report.Status}}</span></p>

<h2>Active floods</h2>
{{if .Report.Floods}}
<table id="floods"><tr><th>Bridge</th><th>In port (source VM)</th><th>VLAN</th><th>Destination MAC</th><th>Rate</th><th>Victims (leak ratio)</th><th>Flooding rule</th><th>Fix</th></tr>
{{range .Report.Floods}}<tr class="flood">
<td>{{.Bridge}}</td>
<td class="in-port">{{.InPort.Port}}{{with .InPort.IfaceID}}<br>port {{.}}{{end}}{{with .InPort.VMUUID}}<br>VM {{.}}{{end}}{{with .InPort.Tunnel}}<br>{{.Type}} from {{.RemoteIP}}{{end}}</td>
<td>{{.VLAN}}</td><td>{{.DstMAC}}</td>
<td>{{rate .BytesPerSecond}}<br>{{printf "%.0f" .PacketsPerSecond}} pkt/s{{with .Since}}<br>since {{.}}{{end}}</td>
<td class="victims">{{range .Victims}}<span class="victim">{{.Port}}{{with .VMUUID}} (VM {{.}}){{end}}{{with .Tunnel}} ({{.Type}} to {{.RemoteIP}}){{end}}{{with .OVN}} (OVN {{.LogicalPort}}{{if .Unknown}}, addresses unknown{{end}}){{end}}{{if ge .LeakRatio 0.0}}: {{pct .LeakRatio}}{{end}}</span><br>{{end}}</td>
<td>{{with .Rule}}table {{.Table}} priority {{.Priority}} cookie {{.Cookie}}{{with .Logical}}<br>OVN {{.Stage}}: {{.Match}} → {{.Actions}}{{end}}{{else}}-{{end}}</td>
<td>{{.Fix}}</td></tr>
{{end}}</table>
{{else}}<p id="no-floods">No unknown-unicast flood detected.</p>{{end}}

{{with .Report.Leaks}}<h2>VMs receiving others' traffic</h2>
<table id="leaks"><tr><th>Bridge</th><th>Port</th><th>Leak ratio</th><th>Leaked bytes (window)</th></tr>
{{range .}}<tr><td>{{.Bridge}}</td><td>{{.Port}}</td><td>{{pct .LeakRatio}}</td><td>{{.Leaked}}</td></tr>{{end}}
</table>{{end}}

<h2>MAC tables</h2>
<table id="fdb"><tr><th>Bridge</th><th>Entries / max</th><th>Fill</th><th>Learned</th><th>Expired</th><th>Evicted</th><th>Moved</th><th>Note</th></tr>
{{range .Report.Bridges}}<tr><td>{{.Name}}</td><td>{{.FDBEntries}} / {{.FDBMax}}</td><td>{{pct .FDBFill}}</td><td>{{.Learned}}</td><td>{{.Expired}}</td><td>{{.Evicted}}</td><td>{{.Moved}}</td><td>{{.Note}}</td></tr>
{{end}}</table>

<h2>Sources</h2>
<table id="sources"><tr><th>Source</th><th>State</th><th>Error</th></tr>
{{range .Report.Sources}}<tr><td>{{.Name}}</td><td>{{if .Up}}up{{else}}<span class="down">down</span>{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
</body></html>
`))

func renderLanding(w io.Writer, d landingData) error { return landing.Execute(w, d) }
