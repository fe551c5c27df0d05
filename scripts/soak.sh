#!/usr/bin/env bash
# soak.sh: the agent under a long, hostile run (not part of CI; ~12 min, as
# root). A lab OVS with the seed-000 flood running throughout, the real
# binary (scripts/build.sh) serving /metrics, 10 scrapes a second, and OVS
# restarted RESTARTS times (kill ovsdb-server and ovs-vswitchd, start them
# again, re-install the lab's flows as a Neutron agent would). It checks:
#   - the agent never exits and every scrape is answered;
#   - after each restart, all four sources are up again within 2 polls;
#   - RSS, open file descriptors and goroutines (the agent's own
#     process_resident_memory_bytes, process_open_fds, go_goroutines) stay
#     flat: the last quarter of the run against the first.
# and prints a table of the figures. Exit status 1 if a check fails.
#
#   DURATION=600     seconds of the run
#   RESTARTS=50      OVS restarts, spread evenly over the run
#   POLL=2s          the agent's --poll.interval
#   RATE=5M          the flood's rate (lab.sh flood)
#   LAB=soak         the lab's name (OVS_FLOOD_LAB_PREFIX is prepended)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
RESTARTS=${RESTARTS:-50}
POLL=${POLL:-2s}
RATE=${RATE:-5M}
LAB=${OVS_FLOOD_LAB_PREFIX:-}${LAB:-soak}
PORT=9742
export LAB_BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
RUN=$LAB_BASE/$LAB/run
poll_s=${POLL%s}
work=$(mktemp -d /tmp/ovs-flood-soak.XXXXXX)

./scripts/deps.sh
OUT=$work/ovs-flood-exporter ./scripts/build.sh >/dev/null

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ./lab/lab.sh down "$LAB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
./lab/lab.sh down "$LAB" >/dev/null 2>&1 || true
./lab/lab.sh up "$LAB" >"$work/lab.log" 2>&1
echo "== lab $LAB up; agent polls every $POLL; $RESTARTS OVS restarts over ${DURATION}s; 10 scrapes/s"

ip netns exec "$LAB" "$work/ovs-flood-exporter" --ovs.rundir="$RUN" --poll.interval="$POLL" \
  --web.listen-address="127.0.0.1:$PORT" --log.level=info >"$work/agent.log" 2>&1 &
agent=$!
pids+=("$agent")
metrics() { ip netns exec "$LAB" curl -sf --max-time 2 "http://127.0.0.1:$PORT/metrics"; }
for _ in $(seq 100); do metrics >/dev/null 2>&1 && break; sleep 0.2; done

# the flood, for the whole run (and a little more)
./lab/lab.sh flood "$LAB" $((DURATION + 60)) "$RATE" >/dev/null 2>&1 &
pids+=($!)
# 10 scrapes a second, paced by curl itself (one process, kept
# connections, up to 4 at once so a slow scrape does not lower the rate);
# one status code per scrape
ip netns exec "$LAB" curl -s --parallel --parallel-max 4 --rate 10/s --max-time $((DURATION + 120)) -o /dev/null -w '%{http_code}\n' \
  "http://127.0.0.1:$PORT/metrics?scrape=[1-$((DURATION * 10))]" >"$work/scrapes" 2>"$work/scrape-errors" &
scraper=$!
pids+=("$scraper")

# value NAME [LABELS]: one sample of the agent's own metrics
value() { awk -v m="$1" '$1 == m { print $2; exit }' "$work/m"; }
all_up() {
  for s in unixctl ovsdb openflow netlink; do
    [ "$(value "ovs_flood_exporter_source_up{source=\"$s\"}")" = 1 ] || return 1
  done
}
sample() { # appends: elapsed rss_bytes fds goroutines
  metrics >"$work/m" || return 1
  echo "$(($(date +%s) - start)) $(value process_resident_memory_bytes) $(value process_open_fds) $(value go_goroutines)" >>"$work/samples"
}

start=$(date +%s)
gap=$((DURATION / RESTARTS))
fail=0
printf '%8s %6s %10s %10s %9s %6s %10s\n' restart t/s polls recover/s rss/MiB fds goroutines | tee "$work/table"
for i in $(seq "$RESTARTS"); do
  # let the agent settle, then sample it before the restart
  sleep $((start + i * gap - $(date +%s) - 1 > 0 ? start + i * gap - $(date +%s) - 1 : 0))
  if ! kill -0 "$agent" 2>/dev/null; then echo "the agent exited" >&2; fail=1; break; fi
  ./lab/lab.sh restart "$LAB" >>"$work/lab.log" 2>&1
  ./lab/lab.sh flows "$LAB" >>"$work/lab.log" 2>&1
  t0=$(date +%s.%N)
  # recovery: count the polls the agent completes after OVS is back until
  # one has every source up
  polls=0 last= rec=
  while [ -z "$rec" ]; do
    if ! metrics >"$work/m"; then sleep 0.2; continue; fi
    ts=$(value ovs_flood_exporter_last_poll_timestamp_seconds)
    if [ "$ts" != "$last" ] && awk -v a="$ts" -v b="$t0" 'BEGIN { exit !(a > b) }'; then
      polls=$((polls + 1)); last=$ts
      all_up && rec=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
    fi
    [ $polls -gt 10 ] && rec=never
    sleep 0.1
  done
  sample
  read -r el rss fds gor < <(tail -1 "$work/samples")
  printf '%8d %6d %10s %10s %9.1f %6d %10d\n' "$i" "$el" "$polls" "$rec" "$(awk -v b="$rss" 'BEGIN { print b / 1048576 }')" "$fds" "$gor" | tee -a "$work/table"
  if [ "$rec" = never ] || [ "$polls" -gt 2 ]; then
    echo "restart $i: sources up only after $polls polls" >&2
    fail=1
  fi
done
# the scraper has (nearly) finished its DURATION*10 scrapes by now
sleep 5
kill "$scraper" 2>/dev/null || true
wait "$scraper" 2>/dev/null || true
ok=$(grep -c '^200$' "$work/scrapes" || true)
bad=$(grep -vc '^200$' "$work/scrapes" || true)
alive=yes
kill -0 "$agent" 2>/dev/null || { alive=no; fail=1; }

# flatness: the mean of the last quarter of the samples against the first
n=$(wc -l <"$work/samples")
q=$(((n + 3) / 4))
summary=$(awk -v q="$q" -v n="$n" '
  { rss[NR] = $2; fds[NR] = $3; gor[NR] = $4 }
  function mean(a, from, to,   s, i) { s = 0; for (i = from; i <= to; i++) s += a[i]; return s / (to - from + 1) }
  END {
    printf "%.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n",
      mean(rss, 1, q) / 1048576, mean(rss, n - q + 1, n) / 1048576,
      mean(fds, 1, q), mean(fds, n - q + 1, n), mean(gor, 1, q), mean(gor, n - q + 1, n),
      0, 0
  }' "$work/samples")
read -r rss0 rss1 fd0 fd1 g0 g1 _ _ <<<"$summary"
echo
echo "== soak: ${DURATION}s, $RESTARTS OVS restarts, poll $POLL"
printf '%-34s %s\n' "agent alive at the end" "$alive" \
  "scrapes answered / failed" "$ok / $bad (in $(($(date +%s) - start))s)" \
  "RSS MiB, first → last quarter" "$rss0 → $rss1" \
  "open fds, first → last quarter" "$fd0 → $fd1" \
  "goroutines, first → last quarter" "$g0 → $g1" \
  "agent log lines (warn/error)" "$(grep -cE "(level=|$(printf '\t'))(warn|error)" "$work/agent.log" || true) (of which source errors: $(grep -c 'source unreadable' "$work/agent.log" || true))"
awk -v a="$rss0" -v b="$rss1" 'BEGIN { exit !(b > a * 1.15) }' && { echo "RSS grew more than 15%" >&2; fail=1; }
awk -v a="$fd0" -v b="$fd1" 'BEGIN { exit !(b > a + 2) }' && { echo "file descriptors grew" >&2; fail=1; }
awk -v a="$g0" -v b="$g1" 'BEGIN { exit !(b > a + 5) }' && { echo "goroutines grew" >&2; fail=1; }
[ "$bad" = 0 ] || { echo "$bad scrapes failed" >&2; fail=1; }
echo "table and agent log: $work"
[ $fail = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $fail
