#!/usr/bin/env bash
# bench-pair.sh: compare the poll CPU of two agent binaries by running them
# side by side on the benchmark host, as root. See bench/README.md ("Two
# binaries side by side").
#
#   scripts/bench-pair.sh OLD NEW
#
# BenchmarkBinary builds the host (500 ports, 5,000 megaflows, 50 floods
# running) and starts NEW as its measured agent at 1 s polls; a wrapper
# starts OLD next to it, on the same OVS with its own listen port. After a
# warm-up both processes' CPU time (utime + stime, /proc/PID/stat) is read
# over the same SAMPLE seconds: the two meet the same machine load, so
# their difference holds where separate runs vary by a quarter. Both poll
# the same vswitchd, so OVS's own figures are not comparable: use
# scripts/bench.sh for those. Run it twice, the binaries swapped.
#
# Environment:
#   SAMPLE=150   seconds sampled (a clock tick is 10 ms: 150 polls give
#                about 0.07 ms of resolution)
#
# Output: one line, "OLD x.xx ms/poll  NEW y.yy ms/poll" (the paths as
# given).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

if [ $# != 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
  echo "usage: scripts/bench-pair.sh OLD NEW (two built agent binaries)" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "bench-pair.sh: run as root (the benchmark host is a network namespace with its own OVS)" >&2
  exit 2
fi
old=$(realpath "$1") new=$(realpath "$2")
SAMPLE=${SAMPLE:-150}
NS=${OVS_FLOOD_LAB_PREFIX:-}bn1 # the benchmark host's netns (bench/bench_test.go benchNetns)
BASE=${OVS_FLOOD_BENCH_BASE:-/tmp/ovs-flood-bench}
./scripts/deps.sh >/dev/null

tmp=$(mktemp -d /tmp/ovs-flood-pair.XXXXXX)
bench=""
. scripts/lib/benchhost.sh
cleanup() {
  for a in old new; do
    [ -f "$tmp/$a.pid" ] && kill "$(cat "$tmp/$a.pid")" 2>/dev/null || true
  done
  if [ -n "$bench" ] && kill -0 "$bench" 2>/dev/null; then
    kill -TERM "$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
  fi
  bench_host_down "$NS" "$BASE" # what an interrupted harness leaves behind
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # then the EXIT trap cleans up, once

go test -c -o "$tmp/bench.test" ./bench
# The harness starts the wrapper with NEW's arguments; OLD gets the same
# ones on the next port.
cat >"$tmp/wrap.sh" <<EOF
#!/bin/sh
args=\$(echo "\$@" | sed 's/:19742/:19743/')
"$old" \$args >"$tmp/old.log" 2>&1 &
echo \$! >"$tmp/old.pid"
echo \$\$ >"$tmp/new.pid"
exec "$new" "\$@"
EOF
chmod +x "$tmp/wrap.sh"

(cd bench && OVS_FLOOD_BENCH=1 OVS_FLOOD_BENCH_BIN="$tmp/wrap.sh" \
  OVS_FLOOD_BENCH_WINDOW="$((SAMPLE + 60))s" OVS_FLOOD_BENCH_INTERVALS=1s \
  exec "$tmp/bench.test" -test.run '^$' -test.bench '^BenchmarkBinary$' -test.benchtime 1x \
  -test.timeout 30m) >"$tmp/bench.log" 2>&1 &
bench=$!
for _ in $(seq 600); do
  [ -s "$tmp/new.pid" ] && [ -s "$tmp/old.pid" ] && break
  if ! kill -0 "$bench" 2>/dev/null; then
    echo "bench-pair.sh: the benchmark ended before starting the agents:" >&2
    tail -20 "$tmp/bench.log" >&2
    exit 1
  fi
  sleep 0.5
done
sleep 12 # both agents' first polls and the harness's warm-up
o=$(cat "$tmp/old.pid") n=$(cat "$tmp/new.pid")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
o0=$(ticks "$o") n0=$(ticks "$n") t0=$(date +%s.%N)
sleep "$SAMPLE"
if ! o1=$(ticks "$o") || ! n1=$(ticks "$n"); then
  echo "bench-pair.sh: an agent exited during the sample; OLD's log:" >&2
  tail -5 "$tmp/old.log" >&2
  exit 1
fi
t1=$(date +%s.%N)
# At 1 s polls, CPU per second of wall time is CPU per poll.
per() { awk -v a="$1" -v b="$2" -v hz="$hz" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 / hz / (e - s) }'; }
echo "$1 $(per "$o0" "$o1") ms/poll  $2 $(per "$n0" "$n1") ms/poll"
# The harness's scrape phase is not needed: cleanup stops it and tears the
# host down.
