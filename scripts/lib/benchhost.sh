# benchhost.sh: sourced by the benchmark scripts (bench.sh, bench-pair.sh,
# bench-peers.sh), whose Go harness builds a host in a network namespace.

# bench_host_down NS BASE: tears down what an interrupted harness leaves of
# host NS under BASE: its OVS daemons (by the pids they wrote), the
# namespace and its directory. The harness does the same when it ends
# normally.
bench_host_down() {
  local ns=$1 base=$2 d
  local run=$base/$ns/run
  for d in ovs-vswitchd ovsdb-server; do
    [ -f "$run/$d.pid" ] && kill "$(cat "$run/$d.pid")" 2>/dev/null || true
  done
  sleep 0.5
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "${base:?}/${ns:?}"
}
