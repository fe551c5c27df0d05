#!/usr/bin/env bash
# bench-peers.sh: run the exporters an operator would pick instead of this
# one against the same Open vSwitch, one at a time, and print side by side
# what each costs per 15 s scrape interval. Not part of CI.
#
# The host is the benchmark's (bench/README.md): a private ovsdb-server and
# an ovs-vswitchd with the dummy datapath in network namespace <prefix>bp1,
# br-int with 500 ports, 4,000 FDB entries, 5,000 megaflows (50 flooded)
# and 20,000 OpenFlow rules, with flood traffic injected throughout by a
# separate process (its CPU is listed apart, in the injector column, and it
# sends packets only: it does not poll OVS). For each exporter, in turn:
# a baseline window without any exporter, then the exporter started,
# warmed up and measured over an equal window with a scrape every 15 s.
# Per 15 s it prints: the exporter's CPU (/proc/<pid>/stat), its peak RSS
# (VmHWM), what ovs-vswitchd (main thread, and all threads) and
# ovsdb-server spent above the baseline (scheduler run time), the median
# scrape wall time and the series count. Medians over ROUNDS rounds; the
# OVS figures subtract the mean of the baselines either side of a window.
#
# Peers:
#   ovs-flood-exporter      built from this tree (static, stripped)
#   vexxhost/ovs_exporter   built from the source tree in PEER_VEXXHOST_SRC
#   greenpau/ovs_exporter   built from the source tree in PEER_GREENPAU_SRC
#   node_exporter netdev    Debian's prometheus-node-exporter, netdev only
# The module proxy does not serve the two ovs_exporter modules; check out
# their repositories anywhere and point the variables at them. A peer
# whose source or binary is absent is listed as skipped; one that fails to
# build, start or answer is listed as FAILED, with its log.
#
# Environment:
#   PEER_VEXXHOST_SRC, PEER_GREENPAU_SRC   peer source trees (optional)
#   WINDOW=60s     length of each measured window (and of each baseline)
#   WARMUP=20s     time a peer runs before its window starts
#   ROUNDS=2       rounds over all peers (medians are printed)
#   TRAFFIC=flood  flood traffic throughout; "none" measures a calm host
#   OUT=dir        where binaries and logs go (default: a new /tmp dir)
#
# Exit status: 0 when the run completed, 1 or 2 when it could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

WINDOW=${WINDOW:-60s}
WARMUP=${WARMUP:-20s}
ROUNDS=${ROUNDS:-2}
TRAFFIC=${TRAFFIC:-flood}
NS=${OVS_FLOOD_LAB_PREFIX:-}bp1 # the host's netns (bench/peers_test.go)
BASE=${OVS_FLOOD_BENCH_BASE:-/tmp/ovs-flood-bench}

if [ "$(id -u)" != 0 ]; then
  echo "bench-peers.sh: run as root (the host is a network namespace with its own OVS)" >&2
  exit 2
fi
for b in ovsdb-server ovs-vswitchd ovs-vsctl go ip; do
  command -v "$b" >/dev/null || {
    echo "bench-peers.sh: missing $b (scripts/deps.sh installs it)" >&2
    exit 2
  }
done

OUT=${OUT:-$(mktemp -d /tmp/ovs-flood-peers.XXXXXX)}
mkdir -p "$OUT"

# Stop whatever an interrupted run leaves behind: the exporters and the
# injector (by the pid files the harness writes), then the host.
. scripts/lib/benchhost.sh
cleanup() {
  local f
  for f in "$OUT"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  bench_host_down "$NS" "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== build ovs-flood-exporter and the harness"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/ovs-flood-exporter" ./cmd/ovs-flood-exporter
go test -tags peers -c -o "$OUT/bench.test" ./bench
export OVS_FLOOD_PEER_OURS=$OUT/ovs-flood-exporter

# build_peer VAR SRCVAR PKG NAME: build a peer from the tree named by
# $SRCVAR into $OUT/NAME and set VAR to the binary, or to skip:/fail:
# with the reason.
build_peer() {
  local var=$1 srcvar=$2 pkg=$3 name=$4 src=${!2:-}
  if [ -z "$src" ]; then
    export "$var=skip:$srcvar not set"
    return
  fi
  if [ ! -f "$src/go.mod" ]; then
    export "$var=fail:$srcvar=$src has no go.mod"
    return
  fi
  echo "== build $name from $src"
  if (cd "$src" && GOFLAGS= GOWORK=off CGO_ENABLED=0 go build -o "$OUT/$name" "$pkg") >"$OUT/$name.build.log" 2>&1; then
    export "$var=$OUT/$name"
  else
    export "$var=fail:build failed: $(tail -1 "$OUT/$name.build.log") (see $OUT/$name.build.log)"
  fi
}
build_peer OVS_FLOOD_PEER_VEXXHOST PEER_VEXXHOST_SRC . vexxhost-ovs_exporter
build_peer OVS_FLOOD_PEER_GREENPAU PEER_GREENPAU_SRC ./cmd/ovs_exporter greenpau-ovs_exporter
if ne=$(command -v prometheus-node-exporter || command -v node_exporter); then
  export OVS_FLOOD_PEER_NODE_EXPORTER=$ne
else
  export OVS_FLOOD_PEER_NODE_EXPORTER="skip:not installed (apt-get install prometheus-node-exporter)"
fi

echo "== peers side by side (windows $WINDOW, warm-up $WARMUP, $ROUNDS round(s), traffic: $TRAFFIC); log: $OUT/peers.log"
set +e
(cd bench && OVS_FLOOD_BENCH_PEERS=1 OVS_FLOOD_PEERS_WINDOW=$WINDOW OVS_FLOOD_PEERS_WARMUP=$WARMUP \
  OVS_FLOOD_PEERS_ROUNDS=$ROUNDS OVS_FLOOD_PEERS_OUT=$OUT OVS_FLOOD_PEERS_TRAFFIC=$TRAFFIC \
  "$OUT/bench.test" -test.run '^TestPeers$' -test.count=1 -test.v -test.timeout 4h) >"$OUT/peers.log" 2>&1
rc=$?
set -e
grep -E '^ *peers_test.go:[0-9]+: window' "$OUT/peers.log" | sed 's/^ *peers_test.go:[0-9]*: /  /' || true
sed -n '/^peers side by side/,/^(CPU figures/p' "$OUT/peers.log"
if [ $rc != 0 ]; then
  echo "bench-peers.sh: the run failed (exit $rc); full log: $OUT/peers.log" >&2
  tail -20 "$OUT/peers.log" >&2
  exit 1
fi
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); command: WINDOW=$WINDOW WARMUP=$WARMUP ROUNDS=$ROUNDS TRAFFIC=$TRAFFIC scripts/bench-peers.sh; logs: $OUT"
