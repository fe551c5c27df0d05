#!/usr/bin/env bash
# lab.sh: a private Open vSwitch "hypervisor" in its own network namespace,
# wired like the hypervisor of Neutron bug 1732067 (OVS firewall driver:
# VM egress by NORMAL, ingress by output:<port>; seed 000).
#
#   lab.sh up      [NAME]   start ovsdb-server + ovs-vswitchd in netns NAME (default hv1)
#                           and build br-int with VMs and an uplink to an external host
#   lab.sh flows   [NAME]   seed-000 flows: VM egress by NORMAL (table 94),
#                           uplink ingress by output:<port> (the external MAC is never learned)
#   lab.sh fix     [NAME]   add the explicitly_egress_direct-style flow (no flood)
#   lab.sh flood   [NAME] [SECONDS] [RATE]  UDP iperf3 vm1 -> ext (flooded when not fixed)
#   lab.sh east    [NAME] [SECONDS] [RATE]  UDP iperf3 vm2 -> vm3 (learned, must not flood)
#   lab.sh env     [NAME]   print OVS_RUNDIR for NAME
#   lab.sh restart [NAME]   kill and restart ovsdb-server and ovs-vswitchd (same rundir)
#   lab.sh down    [NAME]   stop everything and delete the namespaces
#
# Topology (all inside namespaces; nothing touches the host's network):
#   netns NAME      : ovsdb-server, ovs-vswitchd, bridge br-int (datapath_type=netdev)
#     port tapvm1..3: VLAN 10 (access)      -> netns NAME-vm1..3  10.0.10.1-3/24
#     port tapvm4..5: VLAN 20 (access)      -> netns NAME-vm4..5  10.0.20.4-5/24
#     port uplink   : VLAN 10 (access)      -> netns NAME-ext     10.0.10.100/24
# (The kernel here has no 8021q module, so the uplink is an access port rather
# than a trunk; the VLAN 20 VMs have no external host and only serve as
# neighbours that must never receive VLAN 10 floods.)
# With LAB_HYBRID="3" (a list of VM numbers) those VMs are plugged the
# iptables-hybrid way of seed 001: tapvmN -> Linux bridge qbrvmN -> veth
# qvbvmN/qvovmN -> br-int port qvovmN (the state file hybrid.txt records it,
# so later lab.sh commands on the same lab agree).
# Static ARP entries everywhere, so the external host never broadcasts and
# br-int never learns its MAC: every VM->ext frame is unknown unicast.
set -euo pipefail

cmd=${1:-}
NAME=${2:-hv1}
BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
RUN=$BASE/$NAME/run
BR=br-int
EXT_MAC=02:00:00:00:00:64
vm_mac() { printf '02:00:00:00:00:%02x' "$1"; }
vm_vlan() { if [ "$1" -le 3 ]; then echo 10; else echo 20; fi; }
vm_ip() { echo "10.0.$(vm_vlan "$1").$1"; }
# ovs_port N: the br-int port of VM N (qvovmN for a hybrid plug, tapvmN otherwise)
ovs_port() {
  if [ -f "$BASE/$NAME/hybrid.txt" ] && grep -qw "$1" "$BASE/$NAME/hybrid.txt"; then
    echo "qvovm$1"
  else
    echo "tapvm$1"
  fi
}
ext_ip() { echo "10.0.$1.100"; }
NVMS=5

in_hv() { ip netns exec "$NAME" "$@"; }
vsctl() { ovs-vsctl --db="unix:$RUN/db.sock" "$@"; }
ofctl() { in_hv env OVS_RUNDIR="$RUN" ovs-ofctl -O OpenFlow13 "$@"; }

offload_off() { # $1 netns, $2 dev: the userspace datapath needs software checksums on veths
  ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

need() {
  local missing=()
  for b in ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ip ethtool iperf3; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "lab.sh: missing ${missing[*]}: apt-get install openvswitch-switch iproute2 ethtool iperf3" >&2
    exit 2
  fi
}

start_ovs() {
  export OVS_RUNDIR=$RUN OVS_LOGDIR=$RUN OVS_DBDIR=$RUN
  [ -f "$RUN/conf.db" ] || ovsdb-tool create "$RUN/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  in_hv env OVS_RUNDIR="$RUN" ovsdb-server "$RUN/conf.db" --remote="punix:$RUN/db.sock" \
    --pidfile="$RUN/ovsdb-server.pid" --unixctl="$RUN/ovsdb-server.ctl" \
    --log-file="$RUN/ovsdb-server.log" --detach --no-chdir
  vsctl --no-wait init
  # On a restart, the datapath's tap devices (ovs-netdev, one per bridge;
  # persistent) can still be attached to the vswitchd that just exited: the
  # new one then fails to open them ("creating tap device failed: Device
  # or resource busy") and runs without its bridges. So wait for the
  # control socket and for the OpenFlow socket of every bridge the
  # database has, and start vswitchd again when they do not come.
  local bridges attempt
  bridges=$(vsctl --timeout=5 list-br)
  for attempt in 1 2 3; do
    in_hv env OVS_RUNDIR="$RUN" ovs-vswitchd "unix:$RUN/db.sock" --pidfile="$RUN/ovs-vswitchd.pid" \
      --log-file="$RUN/ovs-vswitchd.log" --detach --no-chdir
    vswitchd_ready "$bridges" && return 0
    echo "lab.sh: ovs-vswitchd started without the OpenFlow socket of bridges ($bridges), attempt $attempt; starting it again" >&2
    stop_daemons ovs-vswitchd
    sleep 0.5
  done
  echo "lab.sh: ovs-vswitchd did not start (no control socket, or no OpenFlow socket of bridges: $bridges), see $RUN/ovs-vswitchd.log" >&2
  exit 1
}

# vswitchd_ready BRIDGES: waits up to 5 s for this vswitchd's control
# socket and the OpenFlow socket of each bridge.
vswitchd_ready() {
  local pid ready b
  for _ in $(seq 50); do
    pid=$(cat "$RUN/ovs-vswitchd.pid" 2>/dev/null || true)
    ready=1
    [ -S "$RUN/ovs-vswitchd.$pid.ctl" ] || ready=0
    for b in $1; do [ -S "$RUN/$b.mgmt" ] || ready=0; done
    [ $ready = 1 ] && return 0
    sleep 0.1
  done
  return 1
}

# stop_daemons NAME...: stops these daemons of the lab and waits (up to
# 5 s) until they are gone.
stop_daemons() {
  local d alive
  for d in "$@"; do
    if [ -f "$RUN/$d.pid" ]; then
      kill "$(cat "$RUN/$d.pid")" 2>/dev/null || true
    fi
  done
  for _ in $(seq 50); do
    alive=0
    for d in "$@"; do
      [ -f "$RUN/$d.pid" ] && kill -0 "$(cat "$RUN/$d.pid")" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
}

stop_ovs() {
  stop_daemons ovs-vswitchd ovsdb-server
  # a vswitchd that died without cleaning up leaves its sockets behind;
  # gone, they cannot pass for the next vswitchd's in start_ovs
  rm -f "$RUN"/*.pid "$RUN"/*.ctl "$RUN"/*.mgmt "$RUN"/*.snoop
}

add_host() { # $1 netns, $2 host-side port name, $3 mac
  local ns=$1 port=$2 mac=$3
  ip netns add "$ns"
  # no IPv6: its ND/MLD multicasts would teach br-int the MACs we want unknown
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$ns" ip link set lo up
  ip link add "$port" netns "$NAME" type veth peer name eth0 netns "$ns"
  ip netns exec "$ns" ip link set eth0 address "$mac" up
  in_hv ip link set "$port" up
  offload_off "$ns" eth0
  offload_off "$NAME" "$port"
}

up() {
  need
  mkdir -p "$RUN"
  ip netns add "$NAME"
  in_hv sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  in_hv ip link set lo up
  start_ovs
  vsctl add-br $BR -- set bridge $BR datapath_type=netdev fail_mode=secure \
    -- set bridge $BR other_config:mac-aging-time=300
  echo "${LAB_HYBRID:-}" >"$BASE/$NAME/hybrid.txt"
  for i in $(seq $NVMS); do
    add_host "$NAME-vm$i" "tapvm$i" "$(vm_mac "$i")"
    ip netns exec "$NAME-vm$i" ip addr add "$(vm_ip "$i")/24" dev eth0
    port=$(ovs_port "$i")
    if [ "$port" != "tapvm$i" ]; then
      in_hv ip link add "qbrvm$i" type bridge
      in_hv ip link add "qvbvm$i" type veth peer name "qvovm$i"
      in_hv ip link set "tapvm$i" master "qbrvm$i"
      in_hv ip link set "qvbvm$i" master "qbrvm$i"
      for d in "qbrvm$i" "qvbvm$i" "qvovm$i"; do in_hv ip link set "$d" up; offload_off "$NAME" "$d"; done
    fi
    vsctl add-port $BR "$port" tag="$(vm_vlan "$i")" -- set interface "$port" \
      external_ids:iface-id="port-vm$i" external_ids:attached-mac="$(vm_mac "$i")" \
      external_ids:vm-uuid="00000000-0000-4000-8000-00000000000$i" external_ids:iface-status=active
  done
  add_host "$NAME-ext" uplink $EXT_MAC
  ip netns exec "$NAME-ext" ip addr add "$(ext_ip 10)/24" dev eth0
  vsctl add-port $BR uplink tag=10
  # static neighbours: nobody broadcasts, so nothing teaches br-int the external MAC
  for i in $(seq $NVMS); do
    v=$(vm_vlan "$i")
    if [ "$v" = 10 ]; then
      ip netns exec "$NAME-vm$i" ip neigh replace "$(ext_ip "$v")" lladdr $EXT_MAC dev eth0 nud permanent
      ip netns exec "$NAME-ext" ip neigh replace "$(vm_ip "$i")" lladdr "$(vm_mac "$i")" dev eth0 nud permanent
    fi
    for j in $(seq $NVMS); do
      [ "$i" = "$j" ] || [ "$(vm_vlan "$j")" != "$v" ] && continue
      ip netns exec "$NAME-vm$i" ip neigh replace "$(vm_ip "$j")" lladdr "$(vm_mac "$j")" dev eth0 nud permanent
    done
  done
  flows
  echo "lab $NAME up: OVS_RUNDIR=$RUN"
}

ofport() { vsctl get interface "$1" ofport; }

flows() {
  local f=$BASE/$NAME/flows.txt up_port
  up_port=$(ofport uplink)
  {
    # table 0: classify; uplink traffic to a known VM MAC goes to table 81, the rest (broadcast) NORMAL
    echo "table=0,priority=100,in_port=$up_port,actions=resubmit(,81)"
    echo "table=0,priority=10,actions=resubmit(,94)"
    # table 81: ingress to a VM by explicit output (no MAC learning), as the OVS firewall driver does
    for i in $(seq $NVMS); do
      echo "table=81,priority=50,dl_dst=$(vm_mac "$i"),actions=output:$(ofport "$(ovs_port "$i")")"
    done
    echo "table=81,priority=1,actions=NORMAL"
    # table 94: egress from VMs; NORMAL forwards to learned MACs and floods unknown ones
    echo "table=94,cookie=0xe4fc1a92d440c578,priority=1,actions=NORMAL"
  } >"$f"
  ofctl replace-flows $BR "$f"
}

fix() {
  # explicitly_egress_direct: VM->external unicast goes straight to the uplink
  local up_port
  up_port=$(ofport uplink)
  for i in 1 2 3; do
    ofctl add-flow $BR "table=94,cookie=0xe4fc1a92d440c579,priority=12,in_port=$(ofport "$(ovs_port "$i")"),dl_dst=$EXT_MAC,actions=output:$up_port"
  done
}

iperf() { # $1 client ns, $2 server ns, $3 server ip, $4 seconds, $5 rate
  local log=$BASE/$NAME/iperf-$1.log
  ip netns exec "$2" iperf3 -s -1 -D -B "$3" --logfile "$BASE/$NAME/iperf-server-$2.log"
  sleep 0.3
  ip netns exec "$1" iperf3 -c "$3" -u -b "$5" -l 1200 -t "$4" --json >"$log"
  echo "$log"
}

flood() { iperf "$NAME-vm1" "$NAME-ext" "$(ext_ip 10)" "${3:-10}" "${4:-20M}"; }
east() { iperf "$NAME-vm2" "$NAME-vm3" "$(vm_ip 3)" "${3:-10}" "${4:-20M}"; }

down() {
  stop_ovs || true
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME(-|$)" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" || true
  done
  rm -rf "${BASE:?}/$NAME"
}

case "$cmd" in
  up) up ;;
  flows) flows ;;
  fix) fix ;;
  flood) flood "$@" ;;
  east) east "$@" ;;
  env) echo "OVS_RUNDIR=$RUN" ;;
  restart) stop_ovs; start_ovs ;;
  stop) stop_ovs ;;
  start) start_ovs ;;
  down) down ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
