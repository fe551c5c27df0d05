#!/usr/bin/env bash
# macflood-rss.sh: the agent's memory while a VM floods the datapath with
# megaflows (one per random source MAC) and the agent reads it in bounded
# mode (not part of CI; ~2 min, as root). A loop.sh lab (br-int with three
# VMs), vm1 sending to the external host from random source MACs at FPS
# frames/s for SECONDS, the real binary polling every 5 s with
# --dpctl.max-flows=MAX_FLOWS. Prints the agent's RSS (VmRSS) and the
# datapath's megaflow count every 5 s, and the growth between 25 s and the
# end; exit 1 if RSS grew by more than 15 % or peaked over 100 MiB.
#
#   SECONDS_=60 FPS=2000 MAX_FLOWS=2000 LAB=mfrss (OVS_FLOOD_LAB_PREFIX is prepended)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${SECONDS_:-60}
FPS=${FPS:-2000}
MAX_FLOWS=${MAX_FLOWS:-2000}
LAB=${OVS_FLOOD_LAB_PREFIX:-}${LAB:-mfrss}
export LAB_BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
RUN=$LAB_BASE/$LAB/run
work=$(mktemp -d /tmp/ovs-flood-mfrss.XXXXXX)

./scripts/deps.sh
OUT=$work/ovs-flood-exporter ./scripts/build.sh >/dev/null

agent=
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
  wait 2>/dev/null || true
  ./lab/loop.sh down "$LAB" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # then the EXIT trap cleans up, once

./lab/loop.sh down "$LAB" >/dev/null 2>&1 || true
./lab/loop.sh up "$LAB" >/dev/null
ip netns exec "$LAB" "$work/ovs-flood-exporter" --ovs.rundir="$RUN" --poll.interval=5s \
  --dpctl.max-flows="$MAX_FLOWS" --web.listen-address=127.0.0.1:19743 --log.level=warn \
  >"$work/agent.log" 2>&1 &
agent=$!
sleep 6
./lab/loop.sh macflood "$LAB" "$DUR" "$FPS" >"$work/flood.log" 2>&1 &
flood=$!

rss() { awk '/^VmRSS/ {print $2}' "/proc/$agent/status"; }
flows() { ip netns exec "$LAB" env OVS_RUNDIR="$RUN" ovs-appctl dpctl/show netdev@ovs-netdev 2>/dev/null | awk '/flows:/ {print $2}'; }
printf '%6s %10s %10s\n' t_s rss_kib megaflows
at25= peak=0 last=0
for ((t = 5; t <= DUR; t += 5)); do
  sleep 5
  kill -0 "$agent" 2>/dev/null || { echo "agent exited" >&2; cat "$work/agent.log" >&2; exit 1; }
  r=$(rss); f=$(flows)
  printf '%6d %10d %10s\n' "$t" "$r" "${f:-?}"
  ((r > peak)) && peak=$r
  ((t == 25)) && at25=$r
  last=$r
done
wait "$flood" 2>/dev/null || true
growth=$(awk -v a="$at25" -v b="$last" 'BEGIN {printf "%.1f", (b - a) * 100 / a}')
echo "RSS at 25 s ${at25} KiB, at ${DUR} s ${last} KiB (${growth} %), peak ${peak} KiB"
awk -v g="$growth" -v p="$peak" 'BEGIN {exit !(g <= 15 && p <= 100 * 1024)}' || { echo "FAIL: RSS grew more than 15 % or peaked over 100 MiB" >&2; exit 1; }
echo "OK"
