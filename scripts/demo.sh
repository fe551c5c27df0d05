#!/usr/bin/env bash
# demo.sh: the main job, end to end, on a fresh Debian machine (as root).
#
# Installs OVS and tools if missing, builds the agent, starts a private Open
# vSwitch in its own network namespace wired like the seed-000 hypervisor
# (Neutron OVS firewall driver, bug 1732067: VM egress by NORMAL, return
# traffic by output:<port>, so the external host's MAC is never learned),
# sends 20 Mbit/s from vm1 to the external host, runs the real agent against
# it, prints "ovs-flood-exporter check" and a /metrics excerpt, applies the
# explicitly_egress_direct-style fix, checks again, and tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
LAB=${LAB:-demo}
PORT=${PORT:-9742}

./scripts/deps.sh
echo "== building the agent"
go build -o bin/ovs-flood-exporter ./cmd/ovs-flood-exporter

RUN=/tmp/ovs-flood-lab/$LAB/run
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  ./lab/lab.sh down "$LAB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
./lab/lab.sh down "$LAB" >/dev/null 2>&1 || true
echo "== starting a private OVS hypervisor in netns $LAB (br-int, vm1-3 on VLAN 10, vm4-5 on VLAN 20, uplink to ext)"
./lab/lab.sh up "$LAB" >/dev/null

agent() { ip netns exec "$LAB" ./bin/ovs-flood-exporter --ovs.rundir="$RUN" "$@"; }

echo "== starting the agent (polls every 2s) on 127.0.0.1:$PORT inside netns $LAB"
agent --poll.interval=2s --web.listen-address="127.0.0.1:$PORT" --log.level=info &
agent_pid=$!

echo "== vm1 sends 20 Mbit/s of UDP to the external host 10.0.10.100 for 40s"
./lab/lab.sh flood "$LAB" 40 20M >/dev/null &
flood_pid=$!
sleep 12

echo
echo "== ovs-flood-exporter check (exit status 1 = flood found)"
set +e
agent check
rc=$?
set -e
echo "(check exited $rc)"

echo
echo "== /metrics excerpt"
ip netns exec "$LAB" curl -s "http://127.0.0.1:$PORT/metrics" |
  grep -E '^ovs_flood_(active|unknown_unicast_bytes_total|leaked_bytes_total|leak_ratio|rule_info)|^ovs_fdb_(entries|max_entries)|^ovs_openflow_normal_rule_packets_total|^ovs_flood_exporter_source_up' || true
wait "$flood_pid" || true

echo
echo "== applying the fix (direct egress flow to the uplink, like [AGENT] explicitly_egress_direct) and sending again"
./lab/lab.sh fix "$LAB"
./lab/lab.sh flood "$LAB" 12 20M >/dev/null &
flood_pid=$!
sleep 6
set +e
agent check
rc2=$?
set -e
echo "(check exited $rc2)"
wait "$flood_pid" || true

if [ "$rc" = 1 ] && [ "$rc2" = 0 ]; then
  echo "== demo OK: the flood was found, and the fixed flows do not flood"
else
  echo "== demo FAILED: check exited $rc during the flood (want 1) and $rc2 after the fix (want 0)" >&2
  exit 1
fi
