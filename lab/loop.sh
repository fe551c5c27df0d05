#!/usr/bin/env bash
# loop.sh: labs for L2 loops, broadcast storms, group-bit station MACs and FDB
# pressure (seed 002 and the field), each with a benign twin. Every lab is a
# private Open vSwitch in its own network namespace (userspace datapath), with
# VMs as namespaces on veths; nothing touches the host's network.
#
#   loop.sh up       [NAME]   OVS in netns NAME: br-int (tapvm1..3) and br-ex (port ext, LOCAL
#                             10.0.0.254) joined by ONE veth link (int-ex1 <-> ex-int1), both NORMAL
#   loop.sh link2    [NAME]   add the second link (int-ex2 <-> ex-int2): an L2 loop
#   loop.sh unlink2  [NAME]   remove the second link again (the storm stops)
#   loop.sh arp      [NAME] [FROM] [IP]   one ARP request (broadcast) from FROM (vm1, the default,
#                             or br-ex: the bridge's own host stack, as in seed 002) for IP
#   loop.sh station  [NAME]   make tapvm3 a station whose attached MAC has the group bit set
#                             (91:92:ac:18:04:c8, as a Dragonflow SNAT port), sending from it once
#   loop.sh hello    [NAME] [N]  one frame from vmN to ext, so the bridges learn vmN's MAC
#   loop.sh send     [NAME] [SECONDS] [FPS]  UDP vm1 -> vm3 (10.0.0.3), to the station's MAC
#                             after "station", to vm3's own (learned after "hello 3") otherwise
#   loop.sh macflood [NAME] [SECONDS] [FPS]  vm1 sends to ext from random source MACs (default 2000/s)
#   loop.sh tablesize [NAME] [N]  other_config:mac-table-size=N on br-int (default 64)
#   loop.sh stream   [NAME] [SECONDS] [RATE]  UDP iperf3 vm2 -> ext (learned both ways)
#   loop.sh env      [NAME]   print OVS_RUNDIR for NAME
#   loop.sh down     [NAME]   stop everything and delete the namespaces
#
# Frames (the ARP, the random-source-MAC flood) are written by lab/frames
# over AF_PACKET, built on first use with the go in PATH.
#
# Storm bound: a broadcast that enters a loop circulates as fast as the
# datapath forwards it and would take a whole core. Every link device is
# paced by a token-bucket qdisc on its egress (LOOP_PACE, default 500kbit): the
# circulating frames queue rather than drop, so the storm keeps running, at a
# few thousand frames per second. LOOP_POLICE_KBPS sets ingress_policing_rate
# on the link ports too (off by default: on the userspace datapath it needs
# the kernel's cls_basic/act_police, and a policer that drops the one
# circulating frame ends a two-link storm at once). Tear down with
# "loop.sh unlink2" or "loop.sh down".
set -euo pipefail

cmd=${1:-}
NAME=${2:-loop1}
BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
RUN=$BASE/$NAME/run
POLICE_KBPS=${LOOP_POLICE_KBPS:-0}
PACE=${LOOP_PACE:-500kbit}
STATION_MAC=91:92:ac:18:04:c8
EXT_MAC=02:00:00:00:00:64
EXT_IP=10.0.0.100
BREX_IP=10.0.0.254
vm_mac() { printf '02:00:00:00:00:%02x' "$1"; }
vm_ip() { echo "10.0.0.$1"; }
NVMS=3

in_hv() { ip netns exec "$NAME" "$@"; }
vsctl() { ovs-vsctl --db="unix:$RUN/db.sock" "$@"; }
ofctl() { in_hv env OVS_RUNDIR="$RUN" ovs-ofctl -O OpenFlow13 "$@"; }

offload_off() { # $1 netns, $2 dev: the userspace datapath needs software checksums on veths
  ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

need() {
  local missing=()
  for b in ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ip ethtool iperf3 tc go; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "loop.sh: missing ${missing[*]}: apt-get install openvswitch-switch iproute2 ethtool iperf3" >&2
    exit 2
  fi
}

start_ovs() {
  [ -f "$RUN/conf.db" ] || ovsdb-tool create "$RUN/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  in_hv env OVS_RUNDIR="$RUN" ovsdb-server "$RUN/conf.db" --remote="punix:$RUN/db.sock" \
    --pidfile="$RUN/ovsdb-server.pid" --unixctl="$RUN/ovsdb-server.ctl" \
    --log-file="$RUN/ovsdb-server.log" --detach --no-chdir
  vsctl --no-wait init
  in_hv env OVS_RUNDIR="$RUN" ovs-vswitchd "unix:$RUN/db.sock" --pidfile="$RUN/ovs-vswitchd.pid" \
    --log-file="$RUN/ovs-vswitchd.log" --detach --no-chdir
  for _ in $(seq 50); do
    [ -S "$RUN/ovs-vswitchd.$(cat "$RUN/ovs-vswitchd.pid" 2>/dev/null).ctl" ] && return 0
    sleep 0.1
  done
  echo "loop.sh: ovs-vswitchd did not start, see $RUN/ovs-vswitchd.log" >&2
  exit 1
}

stop_ovs() {
  for d in ovs-vswitchd ovsdb-server; do
    [ -f "$RUN/$d.pid" ] && kill "$(cat "$RUN/$d.pid")" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    alive=0
    for d in ovs-vswitchd ovsdb-server; do
      [ -f "$RUN/$d.pid" ] && kill -0 "$(cat "$RUN/$d.pid")" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  rm -f "$RUN"/*.pid "$RUN"/*.ctl
}

add_host() { # $1 netns, $2 host-side port name, $3 mac, $4 ip
  local ns=$1 port=$2 mac=$3 ip=$4
  ip netns add "$ns"
  # no IPv6: its ND/MLD multicasts would add broadcasts we did not ask for
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$ns" ip link set lo up
  ip link add "$port" netns "$NAME" type veth peer name eth0 netns "$ns"
  ip netns exec "$ns" ip link set eth0 address "$mac" up
  ip netns exec "$ns" ip addr add "$ip/24" dev eth0
  # one ARP request per resolution attempt, so "one broadcast" means one
  ip netns exec "$ns" sysctl -qw net.ipv4.neigh.eth0.mcast_solicit=1 net.ipv4.neigh.eth0.app_solicit=0
  in_hv ip link set "$port" up
  offload_off "$ns" eth0
  offload_off "$NAME" "$port"
}

add_bridge() { # $1 bridge: userspace datapath, one NORMAL rule
  vsctl add-br "$1" -- set bridge "$1" datapath_type=netdev fail_mode=secure \
    other_config:mac-aging-time=300
  ofctl add-flow "$1" "priority=0,actions=NORMAL"
}

link() { # $1 link number: veth int-exN (br-int) <-> ex-intN (br-ex), paced (and policed)
  local n=$1 d
  in_hv ip link add "int-ex$n" type veth peer name "ex-int$n"
  vsctl add-port br-int "int-ex$n" -- add-port br-ex "ex-int$n"
  for d in "int-ex$n" "ex-int$n"; do
    in_hv ip link set "$d" up
    offload_off "$NAME" "$d"
    if [ "$POLICE_KBPS" != 0 ]; then
      vsctl set interface "$d" ingress_policing_rate="$POLICE_KBPS" \
        ingress_policing_burst=$((POLICE_KBPS / 10 + 1))
    fi
  done
  # after add-port: vswitchd resets a port's qdiscs when it takes the port over
  for d in "int-ex$n" "ex-int$n"; do
    if ! in_hv tc qdisc replace dev "$d" root tbf rate "$PACE" burst 4kb latency 50ms; then
      echo "loop.sh: cannot pace $d (tc tbf); refusing to build a loop without a bound" >&2
      exit 1
    fi
  done
}

up() {
  need
  mkdir -p "$RUN"
  ip netns add "$NAME"
  in_hv sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  in_hv ip link set lo up
  start_ovs
  add_bridge br-int
  add_bridge br-ex
  for i in $(seq $NVMS); do
    add_host "$NAME-vm$i" "tapvm$i" "$(vm_mac "$i")" "$(vm_ip "$i")"
    vsctl add-port br-int "tapvm$i" -- set interface "tapvm$i" \
      external_ids:iface-id="port-vm$i" external_ids:attached-mac="$(vm_mac "$i")" \
      external_ids:vm-uuid="00000000-0000-4000-8000-00000000000$i" external_ids:iface-status=active
  done
  add_host "$NAME-ext" ext $EXT_MAC $EXT_IP
  vsctl add-port br-ex ext
  # br-ex's host stack, as the provider bridge of seed 002 (172.24.4.1 there)
  in_hv ip addr add "$BREX_IP/24" dev br-ex
  in_hv ip link set br-ex up
  in_hv sysctl -qw net.ipv4.neigh.br-ex.mcast_solicit=1 net.ipv4.neigh.br-ex.app_solicit=0
  link 1
  echo "lab $NAME up: OVS_RUNDIR=$RUN"
}

link2() { link 2; }

unlink2() {
  vsctl --if-exists del-port br-int int-ex2 -- --if-exists del-port br-ex ex-int2
  in_hv ip link del int-ex2 2>/dev/null || true
}

# frames: the raw-frame sender (lab/frames), built once per lab base
frames() {
  local bin=$BASE/bin/frames
  if [ ! -x "$bin" ]; then
    mkdir -p "$BASE/bin"
    (cd "$(dirname "$0")/.." && go build -o "$bin" ./lab/frames)
  fi
  "$bin" "$@"
}

arp() { # $1 from (vm1.. or br-ex), $2 target IP: one broadcast ARP request
  local from=${1:-vm1} ip=${2:-10.0.0.200}
  if [ "$from" = br-ex ]; then
    frames -netns "$NAME" -dev br-ex -src-ip $BREX_IP -arp "$ip"
  else
    frames -netns "$NAME-$from" -src-ip "$(vm_ip "${from#vm}")" -arp "$ip"
  fi
}

macflood() { # $1 seconds, $2 frames/s: vm1 sends UDP to ext from random source MACs
  frames -netns "$NAME-vm1" -udp -random-src -src-ip "$(vm_ip 1)" -dst $EXT_MAC -dst-ip $EXT_IP \
    -seconds "${1:-10}" -rate "${2:-2000}"
}

send() { # $1 seconds, $2 frames/s: vm1 sends UDP to 10.0.0.3 at the MAC vm1 has for it
  local dst=$STATION_MAC
  [ -f "$BASE/$NAME/station" ] || dst=$(vm_mac 3)
  frames -netns "$NAME-vm1" -udp -src-ip "$(vm_ip 1)" -dst "$dst" -dst-ip "$(vm_ip 3)" \
    -seconds "${1:-10}" -rate "${2:-1000}" -size 1000
}

hello() { # $1 VM number: one frame from the VM to ext, so the bridges learn its MAC
  frames -netns "$NAME-vm$1" -udp -src-ip "$(vm_ip "$1")" -dst $EXT_MAC -dst-ip $EXT_IP -seconds 0.05 -rate 20
}

station() {
  vsctl set interface tapvm3 external_ids:attached-mac="$STATION_MAC"
  touch "$BASE/$NAME/station"
  # the station answers from its group-bit MAC, as the SNAT port of seed 002 does
  frames -netns "$NAME-vm3" -udp -src $STATION_MAC -src-ip "$(vm_ip 3)" -dst "$(vm_mac 1)" \
    -dst-ip "$(vm_ip 1)" -seconds 0.05 -rate 20
}

iperf() { # $1 client ns, $2 server ns, $3 server ip, $4 seconds, $5 rate
  local log=$BASE/$NAME/iperf-$1.log
  ip netns exec "$2" iperf3 -s -1 -D -B "$3" --logfile "$BASE/$NAME/iperf-server-$2.log"
  sleep 0.3
  ip netns exec "$1" iperf3 -c "$3" -u -b "$5" -l 1200 -t "$4" --json >"$log"
  echo "$log"
}

stream() { iperf "$NAME-vm2" "$NAME-ext" "$EXT_IP" "${1:-10}" "${2:-10M}"; }

tablesize() { vsctl set bridge br-int other_config:mac-table-size="${1:-64}"; }

down() {
  stop_ovs || true
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME(-|$)" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" || true
  done
  rm -rf "${BASE:?}/$NAME"
}

shift 2 2>/dev/null || shift $#
case "$cmd" in
  up) up ;;
  link2) link2 ;;
  unlink2) unlink2 ;;
  arp) arp "$@" ;;
  station) station ;;
  send) send "$@" ;;
  hello) hello "$@" ;;
  stream) stream "$@" ;;
  tablesize) tablesize "$@" ;;
  macflood) macflood "$@" ;;
  env) echo "OVS_RUNDIR=$RUN" ;;
  down) down ;;
  *) sed -n '2,40p' "$0"; exit 2 ;;
esac
